"""group_scale parity with jwst: skipped on the simulated cases (NFRAMES == FRMDIVSR), and a
real rescaling when the metadata say NFRAMES=5, FRMDIVSR=4."""

import dataclasses

import numpy as np
from parity_helpers import assert_ramp_parity, run_jwst_step, run_our_step


def test_skipped_like_jwst(jwst_offline, sim_case):
    theirs = run_jwst_step("group_scale", str(sim_case.uncal), sim_case.refs)
    assert theirs.meta.cal_step.group_scale == "SKIPPED"
    ours = run_our_step("group_scale", theirs, sim_case.meta, sim_case.refs)
    assert ours[3].skipped
    assert_ramp_parity(ours, theirs, rtol=0)


def test_rescaling(jwst_offline, nirspec_case):
    from stdatamodels.jwst import datamodels

    model = datamodels.RampModel(str(nirspec_case.uncal))
    model.meta.exposure.nframes = 5
    model.meta.exposure.frame_divisor = 4
    meta = dataclasses.replace(nirspec_case.meta, nframes=5, frmdivsr=4)
    ours = run_our_step("group_scale", model, meta, nirspec_case.refs)
    theirs = run_jwst_step("group_scale", model, nirspec_case.refs)
    assert theirs.meta.cal_step.group_scale == "COMPLETE" and ours[3].skipped is None
    assert not np.array_equal(ours[0], np.asarray(model.data, np.float32))   # it did scale
    assert_ramp_parity(ours, theirs, rtol=0)
