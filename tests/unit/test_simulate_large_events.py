"""The simulator's large events (snowballs, showers): off by default, their own random stream,
listed in the truth file, and deposited where and when the truth says."""

import numpy as np
import pytest
from astropy.io import fits

from rampflow import dq
from rampflow.simulate import read_truth, simulate_exposure
from rampflow.simulate.geometry import cut, geometry
from rampflow.simulate.large_events import HALO_RATIO, deposits, draw_events

KW = dict(kind="nirspec_tso", detector="NRS1", nints=2, ngroups=6, size=[32, 128], seed=7)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = simulate_exposure(tmp_path_factory.mktemp("ev0"), **KW)
    ev = simulate_exposure(tmp_path_factory.mktemp("ev1"), **KW, snowball_rate=1.5e-3, shower_rate=2e-3)
    return base, ev


def test_off_by_default_and_listed_in_truth(pair):
    base, ev = pair
    assert len(read_truth(base.truth)["events"]) == 0
    t = read_truth(ev.truth)
    events = t["events"]
    assert {"snowball", "shower"} <= set(np.asarray(events["kind"]).tolist())
    assert t["header"]["SIM SNOWBALL_RATE"] == 1.5e-3
    sb = events[events["kind"] == "snowball"]
    assert np.allclose(sb["radius"], HALO_RATIO * sb["core_radius"])
    assert ((sb["core_radius"] >= 2.5) & (sb["core_radius"] <= 5.0)).all()
    assert (events[events["kind"] == "shower"]["amplitude"] == 25.0).all()


def test_deposits_only_inside_the_events_from_their_group(pair):
    base, ev = pair
    a = fits.getdata(base.uncal, "SCI").astype(np.int64)
    b = fits.getdata(ev.uncal, "SCI").astype(np.int64)
    events = read_truth(ev.truth)["events"]
    ny, nx = a.shape[2:]
    yy, xx = np.mgrid[:ny, :nx]
    inside = np.zeros(a.shape, bool)
    for e in events:
        d = np.hypot(yy - e["y"], xx - e["x"])
        inside[e["integration"], e["group"]:, d <= e["radius"] + 1] = True
    # the rest of the exposure is byte-identical (large events have their own random stream)
    np.testing.assert_array_equal(a[~inside], b[~inside])
    sat = cut(geometry("nirspec_tso", "NRS1", KW["size"], KW["ngroups"], None),
              fits.getdata(ev.refs["saturation"], "SCI"))
    for e in events:
        d = np.hypot(yy - e["y"], xx - e["x"])
        i, g = e["integration"], e["group"]
        if e["kind"] == "snowball":
            core = d <= e["core_radius"] - 0.5
            # the core saturates from its group on (the subarray of the full-frame reference)
            assert (b[i, g:][:, core] >= sat[core] - 100).all()
    # reference and dead pixels get no charge
    geom = geometry("nirspec_tso", "NRS1", KW["size"], KW["ngroups"], None)
    insensitive = (cut(geom, fits.getdata(ev.refs["mask"], "DQ")) & dq.REFERENCE_PIXEL) != 0
    dead = read_truth(ev.truth)["dead"]
    insensitive[dead["y"], dead["x"]] = True
    # showers: the last group holds exactly the deposits (the noise streams are the same), up to
    # the non-linearity at that level and rounding; away from snowballs
    for i in range(a.shape[0]):
        expected = np.zeros((ny, nx))
        snow = np.zeros((ny, nx), bool)
        for e in events[events["integration"] == i]:
            d = np.hypot(yy - e["y"], xx - e["x"])
            if e["kind"] == "shower":
                expected += e["amplitude"] * (d <= e["radius"])
            else:
                snow |= d <= e["radius"] + 1
        sel = (expected > 0) & ~snow & ~insensitive
        if sel.any():
            resid = (b[i, -1] - a[i, -1])[sel] - expected[sel]
            assert abs(resid.mean()) < 3 and np.abs(resid).max() <= 12  # 1/3 less on the bright trace


def test_draw_and_deposit_by_hand():
    geom = geometry("nirspec_tso", "NRS1", [32, 64], 4, None)
    phys = dict(snowball_rate=0.0, shower_rate=0.0, snowball_core_min=3.0, snowball_core_max=3.0,
                snowball_halo_dn=1000.0, shower_radius=5.0, shower_dn=20.0)
    assert draw_events(np.random.default_rng(0), geom, phys) == []
    ev = [("snowball", 2, 2, 10.0, 10.0, 3.0, 7.5, 1000.0), ("shower", 1, 1, 20.0, 40.0, 0.0, 5.0, 20.0)]
    dep = {(y, x): (g, a) for g, k, y, x, a in deposits(ev, geom, 50000.0)}
    assert dep[(10, 10)] == (2, 150000.0)                 # core: 3 full wells
    assert dep[(10, 13)] == (2, 150000.0)                 # on the core's edge
    assert dep[(10, 14)][1] == pytest.approx(1000.0 * (1 - 0.9 * 1.0 / 4.5))   # halo, linear fall-off
    assert (10, 18) not in dep                            # beyond 2.5 x the core
    assert dep[(20, 40)] == (1, 20.0) and dep[(20, 45)] == (1, 20.0) and (20, 46) not in dep
