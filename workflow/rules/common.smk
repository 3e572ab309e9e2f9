# Checks beyond the schema, the exposure names, the targets, and helpers that turn the plan of
# rampflow.wiring into the inputs, outputs and parameters of rules. No planning here: which
# jobs run, on which files, with which parameters, is rampflow.wiring's (unit-tested without
# Snakemake).
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from rampflow import config as rfconfig  # noqa: E402
from rampflow import names, recovery, wiring  # noqa: E402
from rampflow.mast import manifest_file, manifest_stems  # noqa: E402
from rampflow.simulate import program_stems  # noqa: E402

try:
    rfconfig.check(config)
except rfconfig.ConfigError as exc:
    raise WorkflowError(f"config error: {exc}")

OUT = wiring.out_dir(config)
CRDS_ENV = rfconfig.crds_env(config, os.getcwd())
SOURCE = config["inputs"]["source"]
CONDA_ENV = "../../envs/rampflow.yaml"
MAST_MANIFEST = f"{OUT}/uncal/manifest.json"


def exposure_stems():
    """Exposure names ({stem} of {stem}_uncal.fits) of this program."""
    if SOURCE == "simulate":
        return program_stems(config["inputs"]["simulate"])
    if SOURCE == "local":
        folder = Path(config["inputs"]["uncal_dir"])
        if not folder.is_dir():
            raise WorkflowError(f"inputs.uncal_dir: folder {folder} does not exist")
        stems = sorted(names.stem_of_uncal(p) for p in folder.glob("*_uncal.fits"))
        if not stems:
            raise WorkflowError(f"inputs.uncal_dir: no *_uncal.fits files in {folder}")
        return stems
    return mast_stems()


def mast_stems():
    """Stems of the program's exposures in MAST (evaluated after the mast_query checkpoint)."""
    manifest = checkpoints.mast_query.get().output.manifest
    return manifest_stems(manifest, include_ta=bool(config["inputs"]["mast"]["include_ta"]))


# the jobs of rampflow.wiring by name, for the instrument families of the program's exposures
# (each exposure runs its own instrument's calwebb_detector1 order; a program mixing MIRI and
# near-infrared exposures gets per-family jobs, see rampflow.wiring.families). MAST exposures
# are known only after the query: their family is the one inputs.mast.instrument_name names.
# The script directive is evaluated again when a job runs, so jobs that differ in script are
# declared one by one (or in a loop over one job's per-family variants), not in one loop
FAMILIES = wiring.program_families(config, exposure_stems() if SOURCE != "mast" else ())
JOBS = {job.name: job for job in wiring.jobs(config, families=FAMILIES)}


def carried_inputs(job):
    """Inputs a job carries from the previous exposure of the same detector, in time order
    (persistence's array): name -> function of the wildcards giving that exposure's product,
    an explicit dependency on its job ([] for the detector's first exposure)."""
    return {
        name: (lambda wildcards, name=name: wiring.carried_path(config, job, exposure_stems(), wildcards.stem, name))
        for name in job.carried
    }


def all_uncal(wildcards):
    """The uncal files of every exposure."""
    return [wiring.uncal_path(config, s) for s in exposure_stems()]


def final_products():
    """The last step's products of every exposure."""
    return wiring.final_products(config, exposure_stems())


def diagnostic_targets():
    """Every diagnostic file of the program."""
    return wiring.diagnostic_targets(config, exposure_stems())


def lightcurve_targets():
    """Every light-curve file of the program."""
    return wiring.lightcurve_targets(config, exposure_stems())


def qa_targets():
    """The QA page."""
    return wiring.qa_targets(config)


def caption(path):
    """A caption of rampflow.wiring (relative to the repository) as report() wants it:
    relative to this folder."""
    return f"../../{path}"


def reported(paths, specs, subcategory, **labels):
    """Rule outputs: those of ``specs`` (rampflow.wiring.Output) that reports show wrapped in
    report(), with the QA page's section title as category."""
    out = dict(paths)
    for o in specs:
        if o.report:
            extra = {"labels": {**labels, "figure": o.label}} if o.label else {}
            out[o.key] = report(
                paths[o.key],
                caption=caption(o.caption),
                category=wiring.SECTIONS[o.section],
                subcategory=subcategory,
                **extra,
            )
    return out
