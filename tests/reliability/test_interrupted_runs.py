"""A job killed while it writes leaves no temporary behind once it is rerun.

A product is written to ``.<name>.XXXXXXXX.part`` next to its final name and renamed into
place at the end; an error removes the temporary, but SIGKILL (the OOM killer, a cluster's
time limit, a power cut) cannot. The rerun of the job removes its own stale temporaries
before writing, so after ``--unlock`` / ``--rerun-incomplete`` nothing is left over.

The kill is real: a child process (``runner.run``, or a whole Snakemake run) is SIGKILLed while
a product is half-written. To kill it at a known point rather than by timing, a
``sitecustomize.py`` put first on the child's PYTHONPATH makes RampWriter pause (forever)
after writing the first chunk of the product whose name ends in ``RF_PAUSE_PRODUCT`` and create the
file ``RF_PAUSE_MARKER``; the test waits for the marker, then kills.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import rampflow
from rampflow import io, runner

SRC = Path(rampflow.__file__).resolve().parents[1]   # the package under test (this checkout's, or another)
ROOT = SRC.parent

PAUSE_HOOK = textwrap.dedent('''
    import os
    if os.environ.get("RF_PAUSE_PRODUCT"):
        import time
        from pathlib import Path
        from rampflow.io import writer

        _write = writer.RampWriter.write

        def write(self, *args, **kwargs):
            _write(self, *args, **kwargs)
            if Path(self.path).name.endswith(os.environ["RF_PAUSE_PRODUCT"]):
                Path(os.environ["RF_PAUSE_MARKER"]).touch()
                time.sleep(3600)

        writer.RampWriter.write = write
''')


def _env(tmp_path: Path, product: str) -> dict:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook), str(SRC)])
    env["RF_PAUSE_PRODUCT"] = product
    env["RF_PAUSE_MARKER"] = str(tmp_path / "paused")
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    return env


def _kill_when_paused(proc: subprocess.Popen, marker: Path, timeout: float = 900) -> None:
    """Wait until the child reports it is mid-write, then SIGKILL its whole process group."""
    t0 = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the child ended (code {proc.returncode}) before pausing:\n{out[-4000:]}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the child did not reach the write in time")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if p.name.endswith((".part", ".tmpdir")) or ".rampflow-" in p.name)


def _arrays(path):
    with io.open_ramp(path) as rf:
        sci, gdq = rf.read()
        return sci, gdq, rf.pixeldq()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("interrupted")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=6, ngroups=5, size=[16, 128], seed=7)


JOBS = {
    # one step: its product's .part is left
    "dq_init": (["dq_init"], ["dq_init"], {}, False),
    # one row pass through both steps: only the jump .part is left
    "dq_init+jump": (["dq_init", "jump"], ["jump"], {}, False),
    # snowball flagging: jump's pre-pass recomputes dq_init from the uncal file, still one row
    # pass and no scratch ramp
    "dq_init+jump-snowballs": (["dq_init", "jump"], ["jump"], {"jump": {"expand_large_events": True}}, False),
    # ipc works on whole planes: an integration pass, then jump's row pass; the first pass's
    # product, not asked for, goes to a scratch folder, which is left with the jump .part
    "dq_init+ipc+jump": (["dq_init", "ipc", "jump"], ["jump"], {}, True),
}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_rerun_after_sigkill_leaves_no_temporary(sim, tmp_path, job):
    steps, products, params, scratch = JOBS[job]
    refs = {k: str(v) for k, v in sim.refs.items()}
    stem = sim.uncal.name.replace("_uncal.fits", "")
    stage1 = tmp_path / "stage1"
    outputs = {p: str(stage1 / f"{stem}_{p}.fits") for p in products}
    call = dict(steps=steps, inputs={"ramp": str(sim.uncal)}, outputs=outputs, overrides=refs, chunk_mb=0.02,
                params=params)
    script = f"from rampflow import runner\nrunner.run(**{call!r})\n"
    paused = Path(outputs[products[-1]]).name
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env(tmp_path, paused), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _kill_when_paused(proc, tmp_path / "paused")

    left = _leftovers(stage1)
    assert any(name.endswith(".part") for name in left), left   # killed mid-write: the temporary is there
    assert any(name.endswith(".tmpdir") or ".rampflow-" in name for name in left) == scratch, left
    assert not any(Path(p).exists() for p in outputs.values())   # and nothing under a final name

    runner.run(**call)                                            # the rerun
    assert _leftovers(stage1) == []
    assert sorted(p.name for p in stage1.iterdir()) == sorted(Path(p).name for p in outputs.values())

    clean = tmp_path / "clean"
    runner.run(**{**call, "outputs": {p: str(clean / Path(v).name) for p, v in outputs.items()}})
    for p, path in outputs.items():
        for a, b in zip(_arrays(path), _arrays(clean / Path(path).name)):
            np.testing.assert_array_equal(a, b, err_msg=p)


def test_stale_temporaries_of_other_products_are_left_alone(tmp_path):
    """A job removes only its own products' temporaries: another job's, writing now in the
    same folder, is not touched."""
    mine, other = tmp_path / "a_jump.fits", tmp_path / "a_jump.fits.bak"
    stale = tmp_path / f".{mine.name}.abcd1234.part"
    theirs = [tmp_path / f".{other.name}.abcd1234.part", tmp_path / f".b_{mine.name}.abcd1234.part"]
    for p in [stale, *theirs]:
        p.write_bytes(b"x")
    with io.atomic_path(mine) as tmp:
        assert not stale.exists()
        tmp.write_bytes(b"new")
    assert mine.read_bytes() == b"new"
    assert all(p.exists() for p in theirs)


# --------------------------------------------------------------------------- the workflow

def _snakemake(workdir: Path, env: dict, *args, check=True, popen=False):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", "1", *args]
    if popen:
        return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _tiny_config() -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["program"] = "killed"
    cfg["inputs"]["simulate"].update({"detectors": ["nrs1"], "segments": 1, "nints": 4, "ngroups": 5,
                                       "size": [16, 128], "seed": 5})
    for key in ("transit_t0", "transit_duration"):
        cfg["inputs"]["simulate"].pop(key, None)
    cfg.get("lightcurves", {}).pop("transit", None)
    cfg["compute"] = {**cfg.get("compute", {}), "chunk_mb": 16}
    return cfg


@pytest.mark.slow
def test_workflow_recovers_with_unlock_and_rerun_incomplete(tmp_path):
    """Snakemake is SIGKILLed while the jump job writes; the rerun needs ``--unlock`` (the lock
    of the killed run stays), then ``--rerun-incomplete`` completes it: no temporary remains
    anywhere and the stage 1 products equal those of an uninterrupted run."""
    cfg = _tiny_config()
    work, clean = tmp_path / "work", tmp_path / "clean"
    for d in (work, clean):
        (d / "config").mkdir(parents=True)
        (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = _env(tmp_path, "-seg001_nrs1_jump.fits")
    proc = _snakemake(work, env, popen=True)
    _kill_when_paused(proc, tmp_path / "paused", timeout=1500)
    results = work / "results" / "killed"
    assert [p for p in _leftovers(results) if p.endswith("_jump.fits.part") or "_jump.fits." in p], \
        _leftovers(results)
    assert not list((results / "stage1").glob("*_jump.fits"))

    env.pop("RF_PAUSE_PRODUCT")
    locked = _snakemake(work, env, check=False)
    assert locked.returncode != 0 and "unlock" in (locked.stdout + locked.stderr).lower()
    _snakemake(work, env, "--unlock")
    _snakemake(work, env, "--rerun-incomplete")
    assert _leftovers(results) == []

    _snakemake(clean, env)
    finals = sorted(p.name for p in (results / "stage1").glob("*.fits"))
    assert any(n.endswith("-seg001_nrs1_jump.fits") for n in finals), finals
    assert finals == sorted(p.name for p in (clean / "results" / "killed" / "stage1").glob("*.fits"))
    for name in finals:
        if name.endswith(("_rate.fits", "_rateints.fits", "_gain_scale.fits", "_gain_scaleints.fits",
                          "_fitopt.fits", "_mask.fits")):
            a = io.read_image_product(results / "stage1" / name)
            b = io.read_image_product(clean / "results" / "killed" / "stage1" / name)
            for key in ("SCI", "ERR", "DQ"):
                if key in a:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")
        else:
            for x, y in zip(_arrays(results / "stage1" / name),
                            _arrays(clean / "results" / "killed" / "stage1" / name)):
                np.testing.assert_array_equal(x, y, err_msg=name)
    shutil.rmtree(clean, ignore_errors=True)
