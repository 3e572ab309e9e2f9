"""Snowball and shower flagging: parity with jwst 3.0's JumpStep (stcal 1.20) on a simulated
NIRSpec BOTS exposure rich in snowballs and showers, with expand_large_events and find_showers
on: GROUPDQ and PIXELDQ exactly, EXTNCRS / PRIMECRS as jwst's.

Ours runs three ways: on the whole cube in memory, and through the runner (pre-pass, then
row chunks) with a chunk budget of a few rows and with one holding the whole exposure; all
three must equal jwst's (so chunked == unchunked too).
"""

import numpy as np
import pytest
from astropy.io import fits
from parity_helpers import jwst_stage, run_jwst_step, run_our_step

from rampflow import dq, io, runner
from rampflow.simulate import read_truth

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]
ON = {"expand_large_events": True, "find_showers": True}


@pytest.fixture(scope="module")
def events_case(tmp_path_factory):
    """NIRSpec TSO, 4 integrations x 8 groups of a 32 x 256 piece of SUB2048, with about 5
    snowballs and 3 showers per integration."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrs_events")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=4, ngroups=8, size=[32, 256],
                             seed=41, snowball_rate=8e-5, shower_rate=5e-5, shower_dn=30.0)


@pytest.fixture(scope="module")
def stage(jwst_offline, events_case, tmp_path_factory):
    """jwst's input to jump, as a model and as a file."""
    model = jwst_stage(events_case, PREV)
    path = tmp_path_factory.mktemp("events_stage") / "jw_dark_current.fits"
    model.save(str(path))
    return model, path


def _runner(path, case, tmp_path, chunk_mb, params):
    out = tmp_path / f"jump_{chunk_mb}.fits"
    refs = {k: str(v) for k, v in case.refs.items()}
    runner.run(["jump"], {"ramp": path}, {"jump": out}, overrides=refs, params={"jump": params},
               chunk_mb=chunk_mb, use_crds_pars=False)
    with io.open_ramp(out) as rf:
        _, gdq = rf.read()
        pdq = rf.pixeldq()
    return np.array(gdq), pdq, fits.getheader(out)


@pytest.mark.parametrize("params", [ON, {**ON, "minimum_sigclip_groups": 4},
                                    {"expand_large_events": True, "sat_required_snowball": False,
                                     "min_jump_area": 8.0, "expand_factor": 1.5, "edge_size": 5},
                                    {"find_showers": True, "extend_snr_threshold": 1.5, "extend_min_area": 40,
                                     "time_masked_after_shower": 3.0}],
                         ids=["default", "sigclip-stats", "snowball-params", "shower-params"])
def test_large_events_parity(jwst_offline, events_case, stage, params, tmp_path, record_property):
    model, path = stage
    truth = read_truth(events_case.truth)
    kinds = set(np.asarray(truth["events"]["kind"]).tolist())
    assert kinds == {"snowball", "shower"}  # the exposure has both
    theirs = run_jwst_step("jump", model, events_case.refs, **params)
    assert theirs.meta.cal_step.jump == "COMPLETE"
    want_g = np.asarray(theirs.groupdq, dtype=np.uint8)
    want_p = np.asarray(theirs.pixeldq, dtype=np.uint32)
    plain = np.asarray(run_jwst_step("jump", model, events_case.refs).groupdq, dtype=np.uint8)
    extra = int(np.count_nonzero(want_g != plain))
    record_property("groups_changed_by_large_events", extra)
    assert extra > 100  # the large events changed many groups: the comparison has teeth
    events = theirs.meta.exposure.extended_emission_events
    assert events > 0

    sci, gdq, pdq, step = run_our_step("jump", model, events_case.meta, events_case.refs, **params)
    np.testing.assert_array_equal(pdq, want_p, err_msg="PIXELDQ (whole cube)")
    np.testing.assert_array_equal(gdq, want_g, err_msg="GROUPDQ (whole cube)")
    h = step.header_updates()
    assert h["EXTNCRS"][0] == pytest.approx(events, rel=1e-12)
    assert h["PRIMECRS"][0] == pytest.approx(theirs.meta.exposure.primary_cosmic_rays, rel=1e-12)

    ny = events_case.meta.subsize2
    row_mb = 4 * 8 * 256 * 5 / 2**20
    for chunk_mb in (5 * row_mb, 1000.0):  # 3 interior rows per chunk; the whole exposure
        g, p, hdr = _runner(path, events_case, tmp_path, chunk_mb, params)
        np.testing.assert_array_equal(g, want_g, err_msg=f"GROUPDQ (runner, chunk_mb={chunk_mb})")
        np.testing.assert_array_equal(p, want_p, err_msg=f"PIXELDQ (runner, chunk_mb={chunk_mb})")
        assert hdr["EXTNCRS"] == pytest.approx(events, rel=1e-12)
    assert ny > 3


def test_snowballs_flag_the_simulated_events(jwst_offline, events_case, stage):
    """Truth: every simulated snowball is flagged -- its core SATURATED and its halo JUMP in the
    group it arrived in (where the core is not cut by the edge)."""
    model, _ = stage
    _, gdq, _, _ = run_our_step("jump", model, events_case.meta, events_case.refs, expand_large_events=True)
    ev = read_truth(events_case.truth)["events"]
    ny, nx = gdq.shape[2:]
    yy, xx = np.mgrid[:ny, :nx]
    n = 0
    for e in ev:
        if e["kind"] != "snowball" or e["group"] < 1:
            continue
        cy, cx, rc, r = float(e["y"]), float(e["x"]), float(e["core_radius"]), float(e["radius"])
        if min(cy - r, cx - r) < 0 or cy + r > ny - 1 or cx + r > nx - 1:
            continue
        d = np.hypot(yy - cy, xx - cx)
        plane = gdq[e["integration"], e["group"]]
        core = plane[d <= rc - 1]
        halo = plane[(d > rc + 1) & (d <= 0.6 * r)]
        assert (core & dq.SATURATED).all()
        assert ((halo & (dq.JUMP_DET | dq.SATURATED)) != 0).all()
        n += 1
    assert n >= 1
