"""Snakemake adapter: odd / even column means of the reference pixels before / after refpix."""
from rampflow import logutil
from rampflow.qa.diagnostics import plot_refpix

logutil.setup(snakemake.log[0])
plot_refpix(snakemake.input.before, snakemake.input.after, snakemake.output[0], chunk_mb=snakemake.params.chunk_mb)
