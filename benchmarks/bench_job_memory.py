#!/usr/bin/env python
"""Peak memory of each kind of step job against rampflow.wiring.job_mem_mb (the ``mem_mb`` a
SLURM job asks for).

Simulates one NIRSpec TSO exposure (by default 40 integrations x 30 groups x 32 x 2048, 390 MB
as a float32 + uint8 ramp), then runs the workflow's step jobs on it with
rampflow.runner.run for several ``compute.chunk_mb``, each in its own process, and prints the
process's peak resident memory (VmHWM) next to the estimate for the step process (job_mem_mb
less SNAKEMAKE_JOB_MB, the Snakemake process that runs a job inside its allocation, which
this script does not start). The estimate should sit above every measurement, and the
measurements should follow chunk_mb, not the size of the ramp.

    python benchmarks/bench_job_memory.py                          # chunk_mb 32, 128, 512
    python benchmarks/bench_job_memory.py --chunk-mb 64 256 --nints 80
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRE = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]
JOBS = {  # job -> (steps, input ramp made by, outputs)
    "detector1 fused (uncal -> dark_current)": (PRE, "uncal", {"dark_current": "f_dark.fits"}),
    "dark_current alone": (["dark_current"], "linearity", {"dark_current": "d.fits"}),
    "jump alone": (["jump"], "dark", {"jump": "j.fits"}),
    "ramp_fit alone": (["ramp_fit"], "jump", {"rate": "r_rate.fits", "rateints": "r_rateints.fits"}),
    "jump + ramp_fit": (["jump", "ramp_fit"], "dark", {"rate": "jr_rate.fits", "rateints": "jr_rateints.fits"}),
}


def _peak_rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(spec: str) -> None:
    """Run one job in this process; print its peak resident memory as JSON."""
    from rampflow import runner

    a = json.loads(spec)
    runner.run(a["steps"], {"ramp": a["ramp"]}, a["outputs"], overrides=a["refs"], chunk_mb=a["chunk_mb"],
               threads=a["threads"])
    print("RESULT " + json.dumps({"peak_mb": _peak_rss_mb()}))


def run_job(steps, ramp, outputs, refs, chunk_mb, threads) -> float:
    spec = json.dumps({"steps": steps, "ramp": str(ramp), "outputs": outputs, "refs": refs, "chunk_mb": chunk_mb,
                       "threads": threads})
    proc = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])["peak_mb"]
    raise SystemExit(f"job {steps} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunk-mb", type=float, nargs="+", default=[32, 128, 512])
    ap.add_argument("--nints", type=int, default=40)
    ap.add_argument("--ngroups", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    args = ap.parse_args()

    from rampflow import runner
    from rampflow.simulate import simulate_exposure
    from rampflow.wiring import resources

    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(args.workdir or tmp)
        wd.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        sim = simulate_exposure(wd, seed=1, kind="nirspec_tso", detector="NRS1", nints=args.nints,
                                ngroups=args.ngroups, size=None)
        refs = {k: str(v) for k, v in sim.refs.items()}
        ramps = {"uncal": str(sim.uncal)}
        runner.run(PRE[:-1], {"ramp": sim.uncal}, {"linearity": str(wd / "in_linearity.fits")}, overrides=refs)
        ramps["linearity"] = str(wd / "in_linearity.fits")
        runner.run(["dark_current"], {"ramp": ramps["linearity"]}, {"dark_current": str(wd / "in_dark.fits")},
                   overrides=refs)
        ramps["dark"] = str(wd / "in_dark.fits")
        runner.run(["jump"], {"ramp": ramps["dark"]}, {"jump": str(wd / "in_jump.fits")}, overrides=refs)
        ramps["jump"] = str(wd / "in_jump.fits")
        shape = resources.ramp_shape(ramps["dark"])
        ramp_mb = shape[0] * shape[1] * shape[2] * shape[3] * 5 / 2**20
        print(f"exposure {shape} (nints, ngroups, ny, nx): {ramp_mb:.0f} MB as float32 + uint8; "
              f"inputs ready in {time.perf_counter() - t0:.0f} s\n")
        print(f"{'job':42s} {'chunk_mb':>8s} {'peak MB':>8s} {'estimate':>8s}")
        for chunk_mb in args.chunk_mb:
            for name, (steps, src, outs) in JOBS.items():
                outputs = {k: str(wd / v) for k, v in outs.items()}
                peak = run_job(steps, ramps[src], outputs, refs, chunk_mb, args.threads)
                est = resources.job_mem_mb(steps, shape, chunk_mb) - resources.SNAKEMAKE_JOB_MB
                flag = "" if peak <= est else "  <-- above the estimate"
                print(f"{name:42s} {chunk_mb:8.0f} {peak:8.0f} {est:8d}{flag}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
