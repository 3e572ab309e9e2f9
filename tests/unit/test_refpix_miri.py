"""refpix for MIRI (jwst 3.0 ``MIRIDataset``): the MIRI cases of jwst's own tests
(jwst/refpix/tests/test_refpix.py: test_refpix_subarray_miri, test_each_amp,
test_firstframe_sub, test_odd_even, test_no_odd_even, test_side_averaging, test_above_sigma,
test_nan_refpix) with their expected values, run through rampflow's step, and hand-built
pixels for the float32 rounding and the no-good-reference-pixel case."""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.steps.refpix import RefPixStep
from rampflow.steps.refpix_miri import correct_full_frame, good_reference_sets

REF, DNU = dq.REFERENCE_PIXEL, dq.DO_NOT_USE
NY, NX = 1024, 1032


def miri_meta(ngroups, ny=NY, nx=NX, subarray="FULL"):
    return ExposureMeta.from_headers(
        {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "SUBARRAY": subarray, "SUBSTRT1": 1, "SUBSTRT2": 1,
         "SUBSIZE1": nx, "SUBSIZE2": ny, "NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 2.775,
         "TGROUP": 2.775, "READPATT": "FASTR1"}, {}, filename="miri_test", shape=(1, ngroups, ny, nx))


def jwst_ramp(ngroups, ny=NY, nx=NX, scale=1.0):
    """jwst's make_rampmodel: group i = i for i < ngroups - 1, the last group 0 (times ``scale``)."""
    sci = np.zeros((1, ngroups, ny, nx), np.float32)
    for i in range(ngroups - 1):
        sci[0, i] = i
    sci *= np.float32(scale)
    pdq = np.zeros((ny, nx), np.uint32)
    if nx == NX:
        pdq[:, :4] = REF
        pdq[:, 1028:] = REF
    return sci, pdq


def run(sci, pdq, **params):
    step = RefPixStep(miri_meta(sci.shape[1], *sci.shape[2:]), {}, **params)
    if not step.skipped:
        step.process(sci, np.zeros(sci.shape, np.uint8), pdq, slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return step


def set_sides(sci, values_left, values_right, rows=slice(None), groups=slice(1, None)):
    for a in range(4):
        sci[:, groups, rows, a] = values_left[a]
        sci[:, groups, rows, 1028 + a] = values_right[a]


def test_jwst_subarray_miri_is_skipped():
    sci, pdq = jwst_ramp(3, 22, 28)
    sci[:, 1:, :, :4] = np.arange(1, 5, dtype=np.float32)
    before = sci.copy()
    step = run(sci, pdq)
    assert step.skipped and "MIRI subarrays" in step.skipped
    np.testing.assert_array_equal(sci, before)


def test_jwst_each_amp():
    sci, pdq = jwst_ramp(7)
    set_sides(sci, [1, 2, 3, 4], [1, 2, 3, 4])
    run(sci, pdq)
    # group 5 holds 5; the amplifiers of columns 4, 5, 6, 7 subtract 1, 2, 3, 4
    np.testing.assert_array_equal(sci[0, 5, 100, 4:8], [4.0, 3.0, 2.0, 1.0])


def test_jwst_firstframe_sub_leaves_data_unchanged():
    sci, pdq = jwst_ramp(5)
    set_sides(sci, [1, 2, 3, 4], [1, 2, 3, 4], groups=slice(None))
    before = sci.copy()
    run(sci, pdq)
    np.testing.assert_array_equal(sci, before)


def odd_even_ramp():
    sci, pdq = jwst_ramp(7, scale=10.0)
    set_sides(sci, [1, 2, 3, 4], [1, 2, 3, 4], rows=slice(1, NY, 2))
    set_sides(sci, [5, 6, 7, 8], [5, 6, 7, 8], rows=slice(0, NY - 1, 2))
    return sci, pdq


def test_jwst_odd_even():
    sci, pdq = odd_even_ramp()
    run(sci, pdq)
    np.testing.assert_array_equal(sci[0, 5, 100, 4:8], [45.0, 44.0, 43.0, 42.0])
    np.testing.assert_array_equal(sci[0, 5, 101, 4:8], [49.0, 48.0, 47.0, 46.0])


def test_jwst_no_odd_even():
    sci, pdq = odd_even_ramp()
    run(sci, pdq, odd_even_rows=False)
    np.testing.assert_array_equal(sci[0, 5, 100, 4:8], [47.0, 46.0, 45.0, 44.0])
    np.testing.assert_array_equal(sci[0, 5, 101, 4:8], [47.0, 46.0, 45.0, 44.0])


def test_jwst_side_averaging():
    sci, pdq = jwst_ramp(7, scale=10.0)
    sci[:, 1:, :, :4] = 1.0
    sci[:, 1:, :, 1028:] = 2.0
    run(sci, pdq)
    assert sci[0, 5, 100, 50] == 48.5


@pytest.mark.parametrize("bad_value, flag", [(35.0, 0), (np.nan, DNU)], ids=["above_sigma", "nan_refpix"])
def test_jwst_outlier_rejected_or_flagged_pixel_left_out(bad_value, flag):
    sci, pdq = jwst_ramp(5, scale=10.0)
    sci[:, 1:, :, :4] = 1.0
    sci[:, 1:, :, 1028:] = 2.0
    sci[0, 3, 50, 3] = bad_value
    pdq[50, 3] |= flag
    run(sci, pdq)
    assert sci[0, 3, 50, 7] == 28.5


def test_float32_round_trip_through_the_first_group():
    """A value whose difference from the first group is not a float32: jwst stores
    float32(x - x0), subtracts the reference signal, adds x0 back in float64 and rounds."""
    sci = np.zeros((1, 2, NY, NX), np.float32)
    sci[0, 0] = np.float32(16777216.0)        # 2**24: float32 spacing 2 above it
    sci[0, 1] = np.float32(3.0)
    pdq = np.zeros((NY, NX), np.uint32)
    correct_full_frame(sci, pdq)
    # every pixel and reference pixel alike: d = f32(3 - 2**24) = -16777213 (exact: odd
    # numbers below 2**24 are float32), reference signal = d, so d - d = 0, then 0 + 2**24
    assert np.all(sci[0, 1] == np.float32(16777216.0))


def test_no_good_reference_set_means_no_correction_but_rounding():
    sci = np.zeros((1, 3, NY, NX), np.float32)
    sci[0, 0] = np.float32(1e8)               # float32 spacing 8 here
    sci[0, 1] = np.float32(5.0)
    sci[0, 1, :, 1028:] = 100.0               # would be the reference signal
    pdq = np.zeros((NY, NX), np.uint32)
    pdq[1::2, 1029] = DNU                     # amplifier B, right side, every second row
    assert not good_reference_sets(pdq, True) and good_reference_sets(pdq, False)
    assert correct_full_frame(sci, pdq) is False
    # 5 - 1e8 rounds to a multiple of 8 (-99999992 or -100000000), + 1e8 -> 8 or 0, not 5
    assert sci[0, 1, 10, 10] in (np.float32(8.0), np.float32(0.0))
    assert sci[0, 1, 10, 10] == np.float32(np.float64(np.float32(5.0 - 1e8)) + 1e8)
    assert sci[0, 0, 10, 10] == np.float32(1e8)  # the first group is untouched


def test_chunks_of_integrations_are_exact():
    rng = np.random.default_rng(3)
    sci = rng.normal(1000, 30, (3, 4, NY, NX)).astype(np.float32)
    pdq = np.zeros((NY, NX), np.uint32)
    whole = sci.copy()
    correct_full_frame(whole, pdq)
    part = sci[1:3].copy()
    correct_full_frame(part, pdq)
    np.testing.assert_array_equal(part, whole[1:3])
