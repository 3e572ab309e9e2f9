# Validation beyond the schema, the exposure table, and input functions.
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from rampflow import config as rfconfig  # noqa: E402

try:
    rfconfig.check(config)
except rfconfig.ConfigError as exc:
    raise WorkflowError(f"config error: {exc}")

OUT = rfconfig.results_dir(config)
STEPS = list(config["steps"])
RAMP_CHAIN = [s for s in STEPS if s not in rfconfig.RATE_STEPS]
CRDS_ENV = rfconfig.crds_env(config, os.getcwd())
THREADS = int(config["compute"]["threads"])
CHUNK_MB = float(config["compute"]["chunk_mb"])
SOURCE = config["inputs"]["source"]
FUSE = bool(config["compute"].get("fuse", False))
KEEP = config["compute"].get("keep")
CONDA_ENV = "../../envs/rampflow.yaml"


def exposure_stems():
    """Exposure names ({stem} of {stem}_uncal.fits) of this program."""
    if SOURCE == "simulate":
        from rampflow.simulate import program_stems

        return program_stems(config["inputs"]["simulate"])
    if SOURCE == "local":
        folder = Path(config["inputs"]["uncal_dir"])
        if not folder.is_dir():
            raise WorkflowError(f"inputs.uncal_dir: folder {folder} does not exist")
        stems = sorted(p.name[: -len("_uncal.fits")] for p in folder.glob("*_uncal.fits"))
        if not stems:
            raise WorkflowError(f"inputs.uncal_dir: no *_uncal.fits files in {folder}")
        return stems
    return mast_stems()


def mast_stems():
    """Stems of the downloaded exposures (evaluated after the mast_download checkpoint)."""
    from rampflow.mast import manifest_stems

    manifest = checkpoints.mast_download.get().output.manifest
    return manifest_stems(manifest, include_ta=bool(config["inputs"]["mast"].get("include_ta", False)))


def uncal_path(stem):
    if SOURCE == "local":
        return str(Path(config["inputs"]["uncal_dir"]) / f"{stem}_uncal.fits")
    return f"{OUT}/uncal/{stem}_uncal.fits"


#: steps with an extra input made from the ramp they read (destripe's background mask, see
#: custom.smk): that ramp must exist as a file, so with compute.fuse such a step starts a new
#: group (and the group before it writes its last product)
READS_INPUT_FILE = {"destripe"}


def fused_groups():
    """RAMP_CHAIN cut into runs of steps that work on integration chunks (fused into one job
    each); a step that needs whole pixels across integrations (jump) stands alone."""
    from rampflow.steps import get_step_class

    groups, current = [], []
    for s in RAMP_CHAIN:
        if get_step_class(s).chunking == "integrations":
            if s in READS_INPUT_FILE and current:
                groups.append(current)
                current = []
            current.append(s)
        else:
            if current:
                groups.append(current)
            groups.append([s])
            current = []
    if current:
        groups.append(current)
    return groups


def _per_exposure(value, wildcards):
    return value(wildcards) if callable(value) else value


def group_params(group):
    """Parameters of every step of a fused group (custom additions included), per exposure."""
    return lambda wc: {s: dict(_per_exposure(custom_step_params(s), wc)) for s in group}


def group_overrides(group):
    """Reference overrides for a fused group: the union of its steps' (each type is read by one step)."""
    def _merge(wc):
        out = {}
        for s in group:
            out.update(_per_exposure(custom_step_overrides(s), wc))
        return out

    return _merge


def jump_in_ramp_fit():
    """compute.fuse with jump as the last ramp step: jump runs inside the ramp_fit job, on the
    same row chunks (the ramp is read once); its product is written only if compute.keep
    names it (or keep is null)."""
    return FUSE and bool(RAMP_CHAIN) and RAMP_CHAIN[-1] == "jump" and "ramp_fit" in STEPS


def kept_products(group):
    """Steps of a fused group whose products are written: compute.keep (all when null) + the
    last (unless it is jump, fused into ramp_fit: then only if kept)."""
    keep = set(RAMP_CHAIN if KEEP is None else KEEP)
    if group == ["jump"] and jump_in_ramp_fit():
        return [s for s in group if s in keep]
    return [s for s in group if s in keep or s == group[-1]]


def produced_ramps():
    """Ramp steps whose products are written (all, unless compute.fuse with compute.keep)."""
    if not FUSE:
        return list(RAMP_CHAIN)
    return [s for g in fused_groups() for s in kept_products(g)]


def step_input(step):
    """The file a ramp step reads: the uncal file, or the previous step's product."""
    i = RAMP_CHAIN.index(step)
    if i == 0:
        return lambda wc: uncal_path(wc.stem)
    return f"{OUT}/stage1/{{stem}}_{RAMP_CHAIN[i - 1]}.fits"


def last_ramp():
    """The ramp the ramp_fit job reads (the one before jump, when jump runs inside it)."""
    if jump_in_ramp_fit():
        return step_input("jump")
    return f"{OUT}/stage1/{{stem}}_{RAMP_CHAIN[-1]}.fits"


def step_params(step):
    return dict(config["step_params"].get(step) or {})


def references_ready():
    """Marker that the reference files exist locally before parallel jobs start."""
    return f"{OUT}/crds/.ready"


def final_products():
    stems = exposure_stems()
    if "gain_scale" in STEPS:
        names = ["gain_scale", "gain_scaleints"]
    elif "ramp_fit" in STEPS:
        names = ["rate", "rateints"]
    else:
        names = [RAMP_CHAIN[-1]]
    return [f"{OUT}/stage1/{s}_{n}.fits" for s in stems for n in names]


PRODUCED = produced_ramps()
