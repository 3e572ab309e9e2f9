"""The simulated MIRI detector's reference files, as CRDS holds MIRI's.

Nine types, written through their ``stdatamodels`` models (:mod:`rampflow.io.simfiles`) so
jwst's steps open them:

* full frame (1024 x 1032, SUBARRAY = FULL; the cache matches them to any subarray):
  MASK (REFERENCE_PIXEL on the eight reference columns, DEAD | DO_NOT_USE, HOT),
  SATURATION (raw DN), LINEARITY, READNOISE (CDS DN), GAIN;
* cut to the exposure's subarray: DARK (``DarkMIRIModel``, 4-D: 2 integrations x NGROUPS,
  NFRAMES = 1, GROUPGAP = 0; plane 0 is the first integration's dark with its excess, plane 1
  the second and later integrations'), RESET (``ResetModel``: 2 integrations x NGROUPS, the
  injected reset anomaly, :func:`.miri.reset_anomaly`);
* imaging only: FLAT (``FlatModel``, full frame; the area left of the imager's field flagged
  NON_SCIENCE | DO_NOT_USE; :mod:`.flats`);
* tables: RSCD (``RSCDModel``: groups to flag per SUBARRAY and READPATT, :data:`.miri.RSCD_SKIP`),
  EMICORR (``EmiModel``, ASDF: the EMI frequencies with a one-period sine as phase
  amplitudes, and the subarray cases -- rowclocks, frameclocks, frequencies -- of the
  simulator's readouts).

LINEARITY. MIRI has no superbias step, so jwst applies the linearity polynomial to ramps that
still hold the bias ``b``. The simulator's signal-domain correction ``L = M + c2 M**2 +
c3 M**3`` (M = raw - b) is re-expanded per pixel in the raw value D:
``P(D) = D + c2 (D - b)**2 + c3 (D - b)**3``, i.e. coefficients
``[c2 b**2 - c3 b**3, 1 - 2 c2 b + 3 c3 b**2, c2 - 3 c3 b, c3]`` (computed in float64),
so ``P(raw) - b`` is the linear signal: slopes are exactly those of the linear ramp.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from .. import dq as dqflags
from ..io import simfiles
from . import miri
from .detector import DetectorModel
from .geometry import Geometry, cut
from .references import dark_tag, dq_def_rows, ref_name

#: reference types written for the MIRI detector
MIRI_REFTYPES = ("mask", "saturation", "linearity", "dark", "reset", "rscd", "readnoise", "gain", "emicorr")


def raw_domain_coeffs(coeffs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """float32 (4, ny, nx) coefficients of ``P(D) = D + c2 (D - b)**2 + c3 (D - b)**3`` from
    signal-domain ``coeffs = [0, 1, c2, c3]`` and the bias ``b`` (module docstring)."""
    c2 = coeffs[2].astype(np.float64)
    c3 = coeffs[3].astype(np.float64)
    b = bias.astype(np.float64)
    out = np.empty((4,) + b.shape, dtype=np.float64)
    out[0] = c2 * b ** 2 - c3 * b ** 3
    out[1] = 1.0 - 2.0 * c2 * b + 3.0 * c3 * b ** 2
    out[2] = c2 - 3.0 * c3 * b
    out[3] = c3
    return out.astype(np.float32)


def _rscd_table() -> np.ndarray:
    dt = np.dtype([("subarray", "S17"), ("readpatt", "S12"), ("group_skip1", ">i4"), ("group_skip", ">i4")])
    rows = [(sub.encode(), patt.encode(), skip1, skip)
            for sub in ("FULL", "SLITLESSPRISM", "GENERIC")
            for patt, (skip1, skip) in miri.RSCD_SKIP.items()]
    return np.array(rows, dtype=dt)


def _emi_cases() -> dict:
    cases = {}
    for case, names in miri.EMI_CASES.items():
        if case == "FULL_FAST":
            rowclocks, frameclocks = miri.clocks("FULL", 1024, 1032)
        else:
            sa = miri.SLITLESSPRISM
            rowclocks, frameclocks = miri.clocks(case, sa["ny"], sa["nx"])
        cases[case] = {"rowclocks": int(rowclocks), "frameclocks": int(frameclocks),
                       "freqs": {"FAST": list(names), "SLOW": {"MIRIMAGE": list(names)}}}
    return cases


def write_miri_references(det: DetectorModel, geom: Geometry, phys: dict, refdir: Path) -> dict:
    """Write the MIRI reference files of ``det`` for ``geom`` into ``refdir``; reftype -> path."""
    refdir = Path(refdir)
    instrument = miri.MIRI
    layout = instrument.detectors[det.name]
    fny, fnx = instrument.full_shape
    common = {
        "TELESCOP": "JWST", "INSTRUME": instrument.name, "DETECTOR": det.name,
        "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": fnx, "SUBSIZE2": fny,
        "FASTAXIS": layout.fastaxis, "SLOWAXIS": layout.slowaxis,
        "AUTHOR": "rampflow simulate", "PEDIGREE": "SIMULATION",
        "USEAFTER": str(phys["useafter"]), "ORIGIN": "rampflow",
        "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    sub_kw = {"SUBARRAY": geom.subarray, "SUBSTRT1": geom.xstart, "SUBSTRT2": geom.ystart,
              "SUBSIZE1": geom.nx, "SUBSIZE2": geom.ny}
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

    shape = det.refpix.shape
    put("mask", {"DQ": det.mask_dq}, {}, ["DO_NOT_USE", "DEAD", "HOT", "REFERENCE_PIXEL"])
    sat_dq = np.zeros(shape, dtype=np.uint32)
    sat_dq[det.dead] = dqflags.NO_SAT_CHECK
    put("saturation", {"SCI": det.saturation, "DQ": sat_dq}, {"BUNIT": "DN"}, ["NO_SAT_CHECK"])
    lin_dq = np.zeros(shape, dtype=np.uint32)
    lin_dq[det.dead | det.refpix] = dqflags.NO_LIN_CORR
    put("linearity", {"COEFFS": raw_domain_coeffs(det.coeffs, det.superbias), "DQ": lin_dq}, {},
        ["NO_LIN_CORR"])
    put("readnoise", {"SCI": det.readnoise}, {"READPATT": "ANY", "BUNIT": "DN"})
    put("gain", {"SCI": det.gain}, {"BUNIT": "electrons/DN"})

    # DARK: 2 integrations (the first with its excess dark), cut to the subarray
    t = (np.arange(geom.ngroups * (geom.nframes + geom.groupgap), dtype=np.float64) + 1.0) * geom.tframe
    rate = cut(geom, det.dark_rate).astype(np.float64)
    excess = 1.0 + float(phys["dark_int1_excess"])
    dark = np.stack([t[:, None, None] * rate[None] * excess, t[:, None, None] * rate[None]]).astype(np.float32)
    nfr = dark.shape[1]
    tag = dark_tag(geom)
    put("dark", {"SCI": dark, "DQ": np.zeros((2, 1, geom.ny, geom.nx), np.uint32)},
        dict(sub_kw, EXP_TYPE=miri.LRS_TSO.exp_type if geom.kind == miri.LRS_TSO.name else miri.IMAGE.exp_type,
             READPATT=instrument.dark_readpatt, NINTS=2, NFRAMES=1, GROUPGAP=0, NGROUPS=nfr,
             TFRAME=geom.tframe, TGROUP=geom.tframe, BUNIT="DN",
             DESCRIP=f"Simulated MIRI dark for {det.name} {geom.subarray} (2 integrations x {nfr} frames)"),
        ["UNRELIABLE_DARK"], subarray=tag, model=instrument.dark_model)

    # RESET: the injected anomaly of the first and of later integrations
    reset = miri.reset_anomaly(det, geom, phys)
    put("reset", {"SCI": reset, "DQ": np.zeros((geom.ny, geom.nx), np.uint32),
                  "ERR": np.zeros_like(reset)},
        dict(sub_kw, READPATT=geom.readpatt, NINTS=2, NGROUPS=geom.ngroups,
             DESCRIP=f"Simulated MIRI reset anomaly for {det.name} {geom.subarray}"),
        ["DO_NOT_USE"], subarray=tag)

    put("rscd", {"RSCD_GROUP_SKIP": _rscd_table()}, {"DESCRIP": "Simulated MIRI RSCD groups to flag"},
        drop=("SUBARRAY", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2", "FASTAXIS", "SLOWAXIS"))

    names = sorted(miri.EMI_FREQUENCIES)
    freqs = {}
    for name in names:
        k = np.arange(256, dtype=np.float64)
        freqs[name] = {"frequency": miri.EMI_FREQUENCIES[name],
                       "phase_amplitudes": np.sin(2 * np.pi * (k + 0.5) / 256.0)}
    emi_kw = {k: common[k] for k in ("TELESCOP", "INSTRUME", "DETECTOR", "AUTHOR", "PEDIGREE", "USEAFTER",
                                     "ORIGIN", "DATE")}
    emi_kw.update(REFTYPE="EMICORR", DESCRIP="Simulated MIRI EMI frequencies and cases")
    path = refdir / ref_name(instrument.name, "emicorr", det.name).replace(".fits", ".asdf")
    paths["emicorr"] = simfiles.write_emicorr(path, freqs, _emi_cases(), emi_kw)
    if geom.kind == miri.IMAGE.name:
        from .flats import MIRI_NON_SCIENCE_COLUMNS, write_flat

        paths["flat"] = write_flat(det, instrument, phys, refdir, filt="F770W",
                                   non_science_columns=MIRI_NON_SCIENCE_COLUMNS)
    return paths
