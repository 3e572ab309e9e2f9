"""saturation parity with jwst: NIRSpec subarray, NIRCam full frame, a frame-averaged NIRCam
subarray (SHALLOW4) where the read-pattern passes flag groups, and non-default parameters."""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step

from rampflow import dq

PREV = ["group_scale", "dq_init"]


def _compare(case, **params):
    model = jwst_stage(case, PREV)
    ours = run_our_step("saturation", model, case.meta, case.refs, **params)
    if params:
        theirs = run_jwst_step("saturation", model, case.refs, **params)
    else:
        theirs = jwst_stage(case, PREV + ["saturation"])
    assert theirs.meta.cal_step.saturation == "COMPLETE"
    assert_ramp_parity(ours, theirs, rtol=0)
    return np.asarray(model.groupdq), np.asarray(theirs.groupdq)


def test_default(jwst_offline, sim_case):
    _, gdq = _compare(sim_case)
    if sim_case.meta.instrument == "NIRCAM":
        assert (gdq & dq.SATURATED).any()          # bright stars saturate: the test has teeth


@pytest.mark.parametrize("n_pix_grow_sat", [0, 2])
def test_grow(jwst_offline, nircam_case, n_pix_grow_sat):
    _compare(nircam_case, n_pix_grow_sat=n_pix_grow_sat)


def test_nirspec_no_readpatt(jwst_offline, nirspec_case):
    _compare(nirspec_case, use_readpatt=False, n_pix_grow_sat=0)


@pytest.mark.parametrize("params", [{}, {"n_pix_grow_sat": 0}, {"use_readpatt": False}])
def test_frame_averaged(jwst_offline, nircam_averaged_case, params):
    before, gdq = _compare(nircam_averaged_case, **params)
    sat = (gdq & dq.SATURATED) != 0
    assert sat.any()
    # DO_NOT_USE set by this step on groups that are neither saturated nor at the A/D floor:
    # only the read-pattern passes (backward pass / second-group check) do that
    new_dnu = ((gdq & ~before & dq.DO_NOT_USE) != 0) & ~sat & ((gdq & dq.AD_FLOOR) == 0)
    assert new_dnu.any() == params.get("use_readpatt", True)
