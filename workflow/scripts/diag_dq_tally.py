"""Snakemake adapter: DQ flag tally over the chain of ramp products (CSV + bar chart)."""
from rampflow import logutil
from rampflow.qa.diagnostics import dq_tally

logutil.setup(snakemake.log[0])
# the ramp products in step order: input "ramps" (or every input, as older rules give them)
ramps = list(snakemake.input.ramps) if hasattr(snakemake.input, "ramps") else list(snakemake.input)
dq_tally(dict(zip(snakemake.params.steps, ramps)), snakemake.output.csv, snakemake.output.png,
         chunk_mb=snakemake.params.chunk_mb)
