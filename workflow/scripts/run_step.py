"""Snakemake adapter: one ramp step, {stem}_{previous}.fits -> {stem}_{step}.fits."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
runner.run_step(
    snakemake.params.step,
    snakemake.input.ramp,
    snakemake.output[0],
    params=dict(snakemake.params.step_params),
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
    chunk_mb=snakemake.params.chunk_mb,
    threads=snakemake.threads,
)
