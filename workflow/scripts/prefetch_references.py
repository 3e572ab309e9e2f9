"""Snakemake adapter: resolve every reference file and CRDS parameter file of every exposure
once, before the parallel step jobs start (see rampflow.prefetch)."""
import os
import sys

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, prefetch  # noqa: E402

log = logutil.setup(snakemake.log[0])
sys.exit(prefetch.write_ready(
    snakemake.output.ready, list(snakemake.input.uncal), list(snakemake.params.steps),
    overrides=dict(snakemake.params.overrides), context=snakemake.params.context,
    step_params=dict(snakemake.params.step_params), use_crds_pars=snakemake.params.use_crds_pars, logger=log,
))
