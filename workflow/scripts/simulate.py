"""Snakemake adapter: simulate the program's uncal files and its local CRDS cache, then resolve
every reference file of every exposure (as the references rule does for other sources), so a
reference that cannot be found stops here, before any step job."""
import os
import sys

os.environ.update(snakemake.params.env)  # CRDS settings before crds is imported

from pathlib import Path  # noqa: E402

from rampflow import logutil, prefetch, simulate, wiring  # noqa: E402

log = logutil.setup(snakemake.log[0])
outdir = Path(snakemake.output.uncal[0]).parent
paths = simulate.simulate_program(outdir, dict(snakemake.params.sim), snakemake.params.crds_path)
expected = {Path(p).name for p in snakemake.output.uncal}
made = {Path(p).name for p in paths}
if expected - made:
    raise RuntimeError(f"simulator did not write {sorted(expected - made)}")
log.info("simulated %d exposures into %s", len(made), outdir)
sys.exit(prefetch.write_ready(
    snakemake.output.ready, sorted(snakemake.output.uncal), list(snakemake.params.steps),
    overrides=dict(snakemake.params.overrides), context=snakemake.params.context,
    # from the config, not params: a changed step parameter must not re-run this job (and all after it);
    # the step jobs check the parameter files again with their own parameters
    step_params={s: wiring.step_params(snakemake.config, s) for s in snakemake.params.steps},
    use_crds_pars=snakemake.config["references"]["use_crds_pars"], logger=log,
))
