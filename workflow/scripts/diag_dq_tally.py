"""Snakemake adapter: DQ flag tally over the chain of ramp products (CSV + bar chart)."""
from rampflow import logutil
from rampflow.qa.diagnostics import dq_tally

logutil.setup(snakemake.log[0])
dq_tally(dict(zip(snakemake.params.steps, list(snakemake.input))), snakemake.output.csv, snakemake.output.png,
         chunk_mb=snakemake.params.chunk_mb)
