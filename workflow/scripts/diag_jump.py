"""Snakemake adapter: jumps per integration and a grid of example ramps with jumps."""
from rampflow import logutil
from rampflow.qa.diagnostics import plot_jump_counts, plot_jump_ramps

logutil.setup(snakemake.log[0])
plot_jump_counts(snakemake.input.ramp, snakemake.output.counts, chunk_mb=snakemake.params.chunk_mb)
rateints = snakemake.input.rateints[0] if snakemake.input.rateints else None
plot_jump_ramps(snakemake.input.ramp, snakemake.output.ramps, rateints_path=rateints,
                n_examples=snakemake.params.n_examples, chunk_mb=snakemake.params.chunk_mb)
