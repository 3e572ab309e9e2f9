#!/usr/bin/env python
"""Speed and peak memory of rampflow's jump + ramp_fit against the official jwst steps.

Simulates a realistic NIRSpec TSO segment (155 integrations x 70 groups x 32 x 2048) and a
NIRCam full frame (2048 x 2048, 10 groups), runs rampflow's steps up to dark_current to make
the common input, then times jump and ramp_fit: ours, and jwst's (where installed) on the
same file. Each measurement runs in its own process; peak memory is that process's maximum
resident set size. Figures are printed as a table with ratios (jwst / rampflow).

    python benchmarks/bench_stage1.py                 # both cases (needs ~25 GB disk, ~20 GB RAM for jwst)
    python benchmarks/bench_stage1.py --case nircam   # one case
    python benchmarks/bench_stage1.py --small         # a quick smaller TSO (20 ints x 20 groups)
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
}
PRE_STEPS = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]


def _offline_crds(root: Path) -> dict:
    cfg = root / "config" / "jwst"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "server_config").write_text(repr({
        "observatory": "jwst", "operational_context": "jwst_0000.pmap", "edit_context": "jwst_0000.pmap",
        "effective_mode": "local", "status": "server", "last_synced": "2026-01-01 00:00:00",
        "force_remote_mode": False, "crds_version": {"str": "14.0.3"}}))
    maps = root / "mappings" / "jwst"
    maps.mkdir(parents=True, exist_ok=True)
    (maps / "jwst_0000.pmap").write_text(
        "header = {\n    'derived_from' : 'hand made',\n    'mapping' : 'PIPELINE',\n"
        "    'name' : 'jwst_0000.pmap',\n    'observatory' : 'JWST',\n"
        "    'parkey' : (('META.INSTRUMENT.NAME',),),\n    'sha1sum' : 'none',\n}\n\nselector = {\n}\n")
    return {"CRDS_MODE": "local", "CRDS_PATH": str(root), "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
            "STPIPE_DISABLE_CRDS_STEPPARS": "True", "CRDS_SERVER_URL": "https://127.0.0.1:9"}


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
        runner.run_step("jump", inp, out, overrides=refs, threads=threads, chunk_mb=chunk_mb)
    elif task == "ours_ramp_fit":
        from rampflow import runner
        runner.run_ramp_fit(inp, out + "_rate.fits", out + "_rateints.fits", overrides=refs, threads=threads,
                            chunk_mb=chunk_mb)
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


def measure(task, inp, out, refs, threads, env, chunk_mb) -> dict | None:
    print(f"  running {task} ...", flush=True)
    cmd = [sys.executable, __file__, "--worker", task, inp, out, json.dumps({k: str(v) for k, v in refs.items()}),
           str(threads), str(chunk_mb)]
    peak = 0.0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **env}) as proc:
        while proc.poll() is None:
            peak = max(peak, _anon_mb(proc.pid))
            time.sleep(0.1)
        stdout, stderr = proc.communicate()
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["anon_mb"] = peak
            return res
    print(f"  {task} failed:\n{stderr[-3000:]}", file=sys.stderr)
    return None


def run_case(name: str, workdir: Path, threads: int, with_jwst: bool, chunk_mb: float) -> list[tuple]:
    from rampflow import runner
    from rampflow.simulate import SimulatedExposure, simulate_exposure

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
        runner.run_chain(PRE_STEPS, sim.uncal, {"dark_current": prev}, overrides=refs, threads=threads,
                         chunk_mb=chunk_mb)
    print(f"[{name}] input ready after {time.perf_counter() - t0:.0f} s", flush=True)
    env = _offline_crds(workdir / "crds_offline")
    rows = []
    ours_jump = measure("ours_jump", prev, str(wd / "ours_jump.fits"), refs, threads, env, chunk_mb)
    ours_fit = measure("ours_ramp_fit", str(wd / "ours_jump.fits"), str(wd / "ours"), refs, threads, env, chunk_mb)
    theirs_jump = theirs_fit = None
    if with_jwst:
        theirs_jump = measure("jwst_jump", prev, str(wd / "jwst_jump.fits"), refs, threads, env, chunk_mb)
        theirs_fit = measure("jwst_ramp_fit", str(wd / "jwst_jump.fits"), str(wd / "jwst"), refs, threads, env, chunk_mb)
    rows.append((name, "jump", ours_jump, theirs_jump))
    rows.append((name, "ramp_fit", ours_fit, theirs_fit))
    if ours_jump and ours_fit:
        tot_o = {"wall": ours_jump["wall"] + ours_fit["wall"],
                 "maxrss_mb": max(ours_jump["maxrss_mb"], ours_fit["maxrss_mb"]),
                 "anon_mb": max(ours_jump["anon_mb"], ours_fit["anon_mb"])}
        tot_t = None
        if theirs_jump and theirs_fit:
            tot_t = {"wall": theirs_jump["wall"] + theirs_fit["wall"],
                     "maxrss_mb": max(theirs_jump["maxrss_mb"], theirs_fit["maxrss_mb"]),
                     "anon_mb": max(theirs_jump["anon_mb"], theirs_fit["anon_mb"])}
        rows.append((name, "jump+ramp_fit", tot_o, tot_t))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--small", action="store_true", help="only the small TSO case")
    ap.add_argument("--workdir", default="benchmarks/out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-jwst", action="store_true")
    ap.add_argument("--chunk-mb", type=float, default=1024.0, help="rampflow's memory budget per chunk")
    ap.add_argument("--worker", nargs=6, metavar=("TASK", "IN", "OUT", "REFS", "THREADS", "CHUNK"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
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
        rows += run_case(c, Path(a.workdir), a.threads, with_jwst, a.chunk_mb)
    print(f"\n{'case':10s} {'step':14s} {'ours s':>8s} {'jwst s':>8s} {'speed-up':>8s} "
          f"{'ours anon':>10s} {'jwst anon':>10s} {'ratio':>6s} {'ours RSS':>9s} {'jwst RSS':>9s}")
    for case, step, o, t in rows:
        def f(d, k, w):
            return f"{d[k]:{w}.1f}" if d else f"{'-':>{w}s}"
        sp = f"{t['wall'] / o['wall']:8.2f}" if (o and t) else f"{'-':>8s}"
        mr = f"{o['anon_mb'] / t['anon_mb']:6.3f}" if (o and t) else f"{'-':>6s}"
        print(f"{case:10s} {step:14s} {f(o, 'wall', 8)} {f(t, 'wall', 8)} {sp} {f(o, 'anon_mb', 10)} "
              f"{f(t, 'anon_mb', 10)} {mr} {f(o, 'maxrss_mb', 9)} {f(t, 'maxrss_mb', 9)}")
    print("\nspeed-up = jwst wall / rampflow wall (each in its own process, reading its input and writing "
          "its products);\nanon = peak private memory (MB) the task allocated; ratio = ours / jwst; RSS = peak "
          "resident set (VmHWM),\nwhich also counts pages of memory-mapped files (page cache).")


if __name__ == "__main__":
    main()
