"""ZEROFRAME parity with jwst: a simulated NIRSpec exposure read with 4 frames per group (NRS)
and bright enough that some pixels saturate within the first group but not in their first
frame. jwst's saturation, superbias, refpix and linearity steps change the ZEROFRAME, and
RampFitStep (suppress_one_group=False) fits those ramps from it; rampflow's runner does the
same step by step from the uncal file. ZEROFRAME compared after each step, then rate and
rateints (SCI to float32 rounding, DQ exactly)."""

from __future__ import annotations

import numpy as np
import pytest
from parity_helpers import run_jwst_step

from rampflow import dq, io, runner
from rampflow.simulate import simulate_exposure

STEPS = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]


@pytest.fixture(scope="module")
def case(tmp_path_factory, jwst_offline):
    out = tmp_path_factory.mktemp("zfpar")
    sim = simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=3, ngroups=5, size=[16, 256], seed=11,
                            zeroframe=True, readpatt="NRS", peak_well_fraction=30.0)
    refs = {k: str(v) for k, v in sim.refs.items()}
    theirs, model = {}, str(sim.uncal)
    for s in STEPS:
        model = run_jwst_step(s, model, refs)
        theirs[s] = (np.array(model.zeroframe, np.float32), np.array(model.groupdq))
    rate, rateints = run_jwst_step("ramp_fit", model, refs, suppress_one_group=False)
    ours = {s: out / f"ours_{s}.fits" for s in STEPS}
    prev = sim.uncal
    for s in STEPS:
        runner.run([s], {"ramp": prev}, {s: ours[s]}, overrides=refs, use_crds_pars=False, chunk_mb=0.05)
        prev = ours[s]
    fits_out = {"rate": out / "ours_rate.fits", "rateints": out / "ours_rateints.fits"}
    runner.run(["ramp_fit"], {"ramp": prev}, fits_out, overrides=refs, use_crds_pars=False,
               params={"ramp_fit": {"suppress_one_group": False}})
    return sim, theirs, ours, (rate, rateints), fits_out


def test_zeroframe_after_each_step(case):
    sim, theirs, ours, _, _ = case
    for s in STEPS:
        with io.open_ramp(ours[s]) as r:
            z = r.zeroframe()
        np.testing.assert_allclose(z, theirs[s][0], rtol=1e-6, atol=1e-3, err_msg=s)
    # the case exercises what matters: ZEROFRAME values zeroed by saturation, and ramps
    # saturated from their first group whose zero frame is still usable
    z = theirs["saturation"][0]
    g0_sat = (theirs["jump"][1][:, 0] & dq.SATURATED) != 0
    assert (z == 0).any() and (g0_sat & (z != 0)).sum() > 0


def test_rate_uses_zeroframe_as_jwst(case):
    sim, theirs, _, (rate, rateints), fits_out = case
    prods = {k: io.read_image_product(v) for k, v in fits_out.items()}
    for ours, model in ((prods["rate"], rate), (prods["rateints"], rateints)):
        np.testing.assert_array_equal(ours["DQ"], model.dq)
        for name, attr in (("SCI", "data"), ("ERR", "err"), ("VAR_POISSON", "var_poisson"),
                           ("VAR_RNOISE", "var_rnoise")):
            np.testing.assert_allclose(ours[name], getattr(model, attr), rtol=2e-6, atol=1e-7, err_msg=name)
    # ramps saturated from group 1 with a usable ZEROFRAME have finite rates (= ZEROFRAME / TFRAME)
    z = theirs["jump"][0]
    used = ((theirs["jump"][1][:, 0] & dq.SATURATED) != 0) & (z != 0)
    sci = prods["rateints"]["SCI"]
    assert np.isfinite(sci[used]).all()
    np.testing.assert_allclose(sci[used], z[used] / np.float32(sim.meta.tframe), rtol=1e-5)
