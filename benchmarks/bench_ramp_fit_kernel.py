#!/usr/bin/env python
"""Speed of the OLS_C ramp fit kernel alone, in memory, against a baseline git revision of
rampflow measured in the same run, and whether the two give bit-identical outputs.

The chunk is a NIRSpec-TSO-like row chunk (default 20 integrations x 70 groups x 32 rows x 2048
columns, float32): per-pixel count rates, Poisson and read noise, ~0.1 % of the groups with a
jump (JUMP_DET, a step in the ramp), a few ramps saturating part-way (SATURATED groups), a few
ramps saturated from group 0, a few DO_NOT_USE groups and pixels. Each revision runs in its
own process (``rampflow`` imported from that revision's ``src``; the baseline's is exported
with ``git archive`` into a temporary directory), fits the chunk with
``steps.ramp_fit.fit_ramps`` once to warm numba's cache, then ``--repeat`` times; the best wall
time and its process CPU time are reported as ns per sample (sample = one group of one pixel
of one integration). rate, rateints (and fitopt with ``--save-opt``) are then compared bit
for bit (NaN placement included).

    python benchmarks/bench_ramp_fit_kernel.py                       # against main
    python benchmarks/bench_ramp_fit_kernel.py --baseline HEAD~3 --threads 2 --nints 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TGROUP = 0.902


def simulate(nints, ngroups, ny, nx, seed=1):
    """(sci float32, gdq uint8, pdq uint32) of a TSO-like chunk (see the module docstring)."""
    from rampflow import dq as dqf
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 20.0, size=(ny, nx)).astype(np.float32)              # DN / group
    sci = np.empty((nints, ngroups, ny, nx), np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    for i in range(nints):
        inc = rng.poisson(np.broadcast_to(rate, (ngroups, ny, nx))).astype(np.float32)
        ramp = np.cumsum(inc, axis=0, dtype=np.float32)
        ramp += rng.normal(0.0, 12.0, size=ramp.shape).astype(np.float32) + np.float32(10000.0)
        jumps = rng.random(ramp.shape) < 1e-3
        jumps[0] = False
        steps = np.cumsum(np.where(jumps, rng.uniform(100.0, 3000.0, ramp.shape), 0.0), axis=0, dtype=np.float32)
        ramp += steps
        gdq[i][jumps] = dqf.JUMP_DET
        sat = rng.random((ny, nx)) < 2e-3                                      # saturating part-way
        first = rng.integers(1, ngroups, size=(ny, nx))
        g = np.arange(ngroups)[:, None, None]
        gdq[i] |= np.where(sat[None] & (g >= first[None]), dqf.SATURATED, 0).astype(np.uint8)
        sat0 = rng.random((ny, nx)) < 2e-4                                     # saturated from group 0
        gdq[i][:, sat0] |= dqf.SATURATED
        dnu = rng.random(ramp.shape) < 2e-4
        gdq[i][dnu] |= dqf.DO_NOT_USE
        sci[i] = ramp
    pdq = np.zeros((ny, nx), np.uint32)
    pdq[rng.random((ny, nx)) < 1e-3] = dqf.DO_NOT_USE | dqf.FLAGS["HOT"]
    return sci, gdq, pdq


def worker(args) -> None:
    """Fit the chunk in this process; print timings as JSON; save the outputs to args.out."""
    import numba

    from rampflow.meta import ExposureMeta
    from rampflow.steps import ramp_fit as rf
    numba.set_num_threads(args.threads)
    sci, gdq, pdq = simulate(args.nints, args.ngroups, args.ny, args.nx)
    meta = ExposureMeta.from_headers(
        {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1, "GROUPGAP": 0, "TFRAME": TGROUP,
         "TGROUP": TGROUP, "NINTS": args.nints, "NGROUPS": args.ngroups, "SUBSIZE1": args.nx, "SUBSIZE2": args.ny},
        {}, filename="bench", shape=sci.shape)
    rng = np.random.default_rng(7)
    rn = rng.uniform(8.0, 20.0, (args.ny, args.nx)).astype(np.float32)
    gain = rng.uniform(0.9, 1.1, (args.ny, args.nx)).astype(np.float32)
    gain[0, :3] = 0.0                                                          # NO_GAIN_VALUE pixels
    dark = rng.uniform(0.0, 0.05, (args.ny, args.nx)).astype(np.float32)
    setup = rf.prepare_ramp_fit(meta, rn, gain, average_dark_current=dark, save_opt=args.save_opt)
    rows = slice(0, args.ny)
    small = slice(0, 1)
    rf.fit_ramps(sci[:, :, small].copy(), gdq[:, :, small].copy(), pdq[small], setup, small)   # compile / load
    best = None
    for _ in range(args.repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        res = rf.fit_ramps(sci, gdq, pdq, setup, rows)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
    arrays = {f"rate_{k}": res.rate[k] for k in rf.RATE_NAMES}
    arrays.update({f"rateints_{k}": res.rateints[k] for k in rf.RATE_NAMES})
    if res.opt is not None:
        arrays.update({f"opt_{k}": res.opt[k] for k in ("slope", "sigslope", "var_poisson", "var_rnoise",
                                                        "yint", "sigyint", "weights", "pedestal", "crmag")})
    np.savez(args.out, **arrays)
    print("RESULT " + json.dumps({"wall": best[0], "cpu": best[1], "samples": int(sci.size)}))


def run(src: Path, args, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--worker", "--out", str(out), "--threads", str(args.threads),
           "--repeat", str(args.repeat), "--nints", str(args.nints), "--ngroups", str(args.ngroups),
           "--ny", str(args.ny), "--nx", str(args.nx)] + (["--save-opt"] if args.save_opt else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker on {src} failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def identical(a: Path, b: Path) -> list[str]:
    """Names of the arrays whose bytes differ (NaN payloads aside, NaN placement included)."""
    bad = []
    with np.load(a) as x, np.load(b) as y:
        for k in x.files:
            u, v = x[k], y[k]
            if u.shape != v.shape:
                bad.append(f"{k} (shape {u.shape} vs {v.shape})")
                continue
            if u.dtype.kind == "f":
                same = np.array_equal(np.isnan(u), np.isnan(v)) and np.array_equal(
                    np.where(np.isnan(u), 0, u).view(np.uint32), np.where(np.isnan(v), 0, v).view(np.uint32))
            else:
                same = np.array_equal(u, v)
            if not same:
                bad.append(k)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="main", help="git revision to compare against (default main)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--nints", type=int, default=20)
    ap.add_argument("--ngroups", type=int, default=70)
    ap.add_argument("--ny", type=int, default=32)
    ap.add_argument("--nx", type=int, default=2048)
    ap.add_argument("--save-opt", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench_rf_") as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        print(f"chunk {args.nints} x {args.ngroups} x {args.ny} x {args.nx}, {args.threads} thread(s), "
              f"save_opt={args.save_opt}; best of {args.repeat}", flush=True)
        res = {}
        for name, src in (("baseline " + args.baseline, tmp / "src"), ("this tree", REPO / "src")):
            res[name] = run(src, args, tmp / f"{len(res)}.npz")
            r = res[name]
            print(f"  {name:>24}: wall {r['wall']:.3f} s = {1e9 * r['wall'] / r['samples']:.2f} ns/sample, "
                  f"cpu {r['cpu']:.3f} s = {1e9 * r['cpu'] / r['samples']:.2f} ns/sample", flush=True)
        (b, n) = res.values()
        print(f"  speed-up: wall x{b['wall'] / n['wall']:.2f}, cpu x{b['cpu'] / n['cpu']:.2f}")
        bad = identical(tmp / "0.npz", tmp / "1.npz")
        print("  outputs bit-identical" if not bad else f"  OUTPUTS DIFFER: {', '.join(bad)}")


if __name__ == "__main__":
    main()
