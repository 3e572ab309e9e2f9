"""The README's first command: the default config, end to end, checked against simulation truth."""

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


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("default")
    shutil.copytree(ROOT / "config", wd / "config")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd),
           "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return wd / "results" / "demo-tso"


def test_every_step_product_and_report(default_run):
    import yaml
    from stdatamodels.jwst import datamodels

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    stems = sorted(p.name[: -len("_uncal.fits")] for p in (default_run / "uncal").glob("*_uncal.fits"))
    assert len(stems) == len(cfg["inputs"]["simulate"]["detectors"]) * cfg["inputs"]["simulate"]["segments"]
    for stem in stems:
        for step in [s for s in cfg["steps"] if s not in ("ramp_fit", "gain_scale")]:
            assert (default_run / "stage1" / f"{stem}_{step}.fits").is_file()
        with datamodels.open(str(default_run / "stage1" / f"{stem}_gain_scaleints.fits")) as m:
            assert type(m).__name__ == "CubeModel"
            assert m.meta.cal_step.ramp_fit == "COMPLETE" and m.meta.cal_step.jump == "COMPLETE"
            assert m.meta.cal_step.gain_scale == "SKIPPED"
            # references came through the real crds client from the simulator's local cache,
            # and the context is recorded
            assert m.meta.ref_file.crds.context_used == "jwst_0001.pmap"
            assert m.meta.ref_file.gain.name.startswith("crds://jwst_nirspec_gain_")
    html = (default_run / "qa" / "index.html").read_text()
    assert "demo-tso" in html and "data:image/png;base64" in html


@pytest.mark.parametrize("detector", ["nrs1", "nrs2"])
def test_white_light_recovers_injected_transit(default_run, detector):
    """Depth within 3 sigma of the injected one; out-of-transit scatter within 20 % of the errors."""
    from astropy.table import Table

    from rampflow.simulate import read_truth

    truth = read_truth(next((default_run / "uncal").glob(f"*seg001_{detector}_truth.fits")))
    depth_true = truth["transit"]["depth"]
    res = json.loads((default_run / "lightcurves" / f"{detector}_transit.json").read_text())
    white = res.get("white", res)
    depth, err = white["depth"], white["depth_err"]
    assert abs(depth - depth_true) < 3 * err, (depth, err, depth_true)
    assert err < 0.2 * depth_true  # the test is not trivially loose
    lc = Table.read(default_run / "lightcurves" / f"{detector}_whitelight.ecsv")
    t = np.asarray(lc["time"], float)
    t0 = truth["transit"]["t0"]
    half = 0.5 * truth["transit"]["duration"]
    t_mjd = t - 2400000.5 if t.mean() > 2400000 else t
    oot = np.abs(t_mjd - t0) > half * 1.05
    flux = np.asarray(lc["flux"], float)[oot]
    pred = np.sqrt(np.mean(np.asarray(lc["flux_err"], float)[oot] ** 2))
    ratio = np.std(flux, ddof=1) / pred
    assert oot.sum() >= 15
    assert abs(ratio - 1) < 0.2, ratio
    # no worse than 1.3x the photon-and-read-noise floor of the box (tests/tso_noise_floor.py:
    # unweighted least-squares slope variance of every box pixel from the truth's rate, GAIN
    # and READNOISE, relative to the box's true source rate)
    from tests.tso_noise_floor import workflow_floor

    floor = workflow_floor(default_run, detector, truth, dict(lc.meta))
    assert 0.7 * floor <= np.std(flux, ddof=1) <= 1.3 * floor, (np.std(flux, ddof=1), floor)
