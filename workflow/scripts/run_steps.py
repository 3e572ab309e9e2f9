"""Snakemake adapter: one job of consecutive steps on one exposure (rampflow.runner.run).

params.steps: the steps; params.inputs: the names of the inputs the runner reads ("ramp", or
"rate" + "rateints", plus step inputs such as "destripe_mask"; the others only order the
jobs); output: product suffix -> path. input.refs, the references job's list, gives the job
its reference and parameter files (rampflow.resolved).
"""

import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, names, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
runner.run(
    list(snakemake.params.steps),
    {k: snakemake.input[k] for k in snakemake.params.inputs},
    dict(snakemake.output.items()),
    params={k: dict(v) for k, v in snakemake.params.step_params.items()},
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
    chunk_mb=snakemake.params.chunk_mb,
    threads=snakemake.threads,
    use_crds_pars=snakemake.params.use_crds_pars,
    # the references job's list: its reference and parameter files, without asking CRDS again
    resolved=getattr(snakemake.input, "refs", None),
    exposure=names.uncal_name(snakemake.wildcards.stem),
)
