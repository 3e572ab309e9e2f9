"""Every default Stage 1 step against jwst 3.0 on the near-infrared time-series modes.

Simulated exposures in their genuine subarrays: NIRISS SOSS on SUBSTRIP96 and on the
full-size SUBSTRIP256 (NIS, 256 x 2048, read along y, one output), NIRCam grism time series on
SUBGRISM64 through 4 outputs and through 1 (NRCALONG, read along x, side and bottom reference
pixels; real 1-output grism exposures keep the SUBGRISM name, with NOUTPUTS = 1 and the whole
2048-pixel row read by one amplifier) and NIRCam weak-lens imaging time series on SUB64P
(NRCA3). Each step of calwebb_detector1's default near-infrared list gets jwst's own output of
the steps before it; SCI must agree to float32 rounding (refpix bit for bit), GROUPDQ and
PIXELDQ exactly, jump's GROUPDQ in every group; ramp_fit's rate and rateints array by array
and gain_scale's products exactly.
"""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step
from test_ramp_fit_parity import assert_image_parity

from rampflow import dq
from rampflow.references import load_reference
from rampflow.steps import gain_scale as gs
from rampflow.steps import ramp_fit as rf

RAMP_STEPS = ["group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity", "dark_current"]
#: jwst's cal_step attribute where it is not the step's name
CAL_STEP = {"dark_current": "dark_sub"}
CASES = {
    "soss_substrip96": dict(kind="niriss_soss", detector="NIS", size=[96, 2048]),
    "soss_substrip256": dict(kind="niriss_soss", detector="NIS", size=[256, 2048], ngroups=3),
    "grism_subgrism64_4out": dict(kind="nircam_grism_tso", detector="NRCALONG", size=[64, 2048]),
    "grism_subgrism64_1out": dict(kind="nircam_grism_tso", detector="NRCALONG", size=[64, 2048], noutputs=1, ngroups=3),
    "tsimage_sub64p": dict(kind="nircam_imaging_tso", detector="NRCA3", size=[64, 64]),
}
#: (SUBARRAY, NOUTPUTS, SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2) in the simulated headers
SUBARRAYS = {"soss_substrip96": ("SUBSTRIP96", 1, 1, 1803, 2048, 96),
             "soss_substrip256": ("SUBSTRIP256", 1, 1, 1793, 2048, 256),
             "grism_subgrism64_4out": ("SUBGRISM64", 4, 1, 1, 2048, 64),
             "grism_subgrism64_1out": ("SUBGRISM64", 1, 1, 1, 2048, 64),
             "tsimage_sub64p": ("SUB64P", 1, 1, 1, 64, 64)}


@pytest.fixture(scope="module", params=sorted(CASES))
def tso_case(request, tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    kw = {"ngroups": 5, **CASES[request.param]}
    case = simulate_exposure(tmp_path_factory.mktemp(request.param), nints=2, seed=31, **kw)
    m = case.meta
    assert (m.subarray, m.noutputs, m.substrt1, m.substrt2, m.subsize1, m.subsize2) == SUBARRAYS[request.param]
    return case


@pytest.mark.parametrize("step", RAMP_STEPS)
def test_ramp_step(jwst_offline, tso_case, step):
    prev = RAMP_STEPS[:RAMP_STEPS.index(step)]
    model = jwst_stage(tso_case, prev) if prev else str(tso_case.uncal)
    if isinstance(model, str):
        from stdatamodels.jwst import datamodels

        model = datamodels.RampModel(model)
        model.pixeldq = np.zeros(model.data.shape[-2:], np.uint32)
        model.groupdq = np.zeros(model.data.shape, np.uint8)
        model.data = np.asarray(model.data, np.float32)
    ours = run_our_step(step, model, tso_case.meta, tso_case.refs)
    theirs = jwst_stage(tso_case, prev + [step])
    status = "SKIPPED" if ours[3].skipped else "COMPLETE"
    assert getattr(theirs.meta.cal_step, CAL_STEP.get(step, step)) == status
    assert_ramp_parity(ours, theirs, rtol=0 if step == "refpix" else 1e-6)


def test_jump(jwst_offline, tso_case):
    model = jwst_stage(tso_case, RAMP_STEPS)
    sci, gdq, pdq, step = run_our_step("jump", model, tso_case.meta, tso_case.refs)
    theirs = jwst_stage(tso_case, RAMP_STEPS + ["jump"])
    np.testing.assert_array_equal(pdq, np.asarray(theirs.pixeldq, np.uint32))
    np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq, np.uint8))
    assert np.count_nonzero(gdq & dq.JUMP_DET) > 0          # cosmic rays were found: the test has teeth


def test_ramp_fit_and_gain_scale(jwst_offline, tso_case):
    model = jwst_stage(tso_case, RAMP_STEPS + ["jump"])
    rate_j, ints_j = run_jwst_step("ramp_fit", model, tso_case.refs)
    meta = tso_case.meta
    refs = {rt: load_reference(rt, tso_case.refs[rt], meta) for rt in ("readnoise", "gain")}
    dark = np.array(model.average_dark_current, np.float32) if model.hasattr("average_dark_current") else None
    setup = rf.prepare_ramp_fit(meta, refs["readnoise"], refs["gain"], average_dark_current=dark)
    ny = model.data.shape[2]
    res = rf.fit_ramps(np.array(model.data, np.float32), np.array(model.groupdq, np.uint8),
                       np.array(model.pixeldq, np.uint32), setup, slice(0, ny))
    assert_image_parity(res.rate, rate_j, "rate")
    assert_image_parity(res.rateints, ints_j, "rateints")
    theirs = run_jwst_step("gain_scale", ints_j, tso_case.refs)
    ours, _ = gs.gain_scale(dict(res.rateints), refs["gain"].header)
    assert theirs.meta.cal_step.gain_scale == "SKIPPED"
    np.testing.assert_array_equal(ours["SCI"], np.asarray(theirs.data))
