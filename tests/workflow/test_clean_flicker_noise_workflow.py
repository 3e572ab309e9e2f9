"""The workflow with clean_flicker_noise after jump, on simulated NIRSpec BOTS whose CRDS cache
ships the BOTS parameter file that turns it on: the step job makes its draft rate from the jump
product and cleans it, records the parameter file, and its product is what the runner makes
from the same jump product; with ``compute.fuse`` the products are the same."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from test_workflow import _snakemake, _tiny, _workdir, pytestmark  # noqa: F401

from rampflow import config as rfconfig
from rampflow import io

SRC = str(Path(__file__).resolve().parents[2] / "src")

STEPS = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump",
         "clean_flicker_noise", "ramp_fit", "gain_scale"]


def _cfg(**compute):
    cfg = _tiny(steps=list(STEPS))
    cfg["inputs"]["simulate"].update({"segments": 1})
    cfg["step_params"] = {}
    cfg.setdefault("qa", {})["diagnostics"] = False
    cfg.setdefault("compute", {}).update(compute)
    return cfg


@pytest.mark.slow
def test_clean_flicker_noise_in_the_dag(tmp_path):
    wd = _workdir(tmp_path / "steps", _cfg())
    _snakemake(wd, "--cores", "2")
    out = wd / "results" / "tiny" / "stage1"
    (jump,) = sorted(out.glob("*_jump.fits"))
    stem = jump.name[: -len("_jump.fits")]
    product = out / f"{stem}_clean_flicker_noise.fits"
    hdr = fits.getheader(product)
    assert hdr["S_CLNFNS"] == "COMPLETE"
    assert hdr["P_CLNFNS"] == "jwst_nirspec_pars-cleanflickernoisestep_0001.asdf"
    assert hdr["CFNMASK"] == "draft rate"
    assert fits.getheader(out / f"{stem}_rateints.fits")["S_CLNFNS"] == "COMPLETE"
    again = tmp_path / "again.fits"
    # by hand, in a process of its own over the program's CRDS cache (crds reads its set-up once a process)
    env = {**os.environ, **rfconfig.crds_env(_cfg(), wd)}
    env["PYTHONPATH"] = SRC + os.pathsep + os.environ.get("PYTHONPATH", "")
    subprocess.run([sys.executable, "-m", "rampflow.cli", "step", "clean_flicker_noise", str(jump), str(again)],
                   check=True, env=env, capture_output=True, timeout=600, cwd=wd)
    with io.open_ramp(product) as a, io.open_ramp(again) as b, io.open_ramp(jump) as j:
        sa, ga = a.read()
        sb, gb = b.read()
        sj, _ = j.read()
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_array_equal(ga, gb)
        assert not np.array_equal(sa, sj)
    # fused: the same rateints
    wf = _workdir(tmp_path / "fused", _cfg(fuse=True))
    _snakemake(wf, "--cores", "2")
    fused = wf / "results" / "tiny" / "stage1" / f"{stem}_rateints.fits"
    np.testing.assert_array_equal(fits.getdata(fused, "SCI"), fits.getdata(out / f"{stem}_rateints.fits", "SCI"))
    np.testing.assert_array_equal(fits.getdata(fused, "DQ"), fits.getdata(out / f"{stem}_rateints.fits", "DQ"))
