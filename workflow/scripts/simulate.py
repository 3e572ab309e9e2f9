"""Snakemake adapter: simulate the program's uncal files and its local CRDS cache."""
from pathlib import Path

from rampflow import logutil, simulate

log = logutil.setup(snakemake.log[0])
outdir = Path(snakemake.output.uncal[0]).parent
paths = simulate.simulate_program(outdir, dict(snakemake.params.sim), snakemake.params.crds_path)
expected = {Path(p).name for p in snakemake.output.uncal}
made = {Path(p).name for p in paths}
if expected - made:
    raise RuntimeError(f"simulator did not write {sorted(expected - made)}")
Path(snakemake.output.ready).write_text("\n".join(sorted(made)) + "\n")
log.info("simulated %d exposures into %s", len(made), outdir)
