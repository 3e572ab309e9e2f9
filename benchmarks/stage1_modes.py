"""The whole Stage 1 in one run on the same uncal file (``bench_stage1.py --stage1``): jwst's
calwebb_detector1 against rampflow's three ways of running it, each job in its own process as
the workflow runs it:

* ``dag``     -- the per-step DAG (``compute.fuse: false``): one job per step, each writing
                 its ramp product for the next;
* ``fused``   -- the two-job fused layout (integration-chunk steps group_scale ... dark_current
                 in one job writing the dark_current ramp, then jump + ramp_fit in the next);
* ``onepass`` -- ``compute.fuse`` with no intermediates kept: the whole chain from the uncal file
                 to the rate products and gain_scale in one job reading the ramp once (with
                 snowball flagging, jump's pre-pass recomputes the steps before it from the
                 uncal file);
* ``fallback`` -- the same job with jump kept out of the one pass (as for a step that cannot
                 share it): the steps before jump in a pass of their own writing a temporary
                 dark_current ramp that jump (and its snowball pre-pass) then reads.

Every rampflow mode starts with the workflow's references job (``rampflow.prefetch.write_ready``,
whose list of reference and parameter files the later jobs read, as the workflow's do) and
ends with gain_scale (its own job but in ``onepass``), as the workflow does; Snakemake's own
start-up is not counted.
Reference files come from the simulator's CRDS cache (local mode, no server) for both
pipelines. jwst runs the steps rampflow runs: its ``ipc`` (the simulated cache has an IPC file)
and ``clean_flicker_noise`` (switched on by the cache's parameter file) are skipped, and its
pipeline-level reference prefetch is turned off (it asks CRDS for every step's types, MIRI's
too, which a simulated cache does not map); each step still fetches its own.

Each job reports the time inside ``runner.run`` and, from ``rampflow.io.timing``, the parts
spent reading the ramp, writing products and resolving/loading references; the parent measures
the process's wall time, CPU time (user + system) and peak private memory. Start-up = wall -
time in ``runner.run`` + reference loading (interpreter, imports, CRDS); compute = the rest
(numba's cache loading included).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]
MODES = ("dag", "fused", "onepass", "fallback")


def _rate(d: Path, tag: str) -> dict:
    return {"rate": str(d / f"{tag}_rate.fits"), "rateints": str(d / f"{tag}_rateints.fits")}


def plan_jobs(mode: str, uncal: str, out: Path) -> list[dict]:
    """The jobs of ``mode`` on one exposure (as rampflow.wiring plans them), in order:
    {name, steps, inputs, outputs}."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [{"name": "references", "steps": CHAIN + ["ramp_fit", "gain_scale"], "inputs": {"uncal": uncal},
             "outputs": {"ready": str(out / ".ready")}}]
    if mode == "dag":
        prev = uncal
        for s in CHAIN:
            path = str(out / f"{s}.fits")
            jobs.append({"name": s, "steps": [s], "inputs": {"ramp": prev}, "outputs": {s: path}})
            prev = path
        jobs.append({"name": "ramp_fit", "steps": ["ramp_fit"], "inputs": {"ramp": prev}, "outputs": _rate(out, "x")})
    elif mode == "fused":
        dark = str(out / "dark_current.fits")
        jobs.append({"name": "group_scale..dark_current", "steps": CHAIN[:-1], "inputs": {"ramp": uncal},
                     "outputs": {"dark_current": dark}})
        jobs.append({"name": "jump+ramp_fit", "steps": ["jump", "ramp_fit"], "inputs": {"ramp": dark},
                     "outputs": _rate(out, "x")})
    gain = {"gain_scale": str(out / "x_gain_scale.fits"), "gain_scaleints": str(out / "x_gain_scaleints.fits")}
    if mode in ("onepass", "fallback"):  # gain_scale inside the job too: one job per exposure
        jobs.append({"name": "uncal..gain_scale", "steps": CHAIN + ["ramp_fit", "gain_scale"],
                     "inputs": {"ramp": uncal}, "outputs": {**_rate(out, "x"), **gain}})
    elif mode not in MODES:
        raise ValueError(mode)
    else:
        jobs.append({"name": "gain_scale", "steps": ["gain_scale"], "inputs": _rate(out, "x"), "outputs": gain})
    return jobs


def job_worker(spec: dict) -> None:
    """Run one job in this process; print RESULT {run, setup, read, write}."""
    from rampflow.io import timing

    t = time.perf_counter()
    if spec["name"] == "references":  # what the workflow's references job imports: not the runner
        from rampflow import prefetch

        with timing.timed("setup"):
            if prefetch.write_ready(spec["outputs"]["ready"], [spec["inputs"]["uncal"]], spec["steps"], overrides={},
                                    context=spec["context"]):
                raise SystemExit("the references job failed")
    else:
        from rampflow import runner

        if spec.get("mode") == "fallback":  # jump kept out of the one pass, whatever its parameters
            from rampflow.steps.jump import JumpStep

            JumpStep.one_pass_conflict = classmethod(lambda cls, meta, params: "kept out by the benchmark")
        params = {k: v for k, v in (spec.get("params") or {}).items() if k in spec["steps"]}
        # as the workflow's jobs: the references job's list instead of asking CRDS again
        runner.run(spec["steps"], spec["inputs"], spec["outputs"], crds_context=spec["context"],
                   chunk_mb=spec["chunk_mb"], threads=spec["threads"], params=params,
                   resolved=spec["ready"], exposure=Path(spec["uncal"]).name)
    res = {"run": time.perf_counter() - t, **timing.SECONDS, "steps": dict(timing.STEPS)}
    print("RESULT " + json.dumps(res), flush=True)


def jwst_worker(spec: dict) -> None:
    """calwebb_detector1 on the uncal file, rate and rateints saved; print RESULT {run}."""
    from jwst.pipeline import Detector1Pipeline

    Detector1Pipeline._precache_references = lambda self, f: None  # see the module docstring
    t = time.perf_counter()
    steps = {"ipc": {"skip": True}, "clean_flicker_noise": {"skip": True},
             "jump": {"maximum_cores": str(spec["threads"]), **(spec.get("params") or {}).get("jump", {})},
             "ramp_fit": {"maximum_cores": str(spec["threads"])}}
    Detector1Pipeline.call(spec["uncal"], output_dir=spec["out"], save_results=True, steps=steps)
    print("RESULT " + json.dumps({"run": time.perf_counter() - t}), flush=True)


def run_process(kind: str, spec: dict, env: dict) -> dict | None:
    """Run a worker process; its wall, CPU (user + system) and peak private memory (MB), and
    what it reported."""
    from bench_stage1 import _anon_mb

    cmd = [sys.executable, str(Path(__file__).with_name("bench_stage1.py")), "--stage1-worker", kind,
           json.dumps(spec)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    peak = 0.0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **env}) as proc:
        while proc.poll() is None:
            peak = max(peak, _anon_mb(proc.pid))
            time.sleep(0.05)
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res.update(wall=wall, cpu=cpu, anon_mb=peak)
            return res
    print(f"  {kind} {spec.get('name', '')} failed:\n{stderr[-3000:]}", file=sys.stderr)
    return None


def run_mode(mode: str, uncal: str, out: Path, env: dict, context: str, chunk_mb: float, threads: int,
             params: dict | None = None) -> dict | None:
    """Run every job of ``mode``; totals (wall, cpu, summed parts; peak = the largest job's).
    ``params``: step parameters over the CRDS parameter files, for both pipelines (e.g.
    ``{"jump": {"expand_large_events": False}}``)."""
    if mode == "jwst":
        out.mkdir(parents=True, exist_ok=True)
        r = run_process("jwst", {"uncal": uncal, "out": str(out), "threads": threads, "params": params}, env)
        if r is None:
            return None
        return {"wall": r["wall"], "cpu": r["cpu"], "anon_mb": r["anon_mb"], "startup": r["wall"] - r["run"],
                "read": None, "write": None, "compute": None, "jobs": [("calwebb_detector1", r)]}
    tot = {"wall": 0.0, "cpu": 0.0, "anon_mb": 0.0, "startup": 0.0, "read": 0.0, "write": 0.0, "compute": 0.0,
           "jobs": []}
    for job in plan_jobs(mode, uncal, out):
        spec = {**job, "context": context, "chunk_mb": chunk_mb, "threads": threads, "params": params, "mode": mode,
                "ready": str(out / ".ready"), "uncal": uncal}
        r = run_process("job", spec, env)
        if r is None:
            return None
        startup = r["wall"] - r["run"] + r["setup"]
        compute = r["run"] - r["setup"] - r["read"] - r["write"]
        for k, v in (("wall", r["wall"]), ("cpu", r["cpu"]), ("startup", startup), ("read", r["read"]),
                     ("write", r["write"]), ("compute", compute)):
            tot[k] += v
        tot["anon_mb"] = max(tot["anon_mb"], r["anon_mb"])
        tot["jobs"].append((job["name"], {**r, "startup": startup, "compute": compute}))
        print(f"    {mode:8s} {job['name']:26s} wall {r['wall']:6.1f} s  cpu {r['cpu']:6.1f} s  "
              f"peak {r['anon_mb']:6.0f} MB  start-up {startup:5.1f}  read {r['read']:5.1f}  "
              f"write {r['write']:5.1f}  compute {compute:5.1f}", flush=True)
        if r.get("steps"):  # a row pass's time per step (fused runs joined by +)
            print("      row pass per step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items()),
                  flush=True)
    return tot


def compare_products(a: Path, b: Path) -> str:
    """'identical' when every array of rate / rateints in ``a`` and ``b`` is equal, else which differ."""
    import numpy as np
    from astropy.io import fits

    bad = []
    for suffix in ("rate", "rateints"):
        with fits.open(a / f"x_{suffix}.fits") as x, fits.open(b / f"x_{suffix}.fits") as y:
            for ext in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
                if not np.array_equal(x[ext].data, y[ext].data, equal_nan=True):
                    bad.append(f"{suffix}[{ext}]")
    return "identical" if not bad else "differ: " + ", ".join(bad)


def print_table(case: str, results: dict) -> None:
    base = results.get("jwst")
    print(f"\n[{case}] Stage 1, uncal -> rate/rateints (each job its own process; times in s, memory in MB)")
    print(f"{'pipeline':10s} {'wall':>7s} {'/jwst':>6s} {'cpu':>7s} {'/jwst':>6s} {'peak':>7s} {'/jwst':>6s} "
          f"{'start-up':>9s} {'read':>6s} {'write':>6s} {'compute':>8s} {'jobs':>5s}")
    for mode, r in results.items():
        if r is None:
            print(f"{mode:10s} failed")
            continue

        def ratio(k, r=r):
            return f"{r[k] / base[k]:6.2f}" if base else f"{'-':>6s}"

        def part(k, w, r=r):
            return f"{r[k]:{w}.1f}" if r[k] is not None else f"{'-':>{w}s}"
        print(f"{mode:10s} {r['wall']:7.1f} {ratio('wall')} {r['cpu']:7.1f} {ratio('cpu')} {r['anon_mb']:7.0f} "
              f"{ratio('anon_mb')} {part('startup', 9)} {part('read', 6)} {part('write', 6)} {part('compute', 8)} "
              f"{len(r['jobs']):5d}")
    print("peak = the largest private (anonymous) resident memory of any one job; start-up = interpreter, imports "
          "and reference loading;\njwst's parts are not separated (its start-up is the time before "
          "Detector1Pipeline.call).")
