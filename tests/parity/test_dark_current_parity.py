"""dark_current parity with jwst: NIRSpec subarray, NIRCam full frame (dark used group by
group), the frame-averaged NIRCam case (dark frames averaged to NFRAMES=4, GROUPGAP=1), and
the average_dark_current parameter."""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity"]


def _check(case, **params):
    model = jwst_stage(case, PREV)
    ours = run_our_step("dark_current", model, case.meta, case.refs, **params)
    theirs = (run_jwst_step("dark_current", model, case.refs, **params) if params
              else jwst_stage(case, PREV + ["dark_current"]))
    assert theirs.meta.cal_step.dark_sub == "COMPLETE" and ours[3].skipped is None
    assert not np.array_equal(np.asarray(model.data), np.asarray(theirs.data))
    assert_ramp_parity(ours, theirs, rtol=0)
    np.testing.assert_array_equal(ours[3].average_dark_current, np.asarray(theirs.average_dark_current))
    return ours, theirs


def test_dark(jwst_offline, sim_case):
    _check(sim_case)


def test_frame_averaged(jwst_offline, nircam_averaged_case):
    assert (nircam_averaged_case.meta.nframes, nircam_averaged_case.meta.groupgap) == (4, 1)
    _check(nircam_averaged_case)


@pytest.mark.parametrize("value", [0.05])
def test_average_dark_current(jwst_offline, nirspec_case, value):
    ours, theirs = _check(nirspec_case, average_dark_current=value)
    assert np.all(ours[3].average_dark_current == np.float32(value))
