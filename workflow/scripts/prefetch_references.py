"""Snakemake adapter: resolve every reference file and CRDS parameter file of every exposure
once, before the parallel step jobs start (see rampflow.prefetch)."""
import os
import sys

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, prefetch, wiring  # noqa: E402

log = logutil.setup(snakemake.log[0])
sys.exit(prefetch.write_ready(
    snakemake.output.ready, list(snakemake.input.uncal), list(snakemake.params.steps),
    overrides=dict(snakemake.params.overrides), context=snakemake.params.context,
    # from the config, not params: a changed step parameter must not re-run this job (and all after it);
    # the step jobs check the parameter files again with their own parameters
    step_params={s: wiring.step_params(snakemake.config, s) for s in snakemake.params.steps},
    use_crds_pars=snakemake.config["references"]["use_crds_pars"], logger=log,
))
