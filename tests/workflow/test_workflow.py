"""The workflow itself: lint, dry run, a tiny end-to-end run, local inputs, and bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None and
                                subprocess.run(SNAKEMAKE + ["--version"], capture_output=True).returncode != 0,
                                reason="snakemake is not installed")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    return env


def _snakemake(workdir, *args, check=True):
    cmd = SNAKEMAKE + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def _workdir(tmp_path, cfg: dict) -> Path:
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def _tiny(**over):
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["program"] = "tiny"
    cfg["inputs"]["simulate"].update({"detectors": ["nrs1"], "segments": 2, "nints": 4, "ngroups": 5,
                                       "size": [16, 128], "seed": 3})
    # the default program's transit timing belongs to its own exposure, not this tiny one
    for key in ("transit_t0", "transit_duration"):
        cfg["inputs"]["simulate"].pop(key, None)
    cfg.get("lightcurves", {}).pop("transit", None)
    cfg.update(over)
    return cfg


def test_lint():
    proc = subprocess.run(SNAKEMAKE + ["--lint", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(ROOT)],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_lists_every_step(tmp_path):
    cfg = _tiny()
    proc = _snakemake(_workdir(tmp_path, cfg), "-n", "--quiet", "rules")
    for step in cfg["steps"]:
        rule = step if step in ("ramp_fit", "gain_scale") else f"step_{step}"
        assert rule in proc.stdout, f"{rule} missing from the dry run:\n{proc.stdout}"


def test_unknown_step_stops_before_any_job(tmp_path):
    cfg = _tiny(steps=["dq_init", "saturaton"])
    proc = _snakemake(_workdir(tmp_path, cfg), "-n", check=False)
    assert proc.returncode != 0
    assert "saturaton" in proc.stdout + proc.stderr


def test_tiny_end_to_end_and_rerun_on_param_change(tmp_path):
    from stdatamodels.jwst import datamodels

    cfg = _tiny()
    wd = _workdir(tmp_path, cfg)
    _snakemake(wd, "--cores", "2")
    out = wd / "results" / "tiny" / "stage1"
    stems = sorted(p.name[: -len("_uncal.fits")] for p in (wd / "results/tiny/uncal").glob("*_uncal.fits"))
    assert len(stems) == 2 and all("-seg00" in s and s.endswith("_nrs1") for s in stems)
    chain = [s for s in cfg["steps"] if s not in ("ramp_fit", "gain_scale")]
    for stem in stems:
        for step in chain:
            p = out / f"{stem}_{step}.fits"
            assert p.is_file(), p
        with datamodels.open(str(out / f"{stem}_{chain[-1]}.fits")) as m:
            assert type(m).__name__ == "RampModel"
            assert m.data.shape == (2, 5, 16, 128)
            assert m.meta.cal_step.dq_init == "COMPLETE"
            assert m.meta.cal_step.saturation == "COMPLETE"
            assert m.meta.ref_file.mask.name.endswith(".fits")
        if "ramp_fit" in cfg["steps"]:
            with datamodels.open(str(out / f"{stem}_rateints.fits")) as m:
                assert type(m).__name__ == "CubeModel" and m.data.shape == (2, 16, 128)
    assert not list(wd.rglob("*.part"))
    # nothing to do on a second run
    proc = _snakemake(wd, "-n", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a changed parameter re-runs that step and those after it, nothing before
    cfg["step_params"]["saturation"] = {"n_pix_grow_sat": 0}
    _workdir(tmp_path, cfg)
    proc = _snakemake(wd, "-n", "--quiet", "rules", "--cores", "2")
    text = proc.stdout
    assert "step_saturation" in text and f"step_{chain[-1]}" in text
    assert "step_dq_init" not in text and "simulate" not in text


def test_local_source_with_overrides(tmp_path):
    """A stdatamodels-written uncal file and a folder of reference files, through the DAG."""
    from rampflow.simulate import simulate_exposure

    sim = simulate_exposure(tmp_path / "sim", kind="nirspec_tso", detector="NRS1", nints=2, ngroups=4,
                            size=[16, 64], seed=5)
    uncal_dir = tmp_path / "wd" / "data" / "uncal"
    ref_dir = tmp_path / "wd" / "refs"
    uncal_dir.mkdir(parents=True)
    ref_dir.mkdir()
    shutil.copy(sim.uncal, uncal_dir / Path(sim.uncal).name)
    overrides = {}
    for rt, p in sim.refs.items():
        shutil.copy(p, ref_dir / Path(p).name)
        overrides[rt] = str(ref_dir / Path(p).name)
    cfg = _tiny(program="local-demo")
    cfg["inputs"] = {"source": "local", "uncal_dir": str(uncal_dir)}
    cfg["references"] = {"overrides": overrides}
    wd = _workdir(tmp_path / "wd", cfg)
    _snakemake(wd, "--cores", "2")
    stem = Path(sim.uncal).name[: -len("_uncal.fits")]
    last = [s for s in cfg["steps"] if s not in ("ramp_fit", "gain_scale")][-1]
    from rampflow import io

    with io.open_ramp(wd / "results" / "local-demo" / "stage1" / f"{stem}_{last}.fits") as rf:
        assert rf.primary_header["R_SATURA"] == overrides["saturation"]
        sci, gdq = rf.read()
        assert np.isfinite(sci).all()


def test_bad_uncal_is_named_and_leaves_nothing(tmp_path):
    uncal_dir = tmp_path / "wd" / "data" / "uncal"
    uncal_dir.mkdir(parents=True)
    (uncal_dir / "jw01366003001_04101_00001-seg001_nrs1_uncal.fits").write_text("not a FITS file")
    cfg = _tiny(program="bad")
    cfg["inputs"] = {"source": "local", "uncal_dir": str(uncal_dir)}
    cfg["references"] = {"overrides": {}}
    wd = _workdir(tmp_path / "wd", cfg)
    proc = _snakemake(wd, "--cores", "1", check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (wd / "results" / "bad" / "logs").glob("*.log"))
    assert "jw01366003001_04101_00001-seg001_nrs1_uncal.fits" in logs + proc.stderr
    assert "not a readable FITS file" in logs + proc.stderr
    assert not list((wd / "results" / "bad").rglob("*.fits"))
    assert not list((wd / "results" / "bad").rglob("*.part"))


@pytest.mark.parametrize("snowballs", [False, True])
def test_one_pass_run_equals_step_by_step(tmp_path, snowballs):
    """compute.fuse with every step able to stream row chunks: the whole chain, destripe
    included, runs in one job per exposure reading the uncal file once; kept intermediates
    come from the same pass. With snowball flagging (simulated snowballs, jump's
    expand_large_events), jump looks at its whole input first: its pre-pass recomputes the
    steps before it from the uncal file, so the job is still one pass (its log says so, and
    no step "cannot share it"). Either way every array of rate / rateints / fitopt, of the
    kept ramps and of destripe's mask equals the per-step DAG's, bit for bit."""
    from astropy.io import fits

    from rampflow import io
    from rampflow.io import custom as io_custom

    chain = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current",
             "destripe", "jump", "ramp_fit"]
    base = _tiny(steps=chain)
    base["inputs"]["simulate"].update({"segments": 1, "nints": 3})
    base["step_params"] = {"ramp_fit": {"save_opt": True}}
    # the simulated CRDS cache's jump parameter file switches snowball flagging on (as jwst's do)
    base["step_params"]["jump"] = {"expand_large_events": snowballs}
    if snowballs:
        base["inputs"]["simulate"].update({"snowball_rate": 2e-3, "ngroups": 8})
    fused = yaml.safe_load(yaml.safe_dump(base))
    fused["compute"] = {"fuse": True, "keep": ["saturation", "destripe"], "chunk_mb": 16, "threads": 2}
    wd1 = _workdir(tmp_path / "steps", base)
    wd2 = _workdir(tmp_path / "fused", fused)
    _snakemake(wd1, "--cores", "2")
    _snakemake(wd2, "--cores", "2")
    s1 = wd1 / "results" / "tiny" / "stage1"
    s2 = wd2 / "results" / "tiny" / "stage1"
    names2 = sorted(p.name for p in s2.glob("*.fits"))
    assert [n.rsplit("_nrs1_", 1)[1] for n in names2] == ["destripe.fits", "destripe_mask.fits", "fitopt.fits",
                                                         "rate.fits", "rateints.fits", "saturation.fits"]
    for name in names2:
        if name.endswith(("_rate.fits", "_rateints.fits", "_fitopt.fits")):
            with fits.open(s1 / name) as a, fits.open(s2 / name) as b:
                assert a[0].header["S_JUMP"] == b[0].header["S_JUMP"] == "COMPLETE"
                assert a[0].header["S_DESTRI"] == b[0].header["S_DESTRI"] == "COMPLETE"
                assert a[0].header.get("EXTNCRS") == b[0].header.get("EXTNCRS")
                if snowballs:
                    assert b[0].header["EXTNCRS"] > 0  # snowballs were found and flagged
                exts = [h.name for h in a if h.is_image and h.data is not None]
                assert len(exts) >= 4, exts
                for ext in exts:
                    assert np.array_equal(a[ext].data, b[ext].data, equal_nan=True), f"{name} {ext}"
        elif name.endswith("_destripe_mask.fits"):
            ma, _, ia = io_custom.read_mask_product(s1 / name)
            mb, _, ib = io_custom.read_mask_product(s2 / name)
            assert np.array_equal(ma, mb) and np.array_equal(ia, ib, equal_nan=True)
        else:
            with io.open_ramp(s1 / name) as a, io.open_ramp(s2 / name) as b:
                for x, y in zip(a.read(), b.read()):
                    assert np.array_equal(x, y, equal_nan=True), name
                assert np.array_equal(a.pixeldq(), b.pixeldq())
    logs = sorted(p.name.rsplit("_nrs1_", 1)[-1] for p in (wd2 / "results" / "tiny" / "logs").glob("*.log")
                  if "_nrs1_" in p.name)
    steps_logs = [n for n in logs if not n.startswith(("diag", "saturation_custom"))]
    assert steps_logs == ["ramp_fit.log"], logs  # one step job per exposure
    text = next((wd2 / "results" / "tiny" / "logs").glob("*_nrs1_ramp_fit.log")).read_text()
    assert "cannot share it" not in text, text[-3000:]
    one_pass = "group_scale + dq_init + saturation + superbias + refpix + linearity + dark_current + destripe + jump"
    assert one_pass + " + ramp_fit on " in text, text[-3000:]  # one pass over the uncal file
    assert ("input of a pre-pass" in text) == snowballs, text[-3000:]  # jump's input recomputed


def test_fused_default_program_plans_one_job_per_exposure(tmp_path):
    """compute.fuse on the default steps: one pass, destripe's mask made in the ramp_fit job (no
    mask job, no fused ramp job); with ipc, which needs whole planes, the two-job layout, where
    destripe's mask is made from the dark_current product, which is then written even with keep: []."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["compute"].update({"fuse": True, "keep": []})
    out = _snakemake(_workdir(tmp_path / "a", cfg), "-n", "--quiet", "rules").stdout
    table = out[out.index("job "):out.index("total")]
    rules = {line.split()[0] for line in table.splitlines()[2:] if line.strip()}
    # one job per exposure: the whole chain and gain_scale in the ramp_fit job
    assert "ramp_fit" in rules and not [r for r in rules if r.startswith(("fused_", "step_"))], out
    assert "gain_scale" not in rules and "destripe_mask" not in rules, out
    cfg["steps"].insert(cfg["steps"].index("superbias"), "ipc")
    out = _snakemake(_workdir(tmp_path / "b", cfg), "-n", "--quiet", "rules").stdout
    assert "fused_group_scale_to_dark_current" in out, out
    assert "fused_destripe_to_destripe" not in out and "step_destripe" in out, out
    assert "destripe_mask" in out and "ramp_fit" in out and "step_jump" not in out, out


def test_mast_source_downloads_then_reduces(tmp_path):
    """inputs.source: mast through the real astroquery code path against a loopback MAST."""
    from rampflow.simulate import simulate_exposure
    from tests.fakemast import FakeMast

    files = {}
    refs = None
    for seg in (1, 2):
        sim = simulate_exposure(tmp_path / "sim", kind="nirspec_tso", detector="NRS1", segment=seg,
                                nsegments=2, nints=4, ngroups=4, size=[16, 64], seed=6)
        files[Path(sim.uncal).name] = Path(sim.uncal).read_bytes()
        refs = refs or {k: str(v) for k, v in sim.refs.items()}
    fields = {"proposal_id": "9999", "instrument_name": "NIRSPEC/SLIT", "filters": "F290LP;G395H",
              "target_name": "SIM-1", "obs_collection": "JWST"}
    with FakeMast() as fake:
        fake.add_jwst_exposures(files, level3_obs_id="jw09999-o001_t001_nirspec_f290lp-g395h-s1600a1-sub2048",
                                dataproduct_type="timeseries", **fields)
        cfg = _tiny(program="mast-demo", steps=["group_scale", "dq_init", "saturation"])
        cfg["inputs"] = {"source": "mast",
                         "mast": {**fields, "server": fake.url, "retries": 1, "backoff": 0.01}}
        cfg["references"] = {"overrides": refs}
        wd = _workdir(tmp_path / "wd", cfg)
        _snakemake(wd, "--cores", "2")
        assert len(fake.downloads()) >= 2
    out = wd / "results" / "mast-demo"
    for name, data in files.items():
        assert (out / "uncal" / name).read_bytes() == data
        stem = name[: -len("_uncal.fits")]
        assert (out / "stage1" / f"{stem}_saturation.fits").is_file()
    assert (out / "uncal" / "manifest.json").is_file()


def test_program_config_inherits_nothing_from_the_demo(tmp_path):
    """A program config given with --configfile, with no lightcurves section: the demo's
    config/config.yaml (present in the working directory) lends it nothing (no transit window,
    no step parameters), the keys the schema's defaults filled are logged and on the QA page,
    and it runs end to end with no transit fit."""
    from astropy.io import fits

    from rampflow.simulate import simulate_exposure

    wd = tmp_path / "wd"
    (wd / "config").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "config.yaml", wd / "config" / "config.yaml")   # the demo, not to be read
    uncal_dir = wd / "uncal"
    refs = None
    for seg in (1, 2):
        sim = simulate_exposure(tmp_path / "sim", kind="nirspec_tso", detector="NRS1", segment=seg, nsegments=2,
                                nints=4, ngroups=4, size=[16, 64], seed=7)
        uncal_dir.mkdir(exist_ok=True)
        shutil.copy(sim.uncal, uncal_dir / Path(sim.uncal).name)
        refs = refs or {k: str(v) for k, v in sim.refs.items()}
    program = {"program": "my-program", "inputs": {"source": "local", "uncal_dir": str(uncal_dir)},
               "references": {"overrides": refs},
               "steps": ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity",
                         "dark_current", "destripe", "jump", "ramp_fit", "gain_scale"],
               "compute": {"chunk_mb": 16, "threads": 2}}
    (wd / "program.yaml").write_text(yaml.safe_dump(program))
    proc = _snakemake(wd, "-n", "--configfile", str(wd / "program.yaml"))
    out = proc.stdout + proc.stderr
    assert "lightcurves " in out and "lightcurve_transit" not in out and "rule simulate" not in out, out
    line = next(s for s in out.splitlines() if "settings from the schema defaults" in s)
    keys = line.split("defaults: ", 1)[1].split(", ")
    for key in ("lightcurves.transit", "step_params", "qa.diagnostics.enabled", "compute.fuse"):
        assert key in keys, line
    for key in ("program", "steps", "references.overrides", "compute.chunk_mb", "inputs.uncal_dir"):
        assert key not in keys, line
    # end to end
    _snakemake(wd, "--cores", "2", "--configfile", str(wd / "program.yaml"))
    res = wd / "results" / "my-program"
    assert not (res / "lightcurves" / "nrs1_transit.json").exists()
    assert (res / "lightcurves" / "nrs1_whitelight.ecsv").is_file()
    stems = sorted(p.name[: -len("_uncal.fits")] for p in uncal_dir.glob("*_uncal.fits"))
    for stem in stems:
        history = str(fits.getheader(res / "stage1" / f"{stem}_destripe_mask.fits")["HISTORY"])
        assert "trace_radius=8" in history and "trace_radius=6" not in history, history   # not the demo's 6
        assert (res / "stage1" / f"{stem}_gain_scaleints.fits").is_file()
    page = (res / "qa" / "index.html").read_text()
    assert "Settings filled from defaults" in page and "lightcurves.transit" in page
    assert not (wd / "results" / "demo-tso").exists()


def test_dry_run_of_a_program_mixing_miri_and_nirspec(tmp_path):
    """A local folder with a MIRI and a NIRSpec exposure and no ``steps``: each runs its own
    instrument's calwebb_detector1 order (the DAG's edges say which product each step reads)."""
    folder = tmp_path / "uncal"
    folder.mkdir()
    miri, nrs = "jw01366002001_04103_00001-seg001_mirimage", "jw01366003001_04101_00001-seg001_nrs1"
    for stem in (miri, nrs):
        (folder / f"{stem}_uncal.fits").write_bytes(b"")
    cfg = {"program": "mixed", "inputs": {"source": "local", "uncal_dir": str(folder)}}
    proc = _snakemake(_workdir(tmp_path, cfg), "--dag")
    labels = dict(re.findall(r'\t(\d+)\[label = "([^"\\]+)', proc.stdout))
    edges = {(labels[a], labels[b]) for a, b in re.findall(r"\t(\d+) -> (\d+)", proc.stdout)}
    assert ("step_dark_current_miri", "step_refpix_miri") in edges
    assert ("step_reset_miri", "step_linearity_miri") in edges
    assert ("step_superbias_nir", "step_refpix_nir") in edges
    assert ("step_refpix_nir", "step_linearity_nir") in edges
    assert not {"step_superbias_miri", "step_rscd_nir", "step_superbias"} & set(labels.values())
