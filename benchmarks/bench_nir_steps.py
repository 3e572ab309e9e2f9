#!/usr/bin/env python
"""Wall time of rampflow's ipc, charge_migration and persistence against jwst's own functions,
in memory, on the same arrays (no file I/O: the steps' arithmetic only).

A synthetic cube (default 20 integrations x 70 groups x 32 x 2048, a NIRSpec TSO chunk) with
a ramp, noise and bright pixels that pass the thresholds. Each function runs on a fresh copy;
the first rampflow call (numba compilation, cached on disk) is not timed. jwst's functions
are those its steps call: ``ipc_corr.ipc_correction``, ``charge_migration.charge_migration``,
``persistence.DataSet.do_all``.

    python benchmarks/bench_nir_steps.py                  # default shape
    python benchmarks/bench_nir_steps.py --shape 4 10 256 256 --repeat 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _cube(shape, seed=1):
    rng = np.random.default_rng(seed)
    nints, ngroups, ny, nx = shape
    rate = rng.uniform(10, 400, (ny, nx)).astype(np.float32)
    rate[rng.random((ny, nx)) < 0.01] = 3000.0     # bright pixels: charge migration, persistence
    g = np.arange(1, ngroups + 1, dtype=np.float32)[None, :, None, None]
    sci = (rate[None, None] * g + rng.normal(0, 5, shape).astype(np.float32)).astype(np.float32)
    gdq = np.zeros(shape, np.uint8)
    gdq[sci > 60000] = 2
    return sci, gdq


def _time(fn, repeat):
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t)
    return float(np.median(best))


def _model(sci, gdq):
    from stdatamodels.jwst.datamodels import RampModel

    m = RampModel(data=sci.copy(), groupdq=gdq.copy(), pixeldq=np.zeros(sci.shape[2:], np.uint32))
    m.meta.instrument.name = "NIRSPEC"
    m.meta.instrument.detector = "NRS1"
    m.meta.subarray.xstart, m.meta.subarray.ystart = 1, 1
    m.meta.subarray.xsize, m.meta.subarray.ysize = sci.shape[3], sci.shape[2]
    m.meta.exposure.start_time = 60000.0
    m.meta.exposure.group_time = 0.902
    m.meta.exposure.integration_time = 0.902 * sci.shape[1]
    m.meta.exposure.readpatt = "NRSRAPID"
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=4, default=[20, 70, 32, 2048], metavar=("NINTS", "NGROUPS", "NY", "NX"))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    from rampflow.steps.charge_migration import flag_charge_migration
    from rampflow.steps.ipc import ipc_correct, num_ref_pixels
    from rampflow.steps.persistence import flag_persistence, group_times

    sci, gdq = _cube(tuple(args.shape))
    nints, ngroups, ny, nx = sci.shape
    kernel = np.array([[0, -0.005, 0], [-0.005, 1.02, -0.005], [0, -0.005, 0]], np.float32)
    nref = num_ref_pixels("NIRSPEC", 1, 1, nx, ny)
    times = group_times(nints, ngroups, 60000.0, 0.902 * ngroups, 0.902)
    ours = {
        "ipc": lambda: ipc_correct(sci.copy(), kernel, nref),
        "charge_migration": lambda: flag_charge_migration(sci, gdq.copy(), 25000.0),
        "persistence": lambda: flag_persistence(sci, gdq.copy(), np.zeros((ny, nx)), times, 100, 20000.0),
    }
    for fn in ours.values():  # compile (numba, cached) before timing
        fn()
    theirs = {}
    try:
        from jwst.charge_migration import charge_migration as jcm
        from jwst.ipc import ipc_corr
        from jwst.persistence import persistence as jpers
        from stdatamodels.jwst.datamodels import IPCModel

        ipc_model = IPCModel(data=kernel)
        theirs = {
            "ipc": lambda: ipc_corr.ipc_correction(_model(sci, gdq), ipc_model),
            "charge_migration": lambda: jcm.charge_migration(_model(sci, gdq), 25000.0),
            "persistence": lambda: jpers.DataSet(_model(sci, gdq), None, 100, 20000.0, np.zeros((ny, nx)),
                                                 False).do_all(),
        }
    except ImportError:
        print("jwst not installed: rampflow only")
    print(f"shape {nints} x {ngroups} x {ny} x {nx}, median of {args.repeat}")
    print(f"{'step':<18}{'rampflow s':>12}{'jwst s':>10}{'speed-up':>10}")
    for name, fn in ours.items():
        a = _time(fn, args.repeat)
        b = _time(theirs[name], args.repeat) if name in theirs else float("nan")
        print(f"{name:<18}{a:>12.3f}{b:>10.3f}{b / a:>9.1f}x")


if __name__ == "__main__":
    main()
