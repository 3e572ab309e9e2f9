"""Snakemake adapter: linearity ratio density plot, before / after the linearity step."""
from rampflow import logutil
from rampflow.qa.diagnostics import plot_linearity_ratio

logutil.setup(snakemake.log[0])
plot_linearity_ratio(snakemake.input.before, snakemake.input.after, snakemake.output[0],
                     max_points=snakemake.params.max_points, chunk_mb=snakemake.params.chunk_mb)
