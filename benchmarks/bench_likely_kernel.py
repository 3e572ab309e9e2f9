#!/usr/bin/env python
"""The LIKELY fit alone, in memory: nanoseconds per ramp of rampflow's LIKELY kernel on a
simulated chunk shaped like the TSO segment's (70 groups, 2048 columns), against the kernel of
another revision of this repository (``--baseline REV``) in the same run.

No file is read or written: the chunk (``--nints`` x 70 x ``--rows`` x 2048, float32 DN, a
count rate per pixel from 1 to 2000 DN/s, read noise 10 DN per group, a jump of 200-2000 DN in
``--jump-frac`` of the ramps) is simulated with a fixed seed, and ``fit_ramps`` (the step's
per-chunk call) is timed ``--repeat`` times; the fastest is reported. The baseline runs in a
subprocess on ``git archive REV src`` (its numba cache in a temporary directory, filled before
timing), alternating with the current code so that both see about the same machine load; both
outputs are compared (SCI max relative difference, DQ equality).

    python benchmarks/bench_likely_kernel.py --baseline main --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def simulate(nints: int, ngroups: int, nrows: int, nx: int, jump_frac: float, seed: int = 7):
    rng = np.random.default_rng(seed)
    tgroup = 0.902
    rate = np.exp(rng.uniform(np.log(1.0), np.log(2000.0), (nrows, nx)))
    gain = np.full((nrows, nx), 1.0, np.float32)
    rn = np.full((nrows, nx), 10.0, np.float32)
    t = tgroup * np.arange(1, ngroups + 1)
    sci = np.empty((nints, ngroups, nrows, nx), np.float32)
    for i in range(nints):
        e = rng.poisson(rate[None] * tgroup * gain[None], (ngroups, nrows, nx)).cumsum(axis=0) / gain[None]
        e = e + rng.normal(0.0, 10.0, (ngroups, nrows, nx))
        jumps = rng.random((nrows, nx)) < jump_frac
        at = rng.integers(1, ngroups, (nrows, nx))
        amp = rng.uniform(200.0, 2000.0, (nrows, nx))
        e += (np.arange(ngroups)[:, None, None] >= at[None]) * (jumps * amp)[None]
        sci[i] = e
    del t
    return sci, gain, rn, tgroup


def run_fit(args) -> dict:
    """Time fit_ramps on the simulated chunk in this process; save SCI and DQ to args.out."""
    import numba

    from rampflow.meta import ExposureMeta
    from rampflow.steps import ramp_fit as rf

    numba.set_num_threads(args.threads)
    sci, gain, rn, tgroup = simulate(args.nints, args.ngroups, args.rows, args.nx, args.jump_frac)
    shape = sci.shape
    meta = ExposureMeta.from_headers(
        {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1, "GROUPGAP": 0, "TFRAME": tgroup,
         "TGROUP": tgroup, "NINTS": shape[0], "NGROUPS": shape[1], "SUBSIZE1": shape[3], "SUBSIZE2": shape[2]},
        {}, filename="bench", shape=shape)
    setup = rf.prepare_ramp_fit(meta, rn, gain, algorithm="LIKELY")
    gdq = np.zeros(shape, np.uint8)
    pdq = np.zeros(shape[2:], np.uint32)
    rows = slice(0, shape[2])
    rf.fit_ramps(sci[:, :, :1], gdq[:, :, :1], pdq[:1], setup, slice(0, 1))  # compile / load the cache
    best = np.inf
    res = None
    for _ in range(args.repeat):
        t0 = time.process_time()
        res = rf.fit_ramps(sci, gdq, pdq, setup, rows)
        best = min(best, time.process_time() - t0)
    np.savez(args.out, sci=res.rateints["SCI"], dq=res.rateints["DQ"])
    return {"s": best, "ns_per_ramp": best / (shape[0] * shape[2] * shape[3]) * 1e9}


def baseline_src(rev: str, tmp: Path) -> Path:
    arch = tmp / "src.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(arch), rev, "src"], check=True)
    with tarfile.open(arch) as tf:
        tf.extractall(tmp / "base")
    return tmp / "base" / "src"


def child(args, src: Path, out: Path, cache: Path | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, __file__, "--worker", "--out", str(out), "--nints", str(args.nints), "--rows",
           str(args.rows), "--nx", str(args.nx), "--ngroups", str(args.ngroups), "--threads", str(args.threads),
           "--repeat", str(args.repeat), "--jump-frac", str(args.jump_frac)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="git revision whose kernel to time alongside (e.g. main)")
    ap.add_argument("--nints", type=int, default=10)
    ap.add_argument("--ngroups", type=int, default=70)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--nx", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="alternations of baseline and current")
    ap.add_argument("--jump-frac", type=float, default=0.002)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(run_fit(a)))
        return
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        cur_src = REPO / "src"
        base = baseline_src(a.baseline, tmp) if a.baseline else None
        times = {"current": [], "baseline": []}
        for _ in range(a.rounds):
            if base is not None:
                times["baseline"].append(child(a, base, tmp / "base.npz", tmp / "numba_base"))
            times["current"].append(child(a, cur_src, tmp / "cur.npz", None))
        n = a.nints * a.rows * a.nx
        print(f"{n} ramps of {a.ngroups} groups, {a.threads} thread(s), load {os.getloadavg()[0]:.1f}")
        for k, v in times.items():
            if v:
                print(f"  {k:9s} {min(r['ns_per_ramp'] for r in v):8.0f} ns per ramp "
                      f"({min(r['s'] for r in v):.3f} s)")
        if base is not None:
            b = min(r["ns_per_ramp"] for r in times["baseline"])
            c = min(r["ns_per_ramp"] for r in times["current"])
            x, y = np.load(tmp / "cur.npz"), np.load(tmp / "base.npz")
            fin = np.isfinite(x["sci"]) & np.isfinite(y["sci"])
            rel = np.abs(x["sci"][fin] - y["sci"][fin]) / np.maximum(np.abs(y["sci"][fin]), 1e-30)
            same_nan = np.array_equal(np.isnan(x["sci"]), np.isnan(y["sci"]))
            print(f"  speed-up {b / c:.2f}x; SCI max rel diff {rel.max():.2e}, NaN equal {same_nan}, "
                  f"DQ equal {np.array_equal(x['dq'], y['dq'])}, {int((x['dq'] & 4).astype(bool).sum())} jumps")


if __name__ == "__main__":
    main()
