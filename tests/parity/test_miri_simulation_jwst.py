"""jwst 3.0's official MIRI steps accept the simulated MIRI exposures and their CRDS cache,
and recover the simulation's truth.

The official steps run in a subprocess over the simulator's own CRDS cache (CRDS reads its
configuration once per process, and the other parity tests use an override-only cache):
every reference comes from the cache through CRDS's own lookup, none is overridden.
Checked: every step completes (refpix: jwst skips MIRI subarrays), every reference type is
the cache's file, bright-pixel rates are unbiased against the truth to 0.2 %, and the LRS
transit depth measured on jwst's rateints is the injected one within 3 sigma.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rampflow.simulate import read_truth, simulate_program

pytest.importorskip("jwst", reason="the official jwst pipeline is not installed")
SRC = str(Path(__file__).resolve().parents[2] / "src")
REFTYPES = ("mask", "saturation", "linearity", "reset", "rscd", "dark", "gain", "readnoise", "emicorr")

_CHAIN = r"""
import json, sys
from jwst.dq_init import DQInitStep
from jwst.emicorr import EmiCorrStep
from jwst.saturation import SaturationStep
from jwst.firstframe import FirstFrameStep
from jwst.lastframe import LastFrameStep
from jwst.reset import ResetStep
from jwst.linearity import LinearityStep
from jwst.rscd import RscdStep
from jwst.dark_current import DarkCurrentStep
from jwst.refpix import RefPixStep
from jwst.jump import JumpStep
from jwst.ramp_fitting import RampFitStep
out = {}
for uncal in json.loads(sys.argv[1]):
    m = DQInitStep.call(uncal)
    m = EmiCorrStep.call(m, skip=False)
    for step in (SaturationStep, FirstFrameStep, LastFrameStep, ResetStep, LinearityStep, RscdStep,
                 DarkCurrentStep, RefPixStep, JumpStep):
        m = step.call(m, skip=False)
    rate, rateints = RampFitStep.call(m)
    path = uncal.replace("_uncal.fits", "_jwst_rateints.fits")
    rateints.save(path)
    cal = {k: getattr(m.meta.cal_step, k) for k in ("dq_init", "emicorr", "saturation", "firstframe",
           "lastframe", "reset", "linearity", "rscd", "dark_sub", "refpix", "jump")}
    refs = {k: getattr(m.meta.ref_file, k).name for k in json.loads(sys.argv[2])}
    out[uncal] = {"cal_step": cal, "ref_file": refs, "rateints": path, "context": m.meta.ref_file.crds.context_used}
print("RESULT" + json.dumps(out))
"""


def _run_jwst(crds_path: Path, uncals) -> dict:
    env = dict(os.environ, CRDS_PATH=str(crds_path), CRDS_MODE="local", CRDS_IGNORE_MAPPING_CHECKSUM="0",
               PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for k in ("CRDS_SERVER_URL", "CRDS_CONTEXT", "STPIPE_DISABLE_CRDS_STEPPARS"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-c", _CHAIN, json.dumps([str(u) for u in uncals]),
                           json.dumps(list(REFTYPES))], capture_output=True, text=True, timeout=1200, env=env)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-4000:]
    return json.loads(line[0][len("RESULT"):])


@pytest.fixture(scope="module")
def lrs_run(tmp_path_factory):
    """A 2-segment SLITLESSPRISM transit with EMI, through jwst's MIRI steps."""
    root = tmp_path_factory.mktemp("miri_lrs_jwst")
    sim = {"kind": "miri_lrs_tso", "nints": 24, "ngroups": 10, "segments": 2, "seed": 7,
           "transit_depth": 0.01, "emi_amplitude": 2.0}
    uncals = simulate_program(root / "uncal", sim, root / "crds")
    return uncals, _run_jwst(root / "crds", uncals)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A full-frame MIRI image (reference columns, 4 interleaved outputs) through jwst."""
    root = tmp_path_factory.mktemp("miri_image_jwst")
    uncals = simulate_program(root / "uncal", {"kind": "miri_image", "nints": 2, "ngroups": 6, "seed": 8},
                              root / "crds")
    return uncals, _run_jwst(root / "crds", uncals)


def _check_steps_and_references(uncals, result, refpix):
    for uncal in uncals:
        got = result[str(uncal)]
        expected = dict.fromkeys(got["cal_step"], "COMPLETE")
        expected["refpix"] = refpix
        assert got["cal_step"] == expected
        assert got["context"] == "jwst_0001.pmap"
        for reftype, name in got["ref_file"].items():
            assert name.startswith("crds://jwst_miri_") and f"_{reftype}_" in name, (reftype, name)


def _bright_bias(uncal, result):
    truth = read_truth(str(uncal).replace("_uncal.fits", "_truth.fits"))
    with fits.open(result[str(uncal)]["rateints"]) as h:
        sci, dq = h["SCI"].data, h["DQ"].data
    ratio = []
    for i in range(sci.shape[0]):
        true = truth["rateints"][i]
        good = (true > 0.3 * true.max()) & ((dq[i] & 1) == 0)
        ratio.append(sci[i][good] / true[good])
    return float(np.median(np.concatenate(ratio)) - 1.0)


def test_lrs_steps_complete_with_cache_references(lrs_run):
    uncals, result = lrs_run
    _check_steps_and_references(uncals, result, refpix="SKIPPED")


def test_lrs_bright_rates_unbiased(lrs_run):
    uncals, result = lrs_run
    for uncal in uncals:
        assert abs(_bright_bias(uncal, result)) < 2e-3


def test_lrs_transit_depth_recovered_from_jwst_rateints(lrs_run):
    """Box extraction along the rows (the trace runs along y), background from side columns."""
    uncals, result = lrs_run
    flux, white, tdepth = [], [], None
    for uncal in uncals:
        truth = read_truth(str(uncal).replace("_uncal.fits", "_truth.fits"))
        tdepth = truth["transit"]["depth"]
        white.extend(truth["lightcurve"]["white_flux"])
        with fits.open(result[str(uncal)]["rateints"]) as h:
            sci = np.where((h["DQ"].data & 1) == 0, h["SCI"].data, np.nan)
        bkg = np.nanmedian(np.concatenate([sci[:, :, 10:26], sci[:, :, 50:68]], axis=2), axis=2)
        box = sci[:, 100:400, 32:42] - bkg[:, 100:400, None]
        flux.extend(np.nansum(box, axis=(1, 2)))
    flux, white = np.asarray(flux), np.asarray(white)
    out = white == 1.0
    full = np.isclose(white, 1.0 - tdepth)
    assert out.sum() >= 6 and full.sum() >= 4
    norm = flux / np.mean(flux[out])
    depth = 1.0 - np.mean(norm[full])
    sigma = np.std(norm[out], ddof=1) * np.sqrt(1.0 / out.sum() + 1.0 / full.sum())
    assert abs(depth - tdepth) < 3 * sigma, (depth, tdepth, sigma)


def test_image_steps_complete_and_rates_unbiased(image_run):
    uncals, result = image_run
    _check_steps_and_references(uncals, result, refpix="COMPLETE")
    assert abs(_bright_bias(uncals[0], result)) < 2e-3
