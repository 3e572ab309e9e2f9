"""Light-curve test inputs written by hand: rateints products with an INT_TIMES table, and
cubes with a known trace (shared by the light-curve unit tests)."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from rampflow import io

DAY = 1.0 / 86400.0


def _times(nums, bjd, mjd):
    t = Table()
    t["integration_number"] = np.asarray(nums, dtype=np.int32)
    t["int_start_MJD_UTC"] = np.asarray(mjd) - 10 * DAY
    t["int_mid_MJD_UTC"] = np.asarray(mjd, dtype=float)
    t["int_end_MJD_UTC"] = np.asarray(mjd) + 10 * DAY
    t["int_start_BJD_TDB"] = np.asarray(bjd) - 10 * DAY
    t["int_mid_BJD_TDB"] = np.asarray(bjd, dtype=float)
    t["int_end_BJD_TDB"] = np.asarray(bjd) + 10 * DAY
    return t


def write_rateints(path, sci, *, err=None, dq=None, bjd=None, mjd=None, intstart=1, segment=1,
                   detector="NRS1", exp_type="NRS_BRIGHTOBJ", drop_bjd_column=False, **keys):
    """A CubeModel rateints file of ``sci`` (nints, ny, nx) with an INT_TIMES table."""
    sci = np.asarray(sci, dtype=np.float32)
    n = sci.shape[0]
    err = np.ones_like(sci) if err is None else np.asarray(err, np.float32)
    dq = np.zeros(sci.shape, np.uint32) if dq is None else np.asarray(dq, np.uint32)
    nums = np.arange(intstart, intstart + n)
    bjd = 60000.0 + nums * 60 * DAY if bjd is None else np.asarray(bjd, float)
    mjd = bjd - 300 * DAY if mjd is None else np.asarray(mjd, float)
    it = _times(nums, bjd, mjd)
    if drop_bjd_column:
        it.remove_columns(["int_start_BJD_TDB", "int_mid_BJD_TDB", "int_end_BJD_TDB"])
    h = fits.Header()
    h["INSTRUME"] = "NIRCAM" if exp_type.startswith("NRC") else "NIRSPEC"
    h["DETECTOR"] = detector
    h["EXP_TYPE"] = exp_type
    h["SUBARRAY"] = "SUB2048"
    h["NINTS"] = 999
    h["NGROUPS"] = 5
    h["INTSTART"] = intstart
    h["INTEND"] = intstart + n - 1
    h["EXSEGNUM"] = segment
    for k, v in keys.items():
        h[k.upper()] = v
    arrays = {"SCI": sci, "ERR": err, "DQ": dq, "VAR_POISSON": err ** 2, "VAR_RNOISE": np.zeros_like(sci)}
    return io.write_image_product(path, arrays, h, None, datamodel="CubeModel", tables={"INT_TIMES": it})


def _trace_cube(amps, ny=9, nx=3, rows=(3, 4, 5), prof=(1.0, 2.0, 1.0), bkg=0.0):
    """(nints, ny, nx): amps[i] * prof on ``rows`` of every column, plus a constant ``bkg``."""
    cube = np.full((len(amps), ny, nx), bkg, dtype=np.float64)
    for r, p in zip(rows, prof):
        cube[:, r, :] += np.asarray(amps, float)[:, None] * p
    return cube


CFG = {"box_halfwidth": 1, "bkg_gap": 1, "bin_width": 1, "trace_order": 0}
