"""The simulator's reference files: the eight CRDS types that describe its detector model.

MASK, SATURATION, SUPERBIAS, LINEARITY, READNOISE and GAIN are full frame and hold the
:class:`~.detector.DetectorModel` as CRDS files do. DARK is cut to the exposure's subarray
(jwst's dark step does not cut), has NFRAMES = 1, GROUPGAP = 0 and
NGROUPS * (NFRAMES + GROUPGAP) frames, and holds ``dark_rate * t_k``: exactly the expectation
of the injected dark signal. IPC is a 3 x 3 deconvolution kernel (centre ``1 + 4a``,
nearest neighbours ``-a`` with ``a`` = :data:`IPC_ALPHA`, corners 0), as the NIR IPC
references are; the simulated ramps carry no IPC, so the ipc step only exercises the
correction. The files are written by :mod:`rampflow.io.simfiles`. Beside these, an
instrument that CRDS has SIRS kernels for gets its SIRSKERNEL file (one per instrument, ASDF:
:mod:`.sirskernel`), under the reftype ``sirskernel``.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from .. import dq as dqflags
from ..io import simfiles
from . import kinds
from .detector import DetectorModel
from .geometry import FULL, Geometry, cut
from .sirskernel import write_sirskernel

#: reference types written for every detector
REFTYPES = ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain", "ipc")
#: nearest-neighbour coupling of the simulated IPC deconvolution kernel
IPC_ALPHA = 0.005


def ipc_kernel(alpha: float = IPC_ALPHA) -> np.ndarray:
    """float32 (3, 3) IPC deconvolution kernel: ``1 + 4 alpha`` in the middle, ``-alpha`` at the
    four nearest neighbours, 0 in the corners."""
    k = np.zeros((3, 3), dtype=np.float32)
    k[1, 1] = 1.0 + 4.0 * alpha
    k[0, 1] = k[2, 1] = k[1, 0] = k[1, 2] = -alpha
    return k


def ref_name(instrument: str, reftype: str, detector: str, subarray: str | None = None) -> str:
    """``jwst_<instrument>_<reftype>_<detector>[-<subarray>].fits`` (lower case)."""
    tail = detector.lower() + (f"-{subarray.lower()}" if subarray else "")
    return f"jwst_{instrument.lower()}_{reftype}_{tail}.fits"


def dq_def_rows(names):
    """DQ_DEF rows (bit, value, name, description) of the named JWST DQ flags."""
    rows = []
    for name in names:
        bit = dqflags.FLAGS[name]
        rows.append((int(bit).bit_length() - 1, bit, name, f"{name.replace('_', ' ').title()}"))
    return rows


def dark_tag(geom: Geometry) -> str:
    """The subarray part of a DARK file name: the SUBARRAY, or ``generic<ny>x<nx>``."""
    if geom.subarray == "GENERIC":
        return f"generic{geom.ny}x{geom.nx}"
    return geom.subarray


def write_references(det: DetectorModel, geom: Geometry, phys: dict, refdir: Path) -> dict:
    """Write the eight reference files of ``det`` (DARK cut to ``geom``'s subarray) into
    ``refdir``; returns reftype -> path. A kind whose :meth:`~.kinds.Kind.write_references`
    returns its own set (MIRI) writes that instead."""
    refdir = Path(refdir)
    spec = kinds.get(geom.kind)
    own = spec.write_references(det, geom, phys, refdir)
    if own is not None:
        return own
    instrument = spec.instrument
    layout = instrument.detectors[det.name]
    exp_type = spec.exp_type
    common = {
        "TELESCOP": "JWST", "INSTRUME": instrument.name, "DETECTOR": det.name,
        "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": FULL, "SUBSIZE2": FULL,
        "FASTAXIS": layout.fastaxis, "SLOWAXIS": layout.slowaxis,
        "AUTHOR": "rampflow simulate", "PEDIGREE": "SIMULATION",
        "USEAFTER": str(phys["useafter"]), "ORIGIN": "rampflow",
        "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    paths: dict[str, Path] = {}

    def put(reftype, arrays, extra, dq_names=None, subarray=None, model=None, drop=()):
        kw = {k: v for k, v in common.items() if k not in drop}
        kw.update(extra)
        kw["REFTYPE"] = reftype.upper()
        kw.setdefault("DESCRIP", f"Simulated {reftype} reference for {det.name}")
        path = refdir / ref_name(instrument.name, reftype, det.name, subarray)
        simfiles.write_reference(path, reftype, arrays, kw,
                                 dq_def=dq_def_rows(dq_names) if dq_names else None, model=model)
        paths[reftype] = path

    pexp = f"{exp_type}|"
    put("mask", {"DQ": det.mask_dq}, {"EXP_TYPE": exp_type, "P_EXP_TY": pexp},
        ["DO_NOT_USE", "DEAD", "HOT", "REFERENCE_PIXEL"])
    sat_dq = np.zeros(det.dead.shape, dtype=np.uint32)
    sat_dq[det.dead] = dqflags.NO_SAT_CHECK
    put("saturation", {"SCI": det.saturation, "DQ": sat_dq}, {"BUNIT": "DN"}, ["NO_SAT_CHECK"])
    put("superbias", {"SCI": det.superbias, "DQ": np.zeros(det.dead.shape, np.uint32)},
        {"READPATT": "ANY", "P_READPA": "ANY|", "NOUTPUTS": 4, "BUNIT": "DN"}, ["UNRELIABLE_BIAS"])
    lin_dq = np.zeros(det.dead.shape, dtype=np.uint32)
    lin_dq[det.dead | det.refpix] = dqflags.NO_LIN_CORR
    put("linearity", {"COEFFS": det.coeffs, "DQ": lin_dq}, {}, ["NO_LIN_CORR"])
    put("readnoise", {"SCI": det.readnoise}, {"READPATT": "ANY", "P_READPA": "ANY|", "NOUTPUTS": 4,
                                              "BUNIT": "DN"})
    put("gain", {"SCI": det.gain}, {"BUNIT": "electrons/DN"})
    # IPCModel has no subarray keywords: a 2-D kernel applies to any subarray
    put("ipc", {"SCI": ipc_kernel()}, {"DESCRIP": f"Simulated IPC deconvolution kernel for {det.name}"},
        drop=("SUBARRAY", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2", "FASTAXIS", "SLOWAXIS"))

    # DARK: cut to the subarray (jwst's dark step does not cut), NFRAMES=1, GROUPGAP=0
    nfr = geom.ngroups * (geom.nframes + geom.groupgap)
    t = (np.arange(nfr, dtype=np.float64) + 1.0) * geom.tframe
    rate = cut(geom, det.dark_rate).astype(np.float64)
    dark = (t[:, None, None] * rate[None]).astype(np.float32)
    dark_kw = {"SUBARRAY": geom.subarray, "SUBSTRT1": geom.xstart, "SUBSTRT2": geom.ystart,
               "SUBSIZE1": geom.nx, "SUBSIZE2": geom.ny, "EXP_TYPE": exp_type, "P_EXP_TY": pexp,
               "READPATT": instrument.dark_readpatt,
               "NOUTPUTS": geom.noutputs, "NFRAMES": 1, "GROUPGAP": 0, "NGROUPS": nfr,
               "TFRAME": geom.tframe, "TGROUP": geom.tframe, "BUNIT": "DN",
               "DESCRIP": f"Simulated dark for {det.name} {geom.subarray} ({nfr} frames)"}
    put("dark", {"SCI": dark, "DQ": np.zeros((geom.ny, geom.nx), np.uint32)}, dark_kw,
        ["UNRELIABLE_DARK"], subarray=dark_tag(geom), model=instrument.dark_model)
    sirs = write_sirskernel(refdir, instrument.name)
    if sirs is not None:
        paths["sirskernel"] = sirs
    paths.update(spec.extra_references(det, geom, phys, refdir))
    return paths
