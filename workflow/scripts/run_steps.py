"""Snakemake adapter: one job of consecutive steps on one exposure (rampflow.runner.run).

params.steps: the steps; input: "ramp" (or "rate" + "rateints") plus step inputs such as
"destripe_mask" ("refs" is only the reference-file marker); output: product suffix -> path.
"""

import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
runner.run(
    list(snakemake.params.steps),
    {k: v for k, v in snakemake.input.items() if k != "refs"},
    dict(snakemake.output.items()),
    params={k: dict(v) for k, v in snakemake.params.step_params.items()},
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
    chunk_mb=snakemake.params.chunk_mb,
    threads=snakemake.threads,
)
