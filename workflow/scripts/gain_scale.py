"""Snakemake adapter: gain_scale on the rate and rateints products."""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
runner.run_gain_scale(
    [snakemake.input.rate, snakemake.input.rateints],
    [snakemake.output.rate, snakemake.output.rateints],
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
)
