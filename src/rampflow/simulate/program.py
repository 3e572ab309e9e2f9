"""A simulated program: every detector x segment of an ``inputs.simulate`` block, and its CRDS cache.

``inputs.simulate`` holds program keys (:data:`PROGRAM_KEYS`: kind, detectors, segments, nints,
ngroups, size, seed, program, ints_per_segment, physics) and physics parameters, either at the
top level or under ``physics:``. :func:`program_stems` names the exposures without touching
any file; :func:`simulate_program` writes them, with one set of reference files per detector
in the CRDS cache.
"""

from __future__ import annotations

from pathlib import Path

from . import kinds
from .crds_cache import check_cache_is_ours, write_crds_cache
from .detector import make_detector
from .exposure import simulate_exposure

#: keys of ``inputs.simulate`` that are not physics parameters
PROGRAM_KEYS = ("kind", "detectors", "segments", "nints", "ngroups", "size", "seed", "program",
                "ints_per_segment", "physics")


def split_sim_cfg(sim_cfg: dict):
    """(program keys, physics parameters) of an ``inputs.simulate`` block."""
    cfg = dict(sim_cfg or {})
    physics = dict(cfg.pop("physics", None) or {})
    program = {k: cfg.pop(k) for k in list(cfg) if k in PROGRAM_KEYS}
    physics.update(cfg)                 # remaining top-level keys are physics parameters
    return program, physics


def program_layout(sim_cfg: dict):
    """(program keys, physics, kind, detectors, number of segments), checked."""
    prog, physics = split_sim_cfg(sim_cfg)
    kind = prog.get("kind", "nirspec_tso")
    spec = kinds.get(kind)
    detectors = prog.get("detectors") or list(spec.default_detectors)
    if isinstance(detectors, str):
        detectors = [detectors]
    detectors = [kinds.check_detector(kind, d) for d in detectors]
    nseg = int(prog.get("segments", 1) or 1)
    return prog, physics, kind, detectors, nseg


def program_stems(sim_cfg: dict) -> list[str]:
    """The exposure names ``simulate_program`` will write for ``sim_cfg`` (no files touched),
    in the same detector-major order; the workflow expands its DAG from them."""
    _, _, kind, detectors, nseg = program_layout(sim_cfg)
    spec = kinds.get(kind)
    return [spec.stem(d, s, nseg) for d in detectors for s in range(1, nseg + 1)]


def simulate_program(outdir, sim_cfg: dict, crds_path) -> list[Path]:
    """Simulate every detector x segment of ``sim_cfg`` (the ``inputs.simulate`` block).

    Reference files are written once per detector into the CRDS cache at ``crds_path``
    (``references/jwst/<instrument>/``) and the cache's mappings are (re)written so that
    ``crds.getreferences`` resolves them. Returns the uncal paths (detector-major order).
    """
    prog, physics, kind, detectors, nseg = program_layout(sim_cfg)
    nints = int(prog.get("nints", 8))
    ngroups = int(prog.get("ngroups", 10))
    size = prog.get("size")
    seed = int(prog.get("seed", 0) or 0)
    program = str(prog.get("program", "demo-tso"))
    ips = prog.get("ints_per_segment")
    if nints < nseg:
        raise ValueError(f"inputs.simulate.nints: {nints} integrations cannot fill {nseg} segments")
    phys = kinds.resolve_physics(kind, physics)
    crds_path = Path(crds_path)
    check_cache_is_ours(crds_path)
    outdir = Path(outdir)
    refdir = crds_path / "references" / "jwst" / kinds.get(kind).instrument.name.lower()
    uncals: list[Path] = []
    refs_by_det: dict[str, dict] = {}
    for det_name in detectors:
        det = make_detector(kind, det_name, phys, seed)
        refs = None
        for s in range(1, nseg + 1):
            exp = simulate_exposure(outdir, kind=kind, detector=det_name, segment=s, nsegments=nseg,
                                    nints=nints, ngroups=ngroups, size=size, seed=seed, program=program,
                                    ints_per_segment=ips, refdir=refdir, write_refs=refs is None,
                                    refs=refs, _detector_model=det, **physics)
            refs = exp.refs
            uncals.append(exp.uncal)
        refs_by_det[det_name] = refs
    write_crds_cache(crds_path, refs_by_det)
    return uncals
