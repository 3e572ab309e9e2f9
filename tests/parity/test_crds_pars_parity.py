"""CRDS parameter files: jwst (stpipe's ``Step.get_config_from_reference``, without
STPIPE_DISABLE_CRDS_STEPPARS) and rampflow select the same ``pars-<step>`` file from the same local
CRDS cache and read the same parameters from it, for each Detector1 step, on simulated NIRSpec
BOTS, NIRCam imaging, NIRISS SOSS and NIRCam grism time series. Both run in one subprocess (crds
reads its configuration once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rampflow.references import JWST_CLASSES
from rampflow.simulate import simulate_program

SRC = str(Path(__file__).resolve().parents[2] / "src")

_CLIENT = r"""
import json, os, sys, importlib
from stdatamodels.jwst import datamodels
from astropy.io import fits
from rampflow.meta import ExposureMeta
from rampflow import references
import jwst.pipeline.calwebb_detector1 as d1
classes = dict(d1.Detector1Pipeline.step_defs)
out = {}
for uncal in json.loads(sys.argv[1]):
    meta = ExposureMeta.from_headers(fits.getheader(uncal), fits.getheader(uncal, "SCI"), uncal)
    model = datamodels.open(uncal)
    r = {}
    for step in json.loads(sys.argv[2]):
        cfg = dict(classes[step].get_config_from_reference(model))
        cfg.pop("class", None); cfg.pop("name", None)
        path = references.find_pars_file(meta, step)
        ours = references.read_pars_file(path) if path else {}
        r[step] = {"jwst": cfg, "rampflow": ours, "file": os.path.basename(path) if path else None}
    out[uncal] = r
print("RESULT" + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    root = tmp_path_factory.mktemp("parspar")
    crds_path = root / "crds"
    nrs = simulate_program(root / "nrs", {"kind": "nirspec_tso", "detectors": ["nrs1"], "segments": 1,
                                          "nints": 2, "ngroups": 3, "size": [16, 64], "seed": 2}, crds_path)
    nrc = simulate_program(root / "nrc", {"kind": "nircam_image", "detectors": ["nrcb1"], "segments": 1,
                                          "nints": 1, "ngroups": 3, "size": [32, 32], "seed": 2}, crds_path)
    soss = simulate_program(root / "soss", {"kind": "niriss_soss", "detectors": ["nis"], "segments": 1,
                                            "nints": 1, "ngroups": 3, "size": [96, 64], "seed": 2}, crds_path)
    grism = simulate_program(root / "grism", {"kind": "nircam_grism_tso", "detectors": ["nrcalong"], "segments": 1,
                                              "nints": 1, "ngroups": 3, "size": [64, 64], "seed": 2}, crds_path)
    return crds_path, nrs[0], nrc[0], soss[0], grism[0]


def _full_frame_copy(uncal, dest, **cards):
    """``uncal`` with a full-frame primary header (parameter files are selected from header
    keywords only, so the small data array does not matter)."""
    from astropy.io import fits

    with fits.open(uncal) as hdul:
        hdul[0].header.update({"SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": 2048,
                               "SUBSIZE2": 2048, **cards})
        hdul.writeto(dest)
    return dest


def test_full_frames_select_the_same_refpix_file_as_jwst(program, tmp_path, monkeypatch):
    """pars-refpixstep: NIRSpec FULL read NRSRAPID and NIRCam FULL get refpix_algorithm='sirs'
    from the cache, for jwst and rampflow alike."""
    crds_path, nrs, nrc = program[:3]
    uncals = [_full_frame_copy(nrs, tmp_path / "nrs_full_uncal.fits", READPATT="NRSRAPID"),
              _full_frame_copy(nrc, tmp_path / "nrc_full_uncal.fits")]
    env = {"CRDS_PATH": str(crds_path), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
           "CRDS_SERVER_URL": "https://127.0.0.1:9"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("STPIPE_DISABLE_CRDS_STEPPARS", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CLIENT, json.dumps([str(u) for u in uncals]),
                           json.dumps(["refpix"])], capture_output=True, text=True, timeout=600)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    res = json.loads(line[0][len("RESULT"):])
    for uncal in uncals:
        r = res[str(uncal)]["refpix"]
        assert r["rampflow"] == r["jwst"]
        assert r["jwst"]["refpix_algorithm"] == "sirs" and "pars-refpixstep" in r["file"]


def test_same_pars_files_and_values_as_jwst(program, monkeypatch):
    crds_path, nrs, nrc, soss, grism = program
    env = {"CRDS_PATH": str(crds_path), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
           "CRDS_SERVER_URL": "https://127.0.0.1:9"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("STPIPE_DISABLE_CRDS_STEPPARS", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    steps = list(JWST_CLASSES)
    uncals = json.dumps([str(u) for u in (nrs, nrc, soss, grism)])
    proc = subprocess.run([sys.executable, "-c", _CLIENT, uncals, json.dumps(steps)],
                          capture_output=True, text=True, timeout=600)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    res = json.loads(line[0][len("RESULT"):])
    found = {}
    for uncal in (nrs, nrc, soss, grism):
        for step in steps:
            r = res[str(uncal)][step]
            assert r["rampflow"] == r["jwst"], (uncal.name, step)
            if r["file"]:
                found[(uncal.name[-15:], step)] = r["file"]
    # the cache's files were really selected: snowballs for both modes, 1/f cleaning for BOTS
    assert res[str(nrs)]["jump"]["jwst"]["expand_large_events"] is True
    assert res[str(nrc)]["jump"]["jwst"]["expand_large_events"] is True
    assert res[str(nrs)]["clean_flicker_noise"]["jwst"]["skip"] is False
    assert res[str(nrc)]["clean_flicker_noise"]["file"] is None
    for uncal in (soss, grism):        # the time-series modes' snowball flagging, no 1/f cleaning file
        assert res[str(uncal)]["jump"]["jwst"]["expand_large_events"] is True
        assert res[str(uncal)]["clean_flicker_noise"]["file"] is None
    assert len(found) == 5, found
