"""Light curves: the trapezoid transit model, its fit and the transit check, by hand."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
from lightcurve_files import CFG, _trace_cube, write_rateints

from rampflow import lightcurves as lcm
from rampflow.lightcurves import LightCurveError

# --------------------------------------------------------------------------- transit fit

def test_trapezoid_shape_by_hand():
    t = np.array([-2.5, -2.0, -1.5, -1.0, 0.0, 1.25, 1.75, 3.0])
    np.testing.assert_allclose(lcm.trapezoid(t, 0.0, 4.0, 1.0), [0, 0, 0.5, 1, 1, 0.75, 0.25, 0])
    np.testing.assert_allclose(lcm.trapezoid(t, 0.0, 4.0, 0.0), [0, 0.5, 1, 1, 1, 1, 1, 0])
    with pytest.raises(ValueError, match="ingress"):
        lcm.trapezoid(t, 0.0, 4.0, 2.5)


def test_trapezoid_fit_noiseless_recovers_depth_exactly():
    t = np.linspace(-0.2, 0.2, 301)
    s = lcm.trapezoid(t, 0.01, 0.12, 0.02)
    err = np.full(t.size, 1e-4)
    # flat baseline, multiplicative transit
    flux = 1.3 * (1 - 0.0123 * s)
    r = lcm.fit_transit(t, flux, err, t0=0.01, duration=0.12, ingress=0.02, baseline_order=0)
    assert r["depth"] == pytest.approx(0.0123, rel=1e-10, abs=1e-13)
    assert r["chi2"] < 1e-12 and not r["error_scaled"]
    # linear baseline: B(t) - depth * B(t0) * s(t) is the model, recovered exactly
    base = 0.98 + 0.05 * (t - 0.01)
    flux = base - 0.0071 * 0.98 * s
    r = lcm.fit_transit(t, flux, err, t0=0.01, duration=0.12, ingress=0.02, baseline_order=1)
    assert r["depth"] == pytest.approx(0.0071, rel=1e-10)
    assert r["n_in_transit"] == int(np.sum(s > 0))
    # depth error of the flat-baseline fit by hand (weights equal): with n_out points out of
    # transit and the in-transit shape s, var(c) = sigma^2 * n / (n * sum s^2 - (sum s)^2)
    r0 = lcm.fit_transit(t, 1 - 0.01 * s, err, t0=0.01, duration=0.12, ingress=0.02, baseline_order=0)
    n = t.size
    var_c = 1e-8 * n / (n * np.sum(s ** 2) - np.sum(s) ** 2)
    var_a = 1e-8 * np.sum(s ** 2) / (n * np.sum(s ** 2) - np.sum(s) ** 2)
    cov_ac = 1e-8 * np.sum(s) / (n * np.sum(s ** 2) - np.sum(s) ** 2)   # of (a, c) in B - c s
    a, c = 1.0, 0.01
    var_d = var_c / a ** 2 + c ** 2 / a ** 4 * var_a - 2 * c / a ** 3 * cov_ac
    assert r0["depth_err"] == pytest.approx(math.sqrt(var_d), rel=1e-8)


def test_transit_error_scaled_by_reduced_chi2():
    rng = np.random.default_rng(4)
    t = np.linspace(-0.2, 0.2, 400)
    s = lcm.trapezoid(t, 0.0, 0.1, 0.01)
    flux = 1 - 0.01 * s + rng.normal(0, 2e-4, t.size)
    good = lcm.fit_transit(t, flux, np.full(t.size, 2e-4), t0=0.0, duration=0.1, ingress=0.01)
    under = lcm.fit_transit(t, flux, np.full(t.size, 1e-4), t0=0.0, duration=0.1, ingress=0.01)
    assert under["error_scaled"] and under["reduced_chi2"] == pytest.approx(4 * good["reduced_chi2"])
    if good["reduced_chi2"] >= 1:
        assert under["depth_err"] == pytest.approx(good["depth_err"], rel=1e-9)
    else:
        # good is not scaled: under = good / 2 * sqrt(4 chi2_good)
        assert under["depth_err"] == pytest.approx(good["depth_err"] * math.sqrt(good["reduced_chi2"]), rel=1e-9)


def test_transit_parameters_units_and_ephemeris():
    times = np.array([60100.0, 60100.2])
    p = lcm.transit_parameters({"t0": 2460100.6, "duration": 2.4, "ingress": 0.3}, times)
    assert p["t0"] == pytest.approx(60100.1)
    assert p["duration"] == pytest.approx(0.1) and p["ingress"] == pytest.approx(0.0125)
    p = lcm.transit_parameters({"t0": 60000.1, "period": 2.5, "duration": 2.0}, times)
    assert p["epoch"] == 40 and p["t0"] == pytest.approx(60100.1)
    with pytest.raises(LightCurveError, match="transit.t0"):
        lcm.transit_parameters({"duration": 2.0}, times)
    with pytest.raises(LightCurveError, match="unknown keys"):
        lcm.transit_parameters({"t0": 1.0, "duration": 2.0, "depth": 0.1}, times)


def test_transit_check_on_written_curve(tmp_path):
    n = 60
    amps = 100.0 * (1 - 0.02 * lcm.trapezoid(np.arange(n), 30, 20, 4))
    bjd = 60000.0 + np.arange(n) / 24.0          # hourly
    p = write_rateints(tmp_path / "t-seg001_nrs1_rateints.fits", _trace_cube(amps), bjd=bjd)
    transit = {"t0": bjd[30], "duration": 20.0, "ingress": 4.0, "baseline_order": 0}
    lc = lcm.extract_lightcurves([p], config=dict(CFG, transit=transit))
    res = lcm.transit_check(lc.white, transit, lc.spectroscopic)
    assert res["depth"] == pytest.approx(0.02, rel=1e-5)
    assert len(res["bins"]) == 3 and res["bins"][0]["depth"] == pytest.approx(0.02, rel=1e-5)
    # the out-of-transit normalisation used the window: out-of-transit flux is exactly 1
    oot = lcm.trapezoid(np.arange(n), 30, 20, 4) == 0
    np.testing.assert_allclose(np.asarray(lc.white["flux"])[oot], 1.0, rtol=1e-6)


@pytest.mark.parametrize("where", ["after", "before", "between"])
def test_transit_window_without_integrations_is_a_warning(tmp_path, caplog, where):
    # hourly integrations 0..19 h; the 2-h window lies after, before or between them (the
    # last case: 0.4 h wide, centred between integrations 10 and 11)
    n = 20
    bjd = 60000.0 + np.arange(n) / 24.0
    p = write_rateints(tmp_path / "w-seg001_nrs1_rateints.fits", _trace_cube(np.full(n, 100.0)), bjd=bjd)
    t0, duration = {"after": (bjd[-1] + 3.0 / 24, 2.0), "before": (bjd[0] - 3.0 / 24, 2.0),
                    "between": (bjd[10] + 0.5 / 24, 0.4)}[where]
    transit = {"t0": t0, "duration": duration}
    lc = lcm.extract_lightcurves([p], config=dict(CFG, transit=transit))
    with caplog.at_level(logging.WARNING, logger="rampflow"):
        res = lcm.transit_check(lc.white, transit, lc.spectroscopic)
    assert res["fitted"] is False and "depth" not in res and "bins" not in res
    start, end = t0 - duration / 48, t0 + duration / 48
    assert res["window_start"] == pytest.approx(start) and res["window_end"] == pytest.approx(end)
    assert res["data_start"] == bjd[0] and res["data_end"] == bjd[-1] and res["n_in_transit"] == 0
    # the warning names the window and the times covered, and says which key to check
    msg = res["warning"]
    assert f"{start:.5f} to {end:.5f}" in msg and f"{bjd[0]:.5f} to {bjd[-1]:.5f}" in msg
    assert msg.startswith("nrs1: transit not fitted") and "lightcurves.transit" in msg
    assert {"after": "starts 2.00 h after the last", "before": "ends 2.00 h before the first",
            "between": "between two integrations"}[where] in msg
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [msg]
    # the rule's products are written all the same: the JSON and a plot with the reason
    js = lcm.write_json(res, tmp_path / "nrs1_transit.json")
    png = lcm.plot_transit(lc.white, res, tmp_path / "nrs1_transit.png")
    assert json.loads(js.read_text())["warning"] == msg
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
