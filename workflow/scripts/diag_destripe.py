"""Snakemake adapter: group-difference images and line medians before / after destriping."""
from rampflow import logutil
from rampflow.qa.diagnostics import plot_destripe

logutil.setup(snakemake.log[0])
plot_destripe(snakemake.input.before, snakemake.input.after, snakemake.output[0], mask_path=snakemake.input.mask)
