"""Snakemake adapter: quicklook of the target-acquisition exposures among the inputs."""
from rampflow import logutil
from rampflow.qa.diagnostics import plot_ta_quicklook

logutil.setup(snakemake.log[0])
plot_ta_quicklook(list(snakemake.input), snakemake.output[0])
