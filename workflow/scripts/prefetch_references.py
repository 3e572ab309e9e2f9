"""Snakemake adapter: resolve every reference file of every exposure once, before the
parallel step jobs start, so they never race on the CRDS cache."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from pathlib import Path  # noqa: E402

from rampflow import logutil, references  # noqa: E402

log = logutil.setup(snakemake.log[0])
lines = references.prefetch(
    list(snakemake.input.uncal), list(snakemake.params.steps),
    overrides=dict(snakemake.params.overrides), context=snakemake.params.context,
)
Path(snakemake.output.ready).write_text("\n".join(lines) + "\n")
