#!/usr/bin/env python
"""ns per sample of the one pass's fused elementwise kernel (superbias + linearity + dark_current
in one loop, ``kernels.elementwise``) on a row chunk in memory.

A 40 x 70 x 4 x 2048 float32 chunk (a 40-integration NIRSpec TSO at 256 MB chunks), a
5-coefficient polynomial; the first call (numba compilation or cache loading) is not timed.
To compare revisions, run it with another checkout's sources first on the path:

    python benchmarks/bench_elementwise_kernel.py
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/bench_elementwise_kernel.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=4, default=[40, 70, 4, 2048])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import rampflow
    from rampflow.kernels.elementwise import _scale_bias_poly_dark_kernel as kernel

    nints, ngroups, ny, nx = args.shape
    rng = np.random.default_rng(0)
    sci = rng.uniform(1000, 20000, args.shape).astype(np.float32)
    gdq = np.zeros(args.shape, np.uint8)
    bias = np.ones((ny, nx), np.float32)
    poly = np.array([0, 1, 1e-6, 1e-11, 1e-15], np.float32)
    coeffs = np.ones((5, ny, nx), np.float32) * poly[:, None, None]
    dark = np.ones((ngroups, ny, nx), np.float32)
    run = (gdq, np.float32(1), bias, coeffs, dark, False, True, True, True, 2)
    kernel(sci.copy(), *run)
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        kernel(sci, *run)
        best = min(best, time.perf_counter() - t)
    print(f"{rampflow.__file__}: {best * 1e9 / sci.size:.2f} ns per sample (best of {args.repeat})")


if __name__ == "__main__":
    main()
