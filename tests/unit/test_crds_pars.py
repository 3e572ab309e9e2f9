"""CRDS parameter reference files (pars-<step>): jwst default, then the parameter file, then the
config; provenance in the products; what rampflow does not implement is not applied, and said.

The in-process tests name the parameter file with ``references.overrides`` (no CRDS needed);
the CRDS ones run the real crds client in a subprocess (it reads its configuration once per
process) on the simulator's cache.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import asdf
import pytest
from astropy.io import fits

from rampflow import cli, io, references, runner
from rampflow.simulate import crds_pars, simulate_exposure, simulate_program

SRC = str(Path(__file__).resolve().parents[2] / "src")


def pars_file(path, step_class, parameters):
    """A parameter file as stpipe exports one (class, name, parameters)."""
    asdf.AsdfFile({"class": step_class, "name": "x", "parameters": parameters}).write_to(str(path))
    return str(path)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("pars")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=2, ngroups=5, size=[8, 64], seed=3)


@pytest.fixture
def meta(sim):
    with io.open_ramp(sim.uncal) as rf:
        return rf.meta


def test_reftype_names():
    assert references.pars_reftype("jump") == "pars-jumpstep"
    assert references.pars_reftype("ramp_fit") == "pars-rampfitstep"
    assert references.pars_reftype("clean_flicker_noise") == "pars-cleanflickernoisestep"
    with pytest.raises(KeyError, match="destripe"):
        references.pars_reftype("destripe")


def test_three_layers_and_their_sources(tmp_path, meta):
    p = pars_file(tmp_path / "j.asdf", "jwst.jump.jump_step.JumpStep",
                  {"rejection_threshold": 8.0, "flag_4_neighbors": False, "min_sat_area": 15.0,
                   "expand_large_events": True, "no_such_parameter": 3, "save_results": True})
    res = references.resolve_parameters(meta, "jump", {"rejection_threshold": 5.0}, overrides={"pars-jumpstep": p})
    assert res.pars_file == p and res.pars_name == "j.asdf"
    # config beats the file, the file beats the default
    assert res.values["rejection_threshold"] == 5.0 and res.sources["rejection_threshold"] == "config"
    assert res.values["flag_4_neighbors"] is False and res.sources["flag_4_neighbors"] == "j.asdf"
    assert res.values["min_sat_area"] == 15.0 and res.sources["min_sat_area"] == "j.asdf"
    assert res.values["three_group_rejection_threshold"] == 6.0
    assert res.sources["three_group_rejection_threshold"] == "default"
    # snowball flagging is implemented: applied like any other value
    assert res.values["expand_large_events"] is True and res.sources["expand_large_events"] == "j.asdf"
    # a parameter the step does not take is ignored with a note; stpipe's own are dropped
    assert "no_such_parameter" not in res.values and "save_results" not in res.values
    assert any("no_such_parameter" in n for n in res.notes)


def test_unimplemented_value_not_applied(tmp_path, meta, caplog):
    p = pars_file(tmp_path / "r.asdf", "jwst.ramp_fitting.ramp_fit_step.RampFitStep",
                  {"algorithm": "OLS", "maximum_cores": "2"})
    with caplog.at_level(logging.INFO, logger="rampflow.references"):
        res = references.resolve_parameters(meta, "ramp_fit", None, overrides={"pars-rampfitstep": p})
    # jwst's python OLS is not implemented: kept at the default, a WARNING names step, parameter and file
    assert res.values["algorithm"] == "OLS_C" and "not implemented" in res.sources["algorithm"]
    assert res.values["maximum_cores"] == "2" and res.sources["maximum_cores"] == "r.asdf"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "ramp_fit" in warned[0].getMessage()
    assert "algorithm='OLS'" in warned[0].getMessage() or "algorithm=OLS" in warned[0].getMessage()
    assert "r.asdf" in warned[0].getMessage()
    assert any("algorithm" in n for n in res.notes)


def test_layer_off_and_no_file(tmp_path, meta):
    p = pars_file(tmp_path / "j.asdf", "jwst.jump.jump_step.JumpStep", {"rejection_threshold": 8.0})
    res = references.resolve_parameters(meta, "jump", None, overrides={"pars-jumpstep": p}, use_crds_pars=False)
    assert res.pars_file is None and res.values["rejection_threshold"] == 4.0
    res = references.resolve_parameters(meta, "jump", None, overrides={"pars-jumpstep": "N/A"})
    assert res.pars_file is None and set(res.sources.values()) == {"default"}
    with pytest.raises(references.ReferenceError, match="pars-jumpstep"):
        references.resolve_parameters(meta, "jump", None, overrides={"pars-jumpstep": str(tmp_path / "nope")})
    bad = tmp_path / "bad.asdf"
    bad.write_text("not asdf")
    with pytest.raises(references.ReferenceError, match="bad.asdf"):
        references.read_pars_file(bad)


def test_no_crds_configured_means_no_file(meta, monkeypatch):
    monkeypatch.delenv("CRDS_PATH", raising=False)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    assert references.find_pars_file(meta, "jump") is None


def test_runner_records_sources_and_applies_values(sim, tmp_path):
    refs = {k: str(v) for k, v in sim.refs.items()}
    p = pars_file(tmp_path / "jump_pars.asdf", "jwst.jump.jump_step.JumpStep",
                  {"rejection_threshold": 8.0, "expand_large_events": True})
    sat = pars_file(tmp_path / "sat_pars.asdf", "jwst.saturation.saturation_step.SaturationStep",
                    {"n_pix_grow_sat": 0})
    outs = {s: tmp_path / f"{s}.fits" for s in ("dq_init", "saturation", "jump")}
    runner.run(["dq_init", "saturation"], {"ramp": sim.uncal}, {k: outs[k] for k in ("dq_init", "saturation")},
               overrides={**refs, "pars-saturationstep": sat})
    runner.run(["jump"], {"ramp": outs["saturation"]}, {"jump": outs["jump"]},
               overrides={**refs, "pars-jumpstep": p}, params={"jump": {"flag_4_neighbors": False}})
    h = fits.getheader(outs["jump"])
    assert h["P_JUMP"] == "jump_pars.asdf" and h["P_SATURA"] == "sat_pars.asdf" and h["P_DQINIT"] == "N/A"
    # long HISTORY lines are wrapped over several cards at spaces: compare without them
    hist = "".join(str(x) for x in h["HISTORY"]).replace(" ", "")
    line = hist[hist.index("rampflowjump:"):]
    for text in ("rejection_threshold=8.0 (jump_pars.asdf)", "flag_4_neighbors=False (config)",
                 "four_group_rejection_threshold=5.0 (default)"):
        assert text.replace(" ", "") in line
    for text in ("expand_large_events=True (jump_pars.asdf)", "n_pix_grow_sat=0 (sat_pars.asdf)"):
        assert text.replace(" ", "") in hist
    # the file's n_pix_grow_sat=0 was applied: same flags as the parameter given by hand
    ref = tmp_path / "sat_hand.fits"
    runner.run(["saturation"], {"ramp": outs["dq_init"]}, {"saturation": ref}, overrides=refs,
               params={"saturation": {"n_pix_grow_sat": 0}}, use_crds_pars=False)
    with io.open_ramp(ref) as a, io.open_ramp(outs["saturation"]) as b:
        assert (a.read()[1] == b.read()[1]).all()


def test_skip_true_skips_the_step(sim, tmp_path):
    refs = {k: str(v) for k, v in sim.refs.items()}
    sk = pars_file(tmp_path / "skip.asdf", "jwst.saturation.saturation_step.SaturationStep", {"skip": True})
    out = tmp_path / "saturation.fits"
    runner.run(["saturation"], {"ramp": sim.uncal}, {"saturation": out}, overrides={**refs, "pars-saturationstep": sk})
    h = fits.getheader(out)
    assert h["S_SATURA"] == "SKIPPED"
    with io.open_ramp(out) as rf:
        assert not rf.read()[1].any()


def test_cli_params_for_an_exposure(sim, tmp_path, capsys):
    p = pars_file(tmp_path / "j.asdf", "jwst.jump.jump_step.JumpStep", {"rejection_threshold": 8.0})
    assert cli.main(["params", "jump", "--exposure", str(sim.uncal), "--override", f"pars-jumpstep={p}",
                     "--param", "flag_4_neighbors=false"]) == 0
    out = capsys.readouterr().out
    assert "CRDS parameter file: j.asdf" in out
    assert "rejection_threshold = 8.0    # j.asdf" in out
    assert "flag_4_neighbors = False    # config" in out
    assert "minimum_groups = 3    # default" in out


_CLIENT = r"""
import json, sys
from astropy.io import fits
from rampflow.meta import ExposureMeta
from rampflow import references
out = {}
for uncal in json.loads(sys.argv[1]):
    meta = ExposureMeta.from_headers(fits.getheader(uncal), fits.getheader(uncal, "SCI"), uncal)
    r = {}
    for step in ("jump", "ramp_fit", "saturation", "clean_flicker_noise", "refpix"):
        res = references.resolve_parameters(meta, step)
        r[step] = {"file": res.pars_name, "changed": {k: v for k, (v, s) in res.changed().items()},
                   "notes": res.notes, "skip": res.skip}
    r["unimplemented"] = references.check_unimplemented_pars(meta, "ramp_fit")
    r["off"] = references.resolve_parameters(meta, "jump", use_crds_pars=False).pars_name
    out[uncal] = r
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    root = tmp_path_factory.mktemp("parsprog")
    crds_path = root / "crds"
    nrs = simulate_program(root / "nrs", {"kind": "nirspec_tso", "detectors": ["nrs1"], "segments": 1,
                                          "nints": 2, "ngroups": 3, "size": [16, 64], "seed": 1}, crds_path)
    nrc = simulate_program(root / "nrc", {"kind": "nircam_image", "detectors": ["nrca1"], "segments": 1,
                                          "nints": 1, "ngroups": 3, "size": [32, 32], "seed": 1}, crds_path)
    return crds_path, nrs[0], nrc[0]


def test_simulated_cache_selects_per_mode_pars(program, monkeypatch):
    crds_path, nrs, nrc = program
    for k, v in {"CRDS_PATH": str(crds_path), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CLIENT, json.dumps([str(nrs), str(nrc)])],
                          capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    res = json.loads(line[0][len("RESULT"):])
    bots, img = res[str(nrs)], res[str(nrc)]
    assert bots["jump"]["file"] == "jwst_nirspec_pars-jumpstep_0001.asdf"
    assert img["jump"]["file"] == "jwst_nircam_pars-jumpstep_0001.asdf"
    expected = dict(crds_pars._SNOWBALLS)
    assert bots["jump"]["changed"] == expected and img["jump"]["changed"] == expected
    assert expected["expand_large_events"] is True  # snowball flagging on, and applied
    for r in (bots, img):
        assert not any("expand_large_events" in n for n in r["jump"]["notes"])
        assert r["ramp_fit"]["file"] == r["saturation"]["file"] == "N/A"
        assert r["off"] == "N/A"
    # clean_flicker_noise turned on for BOTS with its settings (rampflow implements it: no note)
    assert bots["unimplemented"] == [] and img["unimplemented"] == []
    cfn = bots["clean_flicker_noise"]
    assert cfn["file"] == "jwst_nirspec_pars-cleanflickernoisestep_0001.asdf" and cfn["skip"] is False
    assert cfn["notes"] == [] and cfn["changed"] == {k: v for k, v in crds_pars._BOTS_CFN.items() if k != "skip"}
    assert img["clean_flicker_noise"]["file"] == "N/A"
    assert "expand_large_events" not in proc.stderr and "NOT run" not in proc.stderr  # no warning
    assert bots["refpix"]["file"] == img["refpix"]["file"] == "N/A"   # subarrays: no SIRS file
    # no match is looked up first, not reported by CRDS as an error (whose formatting loads
    # every datamodel schema)
    assert "Error determining best reference" not in proc.stderr


def _full_frame_header_copy(uncal, dest, **cards):
    """``uncal`` with its primary header changed to a full-frame mode (the parameter files are
    selected from header keywords only)."""
    with fits.open(uncal) as hdul:
        hdul[0].header.update(cards)
        hdul.writeto(dest)
    return dest


def test_simulated_cache_turns_sirs_on_for_full_frames(program, tmp_path, monkeypatch):
    """pars-refpixstep: NIRSpec FULL with a traditional readout (found in CRDS) and NIRCam FULL
    (assumed) select refpix_algorithm='sirs'; NIRSpec IRS2 and subarrays get no file."""
    crds_path, nrs, nrc = program
    full = {"SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": 2048, "SUBSIZE2": 2048}
    cases = {
        "nrs_rapid": _full_frame_header_copy(nrs, tmp_path / "a_uncal.fits", READPATT="NRSRAPID", TSOVISIT=False,
                                             EXP_TYPE="NRS_FIXEDSLIT", **full),
        "nrs_nrs": _full_frame_header_copy(nrs, tmp_path / "b_uncal.fits", READPATT="NRS", **full),
        "nrs_irs2": _full_frame_header_copy(nrs, tmp_path / "c_uncal.fits", READPATT="NRSIRS2", **full),
        "nrc_full": _full_frame_header_copy(nrc, tmp_path / "d_uncal.fits", **full),
    }
    for k, v in {"CRDS_PATH": str(crds_path), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CLIENT, json.dumps([str(p) for p in cases.values()])],
                          capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    res = {name: json.loads(line[0][len("RESULT"):])[str(p)]["refpix"] for name, p in cases.items()}
    for name in ("nrs_rapid", "nrs_nrs", "nrc_full"):
        assert res[name]["file"].startswith(f"jwst_{'nircam' if name == 'nrc_full' else 'nirspec'}_pars-refpixstep_")
        assert res[name]["changed"] == {"refpix_algorithm": "sirs"}
    assert res["nrs_irs2"]["file"] == "N/A"


def test_skip_as_jwst_decides_it(tmp_path, meta):
    """``step_params.<step>.skip``: true / false win; null is jwst's rule (the parameter file's
    skip, else jwst's default: clean_flicker_noise is skipped unless a file turns it on); not
    given, a listed step runs unless its parameter file says skip."""
    on = pars_file(tmp_path / "on.asdf", "jwst.clean_flicker_noise.clean_flicker_noise_step.CleanFlickerNoiseStep",
                   {"skip": False, "n_sigma": 2.5})
    off = pars_file(tmp_path / "off.asdf", "jwst.clean_flicker_noise.clean_flicker_noise_step.CleanFlickerNoiseStep",
                    {"skip": True})
    cases = [  # (config skip, parameter file) -> (skip, who decided)
        ("unset", on, False, "on.asdf"), ("unset", off, True, "off.asdf"), ("unset", "N/A", None, None),
        (None, on, False, "on.asdf"), (None, off, True, "off.asdf"), (None, "N/A", True, "jwst's default"),
        (True, on, True, "config"), (False, off, False, "config"), (False, "N/A", False, "config"),
    ]
    for asked, pars, skip, source in cases:
        given = {} if asked == "unset" else {"skip": asked}
        res = references.resolve_parameters(meta, "clean_flicker_noise", given,
                                            overrides={"pars-cleanflickernoisestep": pars})
        assert (res.skip, res.skip_source) == (skip, source), (asked, pars)
        assert "skip" not in res.values  # stpipe's parameter, not the algorithm's
    res = references.resolve_parameters(meta, "clean_flicker_noise", {"skip": None},
                                        overrides={"pars-cleanflickernoisestep": on})
    assert res.values["n_sigma"] == 2.5


def test_skip_is_checked_like_any_parameter():
    from rampflow import config as rfconfig
    from rampflow.steps import get_step_class
    from rampflow.steps.params import ParamError

    get_step_class("jump").check_params({"skip": None})
    get_step_class("jump").check_params({"skip": True})
    with pytest.raises(ParamError, match='step_params.jump.skip: "no" is not true, false or null'):
        get_step_class("jump").check_params({"skip": "no"})
    with pytest.raises(rfconfig.ConfigError, match="step_params.jump.skip"):
        rfconfig._check_step_params({"jump": {"skip": 1}})
    with pytest.raises(ValueError, match="unknown parameter"):  # a custom step has no stpipe skip
        get_step_class("destripe").check_params({"skip": True})


def test_default_near_infrared_steps_let_crds_turn_on_flicker_cleaning():
    from rampflow import config as rfconfig

    cfg = {"program": "x", "inputs": {"source": "simulate", "simulate": {"kind": "nirspec_tso"}}}
    rfconfig.prepare(cfg)
    steps = cfg["steps"]
    assert steps[steps.index("jump") + 1] == "clean_flicker_noise"
    assert "charge_migration" not in steps and "persistence" not in steps and "ipc" in steps
    assert cfg["step_params"] == {"clean_flicker_noise": {"skip": None}}
    # a list the user gives is theirs: nothing added
    mine = {"program": "x", "steps": ["dq_init", "jump", "ramp_fit"]}
    rfconfig.prepare(mine)
    assert mine["steps"] == ["dq_init", "jump", "ramp_fit"] and "step_params" not in mine
