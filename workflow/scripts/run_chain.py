"""Snakemake adapter: several ramp steps fused into one job (compute.fuse)."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
steps = list(snakemake.params.steps)
runner.run_chain(
    steps,
    snakemake.input.ramp,
    {s: snakemake.output[s] for s in steps if s in snakemake.output.keys()},
    params={k: dict(v) for k, v in snakemake.params.step_params.items()},
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
    chunk_mb=snakemake.params.chunk_mb,
    threads=snakemake.threads,
)
