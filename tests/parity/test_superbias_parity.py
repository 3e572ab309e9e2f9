"""superbias parity with jwst on the simulated NIRSpec subarray and NIRCam full-frame cases."""

import numpy as np
from parity_helpers import assert_ramp_parity, jwst_stage, run_our_step

PREV = ["group_scale", "dq_init", "saturation"]


def test_superbias(jwst_offline, sim_case):
    model = jwst_stage(sim_case, PREV)
    ours = run_our_step("superbias", model, sim_case.meta, sim_case.refs)
    theirs = jwst_stage(sim_case, PREV + ["superbias"])
    assert theirs.meta.cal_step.superbias == "COMPLETE"
    assert not np.allclose(np.asarray(model.data), np.asarray(theirs.data))   # a bias was removed
    assert_ramp_parity(ours, theirs, rtol=0)
