"""A reference type CRDS cannot provide stops the work before any step runs, with a message naming
the exposure, the missing type(s) and how to supply them -- with a local cache that lacks the
type, and with no cache at all and a CRDS server that cannot be reached (CRDS's own fatal exit
is caught). Nothing is left under a product's name, and no temporary file either."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.reliability.helpers import ROOT, child_env, closed_port, crds_cache_without, leftovers, run_child

HOW = ("references.overrides", "CRDS_PATH", "CRDS_SERVER_URL")
ALL_TYPES = ("MASK", "SATURATION", "SUPERBIAS", "LINEARITY", "DARK", "READNOISE", "GAIN")


def _assert_names(text: str, exposure: str, missing):
    """The message names the exposure, exactly the ``missing`` types, and the three ways to
    supply reference files."""
    assert exposure in text, text
    found = re.search(r"no reference file for ([A-Z, ]+):", text)
    assert found, f"no list of missing types in: {text}"
    assert sorted(found.group(1).split(", ")) == sorted(missing), text
    for how in HOW:
        assert how in text, f"{how} not suggested in: {text}"


def test_step_command_names_type_missing_from_local_cache(sim_exposure, tmp_path):
    """`rampflow step ramp_fit` over a CRDS cache without GAIN (local mode, no server)."""
    cache = crds_cache_without(tmp_path / "crds", sim_exposure, "gain")
    out = tmp_path / "out"
    out.mkdir()
    env = child_env(CRDS_PATH=cache, CRDS_MODE="local")
    proc = run_child(["-m", "rampflow.cli", "step", "ramp_fit", str(sim_exposure.uncal),
                      str(out / "x_rate.fits")], env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    _assert_names(proc.stderr, Path(sim_exposure.uncal).name, ["GAIN"])
    assert leftovers(out) == []


def test_step_command_turns_crds_fatal_exit_into_error(sim_exposure, tmp_path):
    """No cache and a CRDS server on a closed port: CRDS logs 'CRDS server connection and cache
    load FAILED' and calls sys.exit; the step command reports the exposure and the type instead."""
    out = tmp_path / "out"
    out.mkdir()
    env = child_env(CRDS_PATH=tmp_path / "no_cache", CRDS_SERVER_URL=f"https://127.0.0.1:{closed_port()}")
    proc = run_child(["-m", "rampflow.cli", "step", "dq_init", str(sim_exposure.uncal),
                      str(out / "x_dq_init.fits")], env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    _assert_names(proc.stderr, Path(sim_exposure.uncal).name, ["MASK"])
    assert "cache load FAILED" in proc.stderr
    assert leftovers(out) == []


def test_job_of_several_passes_writes_nothing_when_a_later_step_lacks_a_type(sim_exposure, tmp_path):
    """dark_current (integration chunks), then jump + ramp_fit (row chunks): GAIN, needed only by
    the second pass, is missing -- the first pass must not leave its product behind."""
    cache = crds_cache_without(tmp_path / "crds", sim_exposure, "gain")
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import sys\n"
        "from rampflow import references, runner\n"
        "try:\n"
        f"    runner.run(['dark_current', 'jump', 'ramp_fit'], {{'ramp': {str(sim_exposure.uncal)!r}}},\n"
        f"               {{'dark_current': {str(out / 'x_dark_current.fits')!r},\n"
        f"                'rate': {str(out / 'x_rate.fits')!r}, 'rateints': {str(out / 'x_rateints.fits')!r}}})\n"
        "except references.ReferenceError as exc:\n"
        "    print(exc, file=sys.stderr)\n"
        "    sys.exit(3)\n"
    )
    proc = run_child(["-c", code], child_env(CRDS_PATH=cache, CRDS_MODE="local"))
    assert proc.returncode == 3, proc.stderr[-3000:]
    _assert_names(proc.stderr, Path(sim_exposure.uncal).name, ["GAIN"])
    assert leftovers(out) == []


def _local_program(tmp_path: Path, sim, crds_path: Path) -> Path:
    """A workdir whose config reduces ``sim``'s uncal file as a local-source program."""
    uncal_dir = tmp_path / "wd" / "data" / "uncal"
    uncal_dir.mkdir(parents=True)
    shutil.copy(sim.uncal, uncal_dir / Path(sim.uncal).name)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["program"] = "refs"
    cfg["inputs"] = {"source": "local", "uncal_dir": str(uncal_dir)}
    cfg["references"] = {"overrides": {}, "crds_path": str(crds_path)}
    cfg.get("lightcurves", {}).pop("transit", None)
    (tmp_path / "wd" / "config").mkdir()
    (tmp_path / "wd" / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "wd"


def _snakemake(wd: Path, env: dict):
    if shutil.which("snakemake") is None and run_child(["-m", "snakemake", "--version"], env).returncode:
        pytest.skip("snakemake is not installed")
    return run_child(["-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd),
                      "--cores", "1"], env, timeout=1200)


def _assert_stopped_before_steps(wd: Path, proc) -> str:
    assert proc.returncode != 0
    out = wd / "results" / "refs"
    logs = "".join(p.read_text() for p in (out / "logs").glob("*.log"))
    made = [f for f in leftovers(out) if not f.startswith("logs/")]
    assert made == [], f"files left under results: {made}"
    assert [p.name for p in (out / "logs").glob("*.log")] == ["references.log"], "a step job ran"
    return logs + proc.stderr


def test_workflow_stops_before_any_step_when_cache_lacks_a_type(sim_exposure, tmp_path):
    cache = crds_cache_without(tmp_path / "crds", sim_exposure, "gain", "readnoise")
    wd = _local_program(tmp_path, sim_exposure, cache)
    proc = _snakemake(wd, child_env())
    text = _assert_stopped_before_steps(wd, proc)
    _assert_names(text, Path(sim_exposure.uncal).name, ["GAIN", "READNOISE"])


def test_workflow_stops_before_any_step_without_cache_or_server(sim_exposure, tmp_path):
    wd = _local_program(tmp_path, sim_exposure, tmp_path / "no_cache")
    proc = _snakemake(wd, child_env(CRDS_SERVER_URL=f"https://127.0.0.1:{closed_port()}"))
    text = _assert_stopped_before_steps(wd, proc)
    _assert_names(text, Path(sim_exposure.uncal).name, ALL_TYPES)
    assert "cache load FAILED" in text


def test_simulated_program_checks_references_before_any_step(tmp_path):
    """The simulate job resolves every reference too: an override naming a missing file stops
    it, naming the key and the file, before any step job."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["program"] = "refs"
    cfg["inputs"]["simulate"].update({"detectors": ["nrs1"], "segments": 1, "nints": 2, "ngroups": 4,
                                       "size": [16, 64], "seed": 3})
    for key in ("transit_t0", "transit_duration"):
        cfg["inputs"]["simulate"].pop(key, None)
    cfg.get("lightcurves", {}).pop("transit", None)
    cfg["references"] = {"overrides": {"gain": str(tmp_path / "nowhere" / "gain.fits")}}
    wd = tmp_path / "wd"
    (wd / "config").mkdir(parents=True)
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(wd, child_env())
    assert proc.returncode != 0
    out = wd / "results" / "refs"
    logs = {p.name: p.read_text() for p in (out / "logs").glob("*.log")}
    assert list(logs) == ["simulate.log"], f"a step job ran: {sorted(logs)}"
    assert "references.overrides.gain" in logs["simulate.log"] and "nowhere/gain.fits" in logs["simulate.log"]
    # the simulator's cache and truth files are not outputs of the job (rewritten by a rerun);
    # the uncal files and the marker the step jobs wait for are removed with the failed job
    made = [f for f in leftovers(out) if not f.startswith(("logs/", "crds/")) and not f.endswith("_truth.fits")]
    assert made == [], f"files left under results: {made}"
    assert not (out / "crds" / ".ready").exists()
