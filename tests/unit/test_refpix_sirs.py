"""Unit tests of refpix's SIRS side-pixel correction (jwst 3.0 optimized_convolution).

jwst's own cases (jwst/refpix/tests/test_optimized_convolution.py and the SIRS cases of
test_refpix.py), in our words: coefficients found by detector name (any case), none for an
unknown detector (then the running median), constant data. Then hand-computed templates:
with delta-function kernels the template of channel c is a_c L(r) + b_c R(r), L and R the
row means of the kept left/right reference pixels, so every expected value is worked out
here without a convolution.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rampflow.dq import DO_NOT_USE, REFERENCE_PIXEL
from rampflow.meta import ExposureMeta
from rampflow.steps.refpix import RefPixStep, detector_to_dms, dms_to_detector, plan_geometry
from rampflow.steps.refpix_sirs import apply_sirs, kernel_coefficients, make_kernels, side_templates

N = 2048


def nrcb1_like_coefficients():
    """The shape of jwst's test file: complex (4 channels, 5 frequencies), left weights falling
    and right weights rising across the channels."""
    gamma = np.array([[0.87 + 0j, 0.73 - 0.02j, 0.75 + 0.004j, 0.76 - 0.017j, 0.77 - 0.006j],
                      [0.38 + 0j, 0.27 - 0.03j, 0.38 + 0.03j, 0.37 - 0.026j, 0.39 + 0.021j],
                      [0.36 + 0j, 0.34 + 0.024j, 0.33 - 0.023j, 0.38 - 0.013j, 0.40 + 0.007j],
                      [0.003 + 0j, 0.018 - 0.011j, 0.043 + 0.004j, 0.081 - 0.006j, 0.073 - 0.002j]],
                     np.complex64)
    zeta = (1.0 - gamma.real).astype(np.complex64) + 0.01j * gamma.imag
    return {"nrcb1": {"gamma": gamma, "zeta": zeta.astype(np.complex64)}}


def delta_coefficients(left_share):
    """Real constant coefficients: irfft gives a delta of height a at row 0, so with a tiny
    gaussmooth the kernel is a single tap a (left) / 1 - a (right) per channel."""
    a = np.asarray(left_share, np.float64)[:, None] * np.ones((1, 1025))
    return {"nrcb1": {"gamma": a.astype(np.complex128), "zeta": (1.0 - a).astype(np.complex128)}}


def full_meta(detector="NRCB1", fastaxis=1, slowaxis=-2, instrument="NIRCAM", nints=1, ngroups=2):
    prim = {"INSTRUME": instrument, "DETECTOR": detector, "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1,
            "SUBSIZE1": N, "SUBSIZE2": N, "FASTAXIS": fastaxis, "SLOWAXIS": slowaxis, "NOUTPUTS": 4,
            "READPATT": "RAPID", "NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 10.73677, "TGROUP": 10.73677}
    return ExposureMeta.from_headers(prim, {}, filename="test", shape=(nints, ngroups, N, N))


class _Ref:
    def __init__(self, tree, path="jwst_nircam_sirskernel_0001.asdf"):
        self.tree, self.path = tree, path


def refpix_pdq(top_bottom_usable=True):
    pdq = np.zeros((N, N), np.uint32)
    pdq[:4] = pdq[-4:] = REFERENCE_PIXEL
    pdq[:, :4] = pdq[:, -4:] = REFERENCE_PIXEL
    if not top_bottom_usable:
        pdq[:4] |= DO_NOT_USE
        pdq[-4:] |= DO_NOT_USE
    return pdq


# --- jwst's optimized_convolution cases ---------------------------------------------------

def test_coefficients_found_by_detector_in_any_case():
    tree = nrcb1_like_coefficients()
    for name in ("NRCB1", "nrcb1", "NrCb1"):
        gamma, zeta = kernel_coefficients(tree, name)
        assert gamma.shape == (4, 5) and zeta.shape == (4, 5)
    assert kernel_coefficients(tree, "NRCA1") == (None, None)
    assert kernel_coefficients({"nrcb1": {"gamma": tree["nrcb1"]["gamma"]}}, "NRCB1") == (None, None)


def test_no_kernels_for_a_detector_not_in_the_file():
    assert make_kernels(nrcb1_like_coefficients(), "nothing", 1.0, 30) is None


def test_kernels_have_two_halfwidth_plus_one_taps_per_channel():
    left, right = make_kernels(nrcb1_like_coefficients(), "NRCB1", 1.0, 30)
    assert len(left) == len(right) == 4
    # a 5-frequency file gives an 8-row kernel, spread to the 61 taps of the Gaussian window
    assert all(k.shape == (61,) for k in left + right)
    left, right = make_kernels(delta_coefficients([1, 0.5, 0.25, 0]), "NRCB1", 1e-3, 3)
    np.testing.assert_allclose(left[1], [0, 0, 0, 0.5, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(right[3], [0, 0, 0, 1.0, 0, 0, 0], atol=1e-12)


def test_constant_data_loses_the_kernel_sums():
    """jwst's constant-data case (1.999 everywhere): every side pixel is kept (zero MAD), the
    normalisations are 1, and away from the ends each channel's rows lose 1.999 times the sum
    of its left and right kernel taps."""
    kernels = make_kernels(nrcb1_like_coefficients(), "NRCB1", 1.0, 30)
    cols = np.full((2, N, 4), 1.999)
    tmpl = side_templates(cols, kernels, 4.0)
    for c in range(4):
        expected = 1.999 * (kernels[0][c].sum() + kernels[1][c].sum())
        np.testing.assert_allclose(tmpl[c, 30:-30], expected, rtol=1e-12)


def test_bad_kernel_parameters_are_refused():
    tree = nrcb1_like_coefficients()
    with pytest.raises(ValueError, match="gaussmooth"):
        make_kernels(tree, "NRCB1", 0.0, 30)
    with pytest.raises(ValueError, match="halfwidth"):
        make_kernels(tree, "NRCB1", 1.0, -1)


# --- hand-computed templates ----------------------------------------------------------------

SHARE = [0.9, 0.6, 0.3, 0.1]   # no zero share: a kernel of zeros makes 0 / 0 (NaN), as in jwst


def test_template_is_the_weighted_row_means_of_the_kept_side_pixels():
    kernels = make_kernels(delta_coefficients(SHARE), "NRCB1", 1e-3, 5)
    rng = np.random.default_rng(1)
    cols = rng.normal(0.0, 2.0, (2, N, 4))
    cols[0, 700, 2] = 500.0                       # an outlier: dropped, the row's mean is of 3 pixels
    tmpl = side_templates(cols, kernels, 4.0)
    left = cols[0].mean(axis=1)
    left[700] = np.delete(cols[0, 700], 2).mean()
    right = cols[1].mean(axis=1)
    for c, a in enumerate(SHARE):
        np.testing.assert_allclose(tmpl[c], a * left + (1 - a) * right, atol=1e-9)


def _detector_frame_case(seed=2):
    """A full frame in the detector frame: row drifts shared by the side columns and the
    science pixels, plus white noise; no usable top/bottom reference pixels."""
    rng = np.random.default_rng(seed)
    det = rng.normal(0.0, 1.0, (1, 2, N, N)).astype(np.float32)
    drift = (20 * np.sin(2 * np.pi * np.arange(N) / 300.0)).astype(np.float32)
    det += drift[None, None, :, None]
    return det


def test_every_pixel_loses_its_channel_template():
    """With delta kernels and no top/bottom correction, pixel (r, x) of channel c = x // 512
    loses a_c L(r) + (1 - a_c) R(r) (detector frame), whatever the DMS orientation."""
    kernels = make_kernels(delta_coefficients(SHARE), "NRCB1", 1e-3, 5)
    det = _detector_frame_case()
    for fast, slow in ((1, -2), (-2, -1)):                  # NRCB1's and NIRISS's orientations
        sci = np.ascontiguousarray(detector_to_dms(det, fast, slow))
        pdq = np.ascontiguousarray(detector_to_dms(refpix_pdq(False), fast, slow))
        plan = plan_geometry(pdq, fastaxis=fast, slowaxis=slow)
        apply_sirs(sci, plan, kernels, first_integration=1)
        out = dms_to_detector(sci, fast, slow)
        for g in range(2):
            left = det[0, g, :, :4].astype(np.float64).mean(axis=1)
            right = det[0, g, :, -4:].astype(np.float64).mean(axis=1)
            for c, a in enumerate(SHARE):
                expected = det[0, g, :, 512 * c:512 * (c + 1)] - (a * left + (1 - a) * right)[:, None]
                np.testing.assert_allclose(out[0, g, :, 512 * c:512 * (c + 1)], expected, atol=2e-5)


def test_missing_channels_are_not_corrected():
    """jwst's channel c is always detector columns 512 c ... 512 c + 511: a file with 2
    channels corrects the first two quarters only."""
    tree = delta_coefficients([0.8, 0.2])
    kernels = make_kernels(tree, "NRCB1", 1e-3, 5)
    det = _detector_frame_case(3)
    sci = np.ascontiguousarray(detector_to_dms(det, 1, -2))
    plan = plan_geometry(np.ascontiguousarray(detector_to_dms(refpix_pdq(False), 1, -2)), fastaxis=1, slowaxis=-2)
    apply_sirs(sci, plan, kernels, first_integration=1)
    out = dms_to_detector(sci, 1, -2)
    np.testing.assert_array_equal(out[..., 1024:], det[..., 1024:])
    assert not np.array_equal(out[..., :512], det[..., :512])


# --- the step ---------------------------------------------------------------------------------

def _run(meta, refs, sci, **params):
    step = RefPixStep(meta, refs, refpix_algorithm="sirs", **params)
    out = sci.copy()
    step.process(out, np.zeros(out.shape, np.uint8), refpix_pdq(), slice(0, out.shape[0]), slice(0, N))
    return out, step


def test_step_uses_the_kernels_and_ignores_the_running_median_parameters(caplog):
    meta = full_meta()
    ref = _Ref(delta_coefficients(SHARE))
    sci = np.ascontiguousarray(detector_to_dms(_detector_frame_case(4), 1, -2))
    with caplog.at_level(logging.INFO):
        a, step = _run(meta, {"sirskernel": ref}, sci, gaussmooth=1e-3)
    assert "Using SIRS reference file" in caplog.text and not step.sirs_fallback
    b, _ = _run(meta, {"sirskernel": ref}, sci, gaussmooth=1e-3, side_gain=0.3, side_smoothing_length=5)
    np.testing.assert_array_equal(a, b)
    median, _ = _run(meta, {}, sci)                         # no SIRSKERNEL: the running median
    assert not np.array_equal(a, median)
    # the row drift (rms 14) is gone: what is left of the science pixels' row means is the
    # side pixels' own white noise (~1 / sqrt(8) for a row mean of 8 unit-noise pixels)
    det, before = dms_to_detector(a, 1, -2), dms_to_detector(sci, 1, -2)
    assert np.std(before[0, 1, 4:-4, 4:-4].mean(axis=1)) > 10
    assert np.std(det[0, 1, 4:-4, 4:-4].mean(axis=1)) < 0.5


def test_step_falls_back_to_the_running_median_for_a_detector_not_in_the_file(caplog):
    meta = full_meta(detector="NRCA3", fastaxis=-1, slowaxis=2)
    sci = np.ascontiguousarray(detector_to_dms(_detector_frame_case(5), -1, 2))
    with caplog.at_level(logging.INFO):
        a, step = _run(meta, {"sirskernel": _Ref(delta_coefficients(SHARE))}, sci)
    assert step.sirs_fallback and "running median" in caplog.text
    b, _ = _run(meta, {}, sci)
    np.testing.assert_array_equal(a, b)


def test_without_side_pixels_the_kernels_are_not_used():
    meta = full_meta()
    sci = np.ascontiguousarray(detector_to_dms(_detector_frame_case(6), 1, -2))
    a, step = _run(meta, {"sirskernel": _Ref(delta_coefficients(SHARE))}, sci, use_side_ref_pixels=False,
                   gaussmooth=0.0)                          # never used: no error, as in jwst
    b, _ = _run(meta, {}, sci, use_side_ref_pixels=False)
    np.testing.assert_array_equal(a, b)
    assert step._sirs is None


def test_integration_chunks_equal_the_whole_exposure():
    """The exposure's first group is worked in float32, later ones in float64 (jwst's group
    buffer): the step fed one integration at a time gives the same result."""
    meta = full_meta(nints=2, ngroups=2)
    rng = np.random.default_rng(7)
    sci = (1000 + rng.normal(0, 3, (2, 2, N, N))).astype(np.float32)
    ref = _Ref(nrcb1_like_coefficients())
    whole, _ = _run(meta, {"sirskernel": ref}, sci)
    step = RefPixStep(meta, {"sirskernel": ref}, refpix_algorithm="sirs")
    parts = sci.copy()
    for i in range(2):
        chunk = np.ascontiguousarray(parts[i:i + 1])
        step.process(chunk, np.zeros(chunk.shape, np.uint8), refpix_pdq(), slice(i, i + 1), slice(0, N))
        parts[i] = chunk[0]
    np.testing.assert_array_equal(parts, whole)


def test_sirs_is_not_applied_to_miri(caplog):
    """jwst's test_skip_sirs_miri: 'sirs' on MIRI logs that SIRS is not applied, asks for no
    SIRSKERNEL, and corrects as the MIRI algorithm always does."""
    prim = {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1,
            "SUBSIZE1": 1032, "SUBSIZE2": 1024, "NGROUPS": 3, "NFRAMES": 1, "TFRAME": 2.775, "TGROUP": 2.775,
            "READPATT": "FASTR1"}
    meta = ExposureMeta.from_headers(prim, {}, filename="miri", shape=(1, 3, 1024, 1032))
    assert RefPixStep.reftypes_for(meta, {"refpix_algorithm": "sirs"}) == ()
    rng = np.random.default_rng(8)
    sci = rng.normal(100, 2, (1, 3, 1024, 1032)).astype(np.float32)
    pdq = np.zeros((1024, 1032), np.uint32)
    pdq[:, :4] = pdq[:, 1028:] = REFERENCE_PIXEL
    out = {}
    for algo in ("sirs", "median"):
        with caplog.at_level(logging.INFO):
            step = RefPixStep(meta, {}, refpix_algorithm=algo)
        out[algo] = sci.copy()
        step.process(out[algo], np.zeros(sci.shape, np.uint8), pdq, slice(0, 1), slice(0, 1024))
    assert "(SIRS) not applied for MIRI data" in caplog.text
    np.testing.assert_array_equal(out["sirs"], out["median"])
    assert not np.array_equal(out["sirs"], sci)
