"""Snakemake adapter: saturated fraction per integration and an example saturated ramp."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import io, logutil, references  # noqa: E402
from rampflow.qa.diagnostics import plot_saturation  # noqa: E402

log = logutil.setup(snakemake.log[0])
if snakemake.input.custom:
    threshold = snakemake.input.custom[0]
else:
    with io.open_ramp(snakemake.input.ramp) as rf:
        meta = rf.meta
    try:
        paths, _ = references.resolve(meta, ["saturation"], dict(snakemake.params.overrides),
                                      snakemake.params.context)
        threshold = paths["saturation"]
    except references.ReferenceError as exc:
        log.warning("no threshold line: %s", exc)
        threshold = None
plot_saturation(snakemake.input.ramp, snakemake.output[0], threshold_path=threshold,
                chunk_mb=snakemake.params.chunk_mb)
