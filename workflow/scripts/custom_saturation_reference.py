"""Snakemake adapter: the exposure's SATURATION reference -> one with custom thresholds."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import io, logutil, references  # noqa: E402
from rampflow.custom.saturation_thresholds import make_threshold_reference  # noqa: E402

log = logutil.setup(snakemake.log[0])
with io.open_ramp(snakemake.input.uncal) as rf:
    meta = rf.meta
paths, ctx = references.resolve(meta, ["saturation"], dict(snakemake.params.overrides), snakemake.params.context)
log.info("source SATURATION reference: %s (CRDS context %s)", paths["saturation"], ctx)
make_threshold_reference(paths["saturation"], snakemake.output[0], **dict(snakemake.params.options))
