#!/usr/bin/env python
"""Speed and peak memory of rampflow's LIKELY ramp fit against stcal's (jwst 3.0's RampFitStep
with algorithm='LIKELY'), in the same run, on the same input file.

Cases as bench_stage1.py: a NIRSpec TSO segment (155 integrations x 70 groups x 32 x 2048), a
NIRCam full frame (2048 x 2048, 10 groups), or (--small) a 20 x 20 x 32 x 2048 TSO. The common
input is rampflow's jump product (rampflow's steps up to jump). Tasks, each in its own process
(peak memory = that process's; see bench_stage1.py), each reading the jump file (in the page
cache, as after the previous step) and writing rate + rateints:

  ours_likely     runner.run(["ramp_fit"], algorithm=LIKELY) with --threads threads
  ours_likely_1t  the same on one thread (stcal's LIKELY is single-threaded numpy: it ignores
                  maximum_cores), the like-for-like comparison of the work done
  ours_fused      runner.run(["jump", "ramp_fit"], LIKELY) from the dark_current file (one job)
  jwst_likely     jwst RampFitStep.call(jump file, algorithm="LIKELY", same reference files,
                  maximum_cores=threads) and saving its products

Reported per task: the job's wall time from launching its process to its exit (interpreter
start-up, imports, numba's cache loading, reading, fitting and writing: everything), its CPU
time (user + system, all threads: what the machine's load does not inflate), peak private
memory, and the load average during the run. numba's cache is filled first (compilation is a
one-off per installation). rampflow's memory is its row chunk (``--chunk-mb``, default 256 as
the workflow's ``compute.chunk_mb``) plus the rate products; stcal holds the whole cube.

    python benchmarks/bench_likely.py --small          # quick
    python benchmarks/bench_likely.py --case tso       # the TSO segment
    python benchmarks/bench_likely.py --case nircam
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stage1 import CASES, PRE_STEPS, _peak_rss_mb, _prepare_cache, run_worker  # noqa: E402

LIKELY = {"ramp_fit": {"algorithm": "LIKELY"}}


def worker(task: str, inp: str, out: str, refs: dict, threads: int, chunk_mb: float) -> None:
    """Run one task in this process and print {"wall": s, "maxrss_mb": MB} as JSON."""
    t0 = time.perf_counter()
    outs = {"rate": out + "_rate.fits", "rateints": out + "_rateints.fits"}
    if task in ("ours_likely", "ours_likely_1t"):
        from rampflow import runner
        runner.run(["ramp_fit"], {"ramp": inp}, outs, params=LIKELY, overrides=refs, threads=threads,
                   chunk_mb=chunk_mb)
    elif task == "ours_fused":
        from rampflow import runner
        runner.run(["jump", "ramp_fit"], {"ramp": inp}, outs, params=LIKELY, overrides=refs, threads=threads,
                   chunk_mb=chunk_mb)
    elif task == "jwst_likely":
        from jwst.ramp_fitting import RampFitStep
        rate, rateints = RampFitStep.call(inp, override_readnoise=refs["readnoise"], override_gain=refs["gain"],
                                          algorithm="LIKELY", maximum_cores=str(threads))
        rate.save(outs["rate"])
        rateints.save(outs["rateints"])
    else:
        raise SystemExit(f"unknown task {task}")
    print("RESULT " + json.dumps({"wall": time.perf_counter() - t0, "maxrss_mb": _peak_rss_mb()}))


def measure(task, inp, out, refs, threads, env, chunk_mb) -> dict | None:
    _prepare_cache(inp, "warm")
    print(f"  running {task} ({threads} thread{'s' if threads > 1 else ''}) ...", flush=True)
    res = run_worker(__file__, task, inp, out, refs, threads, env, chunk_mb)
    if res is not None:
        print(f"    {task}: job {res['job_wall']:.1f} s (in-process {res['wall']:.1f} s), cpu {res['cpu']:.1f} s, "
              f"anon {res['anon_mb']:.0f} MB, load average {res['load']:.1f}", flush=True)
    return res


def agreement(ours: str, theirs: str) -> str:
    """Largest relative difference of rateints SCI where both are finite, and DQ equality."""
    import numpy as np

    from rampflow import io
    a, b = io.read_image_product(ours), io.read_image_product(theirs)
    fin = np.isfinite(a["SCI"]) & np.isfinite(b["SCI"])
    rel = np.abs(a["SCI"][fin] - b["SCI"][fin]) / np.maximum(np.abs(b["SCI"][fin]), 1e-30)
    return f"rateints SCI max rel diff {rel.max():.2e}, DQ equal: {bool(np.array_equal(a['DQ'], b['DQ']))}"


def warm_jit(ngroups: int) -> None:
    """Fit a tiny ramp with LIKELY in this process so that numba's on-disk cache holds the
    kernels before the timed workers start (compilation is a one-off per installation, not a
    cost of each run; jwst has none)."""
    import numpy as np

    from rampflow.meta import ExposureMeta
    from rampflow.steps import ramp_fit as rf

    shape = (2, ngroups, 2, 8)
    meta = ExposureMeta.from_headers(
        {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1, "GROUPGAP": 0, "TFRAME": 1.0, "TGROUP": 1.0,
         "NINTS": 2, "NGROUPS": ngroups, "SUBSIZE1": 8, "SUBSIZE2": 2}, {}, filename="warm", shape=shape)
    one = np.ones((2, 8), np.float32)
    setup = rf.prepare_ramp_fit(meta, one, one, algorithm="LIKELY")
    sci = np.cumsum(np.ones(shape, np.float32), axis=1)
    for chisq in (True, False):  # the step asks for chi square only with save_opt
        rf.fit_ramps(sci, np.zeros(shape, np.uint8), np.zeros((2, 8), np.uint32), setup, slice(0, 2), chisq=chisq)
    # the reading of row chunks (compiled too): rows of a tiny big-endian float32 / uint8 cube
    import tempfile

    from rampflow.io.blocks import DiskCube
    with tempfile.TemporaryFile() as f:
        f.write(sci.astype(">f4").tobytes() + np.zeros(shape, np.uint8).tobytes())
        f.flush()
        for cube, dtype in ((DiskCube(f.name, 0, ">f4", shape), np.float32),
                            (DiskCube(f.name, sci.nbytes, np.uint8, shape), np.uint8)):
            cube.read_rows(f.fileno(), slice(None), slice(0, 1), np.empty((2, ngroups, 1, 8), dtype))


def run_case(name: str, workdir: Path, threads: int, with_jwst: bool, chunk_mb: float,
             with_fused: bool = True) -> list[tuple]:
    from rampflow import runner
    from rampflow.simulate import SimulatedExposure, override_only_crds, simulate_exposure

    spec = CASES[name]
    wd = workdir / name
    wd.mkdir(parents=True, exist_ok=True)
    found = sorted(wd.glob("*_uncal.fits"))
    if found:  # reuse an earlier simulation of this case (bench_stage1.py's too)
        refs = {p.name.split("_")[2]: p for p in (wd / "references").glob("jwst_*.fits")}
        sim = SimulatedExposure(uncal=found[0], refs=refs, truth=None, meta=None)
    else:
        sim = simulate_exposure(wd, seed=1, **spec)
    refs = {k: str(v) for k, v in sim.refs.items()}
    dark = str(wd / "bench_dark_current.fits")
    if not Path(dark).exists():
        runner.run(PRE_STEPS, {"ramp": sim.uncal}, {"dark_current": dark}, overrides=refs, threads=threads,
                   chunk_mb=chunk_mb)
    jump = str(wd / "bench_jump.fits")
    if not Path(jump).exists():
        runner.run(["jump"], {"ramp": dark}, {"jump": jump}, overrides=refs, threads=threads, chunk_mb=chunk_mb)
    print(f"[{name}] input ready: {spec}", flush=True)
    env = override_only_crds(workdir / "crds_offline")
    warm_jit(spec["ngroups"])
    ours = measure("ours_likely", jump, str(wd / "ours_likely"), refs, threads, env, chunk_mb)
    theirs = None
    if with_jwst:  # right after ours, so that both see about the same load
        theirs = measure("jwst_likely", jump, str(wd / "jwst_likely"), refs, threads, env, chunk_mb)
        if ours and theirs:
            same = agreement(str(wd / "ours_likely_rateints.fits"), str(wd / "jwst_likely_rateints.fits"))
            print(f"[{name}] {same}")
    one = None
    if threads > 1:
        one = measure("ours_likely_1t", jump, str(wd / "ours_likely_1t"), refs, 1, env, chunk_mb)
    rows = [(name, f"LIKELY {threads} threads", ours, theirs)]
    if one:
        rows.append((name, "LIKELY 1 thread", one, theirs))
    if with_fused:
        fused = measure("ours_fused", dark, str(wd / "ours_likely_fused"), refs, threads, env, chunk_mb)
        rows.append((name, "jump+LIKELY 1 job", fused, None))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--small", action="store_true", help="only the small TSO case")
    ap.add_argument("--workdir", default="benchmarks/out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-jwst", action="store_true")
    ap.add_argument("--no-fused", action="store_true", help="skip the jump + LIKELY job")
    ap.add_argument("--chunk-mb", type=float, default=256.0,
                    help="rampflow's memory budget per chunk (the workflow's default compute.chunk_mb)")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        task, inp, out, refs, threads, chunk = a.worker
        worker(task, inp, out, json.loads(refs), int(threads), float(chunk))
        return
    cases = a.case or (["tso-small"] if a.small else ["tso", "nircam"])
    rows = []
    for c in cases:
        rows += run_case(c, Path(a.workdir), a.threads, not a.no_jwst, a.chunk_mb, not a.no_fused)
    print(f"\n{'case':10s} {'task':18s} {'ours s':>7s} {'stcal s':>7s} {'speed-up':>8s} {'ours cpu':>8s} "
          f"{'stcal cpu':>9s} {'cpu ratio':>9s} {'ours MB':>8s} {'stcal MB':>8s} {'mem':>6s} {'load':>9s}")
    for case, task, o, t in rows:
        def f(d, k, w):
            return f"{d[k]:{w}.1f}" if d else f"{'-':>{w}s}"

        def ratio(k, w, inverse=False, o=o, t=t):
            if not (o and t):
                return f"{'-':>{w}s}"
            return f"{(o[k] / t[k] if inverse else t[k] / o[k]):{w}.{3 if inverse else 1}f}"
        load = f"{o['load']:4.1f}/{t['load']:4.1f}" if (o and t) else (f"{o['load']:9.1f}" if o else "-")
        print(f"{case:10s} {task:18s} {f(o, 'job_wall', 7)} {f(t, 'job_wall', 7)} {ratio('job_wall', 8)} "
              f"{f(o, 'cpu', 8)} {f(t, 'cpu', 9)} {ratio('cpu', 9)} {f(o, 'anon_mb', 8)} {f(t, 'anon_mb', 8)} "
              f"{ratio('anon_mb', 6, True)} {load:>9s}")
    print("\nours / stcal s = wall time of the whole job (process launch to exit: start-up, reading the jump file,\n"
          "fitting, writing rate + rateints); speed-up = stcal's / ours; cpu = user + system seconds of the\n"
          "process (all threads); MB = peak private memory; mem = ours / stcal's; load = mean 1-minute load\n"
          "average during ours / stcal's run (on a shared machine wall times scale with it, CPU times much less).")


if __name__ == "__main__":
    main()
