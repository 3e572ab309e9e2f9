"""The whole of Detector1 as STScI runs it: jwst 3.0's ``calwebb_detector1`` with the CRDS
parameter files of the mode active (no STPIPE_DISABLE_CRDS_STEPPARS), against rampflow's
workflow run with its default steps, both reading the same local CRDS cache (the simulator's),
on a simulated NIRSpec BOTS segment. The cache's parameter files turn on snowball flagging in
jump and clean_flicker_noise for BOTS, so both must run in both pipelines.

rateints and rate must agree: SCI, ERR and VAR_* to float32 rounding, DQ exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from tests.workflow.test_workflow import _env, _snakemake, _tiny, _workdir

pytest.importorskip("jwst")

_JWST = r"""
import os, sys
from jwst.pipeline import Detector1Pipeline
Detector1Pipeline.call(sys.argv[1], save_results=True, output_dir=sys.argv[2])
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from rampflow.steps import MODULES

    missing = [s for s in ("clean_flicker_noise",) if s not in MODULES]
    if missing:
        pytest.skip(f"rampflow does not have {missing} yet")
    root = tmp_path_factory.mktemp("detector1")
    cfg = _tiny(program="d1")
    del cfg["steps"]  # rampflow's default steps, as a user gets them
    cfg.pop("step_params", None)
    cfg["inputs"]["simulate"].update({"segments": 1, "nints": 3, "ngroups": 8, "size": [32, 256], "seed": 5,
                                       "snowball_rate": 5e-4, "shower_rate": 1e-4})
    cfg["compute"] = {"fuse": False, "keep": [], "chunk_mb": 16, "threads": 1}
    cfg["qa"] = {"diagnostics": False}
    wd = _workdir(root / "wd", cfg)
    _snakemake(wd, "--cores", "2", "results/d1/crds/.ready")
    out = wd / "results" / "d1"
    uncal = sorted(wd.rglob("*_uncal.fits"))
    assert len(uncal) == 1, uncal
    stem = uncal[0].name[: -len("_uncal.fits")]
    _snakemake(wd, "--cores", "2", *(f"results/d1/stage1/{stem}_{s}.fits" for s in ("rate", "rateints")))
    env = dict(_env(), CRDS_PATH=str(out / "crds"), CRDS_MODE="local", CRDS_IGNORE_MAPPING_CHECKSUM="1",
               CRDS_SERVER_URL="https://127.0.0.1:9")
    env.pop("STPIPE_DISABLE_CRDS_STEPPARS", None)
    jdir = root / "jwst"
    jdir.mkdir()
    proc = subprocess.run([sys.executable, "-c", _JWST, str(uncal[0]), str(jdir)], capture_output=True, text=True,
                          env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out / "stage1", jdir, stem, proc.stderr


def test_both_ran_snowballs_and_flicker_cleaning(runs):
    ours, _, stem, jlog = runs
    assert "PARS-JUMPSTEP parameters found" in jlog and "PARS-CLEANFLICKERNOISESTEP parameters found" in jlog
    assert "Step clean_flicker_noise done" in jlog
    jump = fits.getheader(ours / f"{stem}_jump.fits", 0)
    assert "expand_large_events=True (jwst_nirspec_pars-jumpstep" in "".join(jump.get("HISTORY", []))
    cfn = fits.getheader(ours / f"{stem}_clean_flicker_noise.fits", 0)
    assert cfn["S_CLNFNS"] == "COMPLETE"
    assert "jwst_nirspec_pars-cleanflickernoisestep" in "".join(cfn.get("HISTORY", []))


@pytest.mark.parametrize("suffix", ["rateints", "rate"])
def test_identical_rates(runs, suffix):
    ours, theirs, stem, _ = runs
    with fits.open(ours / f"{stem}_{suffix}.fits") as a, fits.open(theirs / f"{stem}_{suffix}.fits") as b:
        np.testing.assert_array_equal(a["DQ"].data, b["DQ"].data, err_msg=f"{suffix} DQ")
        for ext in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE"):
            x, y = a[ext].data.astype(np.float64), b[ext].data.astype(np.float64)
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{suffix} {ext} NaNs")
            ok = np.isfinite(x)
            np.testing.assert_allclose(x[ok], y[ok], rtol=2e-6, atol=1e-6 * np.nanmax(np.abs(y)),
                                       err_msg=f"{suffix} {ext}")


def test_rampflow_used_the_same_parameter_files(runs):
    ours, _, stem, jlog = runs
    used = [ln.split()[-1] for ln in jlog.splitlines() if "parameters found:" in ln]
    assert used
    head = repr(fits.getheader(ours / f"{stem}_rateints.fits", 0))
    for path in used:
        assert Path(path).name in head or os.path.basename(path) in head, path
