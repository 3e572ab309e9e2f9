#!/usr/bin/env python
"""ns per sample of the one pass's fused elementwise kernel (superbias + linearity + dark_current
in one loop, ``kernels.elementwise``) on a row chunk in memory.

A 40 x 70 x 4 x 2048 float32 chunk (a 40-integration NIRSpec TSO at 256 MB chunks), a
5-coefficient polynomial; the first call (numba compilation or cache loading) is not timed.
``--window 6``: the chunk is rows 1.. of a 6-row window (as a row stream hands them).
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
    ap.add_argument("--window", type=int, default=0, help="rows of the window the chunk is in (0: none)")
    args = ap.parse_args()
    import rampflow
    from rampflow.kernels.elementwise import _scale_bias_poly_dark_kernel as kernel
    from rampflow.kernels.row_window import window_rows

    nints, ngroups, ny, nx = args.shape
    rng = np.random.default_rng(0)
    nwin = max(args.window, ny + 1) if args.window else ny
    win = rng.uniform(1000, 20000, (nints, ngroups, nwin, nx)).astype(np.float32)
    sci = win[:, :, 1:1 + ny] if args.window else win
    gdq = np.zeros(win.shape, np.uint8)
    bias = np.ones((ny, nx), np.float32)
    poly = np.array([0, 1, 1e-6, 1e-11, 1e-15], np.float32)
    coeffs = np.ones((5, ny, nx), np.float32) * poly[:, None, None]
    dark = np.ones((ngroups, ny, nx), np.float32)
    wsci, y0 = window_rows(sci)
    run = (gdq, y0, ny, np.float32(1), bias, coeffs, dark, False, True, True, True, 2)
    kernel(wsci.copy(), y0, *run)
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        kernel(wsci, y0, *run)
        best = min(best, time.perf_counter() - t)
    print(f"{rampflow.__file__}: {best * 1e9 / sci.size:.2f} ns per sample (best of {args.repeat})")


if __name__ == "__main__":
    main()
