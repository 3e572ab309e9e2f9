#!/usr/bin/env python
"""Per-sample cost of jump's two-point detection, in memory, against a baseline revision.

Times :func:`rampflow.steps.jump.run_detection` (the per-pixel detection, neighbour flagging
and clean-up, no I/O) on a simulated NIRSpec TSO row chunk, for the working tree and for the
kernels of an earlier git revision (``--baseline``, by default the commit before the kernel
rewrite), in one run, each in its own process on the same seeded input. Reports the best
wall time of ``--repeat`` calls, the CPU time and ns per sample (CPU time / samples), their
ratio, and whether the two GROUPDQ results are identical.

Cases (jwst's defaults; ``--nints`` chooses stcal's branch):

* ``single``: 20 x 70 x 32 x 2048 -- fewer integrations than ``minimum_sigclip_groups``
  (100) and >= 10 differences: the one-pass test against the median of all differences
  (the 40-integration TSO takes it);
* ``sigclip``: 155 x 70 x 4 x 2048 -- the full TSO segment's 155 integrations: sigma
  clipping of each group difference across integrations.

The ramps: per-pixel fluxes from 0 to ~3000 e-/group (a few bright pixels saturate
mid-ramp), Poisson and read noise, ~0.1% of groups with a cosmic-ray jump (50-5000 DN).

    python benchmarks/bench_jump_kernel.py                       # both cases, 1 thread
    python benchmarks/bench_jump_kernel.py --case single --threads 2
    python benchmarks/bench_jump_kernel.py --baseline HEAD~3     # another baseline
    python benchmarks/bench_jump_kernel.py --baseline none       # the working tree only
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

ROOT = Path(__file__).resolve().parents[1]
#: the last commit with the kernels before the rewrite for speed
DEFAULT_BASELINE = "936f00b"
CASES = {"single": (20, 70, 32, 2048), "sigclip": (155, 70, 4, 2048)}


def make_chunk(shape, seed=1):
    """Seeded NIRSpec-like ramps: float32 DN, uint8 GROUPDQ (SATURATED), read noise and gain."""
    import numpy as np

    nints, ngroups, ny, nx = shape
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.95, 1.05, (ny, nx)).astype(np.float32)
    rn = rng.uniform(12.0, 16.0, (ny, nx)).astype(np.float32)  # CDS, DN
    flux = rng.lognormal(3.0, 1.5, (ny, nx)).clip(0, 3000).astype(np.float32)  # DN per group
    flux.flat[rng.choice(ny * nx, max(1, ny * nx // 200), replace=False)] = 2500.0  # saturate mid-ramp
    sci = np.empty(shape, np.float32)
    gdq = np.zeros(shape, np.uint8)
    for i in range(nints):
        inc = rng.normal(flux, np.sqrt(flux / gain) + 1.0, (ngroups, ny, nx)).astype(np.float32)
        hits = rng.random((ngroups, ny, nx)) < 1e-3
        inc[hits] += rng.uniform(50, 5000, int(hits.sum())).astype(np.float32)
        ramp = np.cumsum(inc, axis=0) + rng.normal(0, 10.0, (ngroups, ny, nx)).astype(np.float32)
        sci[i] = ramp
        gdq[i][ramp > 60000.0] = 2  # SATURATED
    return sci, gdq, rn, gain


def worker(spec: str) -> None:
    """In this process: warm the kernels, time ``run_detection`` on the case, save GROUPDQ."""
    import numba
    import numpy as np

    from rampflow.steps import jump as J

    a = json.loads(spec)
    numba.set_num_threads(a["threads"])
    sci, gdq0, rn, gain = make_chunk(tuple(a["shape"]), a["seed"])
    # compile / load the cached kernels on a small piece first
    r2 = min(2, sci.shape[2])
    for sl in (slice(0, 2), slice(None)):
        small = np.ascontiguousarray(sci[sl, :, :r2, :64])
        J.run_detection(small, np.ascontiguousarray(gdq0[sl, :, :r2, :64]), np.zeros((r2, 64), np.uint32),
                        rn[:r2, :64], gain[:r2, :64])
    walls, cpus = [], []
    for _ in range(a["repeat"]):
        gdq = gdq0.copy()
        pdq = np.zeros(sci.shape[2:], np.uint32)
        t0, c0 = time.perf_counter(), time.process_time()
        J.run_detection(sci, gdq, pdq, rn, gain)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    np.save(a["out"], gdq)
    print("RESULT " + json.dumps({"wall": min(walls), "cpu": min(cpus), "samples": int(sci.size),
                                  "jumps": int(((gdq & 4) != 0).sum())}))


def run(impl_src: Path, args, shape, out: Path) -> dict:
    spec = json.dumps({"shape": shape, "seed": args.seed, "threads": args.threads, "repeat": args.repeat,
                       "out": str(out)})
    env = {**os.environ, "PYTHONPATH": str(impl_src)}
    proc = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker failed:\n{proc.stderr[-3000:]}")


def baseline_tree(rev: str, tmp: Path) -> Path:
    """``src/`` of the repository at ``rev``, extracted into ``tmp``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src/rampflow"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    return tmp / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=[*CASES, "all"], default="all")
    ap.add_argument("--nints", type=int, help="override the case's integrations")
    ap.add_argument("--rows", type=int, help="override the case's rows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision of the baseline, or 'none'")
    ap.add_argument("--baseline-dir", help="extract the baseline here (kept, with numba's cache, for the next run) "
                                           "instead of a temporary directory")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    cases = list(CASES) if args.case == "all" else [args.case]
    with tempfile.TemporaryDirectory(prefix="bench_jump_kernel_") as td:
        tmp = Path(td)
        impls = {"new": ROOT / "src"}
        if args.baseline != "none":
            bdir = Path(args.baseline_dir) if args.baseline_dir else tmp
            if args.baseline_dir and (bdir / "src").is_dir():
                bsrc = bdir / "src"
            else:
                bdir.mkdir(parents=True, exist_ok=True)
                bsrc = baseline_tree(args.baseline, bdir)
            impls = {"baseline": bsrc, **impls}
        for case in cases:
            nints, ngroups, ny, nx = CASES[case]
            shape = [args.nints or nints, ngroups, args.rows or ny, nx]
            res = {}
            for name, src in impls.items():
                res[name] = run(src, args, shape, tmp / f"{case}_{name}.npy")
                r = res[name]
                print(f"[{case} {'x'.join(map(str, shape))}, {args.threads} thread(s)] {name:8s} "
                      f"wall {r['wall']:.3f} s, cpu {r['cpu']:.3f} s, {1e9 * r['cpu'] / r['samples']:.2f} ns/sample "
                      f"(cpu), {r['jumps']} JUMP groups", flush=True)
            if "baseline" in res:
                import numpy as np

                same = np.array_equal(np.load(tmp / f"{case}_baseline.npy"), np.load(tmp / f"{case}_new.npy"))
                b, n = res["baseline"], res["new"]
                print(f"[{case}] speed-up: wall {b['wall'] / n['wall']:.2f}x, cpu {b['cpu'] / n['cpu']:.2f}x; "
                      f"GROUPDQ identical: {same}", flush=True)


if __name__ == "__main__":
    main()
