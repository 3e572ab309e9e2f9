"""Snakemake adapter: resolve every reference file of every exposure once, before the
parallel step jobs start, so they never race on the CRDS cache. A type CRDS cannot provide
stops here, before any step job, with one message naming each exposure, its missing types and
how to supply them."""
import os
import sys

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, references  # noqa: E402
from rampflow.io import atomic_path  # noqa: E402

log = logutil.setup(snakemake.log[0])
try:
    lines = references.prefetch(
        list(snakemake.input.uncal), list(snakemake.params.steps),
        overrides=dict(snakemake.params.overrides), context=snakemake.params.context,
    )
except references.ReferenceError as exc:
    log.error("%s", exc)
    sys.exit(1)
with atomic_path(snakemake.output.ready) as tmp:
    tmp.write_text("\n".join(lines) + "\n")
