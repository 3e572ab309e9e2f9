"""Light curves of the near-infrared time-series modes, end to end against the simulation truth.

Each mode is simulated in two segments (40 + 40 integrations, 3 groups -- 4 for the NIRCam
grism, where the ramp fit's weights then differ between bright and faint pixels, see below --,
a 1 % transit in the middle), reduced by rampflow's default Stage 1 steps for the exposure's
EXP_TYPE (``rampflow.steps.order.default_steps`` / ``default_step_params``: calwebb_detector1's
group_scale ... dark_current, jump, ramp_fit, gain_scale, and for NRC_TSGRISM ``destripe``
before jump; the simulator's reference files), and its light curves are extracted and
stitched across the segments with the settings of the mode's demo config:

* NIRISS SOSS, a 256 x 384 cut of SUBSTRIP256 (orders 1, 2 and 3, order 2 overlapping order 1
  over the first ~230 columns): order 1 in a 25-row box that follows the curved trace, order 2
  where it is clear of order 1, background = the BKG template scaled per integration plus
  column medians away from every order;
* NIRCam grism on SUBGRISM64 through 4 outputs: 9-row box; the 1/f row stripes (NIRCam reads
  along rows) removed per row from the light-free columns;
* NIRCam weak-lens imaging on SUB64P: 15-pixel aperture, annulus 18-28.

Checks, per mode:

* the injected depth is recovered within 3 sigma (trapezoid with the truth t0, duration and
  ingress, linear baseline);
* the out-of-transit white-light scatter (standard deviation of the normalised flux) is within
  20 % of the median propagated error (from the rateints ERR);
* that scatter is no worse than 1.3 x the photon-and-read-noise floor of the box (aperture)
  the extraction summed (``tests/tso_noise_floor.py``). The floor is computed from the truth,
  not from the products: for every pixel of the box, the variance of an unweighted
  least-squares slope over n groups,
  ``6 (n^2 + 1) / (5 n (n^2 - 1)) * R / (g * t_g) + 12 sigma_r^2 / (n (n^2 - 1) t_g^2)``
  with R the true out-of-transit rate (source + background + dark, DN/s), g the GAIN
  reference, t_g = TGROUP and sigma_r = READNOISE / sqrt(2) (one read), summed over the box
  (aperture weights squared for imaging), square-rooted, divided by the box's true source
  rate. It leaves out the background estimate, jumps and 1/f residuals; the 1.3 allows for
  them. The NIRCam grism needs group-level 1/f removal for it, which is why its default
  steps hold ``destripe``: its 1/f stripes (what refpix's side-reference correction leaves of
  them) are row offsets of every group that the ramp fit weights differently in bright and
  faint pixels (with 4 or more groups; with 3, every weighting gives (g3 - g1) / 2), so a
  per-row term from the light-free columns after the fit cannot remove them. The grism is
  also reduced with calwebb_detector1's list alone, which must scatter more than 1.3x the
  floor (seed 23: 1.42x, against 1.05x with the default steps; seed 9: 1.60x against 1.25x,
  and 1.23x when the same exposure is simulated without 1/f);
* the per-integration metrics give the trace (source) position and width of every
  integration of both segments, and the SOSS light curves hold order 2 bins.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from rampflow import lightcurves, runner
from rampflow.steps import order
from tests.tso_noise_floor import white_light_floor

simulate = pytest.importorskip("rampflow.simulate", reason="rampflow.simulate is not available")

#: calwebb_detector1's default near-infrared list (jwst 3.0), written out
JWST_STEPS = ["group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity", "dark_current",
              "jump", "ramp_fit", "gain_scale"]
COMMON = dict(nints=80, seed=23, transit_depth=0.01)
MODES = {
    "soss": (dict(kind="niriss_soss", detector="NIS", size=[256, 384], ngroups=3),
             dict(box_halfwidth=12, bkg_gap=3, bin_width=64)),
    "grism": (dict(kind="nircam_grism_tso", detector="NRCALONG", size=[64, 2048], ngroups=4),
              dict(box_halfwidth=4, bkg_gap=3, bin_width=256)),
    "imaging": (dict(kind="nircam_imaging_tso", detector="NRCA3", size=[64, 64], ngroups=3),
                dict(aperture_radius=15.0, annulus=[18.0, 28.0])),
}


def _reduce(sim, workdir, steps=None):
    """rateints of ``sim`` reduced by ``steps``, or (None) by rampflow's default for its EXP_TYPE."""
    stem = sim.uncal.name.replace("_uncal.fits", "")
    tag = "default" if steps is None else "listed"
    outs = {k: workdir / f"{stem}_{tag}_{k}.fits" for k in ("gain_scale", "gain_scaleints", "rate", "rateints")}
    params = {}
    if steps is None:
        steps = order.default_steps(sim.meta.instrument, exp_types=[sim.meta.exp_type])
        params = order.default_step_params([sim.meta.exp_type])
    runner.run(steps, {"ramp": sim.uncal}, outs, params=params,
               overrides={k: str(v) for k, v in sim.refs.items()}, use_crds_pars=False)
    return outs["rateints"]


@pytest.fixture(scope="module", params=sorted(MODES))
def reduced(request, tmp_path_factory):
    name = request.param
    sim_kw, lc_kw = MODES[name]
    out = tmp_path_factory.mktemp(f"lc_{name}")
    sims = [simulate.simulate_exposure(out, segment=s, nsegments=2, refdir=out / "refs", **sim_kw, **COMMON)
            for s in (1, 2)]
    products = [_reduce(sim, out) for sim in sims]
    truths = [simulate.read_truth(sim.truth) for sim in sims]
    tr = truths[0]["transit"]
    cfg = dict(lc_kw, transit={"t0": tr["t0"], "duration": tr["duration"] * 24.0,
                               "ingress": tr["ingress"] * tr["duration"] * 24.0})
    if name == "soss":
        cfg["background_template"] = str(sims[0].refs["bkg"])
    lc = lightcurves.extract_lightcurves(products, config=cfg)
    jwst_lc = None
    if name == "grism":   # the same exposures through calwebb_detector1's list alone
        jwst_lc = lightcurves.extract_lightcurves([_reduce(sim, out, JWST_STEPS) for sim in sims], config=cfg)
    return name, sims, truths, lc, cfg, jwst_lc


def _oot(lc, truths):
    white = np.concatenate([np.asarray(t["lightcurve"]["white_flux"]) for t in truths])
    return white == 1.0


def test_depth_recovered_within_3_sigma(reduced):
    name, sims, truths, lc, cfg, jwst_lc = reduced
    w = lc.white
    assert len(w) == 80 and sorted(set(w["segment"])) == [1, 2]
    tr = cfg["transit"]
    fit = lightcurves.fit_transit(w["time"], w["flux"], w["flux_err"], t0=tr["t0"], duration=tr["duration"] / 24,
                                  ingress=tr["ingress"] / 24, baseline_order=1)
    injected = truths[0]["header"]["TDEPTH"]
    # the truth white-light depth: flux-weighted over the columns (a depth slope of 0 gives TDEPTH)
    assert abs(fit["depth"] - injected) < 3 * fit["depth_err"], (name, fit["depth"], fit["depth_err"])
    assert fit["depth_err"] < 0.3 * injected


def _floor(name, sims, truths, lc):
    """Relative photon + read noise of the white light from the truth (tests/tso_noise_floor.py)."""
    from rampflow.references import load_reference

    sim = sims[0]
    gain, rn = (np.asarray(load_reference(t, sim.refs[t], sim.meta)["SCI"], np.float64) for t in ("gain", "readnoise"))
    return white_light_floor(truths[0], gain, rn, lc.info, imaging=name == "imaging")


def test_white_light_scatter_matches_errors_and_floor(reduced):
    name, sims, truths, lc, cfg, jwst_lc = reduced
    w = lc.white
    oot = _oot(lc, truths)
    assert oot.sum() >= 40
    scatter = float(np.std(np.asarray(w["flux"])[oot], ddof=1))
    err = float(np.median(np.asarray(w["flux_err"])[oot]))
    floor = _floor(name, sims, truths, lc)
    print(f"[{name}] oot scatter {scatter * 1e6:.0f} ppm, rateints errors {err * 1e6:.0f} ppm, "
          f"photon+read floor {floor * 1e6:.0f} ppm")
    assert abs(scatter / err - 1.0) <= 0.2, (name, scatter, err)
    assert scatter <= 1.3 * floor, (name, scatter, floor)
    assert scatter >= 0.7 * floor, (name, scatter, floor)     # the floor is a real floor
    if jwst_lc is not None:
        # why the grism's default holds destripe: jwst's list alone leaves the 1/f row offsets
        jw = float(np.std(np.asarray(jwst_lc.white["flux"])[oot], ddof=1))
        print(f"[{name}] calwebb_detector1's list alone: {jw * 1e6:.0f} ppm, {jw / floor:.2f}x the floor")
        assert jw > 1.3 * floor and jw > 1.1 * scatter, (jw, scatter, floor)


def test_trace_position_and_width_per_integration(reduced):
    name, sims, truths, lc, cfg, jwst_lc = reduced
    m = lc.metrics
    assert len(m) == 80
    cols = ("centroid_x", "centroid_y", "width") if name == "imaging" else ("trace_center", "trace_offset",
                                                                            "trace_width", "trace_xshift")
    for c in cols:
        assert np.all(np.isfinite(np.asarray(m[c]))), c
    if name == "imaging":
        assert abs(np.median(m["centroid_y"]) - 31.8) < 0.5 and abs(np.median(m["centroid_x"]) - 31.3) < 0.5
    else:
        # the simulated star does not drift: no shift along the dispersion beyond the noise
        assert np.max(np.abs(m["trace_xshift"])) < 0.05
    if name == "grism":
        assert abs(np.median(m["trace_center"]) - 34.0) < 0.5
        assert lc.info["line_background"] and lc.info["stripes"] == "rows" and lc.info["noutputs"] == 4
    elif name == "soss":
        assert lc.info["orders"] == [1, 2] and lc.info["stripes"] == "columns"
        assert 2 in lc.spectroscopic.meta["bin_orders"]
        x = np.arange(384)
        true1 = simulate.niriss.order_center(1, x)
        fitted = Polynomial(lc.info["trace_coef"], domain=lc.info["trace_domain"])(x)
        # the box follows the curved trace to a fraction of a pixel, where order 2 overlaps
        # order 1's centroid window too (there the trace comes from a two-order profile fit)
        assert np.max(np.abs(fitted - true1)) < 0.3
        # every integration's trace centre: the mean of the true trace over the columns the
        # metrics use (those whose box order 2 does not reach)
        x0, x1, _ = lc.info["trace_metric_columns"]
        assert x0 > 0 and np.max(np.abs(np.asarray(m["trace_center"]) - np.mean(true1[x0:x1]))) < 0.1
