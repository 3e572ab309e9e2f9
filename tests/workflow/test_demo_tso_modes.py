"""The offline demo configs of the near-infrared time-series modes, end to end through Snakemake.

``config/demo_soss.yaml`` (NIRISS SOSS), ``config/demo_nircam_grism.yaml`` (NIRCam grism time
series) and ``config/demo_nircam_imaging.yaml`` (NIRCam weak-lens photometric time series) each
run from a fresh working directory with no network: the simulator writes the exposures and its
CRDS cache, every step runs from the cache's reference files, and the light curves, transit
check and QA page are made. Checked against the simulation truth: the white light recovers the
injected depth within 3 sigma; its out-of-transit scatter is within 20 % of the propagated
errors and within 1.3x the photon-and-read-noise floor of the box (aperture) the extraction
summed (``tests/tso_noise_floor.py`` states the floor and how it is computed); the trace
(source) position of every integration matches the simulated one; the QA page holds the trace
image, the 1/f before/after and the light curves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMOS = {"demo_soss.yaml": ("demo-soss", "nis"), "demo_nircam_grism.yaml": ("demo-nircam-grism", "nrcalong"),
         "demo_nircam_imaging.yaml": ("demo-nircam-imaging", "nrca3")}


@pytest.fixture(scope="module", params=sorted(DEMOS))
def demo_run(request, tmp_path_factory):
    wd = tmp_path_factory.mktemp(request.param.replace(".yaml", ""))
    shutil.copytree(ROOT / "config", wd / "config")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd),
           "--cores", "2", "--configfile", str(wd / "config" / request.param)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    program, detector = DEMOS[request.param]
    return wd / "results" / program, detector


def test_products_and_qa_page(demo_run):
    from stdatamodels.jwst import datamodels

    out, detector = demo_run
    ints = sorted((out / "stage1").glob(f"*_{detector}_gain_scaleints.fits"))
    assert len(ints) == 2
    with datamodels.open(str(ints[0])) as m:
        assert type(m).__name__ == "CubeModel" and m.meta.cal_step.jump == "COMPLETE"
        assert m.meta.ref_file.crds.context_used == "jwst_0001.pmap"
    assert (out / "stage1" / ints[0].name.replace("_gain_scaleints", "_destripe")).is_file()
    html = (out / "qa" / "index.html").read_text()
    assert out.name in html and "data:image/png;base64" in html
    assert "destripe" in html.lower()
    # the trace image, the 1/f before/after and the light curves, each embedded in the page
    for name in (f"{detector}_trace.png", "_destripe.png", f"{detector}_whitelight.png",
                 f"{detector}_spectroscopic.png", f"{detector}_transit.png"):
        assert name in html, name
    assert (out / "lightcurves" / f"{detector}_trace.png").read_bytes()[:4] == b"\x89PNG"


def _truth(out, detector):
    from rampflow.simulate import read_truth

    return read_truth(next((out / "uncal").glob(f"*seg001_{detector}_truth.fits")))


def test_white_light_recovers_the_transit(demo_run):
    out, detector = demo_run
    truth = _truth(out, detector)
    res = json.loads((out / "lightcurves" / f"{detector}_transit.json").read_text())
    white = res.get("white", res)
    depth, err = white["depth"], white["depth_err"]
    assert abs(depth - truth["transit"]["depth"]) < 3 * err, (depth, err)
    assert err < 0.3 * truth["transit"]["depth"]


def test_white_light_scatter_matches_the_errors_and_the_floor(demo_run):
    """Out-of-transit white-light scatter within 20 % of the propagated errors and no worse than
    1.3x the photon-and-read-noise floor of the box (tso_noise_floor: per pixel the variance of
    an unweighted least-squares slope from the true rate, GAIN and READNOISE, summed over the
    order-1 box, relative to the box's true source rate)."""
    from astropy.table import Table

    from tests.tso_noise_floor import workflow_floor

    out, detector = demo_run
    truth = _truth(out, detector)
    lc = Table.read(out / "lightcurves" / f"{detector}_whitelight.ecsv")
    info = dict(lc.meta)                        # the light curves' info: the box (aperture) they summed
    t = np.asarray(lc["time"], float)
    oot = np.abs(t - truth["transit"]["t0"]) > 0.5 * truth["transit"]["duration"] * 1.05
    flux = np.asarray(lc["flux"], float)[oot]
    scatter = np.std(flux, ddof=1)
    err = np.sqrt(np.mean(np.asarray(lc["flux_err"], float)[oot] ** 2))
    assert oot.sum() >= 15
    assert abs(scatter / err - 1) < 0.2, (scatter, err)
    floor = workflow_floor(out, detector, truth, info)
    print(f"[{detector}] out-of-transit scatter {scatter * 1e6:.0f} ppm, errors {err * 1e6:.0f} ppm, "
          f"floor {floor * 1e6:.0f} ppm")
    assert 0.7 * floor <= scatter <= 1.3 * floor, (scatter, floor)


def _true_position(detector, truth, ny, nx):
    """The simulated source position: order 1's trace centre row per column (nx,) for the
    spectra, the weak-lens image's centre (y, x) for imaging (no drift is simulated)."""
    from rampflow.simulate import niriss
    from rampflow.simulate.nircam_tso import GRISM_TRACE_ROW

    x = np.arange(nx, dtype=float)
    if detector == "nis":
        return niriss.order_center(1, x)           # the demo's cut starts at SUBSTRIP256's corner
    if detector == "nrcalong":
        tilt = float(truth["header"]["SIM GRISM_TILT"])
        return GRISM_TRACE_ROW + tilt * (x / 2047.0 - 0.5)
    return (ny - 1) / 2.0 + 0.3, (nx - 1) / 2.0 - 0.2


def test_trace_position_per_integration_matches_the_truth(demo_run):
    """Every integration's trace centre (spectra: the mean row of order 1's trace over the
    columns whose box no other order reaches; imaging: the source centroid) within 0.1 pixel
    of the simulation's, and the fitted trace within 0.3 row of the true one on every column
    (SOSS: where order 2 overlaps order 1 too)."""
    from astropy.table import Table
    from numpy.polynomial import Polynomial

    out, detector = demo_run
    truth = _truth(out, detector)
    ny, nx = np.asarray(truth["source"]).shape
    white = Table.read(out / "lightcurves" / f"{detector}_whitelight.ecsv")
    m = Table.read(out / "lightcurves" / f"{detector}_metrics.csv", format="ascii.csv")
    info = dict(white.meta)
    assert len(m) == len(white) == 2 * (len(white) // 2)
    true = _true_position(detector, truth, ny, nx)
    if info["mode"] == "imaging":
        yc, xc = true
        assert np.max(np.abs(np.asarray(m["centroid_y"]) - yc)) < 0.1, (yc, m["centroid_y"])
        assert np.max(np.abs(np.asarray(m["centroid_x"]) - xc)) < 0.1, (xc, m["centroid_x"])
        return
    fitted = Polynomial(info["trace_coef"], domain=info["trace_domain"])(np.arange(nx))
    assert np.max(np.abs(fitted - true)) < 0.3
    x0, x1, _ = info["trace_metric_columns"]
    expect = float(np.mean(true[x0:x1]))
    assert np.max(np.abs(np.asarray(m["trace_center"]) - expect)) < 0.1, (expect, m["trace_center"])
