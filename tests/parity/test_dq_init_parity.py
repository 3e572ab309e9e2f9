"""dq_init parity with jwst on the simulated NIRSpec subarray and NIRCam full-frame cases."""

import numpy as np
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step

from rampflow import dq


def test_dq_init(jwst_offline, sim_case):
    model = jwst_stage(sim_case, ["group_scale"])
    ours = run_our_step("dq_init", model, sim_case.meta, sim_case.refs)
    theirs = jwst_stage(sim_case, ["group_scale", "dq_init"])
    assert theirs.meta.cal_step.dq_init == "COMPLETE"
    pdq = np.asarray(theirs.pixeldq)
    assert (pdq & dq.REFERENCE_PIXEL).any() or sim_case.meta.subsize2 < 2048   # full frame has ref pixels
    assert (np.asarray(theirs.groupdq) & dq.DO_NOT_USE).any()                   # dead pixels propagated
    assert_ramp_parity(ours, theirs, rtol=0)


def test_user_supplied_dq(jwst_offline, nirspec_case, tmp_path):
    from astropy.io import fits

    user = np.zeros((nirspec_case.meta.subsize2, nirspec_case.meta.subsize1), np.uint32)
    user[5, 100:110] = dq.DO_NOT_USE | dq.FLAGS["OTHER_BAD_PIXEL"]
    path = tmp_path / "user_dq.fits"
    fits.PrimaryHDU(user).writeto(path)
    model = jwst_stage(nirspec_case, ["group_scale"])
    ours = run_our_step("dq_init", model, nirspec_case.meta, nirspec_case.refs, user_supplied_dq=str(path))
    theirs = run_jwst_step("dq_init", model, nirspec_case.refs, user_supplied_dq=str(path))
    assert (np.asarray(theirs.pixeldq)[5, 100:110] & dq.FLAGS["OTHER_BAD_PIXEL"]).all()
    assert_ramp_parity(ours, theirs, rtol=0)
