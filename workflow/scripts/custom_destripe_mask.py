"""Snakemake adapter: {stem}_{previous}.fits -> {stem}_destripe_mask.fits (background mask)."""
from rampflow import logutil  # noqa: E402
from rampflow.custom.destripe import write_mask  # noqa: E402

log = logutil.setup(snakemake.log[0])
write_mask(snakemake.input.ramp, snakemake.output[0], params=dict(snakemake.params.step_params),
           chunk_mb=snakemake.params.chunk_mb)
