"""The demo through profiles/slurm on a real one-node SLURM: every job goes through sbatch to
the partition named in the environment, asks for the memory rampflow.wiring.mem_mb gives, and
the products equal those of a local run of the same config.

The cluster comes from the session fixture ``slurm_cluster`` (conftest.py); the test skips
with the reason where SLURM cannot start. The demo is reduced by tests/slurm/reduced.yaml
(one detector, fused ramp steps, no diagnostic plots) so the SLURM run takes a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
REDUCED = Path(__file__).with_name("reduced.yaml")
PROGRAM = "demo-slurm"
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")

pytestmark = pytest.mark.slow


def _env(base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    return env


def _command(wd: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd),
            "--configfile", str(wd / "config" / "config.yaml"), str(REDUCED), *extra]


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The reduced demo run locally (2 cores) and through profiles/slurm, side by side."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    dirs = {}
    for name in ("local", "slurm"):
        wd = tmp_path_factory.mktemp(name)
        shutil.copytree(ROOT / "config", wd / "config")
        dirs[name] = wd
    with open(dirs["local"] / "snakemake.out", "w") as out:
        local = subprocess.Popen(_command(dirs["local"], "--cores", "2"), stdout=out, stderr=subprocess.STDOUT,
                                 env=_env())
        env = _env(slurm_cluster.env)
        env["RAMPFLOW_SLURM_PARTITION"] = slurm_cluster.partition
        env["RAMPFLOW_SLURM_ACCOUNT"] = ""  # no accounts on this cluster: sbatch gets no -A
        cmd = _command(dirs["slurm"], "--profile", str(ROOT / "profiles" / "slurm"),
                       # no accounting database here: job states from squeue (MinJobAge keeps
                       # finished jobs listed); poll every second instead of after 40 s
                       "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
                       "--latency-wait", "5", "--slurm-keep-successful-logs",
                       # the profile's 4 threads for jump and ramp_fit exceed this node's 2 CPUs
                       # (such a job would pend forever); 1, like compute.threads of the local run
                       "--max-threads", "1")
        t0 = time.monotonic()
        try:
            slurm = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        except subprocess.TimeoutExpired as exc:
            queue = subprocess.run(["squeue", "--states=all", "--format=%i %T %r %C %m %k"], capture_output=True,
                                   text=True, env=slurm_cluster.env, timeout=60).stdout
            pytest.fail(f"SLURM run not done after {exc.timeout} s; queue:\n{queue}\n{(exc.stdout or '')[-3000:]}")
        wall = time.monotonic() - t0
        local.wait(timeout=1200)
    print(f"SLURM run of the reduced demo: {wall:.0f} s")
    local_out = (dirs["local"] / "snakemake.out").read_text()
    assert local.returncode == 0, local_out[-6000:]
    assert slurm.returncode == 0, slurm.stdout[-3000:] + slurm.stderr[-8000:]
    queue = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%P|%m|%k"], capture_output=True,
                           text=True, env=slurm_cluster.env, timeout=60, check=True).stdout
    return {"local": dirs["local"] / "results" / PROGRAM, "slurm": dirs["slurm"] / "results" / PROGRAM,
            "log": slurm.stdout + slurm.stderr, "queue": queue, "wall": wall}


def _queue(runs) -> dict:
    """SLURM job id -> (state, partition, memory asked, comment) for the jobs of the run."""
    rows = [line.split("|", 4) for line in runs["queue"].splitlines() if line.strip()]
    return {r[0]: tuple(r[1:]) for r in rows}


def test_every_job_went_through_sbatch_to_the_partition_from_the_environment(runs):
    submitted = dict(SUBMITTED.findall(runs["log"]))
    stats = re.search(r"Job stats:\n(.*?)\ntotal\s+(\d+)", runs["log"], re.S)
    assert stats, runs["log"][-3000:]
    # every job but the target rule `all` (which runs nothing) is a SLURM job: at least the
    # simulation, each exposure's Stage 1 job(s), the light curves, the transit fit and the QA page
    assert len(submitted) == int(stats.group(2)) - 1 >= 4 + 2 * len(_step_jobs()), runs["log"][-3000:]
    queue = _queue(runs)
    for job, slurm_id in submitted.items():
        state, partition, _, _ = queue[slurm_id]
        assert state == "COMPLETED", (job, slurm_id, queue[slurm_id])
        assert partition == "rampflow", (job, slurm_id, queue[slurm_id])


def _step_jobs() -> dict:
    """The reduced demo's step jobs as rampflow.wiring plans them (with compute.fuse the whole
    chain, uncal to gain_scale, is one ramp_fit job per exposure): rule -> (steps, the ramp it
    reads, relative to the program's results folder)."""
    import yaml
    from snakemake.utils import validate

    from rampflow import config as rfconfig
    from rampflow import wiring

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key, value in yaml.safe_load(REDUCED.read_text()).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    rfconfig.prepare(cfg)
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    rfconfig.check(cfg)
    out = wiring.out_dir(cfg).rstrip("/") + "/"
    jobs = {}
    for job in wiring.jobs(cfg, families=wiring.program_families(cfg, ())):
        if job.kind == "steps" and "ramp" in job.inputs:
            jobs[job.name] = (list(job.steps), str(job.inputs["ramp"]).removeprefix(out))
    return jobs


def test_step_jobs_ask_for_the_memory_of_their_chunks(runs):
    """sbatch --mem of every step job is rampflow.wiring.job_mem_mb of its steps on its ramp
    (not the profile's default)."""
    import yaml

    from rampflow.wiring import job_mem_mb
    from rampflow.wiring.resources import ramp_shape

    chunk_mb = float(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["compute"]["chunk_mb"])
    step_jobs = _step_jobs()
    assert step_jobs, "no step job in the reduced demo's plan"
    checked = 0
    for _, _, mem, comment in _queue(runs).values():
        m = re.match(r"rule_(\w+?)_wildcards_(.+)$", comment)
        if not m or m.group(1) not in step_jobs:
            continue
        steps, ramp = step_jobs[m.group(1)]
        expected = job_mem_mb(steps, ramp_shape(runs["slurm"] / ramp.format(stem=m.group(2))), chunk_mb)
        assert mem == f"{expected}M", (comment, mem, expected)
        checked += 1
    assert checked == 2 * len(step_jobs), runs["queue"]


def _stems(results: Path) -> list[str]:
    return sorted(p.name[: -len("_uncal.fits")] for p in (results / "uncal").glob("*_uncal.fits"))


def test_rate_products_equal_the_local_run(runs):
    from astropy.io import fits

    stems = _stems(runs["local"])
    assert stems and stems == _stems(runs["slurm"])
    for stem in stems:
        for suffix in ("rate", "rateints", "gain_scale", "gain_scaleints"):
            with fits.open(runs["local"] / "stage1" / f"{stem}_{suffix}.fits") as a, \
                    fits.open(runs["slurm"] / "stage1" / f"{stem}_{suffix}.fits") as b:
                for ext in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
                    assert a[ext].data.shape == b[ext].data.shape
                    np.testing.assert_array_equal(a[ext].data, b[ext].data, err_msg=f"{stem}_{suffix} {ext}")
                assert np.isfinite(a["SCI"].data[(a["DQ"].data & 1) == 0]).all()


def test_light_curves_equal_the_local_run(runs):
    from astropy.table import Table

    tables = sorted(p.name for p in (runs["local"] / "lightcurves").glob("*.ecsv"))
    assert tables, "no light-curve tables in the local run"
    assert tables == sorted(p.name for p in (runs["slurm"] / "lightcurves").glob("*.ecsv"))
    for name in tables:
        a = Table.read(runs["local"] / "lightcurves" / name)
        b = Table.read(runs["slurm"] / "lightcurves" / name)
        assert a.colnames == b.colnames and len(a) == len(b) > 0, name
        for col in a.colnames:
            np.testing.assert_array_equal(np.asarray(a[col]), np.asarray(b[col]), err_msg=f"{name}:{col}")
    for p in (runs["local"] / "lightcurves").glob("*.json"):
        assert json.loads(p.read_text()) == json.loads((runs["slurm"] / "lightcurves" / p.name).read_text())
    assert (runs["slurm"] / "qa" / "index.html").is_file()
