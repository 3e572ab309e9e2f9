"""Snakemake adapter: ramp fitting, {stem}_{last}.fits -> {stem}_rate.fits, _rateints.fits (, _fitopt.fits)."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
runner.run_ramp_fit(
    snakemake.input.ramp,
    snakemake.output.rate,
    snakemake.output.rateints,
    snakemake.output.fitopt[0] if snakemake.output.fitopt else None,
    params=dict(snakemake.params.step_params),
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
    chunk_mb=snakemake.params.chunk_mb,
    threads=snakemake.threads,
)
