"""charge_migration parity with jwst's ChargeMigrationStep on the simulated NIRSpec and NIRCam
cases (after jwst's own steps up to dark_current), and ramp_fit's handling of the CHARGELOSS
groups: our fit of jwst's flagged ramp against jwst's RampFitStep on it."""

import numpy as np
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step
from test_ramp_fit_parity import assert_image_parity, our_fit

from rampflow import dq

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]


def _threshold(model) -> float:
    """A threshold that a few per cent of the groups exceed (the simulations stay below jwst's
    default of 25000 DN in most pixels), so the comparison has flags to compare."""
    return float(np.percentile(np.asarray(model.data), 97.0))


def test_charge_migration(jwst_offline, sim_case):
    model = jwst_stage(sim_case, PREV)
    thr = _threshold(model)
    theirs = run_jwst_step("charge_migration", model, sim_case.refs, skip=False, signal_threshold=thr)
    assert theirs.meta.cal_step.charge_migration == "COMPLETE"
    ours = run_our_step("charge_migration", model, sim_case.meta, sim_case.refs, signal_threshold=thr)
    assert (ours[1] & dq.CHARGELOSS).any()
    assert_ramp_parity(ours, theirs, rtol=0)


def test_default_threshold(jwst_offline, nirspec_case):
    model = jwst_stage(nirspec_case, PREV)
    theirs = run_jwst_step("charge_migration", model, nirspec_case.refs, skip=False)
    ours = run_our_step("charge_migration", model, nirspec_case.meta, nirspec_case.refs)
    assert_ramp_parity(ours, theirs, rtol=0)


def test_ramp_fit_with_chargeloss(jwst_offline, sim_case):
    """ramp_fit on a ramp with CHARGELOSS groups (then jump): rate and rateints as jwst's,
    including the read-noise variance jwst recomputes for CHARGELOSS ramps."""
    model = jwst_stage(sim_case, PREV)
    flagged = run_jwst_step("charge_migration", model, sim_case.refs, skip=False,
                            signal_threshold=_threshold(model))
    jumped = run_jwst_step("jump", flagged, sim_case.refs)
    rate, rateints = run_jwst_step("ramp_fit", jumped, sim_case.refs)
    ours_rate, ours_ints, _ = our_fit(sim_case, model=jumped)
    assert (np.asarray(jumped.groupdq) & dq.CHARGELOSS).any()
    assert_image_parity(ours_rate, rate, "rate")
    assert_image_parity(ours_ints, rateints, "rateints")
