"""Light curves recover an injected transit: seeded simulations checked against truth.

Two sources of rateints:

* ``make_tso_rateints`` here: rateints written directly from a known scene (curved Gaussian
  trace, background, transit) with Gaussian noise whose sigma is the product's ERR, plus
  flagged pixels (static and transient). The truth is exact, so the depth must come back
  within 3 sigma and the out-of-transit scatter must match the propagated errors within 20 %.
* ``rampflow.simulate`` uncal ramps (skipped where the simulator is absent) turned into
  rateints by an unweighted least-squares slope over the groups, with the textbook variances of
  that slope (Poisson: 6 (n^2 + 1) / (5 n (n^2 - 1)) rate / (gain tgroup); read noise:
  12 sigma_read^2 / (n (n^2 - 1) tgroup^2)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from rampflow import dq as dqflags
from rampflow import io, lightcurves, names

DT = 30.0 / 86400.0          # days between integrations
T_START = 60400.25           # BJD_TDB - 2400000.5 of the first mid-time


def _int_times(nums, bjd, mjd_offset=-0.0008):
    t = Table()
    t["integration_number"] = np.asarray(nums, dtype=np.int32)
    for k, off in (("start", -0.5), ("mid", 0.0), ("end", 0.5)):
        t[f"int_{k}_MJD_UTC"] = bjd + off * DT + mjd_offset
    for k, off in (("start", -0.5), ("mid", 0.0), ("end", 0.5)):
        t[f"int_{k}_BJD_TDB"] = bjd + off * DT
    return t


def make_tso_rateints(outdir, *, detector="nrs1", nseg=2, nints=120, ny=32, nx=96, depth=0.01,
                      t0=None, duration_h=None, ingress_h=None, peak=400.0, background=1.5,
                      rn_rate=0.8, teff=25.0, seed=1, static_bad=((16, 40),), transient_bad=((3, 15, 60),),
                      saturated=((5, 17, 20),), drop_bjd=False, program="09999001001"):
    """Write ``nseg`` rateints segments of a NIRSpec-like TSO; return (paths, truth dict).

    Pixel rate = peak * spectrum(x) * gaussian(y - yc(x)) * (1 - depth * trapezoid(t)) + background;
    ERR**2 = rate / teff + rn_rate**2 (Gaussian noise of that sigma). static_bad: (y, x)
    DO_NOT_USE in every integration (SCI = NaN); transient_bad: (int, y, x) DO_NOT_USE in one
    integration (SCI garbage); saturated: (int, y, x) SATURATED | DO_NOT_USE.
    """
    rng = np.random.default_rng(seed)
    times = T_START + np.arange(nints) * DT
    t0 = times[nints // 2] if t0 is None else t0
    dur = (0.4 * (times[-1] - times[0])) if duration_h is None else duration_h / 24.0
    ing = 0.15 * dur if ingress_h is None else ingress_h / 24.0
    shape_t = lightcurves.trapezoid(times, t0, dur, ing)
    x = np.arange(nx)
    u = (x - (nx - 1) / 2) / (nx / 2)
    yc = (ny - 1) / 2 + 0.3 + 1.2 * (u ** 2 - 1 / 3)
    spec = 1.0 + 0.3 * np.sin(2 * np.pi * x / 37.0)
    prof = np.exp(-0.5 * ((np.arange(ny)[:, None] - yc[None, :]) / 0.9) ** 2)
    src = peak * spec[None, :] * prof
    bounds = np.linspace(0, nints, nseg + 1).round().astype(int)
    paths = []
    rate_all = np.empty((nints, ny, nx))
    sci_all = np.empty((nints, ny, nx), np.float32)
    err_all = np.empty((nints, ny, nx), np.float32)
    for j in range(nints):
        rate = src * (1 - depth * shape_t[j]) + background
        err = np.sqrt(rate / teff + rn_rate ** 2)
        rate_all[j] = rate
        err_all[j] = err
        sci_all[j] = rate + rng.standard_normal((ny, nx)) * err
    dq_all = np.zeros((nints, ny, nx), np.uint32)
    for (y, xx) in static_bad:
        dq_all[:, y, xx] |= dqflags.DO_NOT_USE
        sci_all[:, y, xx] = np.nan
    for (i, y, xx) in transient_bad:
        dq_all[i, y, xx] |= dqflags.DO_NOT_USE
        sci_all[i, y, xx] = 1e5
    for (i, y, xx) in saturated:
        dq_all[i, y, xx] |= dqflags.DO_NOT_USE | dqflags.SATURATED
        sci_all[i, y, xx] = 0.0
    for s in range(nseg):
        a, b = bounds[s], bounds[s + 1]
        stem = f"jw{program}_04101_00001-seg{s + 1:03d}_{detector}"
        h = fits.Header()
        h["TELESCOP"] = "JWST"
        h["INSTRUME"] = "NIRSPEC"
        h["DETECTOR"] = detector.upper()
        h["EXP_TYPE"] = "NRS_BRIGHTOBJ"
        h["SUBARRAY"] = "SUB2048"
        h["NINTS"] = nints
        h["NGROUPS"] = 6
        h["INTSTART"] = int(a + 1)
        h["INTEND"] = int(b)
        h["EXSEGNUM"] = s + 1
        h["EXSEGTOT"] = nseg
        h["S_RAMP"] = "COMPLETE"
        it = _int_times(np.arange(a + 1, b + 1), times[a:b])
        if drop_bjd:
            for k in ("start", "mid", "end"):
                it[f"int_{k}_BJD_TDB"] = 0.0
        arrays = {"SCI": sci_all[a:b], "ERR": err_all[a:b], "DQ": dq_all[a:b],
                  "VAR_POISSON": (rate_all[a:b] / teff).astype(np.float32),
                  "VAR_RNOISE": np.full((b - a, ny, nx), rn_rate ** 2, np.float32)}
        p = io.write_image_product(outdir / f"{stem}_rateints.fits", arrays, h, None,
                                   datamodel="CubeModel", tables={"INT_TIMES": it})
        paths.append(p)
    truth = {"depth": depth, "t0": float(t0), "duration_h": dur * 24, "ingress_h": ing * 24,
             "times": times, "shape": shape_t, "yc": yc, "rate": rate_all, "src": src,
             "background": background}
    return paths, truth


def test_direct_rateints_recover_depth_and_noise(tmp_path):
    paths, truth = make_tso_rateints(tmp_path, nints=400, nseg=3, seed=7)
    cfg = {"box_halfwidth": 4, "bkg_gap": 2, "bin_width": 32,
           "transit": {"t0": truth["t0"] + 2400000.5, "duration": truth["duration_h"],
                       "ingress": truth["ingress_h"], "baseline_order": 1}}
    lc = lightcurves.extract_lightcurves(paths[::-1], config=cfg)
    white = lc.white
    assert len(white) == 400
    assert np.all(np.diff(white["time"]) > 0)
    res = lightcurves.transit_check(white, cfg["transit"], lc.spectroscopic)
    assert abs(res["depth"] - truth["depth"]) < 3 * res["depth_err"], res
    assert res["depth_err"] < 0.1 * truth["depth"]
    # out-of-transit scatter against the propagated errors
    oot = truth["shape"] == 0
    f = np.asarray(white["flux"])[oot]
    scatter = np.std(f, ddof=1)
    predicted = np.sqrt(np.mean(np.asarray(white["flux_err"])[oot] ** 2))
    assert abs(scatter / predicted - 1) < 0.2, (scatter, predicted)
    # every bin of the spectroscopic light curves sees the same (grey) depth
    depths = np.array([b["depth"] for b in res["bins"]])
    errs = np.array([b["depth_err"] for b in res["bins"]])
    assert np.all(np.abs(depths - truth["depth"]) < 4 * errs)
    # the fitted trace follows the injected one
    coef = lc.info["trace_coef"]
    from numpy.polynomial import Polynomial
    p = Polynomial(coef, domain=lc.info["trace_domain"])
    assert np.max(np.abs(p(np.arange(96)) - truth["yc"])) < 0.1


def test_raw_flux_matches_injected_column_sum(tmp_path):
    """Without noise, raw white flux = sum of the injected source in the box: the background
    is removed and flagged pixels are replaced from the profile (interpolated along x for the
    pixel flagged in every integration: a small error, well below 1e-4)."""
    paths, truth = make_tso_rateints(tmp_path, nints=40, nseg=2, seed=3, rn_rate=0.0, teff=1e30,
                                     background=2.0)
    lc = lightcurves.extract_lightcurves(paths, config={"box_halfwidth": 4, "bkg_gap": 2})
    yc = np.rint(truth["yc"]).astype(int)
    rows = yc[None, :] + np.arange(-4, 5)[:, None]
    box_src = truth["src"][rows, np.arange(96)[None, :]].sum()
    expected = box_src * (1 - truth["depth"] * truth["shape"])
    np.testing.assert_allclose(lc.white["raw_flux"], expected, rtol=5e-5)
    # relative fluxes are exact (to float32 rounding of SCI): the same pixels are replaced the
    # same way in every integration
    np.testing.assert_allclose(lc.white["flux"], 1 - truth["depth"] * truth["shape"], rtol=1e-8)


@pytest.fixture(scope="module")
def simulated_program(tmp_path_factory):
    simulate = pytest.importorskip("rampflow.simulate", reason="rampflow.simulate is not available")
    out = tmp_path_factory.mktemp("sim")
    exps = []
    for seg in (1, 2):
        exps.append(simulate.simulate_exposure(
            out, kind="nirspec_tso", detector="NRS1", segment=seg, nsegments=2, nints=160, ngroups=6,
            size=[32, 64], seed=11, cr_rate=0.0, nonlinearity=0.0, one_over_f_rms=0.0, odd_even_rms=0.0,
            dark_rate=0.0, hot_fraction=0.0, transit_depth=0.01, peak_well_fraction=0.5,
            refdir=out / "refs", write_refs=seg == 1, refs=None if seg == 1 else exps[0].refs))
    return out, exps


def _simple_ramp_fit(uncal_path, truth, refs, rates_dir):
    """Unweighted least-squares slopes of every pixel, with their textbook variances."""
    from rampflow.references import load_reference

    rf = io.open_ramp(uncal_path)
    gain = np.asarray(load_reference("gain", refs["gain"], rf.meta)["SCI"], dtype=np.float64)
    rn_cds = np.asarray(load_reference("readnoise", refs["readnoise"], rf.meta)["SCI"], dtype=np.float64)
    mask = load_reference("mask", refs["mask"], rf.meta).dq()
    sci, _ = rf.read()
    nints, n, ny, nx = sci.shape
    tg = rf.meta.tgroup
    t = (np.arange(n) + 1) * tg
    tc = t - t.mean()
    slope = np.einsum("g,igyx->iyx", tc, sci.astype(np.float64)) / np.sum(tc ** 2)
    sig_read = rn_cds / math.sqrt(2)
    var_p = 6 * (n ** 2 + 1) / (5 * n * (n ** 2 - 1)) * np.clip(slope, 0, None) / (gain * tg)
    var_r = np.broadcast_to(12 * sig_read ** 2 / (n * (n ** 2 - 1) * tg ** 2), slope.shape)
    dqa = np.broadcast_to(mask.astype(np.uint32), slope.shape).copy()
    for y, x in zip(truth["dead"]["y"], truth["dead"]["x"]):
        assert dqa[0, y, x] & dqflags.DO_NOT_USE
    arrays = {"SCI": slope.astype(np.float32), "ERR": np.sqrt(var_p + var_r).astype(np.float32),
              "DQ": dqa, "VAR_POISSON": var_p.astype(np.float32), "VAR_RNOISE": var_r.astype(np.float32)}
    stem = names.product_stem(uncal_path)
    out = io.write_image_product(rates_dir / f"{stem}_rateints.fits", arrays, rf.primary_header,
                                 rf.sci_header, datamodel="CubeModel",
                                 tables={"INT_TIMES": rf.tables["INT_TIMES"]})
    rf.close()
    return out


def test_simulated_tso_recovers_transit(simulated_program, tmp_path):
    from rampflow import simulate

    out, exps = simulated_program
    truths = [simulate.read_truth(e.truth) for e in exps]
    paths = [_simple_ramp_fit(e.uncal, tr, e.refs, tmp_path) for e, tr in zip(exps, truths)]
    tr = truths[0]["transit"]
    transit = {"t0": tr["t0"], "duration": tr["duration"] * 24, "ingress": tr["ingress"] * tr["duration"] * 24}
    lc = lightcurves.extract_lightcurves(paths[::-1], config={"box_halfwidth": 4, "bkg_gap": 2, "transit": transit})
    lct = np.concatenate([np.asarray(t["lightcurve"]["int_mid_BJD_TDB"]) for t in truths])
    np.testing.assert_allclose(lc.white["time"], lct, rtol=0, atol=1e-9)
    assert lc.white.meta["time_scale"] == "BJD_TDB"
    res = lightcurves.transit_check(lc.white, transit)
    assert abs(res["depth"] - tr["depth"]) < 3 * res["depth_err"], res
    oot = np.concatenate([np.asarray(t["lightcurve"]["white_flux"]) for t in truths]) == 1.0
    f = np.asarray(lc.white["flux"])[oot]
    predicted = np.sqrt(np.mean(np.asarray(lc.white["flux_err"])[oot] ** 2))
    assert abs(np.std(f, ddof=1) / predicted - 1) < 0.2, (np.std(f, ddof=1), predicted)
