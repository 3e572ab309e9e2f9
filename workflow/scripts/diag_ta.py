"""Snakemake adapter: quicklook of the target-acquisition exposures among the inputs."""
from rampflow import logutil
from rampflow.qa.diagnostics import plot_ta_quicklook

logutil.setup(snakemake.log[0])
# the uncal files: input "uncal" (or every input, as older rules give them)
uncal = list(snakemake.input.uncal) if hasattr(snakemake.input, "uncal") else list(snakemake.input)
plot_ta_quicklook(uncal, snakemake.output[0])
