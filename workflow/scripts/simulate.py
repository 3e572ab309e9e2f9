"""Snakemake adapter: simulate the program's uncal files and its local CRDS cache, then resolve
every reference file of every exposure (as the references rule does for other sources), so a
reference that cannot be found stops here, before any step job."""
import os
import sys

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from pathlib import Path  # noqa: E402

from rampflow import logutil, references, simulate  # noqa: E402
from rampflow.io import atomic_path  # noqa: E402

log = logutil.setup(snakemake.log[0])
outdir = Path(snakemake.output.uncal[0]).parent
paths = simulate.simulate_program(outdir, dict(snakemake.params.sim), snakemake.params.crds_path)
expected = {Path(p).name for p in snakemake.output.uncal}
made = {Path(p).name for p in paths}
if expected - made:
    raise RuntimeError(f"simulator did not write {sorted(expected - made)}")
log.info("simulated %d exposures into %s", len(made), outdir)
try:
    lines = references.prefetch(
        sorted(snakemake.output.uncal), list(snakemake.params.steps),
        overrides=dict(snakemake.params.overrides), context=snakemake.params.context,
    )
except references.ReferenceError as exc:
    log.error("%s", exc)
    sys.exit(1)
with atomic_path(snakemake.output.ready) as tmp:
    tmp.write_text("\n".join(lines) + "\n")
