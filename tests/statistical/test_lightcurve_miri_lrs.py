"""MIRI LRS light curves: a synthetic y-dispersed rateints (the trace runs along the detector
rows, wavelength changes with y, as on SLITLESSPRISM) with a transit whose depth changes with
row; the white-light and per-row-bin depths come back within 3 sigma, the trace is found at
its column, and the plots are made."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scipy.special import erf

from rampflow import dq as dqflags
from rampflow import io
from rampflow import lightcurves as lcm

NY, NX, NINTS = 416, 72, 80
X0, TILT, SIGMA = 36.2, 0.8, 1.2
DT = 30.0 / 86400.0                          # 30 s per integration
T_START = 60400.0
T0 = T_START + 0.5 * (NINTS - 1) * DT
DUR, ING = 0.45 * NINTS * DT, 0.1 * NINTS * DT   # days
BINS = [(110, 170), (170, 230), (230, 290), (290, 350), (350, 395)]


def _depth_of_row(y):
    return 0.006 + 0.006 * (np.asarray(y, float) - 100.0) / 300.0


def _scene():
    y = np.arange(NY, dtype=float)
    xc = X0 + TILT * (y - NY / 2) / NY
    edges = np.arange(NX + 1) - 0.5
    prof = np.diff(0.5 * (1 + erf((edges[None, :] - xc[:, None]) / (math.sqrt(2) * SIGMA))), axis=1)
    spec = 3000.0 * np.exp(-0.5 * ((y - 260.0) / 90.0) ** 2)
    spec[(y < 100) | (y > 400)] = 0.0
    return prof * spec[:, None], spec


def _write(path, sci, err, dq, bjd):
    it = Table()
    it["integration_number"] = np.arange(1, len(bjd) + 1, dtype=np.int32)
    for which, off in (("start", -DT / 2), ("mid", 0.0), ("end", DT / 2)):
        it[f"int_{which}_MJD_UTC"] = bjd + off - 0.001
        it[f"int_{which}_BJD_TDB"] = bjd + off
    h = fits.Header()
    for k, v in {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "EXP_TYPE": "MIR_LRS-SLITLESS",
                 "SUBARRAY": "SLITLESSPRISM", "NINTS": len(bjd), "NGROUPS": 10, "INTSTART": 1,
                 "INTEND": len(bjd), "EXSEGNUM": 1}.items():
        h[k] = v
    arrays = {"SCI": sci, "ERR": err, "DQ": dq, "VAR_POISSON": err ** 2, "VAR_RNOISE": np.zeros_like(sci)}
    return io.write_image_product(path, arrays, h, None, datamodel="CubeModel", tables={"INT_TIMES": it})


@pytest.fixture(scope="module")
def lrs(tmp_path_factory):
    src, spec = _scene()
    bjd = T_START + np.arange(NINTS) * DT
    shape_t = np.clip((0.5 * DUR - np.abs(bjd - T0)) / ING, 0, 1)      # trapezoid, ingress ING
    depth_y = _depth_of_row(np.arange(NY))
    rate = src[None] * (1.0 - shape_t[:, None, None] * depth_y[None, :, None]) + 1.5
    rate[:, :, :4] = 0.0                                         # the reference columns
    err = np.sqrt(np.maximum(rate, 0.0) * 0.05 + 0.6 ** 2).astype(np.float32)
    gen = np.random.default_rng(11)
    sci = (rate + err * gen.standard_normal(rate.shape)).astype(np.float32)
    dq = np.zeros(sci.shape, np.uint32)
    dq[:, :, :4] = dqflags.REFERENCE_PIXEL
    dq[:, 240, 36] = dqflags.DO_NOT_USE                          # one flagged pixel on the trace
    sci[:, 240, 36] = np.nan
    path = _write(tmp_path_factory.mktemp("lrs") / "jw01366003001_03101_00001-seg001_mirimage_rateints.fits",
                  sci, err, dq, bjd)
    transit = {"t0": T0, "duration": DUR * 24, "ingress": ING * 24, "baseline_order": 0}
    cfg = {"box_halfwidth": 4, "bkg_gap": 4, "columns": [100, 400], "bins": [list(b) for b in BINS],
           "transit": transit}
    lc = lcm.extract_lightcurves([path], config=cfg)
    # truth: flux-weighted depths over the box rows (the box holds > 99.9 % of each row's flux)
    weights = spec
    truth_white = float(np.sum((weights * depth_y)[100:400]) / np.sum(weights[100:400]))
    truth_bins = [float(np.sum((weights * depth_y)[a:b]) / np.sum(weights[a:b])) for a, b in BINS]
    return lc, transit, truth_white, truth_bins, tmp_path_factory.mktemp("plots")


def test_dispersion_along_y_and_trace_column(lrs):
    lc = lrs[0]
    assert lc.mode == "spectroscopy" and lc.info["dispersion_axis"] == "y"
    # the trace centre is a detector column (the fitted trace's mean over all rows)
    expected = X0 + TILT * (np.mean(np.arange(NY)) - NY / 2) / NY
    assert lc.info["trace_mean_row"] == pytest.approx(expected, abs=0.15)
    assert lc.spectroscopic.meta["bin_axis"] == "y"
    assert lc.spectroscopic["flux_000"].description == "detector rows 110..169"
    assert np.all(np.isfinite(lc.white["flux"]))


def test_white_and_row_bin_depths_recovered(lrs):
    lc, transit, truth_white, truth_bins, _ = lrs
    res = lcm.transit_check(lc.white, transit, lc.spectroscopic)
    assert abs(res["depth"] - truth_white) < 3 * res["depth_err"], (res["depth"], truth_white, res["depth_err"])
    assert res["depth_err"] < 2e-4
    assert res["bin_axis"] == "y"
    got = [(b["depth"], b["depth_err"]) for b in res["bins"]]
    for (d, e), want in zip(got, truth_bins):
        assert abs(d - want) < 3 * e, (d, want, e)
    # the depth changes across the row bins as injected (a column-binned extraction would not)
    assert got[-1][0] - got[0][0] > 10 * math.hypot(got[0][1], got[-1][1])


def test_plots_for_miri_lrs(lrs):
    lc, transit, _, _, out = lrs
    res = lcm.transit_check(lc.white, transit, lc.spectroscopic)
    for fn, args in ((lcm.plot_whitelight, (lc.white,)), (lcm.plot_spectroscopic, (lc.spectroscopic,)),
                     (lcm.plot_metrics, (lc.metrics,)), (lcm.plot_transit, (lc.white, res))):
        p = fn(*args, out / f"{fn.__name__}.png")
        assert p.stat().st_size > 1000


def test_qa_transit_table_names_row_bins(lrs, tmp_path):
    from rampflow.qa.entries import transit_tables

    lc, transit = lrs[0], lrs[1]
    res = lcm.transit_check(lc.white, transit, lc.spectroscopic)
    html = transit_tables([({"path": str(tmp_path / "mirimage_transit.json")}, res)], tmp_path)
    assert "<th>detector rows</th>" in html and "<th>columns</th>" not in html
    assert "110-169" in html
