"""Snakemake adapter: ramp fitting, {stem}_{last}.fits -> {stem}_rate.fits, _rateints.fits (, _fitopt.fits).

With compute.fuse and jump as the last ramp step, jump runs here on the same row chunks
(``params.jump_params`` is set) and its product is written only when it is an output.
"""
import os

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from rampflow import logutil, runner  # noqa: E402

log = logutil.setup(snakemake.log[0])
common = dict(
    overrides=dict(snakemake.params.overrides),
    crds_context=snakemake.params.context,
    chunk_mb=snakemake.params.chunk_mb,
    threads=snakemake.threads,
)
fitopt = snakemake.output.fitopt[0] if snakemake.output.fitopt else None
if snakemake.params.jump_params is not None:
    runner.run_jump_ramp_fit(
        snakemake.input.ramp,
        snakemake.output.rate,
        snakemake.output.rateints,
        fitopt,
        snakemake.output.jump[0] if snakemake.output.jump else None,
        params={"jump": dict(snakemake.params.jump_params), "ramp_fit": dict(snakemake.params.step_params)},
        **common,
    )
else:
    runner.run_ramp_fit(
        snakemake.input.ramp,
        snakemake.output.rate,
        snakemake.output.rateints,
        fitopt,
        params=dict(snakemake.params.step_params),
        **common,
    )
