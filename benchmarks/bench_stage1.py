#!/usr/bin/env python
"""Speed and peak memory of rampflow's Stage 1 against the official jwst pipeline.

``--stage1``: the whole Stage 1, uncal -> rate/rateints, in one run on the same simulated
NIRSpec TSO file: jwst's calwebb_detector1, rampflow's per-step DAG, its two-job fused layout
and its one-pass job (see benchmarks/stage1_modes.py), with wall, CPU and peak memory, their
ratios to jwst, and each rampflow mode's start-up / reading / writing / compute parts:

    python benchmarks/bench_stage1.py --stage1                  # 40 x 70 x 32 x 2048 (tso40)
    python benchmarks/bench_stage1.py --stage1 --case tso       # the full 155 x 70 x 32 x 2048 segment
    python benchmarks/bench_stage1.py --stage1 --modes onepass jwst   # some of them

Without ``--stage1``: rampflow's jump + ramp_fit against the official jwst steps.

Simulates a realistic NIRSpec TSO segment (155 integrations x 70 groups x 32 x 2048) and a
NIRCam full frame (2048 x 2048, 10 groups), runs rampflow's steps up to dark_current to make
the common input, then times jump and ramp_fit: ours, and jwst's (where installed) on the
same file. Each measurement runs in its own process; peak memory is that process's maximum
resident set size. Figures are printed as a table with ratios (jwst / rampflow).

    python benchmarks/bench_stage1.py                 # both cases (needs ~25 GB disk, ~20 GB RAM for jwst)
    python benchmarks/bench_stage1.py --case nircam   # one case
    python benchmarks/bench_stage1.py --small         # a quick smaller TSO (20 ints x 20 groups)
    python benchmarks/bench_stage1.py --cache cold    # drop the page cache before every task (root)
    python benchmarks/bench_stage1.py --repeat 3      # each task 3 times, median wall time

Every task starts from the same page-cache state (--cache): by default its input file is read
into the cache first, as it is in a workflow where the previous step just wrote it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "tso": dict(kind="nirspec_tso", detector="NRS1", nints=155, ngroups=70, size=None),
    "nircam": dict(kind="nircam_image", detector="NRCA1", nints=1, ngroups=10, size=None),
    "tso-small": dict(kind="nirspec_tso", detector="NRS1", nints=20, ngroups=20, size=None),
    "tso40": dict(kind="nirspec_tso", detector="NRS1", nints=40, ngroups=70, size=None),
}
PRE_STEPS = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike ru_maxrss it is not inherited from
    the parent that forked us, so it measures the task alone."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(task: str, inp: str, out: str, refs: dict, threads: int, chunk_mb: float) -> None:
    """Run one task in this process and print {"wall": s, "maxrss_mb": MB} as JSON."""
    t0 = time.perf_counter()
    if task == "ours_jump":
        from rampflow import runner
        runner.run(["jump"], {"ramp": inp}, {"jump": out}, overrides=refs, threads=threads, chunk_mb=chunk_mb)
    elif task == "ours_ramp_fit":
        from rampflow import runner
        runner.run(["ramp_fit"], {"ramp": inp}, {"rate": out + "_rate.fits", "rateints": out + "_rateints.fits"},
                   overrides=refs, threads=threads, chunk_mb=chunk_mb)
    elif task == "ours_fused":
        from rampflow import runner
        outs = {"rate": out + "_rate.fits", "rateints": out + "_rateints.fits"}
        runner.run(["jump", "ramp_fit"], {"ramp": inp}, outs, overrides=refs, threads=threads, chunk_mb=chunk_mb)
    elif task == "jwst_pipeline":
        # what calwebb_detector1 does: jump's result goes to ramp_fit in memory, unsaved
        from jwst.jump import JumpStep
        from jwst.ramp_fitting import RampFitStep
        jumped = JumpStep.call(inp, override_readnoise=refs["readnoise"], override_gain=refs["gain"],
                               maximum_cores=str(threads))
        rate, rateints = RampFitStep.call(jumped, override_readnoise=refs["readnoise"],
                                          override_gain=refs["gain"], maximum_cores=str(threads))
        rate.save(out + "_rate.fits")
        rateints.save(out + "_rateints.fits")
    elif task == "jwst_jump":
        from jwst.jump import JumpStep
        r = JumpStep.call(inp, override_readnoise=refs["readnoise"], override_gain=refs["gain"],
                          maximum_cores=str(threads))
        r.save(out)
    elif task == "jwst_ramp_fit":
        from jwst.ramp_fitting import RampFitStep
        rate, rateints = RampFitStep.call(inp, override_readnoise=refs["readnoise"], override_gain=refs["gain"],
                                          maximum_cores=str(threads))
        rate.save(out + "_rate.fits")
        rateints.save(out + "_rateints.fits")
    else:
        raise SystemExit(f"unknown task {task}")
    wall = time.perf_counter() - t0
    rss = _peak_rss_mb()
    print("RESULT " + json.dumps({"wall": wall, "maxrss_mb": rss}))


def _anon_mb(pid: int) -> float:
    """Private (anonymous) resident memory of a process: what it allocated, not the file pages
    it has memory-mapped (those are page cache the kernel can drop at any time)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _prepare_cache(path: str, cache: str) -> None:
    """Put ``path`` in the state every task starts from: 'warm' = in the page cache (as when
    the previous step just wrote it), 'cold' = nothing cached (needs root to drop caches)."""
    if cache == "cold":
        os.sync()
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError as exc:
            raise SystemExit(f"--cache cold needs root to write /proc/sys/vm/drop_caches ({exc})") from exc
        return
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1 << 24)
        while f.readinto(buf):
            pass


def measure(task, inp, out, refs, threads, env, chunk_mb, cache="warm", repeat=1) -> dict | None:
    """Run ``task`` ``repeat`` times; the result with the median wall time (this machine's
    timings of file-heavy tasks vary by tens of per cent from run to run)."""
    runs = []
    for _ in range(repeat):
        res = _measure_once(task, inp, out, refs, threads, env, chunk_mb, cache)
        if res is None:
            return None
        runs.append(res)
    runs.sort(key=lambda r: r["wall"])
    best = dict(runs[len(runs) // 2])
    best["walls"] = [round(r["wall"], 1) for r in runs]
    if repeat > 1:
        print(f"    {task}: wall times {best['walls']} s", flush=True)
    return best


def _measure_once(task, inp, out, refs, threads, env, chunk_mb, cache) -> dict | None:
    _prepare_cache(inp, cache)
    print(f"  running {task} ({cache} cache) ...", flush=True)
    return run_worker(__file__, task, inp, out, refs, threads, env, chunk_mb)


def run_worker(script, task, inp, out, refs, threads, env, chunk_mb) -> dict | None:
    """Run ``script --worker task ...`` in its own process, sampling its anonymous memory every
    0.1 s; its RESULT line (wall, maxrss_mb) plus ``anon_mb``, ``job_wall`` (s, from launching
    the process to its exit: interpreter start-up included), ``cpu`` (s, the process's user +
    system time, all threads) and ``load`` (the 1-minute load average, mean over the run), or
    None (its stderr printed)."""
    cmd = [sys.executable, str(script), "--worker", task, inp, out,
           json.dumps({k: str(v) for k, v in refs.items()}), str(threads), str(chunk_mb)]
    peak = 0.0
    loads = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **env}) as proc:
        while proc.poll() is None:
            peak = max(peak, _anon_mb(proc.pid))
            if len(loads) < time.perf_counter() - t0:  # one sample a second
                loads.append(os.getloadavg()[0])
            time.sleep(0.1)
        stdout, stderr = proc.communicate()
    job_wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["anon_mb"] = peak
            res["job_wall"] = job_wall
            res["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            res["load"] = sum(loads) / len(loads) if loads else os.getloadavg()[0]
            return res
    print(f"  {task} failed:\n{stderr[-3000:]}", file=sys.stderr)
    return None


def run_case(name: str, workdir: Path, threads: int, with_jwst: bool, chunk_mb: float,
             cache: str = "warm", repeat: int = 1) -> list[tuple]:
    from rampflow import runner
    from rampflow.simulate import SimulatedExposure, override_only_crds, simulate_exposure

    spec = CASES[name]
    wd = workdir / name
    wd.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    found = sorted(wd.glob("*_uncal.fits"))
    if found:  # reuse an earlier simulation of this case
        refs = {p.name.split("_")[2]: p for p in (wd / "references").glob("jwst_*.fits")}
        sim = SimulatedExposure(uncal=found[0], refs=refs, truth=None, meta=None)
    else:
        sim = simulate_exposure(wd, seed=1, **spec)
    refs = {k: str(v) for k, v in sim.refs.items()}
    print(f"[{name}] simulated {spec} in {time.perf_counter() - t0:.0f} s", flush=True)
    prev = str(wd / "bench_dark_current.fits")
    if not Path(prev).exists():  # the common input: our steps up to dark_current, one file written
        runner.run(PRE_STEPS, {"ramp": sim.uncal}, {"dark_current": prev}, overrides=refs, threads=threads,
                   chunk_mb=chunk_mb)
    print(f"[{name}] input ready after {time.perf_counter() - t0:.0f} s", flush=True)
    env = override_only_crds(workdir / "crds_offline")
    rows = []

    def run(task, inp, out):
        return measure(task, inp, out, refs, threads, env, chunk_mb, cache, repeat)

    # steps one by one, each reading its input file and writing its products (both pipelines)
    ours_jump = run("ours_jump", prev, str(wd / "ours_jump.fits"))
    ours_fit = run("ours_ramp_fit", str(wd / "ours_jump.fits"), str(wd / "ours"))
    # jump then ramp_fit in one job, the jump product not written (calwebb_detector1's way)
    ours_fused = run("ours_fused", prev, str(wd / "ours_fused"))
    theirs_jump = theirs_fit = theirs_pipe = None
    if with_jwst:
        theirs_jump = run("jwst_jump", prev, str(wd / "jwst_jump.fits"))
        theirs_fit = run("jwst_ramp_fit", str(wd / "jwst_jump.fits"), str(wd / "jwst"))
        theirs_pipe = run("jwst_pipeline", prev, str(wd / "jwst_pipeline"))
    rows.append((name, "jump", ours_jump, theirs_jump))
    rows.append((name, "ramp_fit", ours_fit, theirs_fit))
    if ours_jump and ours_fit:
        rows.append((name, "jump+ramp_fit", _total(ours_jump, ours_fit), _total(theirs_jump, theirs_fit)))
    rows.append((name, "in one job", ours_fused, theirs_pipe))
    return rows


def run_stage1(name: str, workdir: Path, threads: int, chunk_mb: float, modes, snowballs: str = "crds") -> None:
    """The whole Stage 1 on case ``name``: jwst and rampflow's modes (stage1_modes.py);
    ``snowballs`` "off" turns jump's snowball flagging off in both pipelines (the simulated
    CRDS cache's jump parameter file turns it on; the one pass then recomputes the steps
    before jump in jump's pre-pass)."""
    import stage1_modes as sm

    from rampflow.simulate import simulate_exposure, write_crds_cache

    spec = CASES[name]
    wd = workdir / name
    wd.mkdir(parents=True, exist_ok=True)
    found = sorted(wd.glob("*_uncal.fits"))
    if found:  # reuse an earlier simulation of this case
        uncal = found[0]
        refs = {p.name.split("_")[2]: p for p in (wd / "references").glob("jwst_*.fits")}
    else:
        t0 = time.perf_counter()
        sim = simulate_exposure(wd, seed=1, **spec)
        uncal, refs = sim.uncal, sim.refs
        print(f"[{name}] simulated {spec} in {time.perf_counter() - t0:.0f} s", flush=True)
    context = write_crds_cache(wd / "crds", {spec["detector"]: refs})
    env = {"CRDS_PATH": str(wd / "crds"), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
           "CRDS_SERVER_URL": "https://127.0.0.1:9", "CRDS_CONTEXT": context}
    print(f"[{name}] load average before: {os.getloadavg()}; snowball flagging: "
          f"{'off' if snowballs == 'off' else 'as the CRDS parameter file says'}", flush=True)
    results = {}
    for mode in modes:
        _prepare_cache(str(uncal), "warm")
        print(f"  running {mode} ...", flush=True)
        params = {"jump": {"expand_large_events": False}} if snowballs == "off" else None
        results[mode] = sm.run_mode(mode, str(uncal), wd / f"stage1_{mode}", env, context, chunk_mb, threads,
                                    params)
    print(f"[{name}] load average after: {os.getloadavg()}", flush=True)
    sm.print_table(name, results)
    ours = [m for m in modes if m != "jwst" and results.get(m)]
    for m in ours[1:]:
        print(f"products of {m} vs {ours[0]}: "
              f"{sm.compare_products(wd / f'stage1_{ours[0]}', wd / f'stage1_{m}')}")


def _total(a, b):
    if not (a and b):
        return None
    return {"wall": a["wall"] + b["wall"], "maxrss_mb": max(a["maxrss_mb"], b["maxrss_mb"]),
            "anon_mb": max(a["anon_mb"], b["anon_mb"])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--small", action="store_true", help="only the small TSO case")
    ap.add_argument("--workdir", default="benchmarks/out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-jwst", action="store_true")
    ap.add_argument("--chunk-mb", type=float, default=1024.0, help="rampflow's memory budget per chunk")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each task; the median wall time is shown")
    ap.add_argument("--cache", choices=("warm", "cold"), default="warm",
                    help="page cache before each task: input file cached (as in a workflow, default) or "
                         "all caches dropped (needs root)")
    ap.add_argument("--stage1", action="store_true", help="the whole Stage 1: jwst's calwebb_detector1 against "
                    "rampflow's per-step DAG, fused jobs and one pass (default case tso40)")
    ap.add_argument("--modes", nargs="+", default=["jwst", "dag", "fused", "onepass"],
                    choices=["jwst", "dag", "fused", "onepass", "fallback"], help="with --stage1: what to run "
                    "(fallback: the one-pass job with jump kept out of the pass, a temporary dark_current ramp)")
    ap.add_argument("--snowballs", choices=("crds", "off"), default="crds",
                    help="with --stage1: jump's snowball flagging as the CRDS parameter file says (on for the "
                         "simulated NIR exposures; the one pass then recomputes jump's input in its pre-pass), "
                         "or off in both pipelines")
    ap.add_argument("--stage1-worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=6, metavar=("TASK", "IN", "OUT", "REFS", "THREADS", "CHUNK"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.stage1_worker:
        import stage1_modes as sm

        kind, spec = a.stage1_worker
        (sm.jwst_worker if kind == "jwst" else sm.job_worker)(json.loads(spec))
        return
    if a.stage1:
        for c in a.case or ["tso40"]:
            run_stage1(c, Path(a.workdir), a.threads, a.chunk_mb, a.modes, a.snowballs)
        return
    if a.worker:
        task, inp, out, refs, threads, chunk = a.worker
        worker(task, inp, out, json.loads(refs), int(threads), float(chunk))
        return
    cases = a.case or (["tso-small"] if a.small else ["tso", "nircam"])
    with_jwst = not a.no_jwst
    if with_jwst:
        try:
            import jwst  # noqa: F401
        except ImportError:
            print("jwst is not installed: timing rampflow only")
            with_jwst = False
    rows = []
    for c in cases:
        rows += run_case(c, Path(a.workdir), a.threads, with_jwst, a.chunk_mb, a.cache, a.repeat)
    print(f"\n{'case':10s} {'step':14s} {'ours s':>8s} {'jwst s':>8s} {'speed-up':>8s} "
          f"{'ours anon':>10s} {'jwst anon':>10s} {'ratio':>6s} {'ours RSS':>9s} {'jwst RSS':>9s}")
    for case, step, o, t in rows:
        def f(d, k, w):
            return f"{d[k]:{w}.1f}" if d else f"{'-':>{w}s}"
        sp = f"{t['wall'] / o['wall']:8.2f}" if (o and t) else f"{'-':>8s}"
        mr = f"{o['anon_mb'] / t['anon_mb']:6.3f}" if (o and t) else f"{'-':>6s}"
        print(f"{case:10s} {step:14s} {f(o, 'wall', 8)} {f(t, 'wall', 8)} {sp} {f(o, 'anon_mb', 10)} "
              f"{f(t, 'anon_mb', 10)} {mr} {f(o, 'maxrss_mb', 9)} {f(t, 'maxrss_mb', 9)}")
    print("\nspeed-up = jwst wall / rampflow wall, each task in its own process reading its input and writing "
          "its products;\n'in one job' = jump then ramp_fit without writing the jump product (jwst: JumpStep's "
          "model passed to RampFitStep,\nas calwebb_detector1 does; rampflow: runner.run of [jump, ramp_fit], "
          "i.e. compute.fuse);\nanon = peak private memory (MB) the task allocated; ratio = ours / jwst; RSS = peak "
          "resident set (VmHWM),\nwhich also counts pages of memory-mapped files (page cache).")


if __name__ == "__main__":
    main()
