"""Unit tests of the reference-pixel step's wrapper: registration, defaults, scope, chunking,
working precision, SIRS, and its place in the one pass (jwst RefPixStep, NIR non-IRS2)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rampflow.dq import DO_NOT_USE, REFERENCE_PIXEL
from rampflow.meta import ExposureMeta
from rampflow.steps import get_step_class
from rampflow.steps.refpix import (
    RefPixStep,
    correct_refpix,
    plan_geometry,
)

F32 = np.float32


def make_meta(**kw):
    prim = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "SUBARRAY": "SUB2048", "SUBSTRT1": 1,
            "SUBSTRT2": 963, "SUBSIZE1": 2048, "SUBSIZE2": 32, "FASTAXIS": 2, "SLOWAXIS": 1,
            "NOUTPUTS": 1, "READPATT": "NRSRAPID", "NGROUPS": 3, "NFRAMES": 1, "TFRAME": 10.73677, "TGROUP": 10.73677}
    prim.update(kw)
    shape = (2, 3, prim["SUBSIZE2"], prim["SUBSIZE1"])
    return ExposureMeta.from_headers(prim, {}, filename="test", shape=shape)


# --- Step wrapper -----------------------------------------------------------------------------

def test_step_registration_and_defaults():
    assert get_step_class("refpix") is RefPixStep
    assert RefPixStep.keyword == "S_REFPIX" and RefPixStep.reftypes == ()
    assert RefPixStep.chunking == "integrations"
    assert RefPixStep.defaults == {
        "odd_even_columns": True, "use_side_ref_pixels": True, "side_smoothing_length": 11,
        "side_gain": 1.0, "odd_even_rows": True, "ovr_corr_mitigation_ftr": 3.0,
        "preserve_irs2_refpix": False, "irs2_mean_subtraction": False, "refpix_algorithm": "median",
        "sigreject": 4.0, "gaussmooth": 1.0, "halfwidth": 30, "siglimit": 3.0}
    step = RefPixStep(make_meta(), {})
    assert step.header_updates()["R_REFPIX"][0] == "N/A"


def test_step_out_of_scope_errors():
    with pytest.raises(NotImplementedError, match="IRS2"):
        RefPixStep(make_meta(SUBARRAY="FULL", SUBSIZE1=2048, SUBSIZE2=3200, NOUTPUTS=4,
                             READPATT="NRSIRS2"), {})
    RefPixStep(make_meta(), {}, refpix_algorithm="sirs")        # subarray: jwst ignores SIRS
    with pytest.raises(ValueError, match="refpix_algorithm"):
        RefPixStep(make_meta(), {}, refpix_algorithm="mean")
    with pytest.raises(ValueError, match="side_smoothing_length"):
        RefPixStep(make_meta(SUBARRAY="FULL", SUBSIZE1=2048, SUBSIZE2=2048, NOUTPUTS=4), {},
                   side_smoothing_length=1)
    with pytest.raises(ValueError, match="unknown"):
        RefPixStep(make_meta(), {}, odd_even_column=True)


def test_step_skips_subarray_outside_detector():
    step = RefPixStep(make_meta(SUBSTRT2=2040), {})
    assert step.skipped and "does not fit" in step.skipped


def test_step_process_in_chunks_matches_whole_and_keeps_dq():
    # a 4-output full-width subarray (side pixels, float32 first group), 2 integrations
    meta = make_meta(INSTRUME="NIRCAM", DETECTOR="NRCA1", SUBARRAY="SUBGRISM64", SUBSTRT1=1,
                     SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=64, FASTAXIS=-1, SLOWAXIS=2, NOUTPUTS=4)
    rng = np.random.default_rng(2)
    sci = (rng.normal(size=(2, 3, 64, 2048)) * 4 + 30).astype(np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[1, 2, 10, 10] = 4
    pdq = np.zeros((64, 2048), np.uint32)
    pdq[:4] = REFERENCE_PIXEL
    pdq[5, 5] = DO_NOT_USE
    whole = sci.copy()
    step = RefPixStep(meta, {})
    step.process(whole, gdq, pdq, slice(0, 2), slice(0, 64))
    chunked = sci.copy()
    step2 = RefPixStep(meta, {})
    for i in range(2):
        part = chunked[i:i + 1].copy()
        step2.process(part, gdq[i:i + 1], pdq, slice(i, i + 1), slice(0, 64))
        chunked[i] = part[0]
    np.testing.assert_array_equal(chunked, whole)
    assert gdq.sum() == 4 and pdq[5, 5] == DO_NOT_USE and pdq[0, 0] == REFERENCE_PIXEL
    assert not np.array_equal(whole, sci)
    with pytest.raises(ValueError, match="whole planes"):
        step.process(sci[:, :, :32].copy(), gdq[:, :, :32], pdq[:32], slice(0, 2), slice(0, 32))


def test_working_precision_follows_jwst_group_buffer():
    # jwst works the exposure's first group in float32 and, once the side correction has made its
    # buffer float64, every later group in float64. A 4-output 64 x 2048 subarray at the bottom
    # of the detector: bottom reference rows 0.5 (level 0.5), side columns 1.0 (0.5 after the
    # level), corners DO_NOT_USE, science pixels 2**24 + 2.
    #   float32: t = f32(2**24 + 2 - 0.5) = 2**24 + 2 (nearest), out = f32(t - 0.5) = 2**24 + 2
    #   float64: f32(2**24 + 2 - 0.5 - 0.5) = f32(2**24 + 1) -> tie, to even -> 2**24
    sci = np.full((1, 2, 64, 2048), 2.0**24 + 2, np.float32)
    sci[..., :4, :] = 0.5
    sci[..., :, :4] = 1.0
    sci[..., :, -4:] = 1.0
    pdq = np.zeros((64, 2048), np.uint32)
    pdq[:4, :4] = DO_NOT_USE
    pdq[:4, -4:] = DO_NOT_USE
    kw = dict(xstart=1, ystart=1, fastaxis=1, slowaxis=2, noutputs=4, subarray="SUBGRISM64")
    first = sci.copy()
    correct_refpix(first, pdq, first_integration=0, **kw)
    assert np.all(first[0, 0, 4:, 4:-4] == 2.0**24 + 2)
    assert np.all(first[0, 1, 4:, 4:-4] == 2.0**24)
    assert np.all(first[0, :, 4:, :4] == 0.0)           # side pixels: 1 - 0.5 - 0.5
    later = sci.copy()
    correct_refpix(later, pdq, first_integration=1, **kw)
    assert np.all(later[0, :, 4:, 4:-4] == 2.0**24)
    nosides = sci.copy()                                 # no side pixels: float32 throughout
    correct_refpix(nosides, pdq, first_integration=1, use_side_ref_pixels=False, **kw)
    assert np.all(nosides[0, :, 4:, 4:-4] == 2.0**24 + 2)


@pytest.mark.parametrize("fastaxis,slowaxis,ystart", [(1, 2, 1), (-2, -1, 1985), (2, 1, 1)])
def test_corrections_measured_on_whole_planes_apply_to_any_rows(fastaxis, slowaxis, ystart):
    """The one-pass runner measures each plane's correction in a pre-pass (integration chunks,
    whole planes) and subtracts it from row chunks: the result equals apply_plan on the whole
    ramp, bit for bit, for the first-group float32 plane and the later float64 ones, with side
    pixels (a 64-row, 4-output subarray) in either orientation."""
    from rampflow.steps.refpix import PlaneCorrections, apply_corrections, apply_plan, measure_planes

    rng = np.random.default_rng(11)
    sci = (rng.normal(1000, 30, size=(3, 4, 64, 2048)) + rng.normal(0, 5, size=(3, 4, 64, 1))).astype(np.float32)
    sci[0, 1, 2, 5] = np.nan
    pdq = np.zeros((64, 2048), np.uint32)
    pdq[10, 1] = DO_NOT_USE
    kw = dict(xstart=1, ystart=ystart, fastaxis=fastaxis, slowaxis=slowaxis, noutputs=4, subarray="SUB64FULLW")
    plan = plan_geometry(pdq, **kw)
    whole = sci.copy()
    apply_plan(whole[:2], plan, first_integration=0)
    apply_plan(whole[2:], plan, first_integration=2)
    corr = PlaneCorrections.empty(plan, 3, 4)
    measure_planes(sci[:2], plan, corr, slice(0, 2))
    measure_planes(sci[2:], plan, corr, slice(2, 3))
    rows = sci.copy()
    for r0 in range(0, 64, 24):  # chunks of rows, every integration
        chunk = np.ascontiguousarray(rows[:, :, r0:r0 + 24])
        apply_corrections(chunk, plan, corr, slice(0, 3), r0)
        rows[:, :, r0:r0 + 24] = chunk
    assert plan.path != "none"
    np.testing.assert_array_equal(rows, whole)
    assert not np.array_equal(whole, sci)


def test_sirs_without_kernel_is_the_running_median(caplog):
    """jwst 3.0: 'sirs' on a NIR full frame without a SIRSKERNEL reference warns and uses the
    running-median side correction, with side_smoothing_length and side_gain: the 'median'
    algorithm. The kernel is asked for only then (as jwst asks CRDS)."""
    full = make_meta(INSTRUME="NIRCAM", DETECTOR="NRCA1", FASTAXIS=-1, SLOWAXIS=2, SUBARRAY="FULL",
                     SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048, NOUTPUTS=4, READPATT="RAPID")
    assert RefPixStep.reftypes_for(full, {"refpix_algorithm": "sirs"}) == ("sirskernel",)
    assert RefPixStep.reftypes_for(full, {"refpix_algorithm": "median"}) == ()
    assert RefPixStep.reftypes_for(make_meta(), {"refpix_algorithm": "sirs"}) == ()
    rng = np.random.default_rng(4)
    sci = rng.normal(0, 5, (1, 2, 2048, 2048)).astype(np.float32)
    y = np.arange(2048, dtype=np.float32)
    sci += (30 * np.sin(2 * np.pi * y / 400))[None, None, :, None]  # slow row drifts the side pixels see
    pdq = np.zeros((2048, 2048), np.uint32)
    pdq[:4] = pdq[-4:] = REFERENCE_PIXEL
    pdq[:, :4] = pdq[:, -4:] = REFERENCE_PIXEL
    out = {}
    for algo in ("sirs", "median"):
        with caplog.at_level(logging.WARNING):
            step = RefPixStep(full, {}, refpix_algorithm=algo, side_smoothing_length=7, side_gain=0.8)
        a = sci.copy()
        step.process(a, np.zeros(a.shape, np.uint8), pdq, slice(0, 1), slice(0, 2048))
        out[algo] = a
        assert step.sirs_fallback == (algo == "sirs")
    assert "No reference file found for the optimized convolution kernel" in caplog.text
    np.testing.assert_array_equal(out["sirs"], out["median"])
    assert np.std(out["sirs"][0, 1, 4:-4, 4:-4].mean(axis=1)) < 0.5 * np.std(sci[0, 1, 4:-4, 4:-4].mean(axis=1))


def test_sirs_on_a_subarray_is_not_applied(caplog):
    """jwst: 'SIRS not applied for subarray data'; the usual subarray correction runs."""
    with caplog.at_level(logging.INFO):
        step = RefPixStep(make_meta(), {}, refpix_algorithm="sirs")
    assert "not applied for subarray" in caplog.text and not step.sirs_fallback


def test_sirs_on_a_full_frame_cannot_share_the_one_pass():
    """SIRS convolves whole side columns, which no pre-pass measures: with 'sirs' on a NIR full
    frame refpix keeps the steps before it out of the one pass; 'median', or a subarray, joins."""
    full = make_meta(INSTRUME="NIRCAM", DETECTOR="NRCA1", FASTAXIS=-1, SLOWAXIS=2, SUBARRAY="FULL",
                     SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048, NOUTPUTS=4, READPATT="RAPID")
    assert "sirs" in RefPixStep.one_pass_conflict(full, {"refpix_algorithm": "sirs"})
    assert RefPixStep.one_pass_conflict(full, {"refpix_algorithm": "median"}) is None
    assert RefPixStep.one_pass_conflict(make_meta(), {"refpix_algorithm": "sirs"}) is None
