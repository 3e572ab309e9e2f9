"""Shared test helpers: tiny genuine-layout uncal files written with stdatamodels."""

from __future__ import annotations

import numpy as np
import pytest


def make_uncal(path, data: np.ndarray, *, instrument="NIRSPEC", detector="NRS1", exp_type="NRS_BRIGHTOBJ",
               subarray="SUB2048", substrt=(1, 1), int_times=True, **meta):
    """Write ``data`` (uint16, nints x ngroups x ny x nx) as a Level1bModel uncal file."""
    from stdatamodels.jwst import datamodels as dm

    data = np.asarray(data, dtype=np.uint16)
    nints, ngroups, ny, nx = data.shape
    m = dm.Level1bModel(data=data)
    m.meta.telescope = "JWST"
    m.meta.instrument.name = instrument
    m.meta.instrument.detector = detector
    m.meta.exposure.type = exp_type
    m.meta.exposure.readpatt = meta.pop("readpatt", "NRSRAPID")
    m.meta.subarray.name = subarray
    m.meta.subarray.xstart, m.meta.subarray.ystart = substrt
    m.meta.subarray.xsize, m.meta.subarray.ysize = nx, ny
    m.meta.subarray.fastaxis = meta.pop("fastaxis", 2)
    m.meta.subarray.slowaxis = meta.pop("slowaxis", 1)
    m.meta.exposure.nints = nints
    m.meta.exposure.ngroups = ngroups
    m.meta.exposure.nframes = meta.pop("nframes", 1)
    m.meta.exposure.groupgap = meta.pop("groupgap", 0)
    m.meta.exposure.frame_divisor = meta.pop("frmdivsr", 1)
    m.meta.exposure.frame_time = meta.pop("tframe", 0.90156)
    m.meta.exposure.group_time = meta.pop("tgroup", 0.90156)
    m.meta.observation.date = "2022-07-10"
    m.meta.observation.time = "10:00:00.000"
    if int_times:
        it = np.zeros(nints, dtype=[("integration_number", "i4"), ("int_start_MJD_UTC", "f8"),
                                    ("int_mid_MJD_UTC", "f8"), ("int_end_MJD_UTC", "f8"),
                                    ("int_start_BJD_TDB", "f8"), ("int_mid_BJD_TDB", "f8"),
                                    ("int_end_BJD_TDB", "f8")])
        it["integration_number"] = np.arange(1, nints + 1)
        it["int_mid_BJD_TDB"] = 59770.5 + np.arange(nints) * 1e-3
        m.int_times = it
    m.save(str(path))
    return path


@pytest.fixture
def uncal_factory(tmp_path):
    def _make(name="jw01366003001_04101_00001-seg001_nrs1_uncal.fits", shape=(2, 3, 4, 5), seed=0, **kw):
        rng = np.random.default_rng(seed)
        data = rng.integers(10000, 60000, size=shape, dtype=np.uint16)
        make_uncal(tmp_path / name, data, **kw)
        return tmp_path / name, data

    return _make
