"""Small MIRI exposures and reference files written with stdatamodels, as STScI's tools write
them, for the MIRI tests (I/O, parity with jwst): a Level1bModel uncal (uint16 SCI,
INT_TIMES, REFOUT, MIRI header keywords) and MASK, SATURATION, LINEARITY, DARK (4-D
DarkMIRIModel), READNOISE and GAIN references of the same frame.

Two layouts: ``"full"`` (MIRIMAGE FULL, 1024 x 1032 with the reference columns x = 1-4 and
1029-1032, FASTR1, MIR_IMAGE) and ``"slitlessprism"`` (the LRS TSO subarray, 72 x 416 at
SUBSTRT1 = 1, SUBSTRT2 = 529: it holds the left reference columns only).

The ramps: a bias, a drift per amplifier (columns mod 4) and group that the reference columns
see too, a signal that saturates some pixels, a few jumps, read noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rampflow import dq as dqf

LAYOUTS = {
    # name: (SUBARRAY, SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2, EXP_TYPE, TFRAME)
    "full": ("FULL", 1, 1, 1032, 1024, "MIR_IMAGE", 2.77504),
    "slitlessprism": ("SLITLESSPRISM", 1, 529, 72, 416, "MIR_LRS-SLITLESS", 0.15904),
}


@dataclass
class MiriCase:
    uncal: Path
    refs: dict = field(default_factory=dict)  # reftype -> path
    layout: str = "full"
    data: np.ndarray | None = None            # the uncal's SCI (uint16)
    refout: np.ndarray | None = None          # the uncal's REFOUT (uint16)

    @property
    def meta(self):
        from rampflow.io import open_ramp

        with open_ramp(self.uncal) as rf:
            return rf.meta


def _ref_meta(model, reftype: str, layout: str, ny: int, nx: int) -> None:
    name, x0, y0, *_ = LAYOUTS[layout]
    m = model.meta
    m.telescope = "JWST"
    m.instrument.name = "MIRI"
    m.instrument.detector = "MIRIMAGE"
    m.reftype = reftype
    m.author = "rampflow tests"
    m.pedigree = "DUMMY"
    m.useafter = "2022-01-01T00:00:00"
    m.description = f"MIRI {reftype} for tests"
    m.subarray.name = name
    m.subarray.xstart, m.subarray.ystart = x0, y0
    m.subarray.xsize, m.subarray.ysize = nx, ny
    m.subarray.fastaxis, m.subarray.slowaxis = 1, 2


def _dq_def():
    """A DQ_DEF naming every JWST flag at its own bit (so values pass through unchanged)."""
    rows = [(int(v).bit_length() - 1, int(v), n, n) for n, v in dqf.FLAGS.items() if v and not (v & (v - 1))]
    return np.array(rows, dtype=[("BIT", "<i4"), ("VALUE", "<u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")])


def reference_columns(layout: str, nx: int) -> list[int]:
    """0-based columns of the frame that are MIRI reference columns (x = 1-4, 1029-1032)."""
    x0 = LAYOUTS[layout][1]
    return [c for c in range(nx) if (c + x0 - 1) < 4 or (c + x0 - 1) >= 1028]


def make_miri_case(out: Path, layout: str = "full", nints: int = 2, ngroups: int = 5, seed: int = 0,
                   dark_nints: int = 2, dark_ngroups: int | None = None) -> MiriCase:
    """Write a MIRI uncal and its reference files into ``out``; returns the case."""
    from stdatamodels.jwst import datamodels as dm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name, x0, y0, nx, ny, exp_type, tframe = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    shape = (nints, ngroups, ny, nx)
    refcols = reference_columns(layout, nx)
    bias = 11000.0 + rng.normal(0, 40, (ny, nx))
    rate = rng.uniform(0, 300, (ny, nx))
    bright = rng.random((ny, nx)) < 0.01
    rate[bright] = rng.uniform(9000, 20000, bright.sum())       # saturate within the ramp
    rate[:, refcols] = 0.0
    g = np.arange(ngroups, dtype=np.float64)[None, :, None, None]
    sci = bias[None, None] + rate[None, None] * (g + 1) + rng.normal(0, 6, shape)
    drift = rng.normal(0, 15, (nints, ngroups, 4))               # per amplifier (columns mod 4)
    for a in range(4):
        sci[:, :, :, a::4] += drift[:, :, a][:, :, None, None]
    jumps = rng.random((nints, ny, nx)) < 0.002
    ji, jy, jx = np.nonzero(jumps)
    for i, y, x in zip(ji, jy, jx):
        sci[i, ngroups // 2:, y, x] += 3000.0
    data = np.clip(np.round(sci), 0, 65535).astype(np.uint16)
    refout = np.clip(np.round(bias[None, None, : ny // 4] * 0.9 + rng.normal(0, 6, (nints, ngroups, ny // 4, nx))),
                     0, 65535).astype(np.uint16)

    m = dm.Level1bModel(data=data, refout=refout)
    m.meta.telescope = "JWST"
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = "MIRIMAGE"
    m.meta.instrument.filter = "P750L" if layout == "slitlessprism" else "F770W"
    m.meta.exposure.type = exp_type
    m.meta.exposure.readpatt = "FASTR1"
    m.meta.subarray.name = name
    m.meta.subarray.xstart, m.meta.subarray.ystart = x0, y0
    m.meta.subarray.xsize, m.meta.subarray.ysize = nx, ny
    m.meta.subarray.fastaxis, m.meta.subarray.slowaxis = 1, 2
    m.meta.exposure.nints = nints
    m.meta.exposure.ngroups = ngroups
    m.meta.exposure.nframes = 1
    m.meta.exposure.groupgap = 0
    m.meta.exposure.frame_divisor = 1
    m.meta.exposure.frame_time = tframe
    m.meta.exposure.group_time = tframe
    m.meta.exposure.integration_start = 1
    m.meta.exposure.integration_end = nints
    m.meta.exposure.zero_frame = False
    m.meta.observation.date = "2022-11-30"
    m.meta.observation.time = "10:00:00.000"
    m.meta.visit.tsovisit = layout == "slitlessprism"
    it = np.zeros(nints, dtype=[("integration_number", "i4"), ("int_start_MJD_UTC", "f8"),
                                ("int_mid_MJD_UTC", "f8"), ("int_end_MJD_UTC", "f8"),
                                ("int_start_BJD_TDB", "f8"), ("int_mid_BJD_TDB", "f8"),
                                ("int_end_BJD_TDB", "f8")])
    it["integration_number"] = np.arange(1, nints + 1)
    it["int_start_MJD_UTC"] = 59913.4 + np.arange(nints) * 1e-4
    it["int_mid_MJD_UTC"] = it["int_start_MJD_UTC"] + 5e-5
    it["int_end_MJD_UTC"] = it["int_start_MJD_UTC"] + 1e-4
    m.int_times = it
    uncal = out / f"jw01366004001_04103_00001-seg001_mirimage_{layout}_uncal.fits"
    m.save(str(uncal))

    refs = {}
    pixdq = np.zeros((ny, nx), np.uint32)
    pixdq[:, refcols] = dqf.REFERENCE_PIXEL
    bad = rng.random((ny, nx)) < 0.003
    pixdq[bad] |= dqf.DO_NOT_USE
    mask = dm.MaskModel(dq=pixdq, dq_def=_dq_def())
    _ref_meta(mask, "MASK", layout, ny, nx)
    refs["mask"] = out / "miri_mask.fits"
    mask.save(str(refs["mask"]))

    sat = dm.SaturationModel(data=(52000.0 + rng.normal(0, 500, (ny, nx))).astype(np.float32),
                             dq=np.zeros((ny, nx), np.uint32), dq_def=_dq_def())
    sat.dq[rng.random((ny, nx)) < 0.001] = dqf.FLAGS["NO_SAT_CHECK"]
    _ref_meta(sat, "SATURATION", layout, ny, nx)
    refs["saturation"] = out / "miri_saturation.fits"
    sat.save(str(refs["saturation"]))

    coeffs = np.zeros((5, ny, nx), np.float32)
    coeffs[1] = 1.0
    coeffs[2] = (2e-6 + rng.normal(0, 2e-7, (ny, nx))).astype(np.float32)
    coeffs[3] = np.float32(1e-11)
    lin = dm.LinearityModel(coeffs=coeffs, dq=np.zeros((ny, nx), np.uint32), dq_def=_dq_def())
    lin.dq[rng.random((ny, nx)) < 0.001] = dqf.FLAGS["NO_LIN_CORR"]
    _ref_meta(lin, "LINEARITY", layout, ny, nx)
    refs["linearity"] = out / "miri_linearity.fits"
    lin.save(str(refs["linearity"]))

    dng = ngroups + 3 if dark_ngroups is None else dark_ngroups
    dgrp = np.arange(dng, dtype=np.float32)[None, :, None, None]
    dark_data = (dgrp * np.float32(0.7) + rng.normal(0, 0.5, (dark_nints, dng, ny, nx))).astype(np.float32)
    dark_data += np.arange(dark_nints, dtype=np.float32)[:, None, None, None] * np.float32(3.0)
    ddq = np.zeros((dark_nints, dng, ny, nx), np.uint32)
    ddq[0, 0][rng.random((ny, nx)) < 0.002] = dqf.FLAGS["UNRELIABLE_DARK"]
    ddq[-1, 0][rng.random((ny, nx)) < 0.002] = dqf.FLAGS["HOT"]
    dark = dm.DarkMIRIModel(data=dark_data, dq=ddq, err=np.zeros_like(dark_data), dq_def=_dq_def())
    _ref_meta(dark, "DARK", layout, ny, nx)
    dark.meta.exposure.nframes = 1
    dark.meta.exposure.groupgap = 0
    dark.meta.exposure.ngroups = dng
    dark.meta.exposure.nints = dark_nints
    dark.meta.exposure.readpatt = "FASTR1"
    refs["dark"] = out / "miri_dark.fits"
    dark.save(str(refs["dark"]))

    rn = dm.ReadnoiseModel(data=(28.0 + rng.normal(0, 2, (ny, nx))).astype(np.float32))
    _ref_meta(rn, "READNOISE", layout, ny, nx)
    refs["readnoise"] = out / "miri_readnoise.fits"
    rn.save(str(refs["readnoise"]))

    gain = dm.GainModel(data=np.full((ny, nx), 4.0, np.float32))
    _ref_meta(gain, "GAIN", layout, ny, nx)
    refs["gain"] = out / "miri_gain.fits"
    gain.save(str(refs["gain"]))
    return MiriCase(uncal=uncal, refs=refs, layout=layout, data=data, refout=refout)
