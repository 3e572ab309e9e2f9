"""dark_current for MIRI: 4-D darks, one dark ramp per integration (stcal dark_sub).

The MIRI cases of jwst's own tests (jwst/dark_current/tests/test_dark_sub.py: test_2_int,
test_nan, test_dq_combine, test_frame_avg) with their expected values, and hand-built pixels
for the integration choice (last dark integration beyond the dark's, or for a later segment),
chunking, and the shape errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.dark_current import dark_integration, prepare_dark_4d

DNU, JUMP, SAT = dq.DO_NOT_USE, dq.JUMP_DET, dq.SATURATED


def miri_meta(nints, ngroups, ny=4, nx=4, nframes=1, groupgap=0, intstart=None, instrument="MIRI"):
    hdr = {"INSTRUME": instrument, "DETECTOR": "MIRIMAGE" if instrument == "MIRI" else "NRCA1",
           "NFRAMES": nframes, "GROUPGAP": groupgap, "NGROUPS": ngroups, "NINTS": nints,
           "TFRAME": 2.775, "TGROUP": 2.775 * nframes}
    if intstart is not None:
        hdr["INTSTART"] = intstart
    return ExposureMeta.from_headers(hdr, {}, "miri_test", shape=(nints, ngroups, ny, nx))


def miri_dark(ngroups, ny=4, nx=4, dark_nints=2, dq_arr=None):
    """jwst's test dark: 2 integrations of ones, NFRAMES 1, GROUPGAP 0."""
    data = np.ones((dark_nints, ngroups, ny, nx), np.float32)
    arrays = {"SCI": data}
    if dq_arr is not None:
        arrays["DQ"] = dq_arr
    return Reference("dark", "miri_dark.fits", {"NFRAMES": 1, "GROUPGAP": 0}, arrays)


def run(meta, ref, sci, ints=None, pdq=None):
    step = get_step_class("dark_current")(meta, {"dark": ref})
    pdq = np.zeros(sci.shape[2:], np.uint32) if pdq is None else pdq
    step.process(sci, np.zeros(sci.shape, np.uint8), pdq, ints or slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return step, pdq


def test_jwst_2_int_each_integration_its_own_dark():
    ngroups, ref = 10, miri_dark(15)
    ref.arrays["SCI"][0, :14] = (np.arange(14) * 0.1)[:, None, None]
    ref.arrays["SCI"][1, :14] = (np.arange(14) * 0.2)[:, None, None]
    sci = np.ones((2, ngroups, 4, 4), np.float32)
    sci[:, :ngroups - 1] = np.arange(ngroups - 1, dtype=np.float32)[None, :, None, None]
    before = sci.copy()
    run(miri_meta(2, ngroups), ref, sci)
    np.testing.assert_array_equal(sci[0], before[0] - ref["SCI"][0, :ngroups])
    np.testing.assert_array_equal(sci[1], before[1] - ref["SCI"][1, :ngroups])


def test_jwst_nan_subtracts_zero():
    ref = miri_dark(15)
    ref.arrays["SCI"][0, :14] = (np.arange(14) * 0.1)[:, None, None]
    ref.arrays["SCI"][0, 5, 2, 2] = np.nan
    sci = np.ones((1, 10, 4, 4), np.float32)
    sci[0, :9] = np.arange(9, dtype=np.float32)[:, None, None]
    run(miri_meta(1, 10), ref, sci)
    assert sci[0, 5, 2, 2] == 5.0


def test_jwst_dq_combine_first_group_planes_of_every_dark_integration():
    ddq = np.zeros((2, 7, 4, 4), np.uint32)
    ddq[0, 0, 1, 1] = DNU
    ddq[0, 0, 1, 2] = DNU
    ddq[1, 0, 3, 3] = SAT           # second dark integration's first group: ORed in too
    ddq[0, 3, 0, 0] = JUMP          # later groups are not used by stcal
    pdq = np.zeros((4, 4), np.uint32)
    pdq[1, 1] = JUMP
    pdq[1, 2] = SAT
    run(miri_meta(1, 5), miri_dark(7, dq_arr=ddq), np.ones((1, 5, 4, 4), np.float32), pdq=pdq)
    assert pdq[1, 1] == JUMP | DNU and pdq[1, 2] == SAT | DNU
    assert pdq[3, 3] == SAT and pdq[0, 0] == 0


def test_jwst_frame_avg_four_frames():
    """NFRAMES = 4: dark frames 0.0, 0.1, ... averaged by 4 give 0.15, 0.55, 0.95, 1.35,
    subtracted from 1, 2, 3, 4 (jwst's expected 0.85, 1.45, 2.05, 2.65)."""
    ref = miri_dark(20)
    ref.arrays["SCI"][0, :19] = (np.arange(19) * 0.1)[:, None, None]
    sci = np.ones((1, 5, 4, 4), np.float32)
    sci[:, :4] = (np.arange(4, dtype=np.float32) + 1)[None, :, None, None]
    run(miri_meta(1, 5, nframes=4), ref, sci)
    np.testing.assert_allclose(sci[0, :4, 2, 2], [0.85, 1.45, 2.05, 2.65], rtol=1e-6)


def test_integrations_beyond_the_dark_use_its_last():
    ref = miri_dark(3)
    ref.arrays["SCI"][0] = 10.0
    ref.arrays["SCI"][1] = 20.0
    sci = np.full((4, 3, 4, 4), 100.0, np.float32)
    run(miri_meta(4, 3), ref, sci)
    np.testing.assert_array_equal(sci[:, 0, 0, 0], [90.0, 80.0, 80.0, 80.0])
    # chunked by integrations: the chunk's place in the file decides
    sci = np.full((2, 3, 4, 4), 100.0, np.float32)
    run(miri_meta(4, 3), ref, sci, ints=slice(1, 3))
    np.testing.assert_array_equal(sci[:, 0, 0, 0], [80.0, 80.0])


def test_later_segment_uses_last_dark_integration_everywhere():
    ref = miri_dark(3)
    ref.arrays["SCI"][0] = 10.0
    ref.arrays["SCI"][1] = 20.0
    sci = np.full((2, 3, 4, 4), 100.0, np.float32)
    run(miri_meta(2, 3, intstart=41), ref, sci)
    np.testing.assert_array_equal(sci[:, 0, 0, 0], [80.0, 80.0])
    assert [dark_integration(i, 2, 1) for i in range(4)] == [0, 1, 1, 1]
    assert [dark_integration(i, 2, 7) for i in range(2)] == [1, 1]


def test_frame_averaging_fills_only_the_science_integrations():
    """stcal averages min(dark_nints, nints) dark integrations; the others stay 0."""
    dark = np.arange(3 * 8, dtype=np.float32).reshape(3, 8, 1, 1) * np.ones((1, 1, 2, 2), np.float32)
    out = prepare_dark_4d(dark, 1, 0, nints=1, ngroups=3, nframes=2, groupgap=0)
    assert out.shape == (3, 3, 2, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :, 0, 0], [0.5, 2.5, 4.5])
    assert not out[1:].any()
    same = prepare_dark_4d(dark, 1, 0, nints=1, ngroups=3, nframes=1, groupgap=0)
    np.testing.assert_array_equal(same[2, :, 0, 0], [16.0, 17.0, 18.0])
    assert prepare_dark_4d(dark, 2, 0, nints=1, ngroups=3, nframes=1, groupgap=0) is None


def test_extrapolated_per_integration():
    dark = np.array([[1.0, 2.0], [10.0, 20.0]], np.float32).reshape(2, 2, 1, 1)
    out = prepare_dark_4d(dark, 1, 0, nints=2, ngroups=4, nframes=1, groupgap=0)
    np.testing.assert_array_equal(out[:, :, 0, 0], [[1, 2, 3, 4], [10, 20, 30, 40]])


def test_shape_errors_name_the_file():
    cls = get_step_class("dark_current")
    three_d = Reference("dark", "nir_like_dark.fits", {"NFRAMES": 1}, {"SCI": np.ones((5, 4, 4), np.float32)})
    with pytest.raises(ValueError, match=r"nir_like_dark.fits: a MIRI exposure needs a 4-D .* shape \(5, 4, 4\)"):
        cls(miri_meta(1, 3), {"dark": three_d})
    with pytest.raises(ValueError, match=r"miri_dark.fits: a NIRCAM exposure needs a 3-D"):
        cls(miri_meta(1, 3, instrument="NIRCAM"), {"dark": miri_dark(3)})
