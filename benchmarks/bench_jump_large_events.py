#!/usr/bin/env python
"""Peak memory and wall time of rampflow's jump with snowball + shower flagging against jump
without them, on the same input, each in its own process (the baseline is measured in the
same run).

Simulates a NIRSpec BOTS segment (default 155 integrations x 70 groups x 32 x 2048, with
snowballs and showers), runs the steps before jump on it (one fused pass), then
``runner.run(["jump"])`` with ``compute.chunk_mb`` (default 256, the config's default) twice:
jwst's defaults (no large events), and ``expand_large_events`` + ``find_showers`` on. Prints
each run's peak resident memory (VmHWM) and wall time, and the ratios; the target is a peak
within 1.5x of the baseline.

    python benchmarks/bench_jump_large_events.py            # the 155 x 70 x 32 x 2048 segment
    python benchmarks/bench_jump_large_events.py --small    # 20 x 20 x 32 x 512, a minute
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
EVENTS = {"expand_large_events": True, "find_showers": True}


def _peak_rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(spec: str) -> None:
    """Run jump in this process; print its peak resident memory and wall time as JSON."""
    from rampflow import runner

    a = json.loads(spec)
    t = time.perf_counter()
    runner.run(["jump"], {"ramp": a["ramp"]}, {"jump": a["out"]}, overrides=a["refs"], chunk_mb=a["chunk_mb"],
               threads=a["threads"], params={"jump": a["params"]}, use_crds_pars=False)
    print("RESULT " + json.dumps({"peak_mb": _peak_rss_mb(), "wall_s": time.perf_counter() - t}))


def run_jump(ramp, out, refs, chunk_mb, threads, params) -> dict:
    spec = json.dumps({"ramp": str(ramp), "out": str(out), "refs": refs, "chunk_mb": chunk_mb, "threads": threads,
                       "params": params})
    proc = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"jump run failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="20 integrations x 20 groups x 32 x 512")
    ap.add_argument("--shape", type=int, nargs=4, default=None, metavar=("NINTS", "NGROUPS", "NY", "NX"))
    ap.add_argument("--chunk-mb", type=float, default=256.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    args = ap.parse_args()
    shape = args.shape or ([20, 20, 32, 512] if args.small else [155, 70, 32, 2048])

    from rampflow import runner
    from rampflow.simulate import read_truth, simulate_exposure
    from rampflow.simulate.geometry import geometry

    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(args.workdir or tmp)
        wd.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        nints, ngroups, ny, nx = shape
        geom = geometry("nirspec_tso", "NRS1", [ny, nx], ngroups, None)
        per_int = 3.0 / (ny * nx * geom.nframes_total * geom.tframe)  # about 3 of each per integration
        sim = simulate_exposure(wd, seed=5, kind="nirspec_tso", detector="NRS1", nints=nints, ngroups=ngroups,
                                size=[ny, nx], snowball_rate=per_int, shower_rate=per_int)
        refs = {k: str(v) for k, v in sim.refs.items()}
        dark = wd / "in_dark_current.fits"
        runner.run(PRE, {"ramp": sim.uncal}, {"dark_current": str(dark)}, overrides=refs, chunk_mb=args.chunk_mb,
                   threads=args.threads)
        events = read_truth(sim.truth)["events"]
        ramp_mb = nints * ngroups * ny * nx * 5 / 2**20
        print(f"segment {tuple(shape)} (nints, ngroups, ny, nx): {ramp_mb:.0f} MB as float32 + uint8, "
              f"{len(events)} simulated large events; input ready in {time.perf_counter() - t0:.0f} s; "
              f"chunk_mb {args.chunk_mb:g}, {args.threads} threads\n", flush=True)
        base = run_jump(dark, wd / "jump_plain.fits", refs, args.chunk_mb, args.threads, {})
        ev = run_jump(dark, wd / "jump_events.fits", refs, args.chunk_mb, args.threads, EVENTS)
        print(f"{'jump':34s} {'peak MB':>8s} {'wall s':>8s}")
        print(f"{'without large events (baseline)':34s} {base['peak_mb']:8.0f} {base['wall_s']:8.1f}")
        print(f"{'expand_large_events + find_showers':34s} {ev['peak_mb']:8.0f} {ev['wall_s']:8.1f}")
        ratio = ev["peak_mb"] / base["peak_mb"]
        print(f"\npeak ratio {ratio:.2f} (target <= 1.5), wall ratio {ev['wall_s'] / base['wall_s']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
