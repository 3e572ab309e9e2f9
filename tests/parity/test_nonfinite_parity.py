"""NaN reference values against jwst: rampflow differs from jwst only where it means to (the
documented flags on the poisoned pixels; for ramp_fit with NaN read noise, a flagged pixel with
ERR = VAR = 0 where jwst leaves NaN on a pixel with DQ 0), and every other pixel and array stays
bit-identical to jwst's."""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step
from test_ramp_fit_parity import ARRAYS

from rampflow import dq
from rampflow.references import load_reference
from rampflow.steps import ramp_fit as rf
from tests.reliability.helpers import poison

DETECTOR1 = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]

#: step -> (reftype, extension, plane, flag rampflow adds besides DO_NOT_USE, flag jwst sets itself)
CASES = {
    "saturation": ("saturation", "SCI", None, "NO_SAT_CHECK", "NO_SAT_CHECK"),
    "superbias": ("superbias", "SCI", None, "UNRELIABLE_BIAS", None),
    "linearity": ("linearity", "COEFFS", 2, "NO_LIN_CORR", "NO_LIN_CORR"),
    "dark_current": ("dark", "SCI", 1, "UNRELIABLE_DARK", None),
    "jump": ("readnoise", "SCI", None, "UNRELIABLE_SLOPE", None),
}


def _pixels(meta) -> list[tuple[int, int]]:
    """Three science pixels of the exposure, clear of the side reference columns."""
    y, x = meta.subsize2 // 2, meta.subsize1 // 2
    return [(y, x), (y, x + 1), (y - 1, x + 7)]


def _poisoned_refs(case, reftype, ext, plane, tmp_path):
    corner = (case.meta.substrt2 - 1, case.meta.substrt1 - 1)
    pixels = {p: np.nan for p in _pixels(case.meta)}
    refs = dict(case.refs)
    refs[reftype] = poison(case.refs[reftype], tmp_path / f"nan_{reftype}.fits", ext, plane, pixels, corner)
    return refs


@pytest.mark.parametrize("step", sorted(CASES))
def test_nan_reference_step(jwst_offline, nirspec_case, tmp_path, step):
    reftype, ext, plane, flag, theirs_flag = CASES[step]
    refs = _poisoned_refs(nirspec_case, reftype, ext, plane, tmp_path)
    model = jwst_stage(nirspec_case, DETECTOR1[:DETECTOR1.index(step)])
    ours = run_our_step(step, model, nirspec_case.meta, refs)
    theirs = run_jwst_step(step, model, refs)
    extra = np.zeros(np.shape(theirs.pixeldq), np.uint32)
    for y, x in _pixels(nirspec_case.meta):
        extra[y, x] = dq.DO_NOT_USE | dq.FLAGS[flag]
        if theirs_flag:
            assert theirs.pixeldq[y, x] & dq.FLAGS[theirs_flag], "jwst sets this flag itself"
        else:
            assert not theirs.pixeldq[y, x] & extra[y, x], "jwst does not flag these pixels"
    assert_ramp_parity(ours, theirs, rtol=0, extra_pixeldq=extra)


def test_nan_readnoise_ramp_fit(jwst_offline, nirspec_case, tmp_path):
    """jwst: NaN SCI, ERR and VAR_RNOISE with DQ 0. rampflow: DO_NOT_USE | UNRELIABLE_SLOPE,
    SCI NaN, ERR = VAR_* = 0 (as on any DO_NOT_USE pixel). Everything else identical."""
    refs = _poisoned_refs(nirspec_case, "readnoise", "SCI", None, tmp_path)
    model = jwst_stage(nirspec_case, DETECTOR1)
    theirs = run_jwst_step("ramp_fit", model, refs)
    loaded = {rt: load_reference(rt, refs[rt], nirspec_case.meta) for rt in ("readnoise", "gain")}
    dark = np.array(model.average_dark_current, np.float32) if model.hasattr("average_dark_current") else None
    setup = rf.prepare_ramp_fit(nirspec_case.meta, loaded["readnoise"], loaded["gain"], average_dark_current=dark)
    res = rf.fit_ramps(np.array(model.data, np.float32), np.array(model.groupdq, np.uint8),
                       np.array(model.pixeldq, np.uint32), setup, slice(0, model.data.shape[2]))
    bad = np.zeros(np.shape(theirs[0].dq), bool)
    for y, x in _pixels(nirspec_case.meta):
        bad[y, x] = True
    bits = dq.DO_NOT_USE | dq.UNRELIABLE_SLOPE
    for ours, jw, what in ((res.rate, theirs[0], "rate"), (res.rateints, theirs[1], "rateints")):
        jdq = np.asarray(jw.dq, np.uint32)
        sel = (Ellipsis, bad)
        assert np.isnan(np.asarray(jw.data)[sel]).all() and not (jdq[sel] & dq.DO_NOT_USE).any(), \
            "jwst: NaN slope on a pixel not flagged DO_NOT_USE"
        np.testing.assert_array_equal(ours["DQ"][sel], jdq[sel] | bits, err_msg=f"{what} DQ")
        assert np.isnan(ours["SCI"][sel]).all()
        for key in ("ERR", "VAR_POISSON", "VAR_RNOISE"):
            assert (ours[key][sel] == 0).all(), f"{what} {key}"
        keep = (Ellipsis, ~bad)
        np.testing.assert_array_equal(ours["DQ"][keep], jdq[keep], err_msg=f"{what} DQ elsewhere")
        for key, attr in ARRAYS:
            np.testing.assert_array_equal(ours[key][keep], np.asarray(getattr(jw, attr), np.float32)[keep],
                                          err_msg=f"{what} {key} elsewhere")
