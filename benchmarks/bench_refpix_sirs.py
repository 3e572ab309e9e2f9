#!/usr/bin/env python
"""Wall time of refpix on a NIR full frame: rampflow's SIRS against jwst's SIRS (the same
simulated SIRSKERNEL), with both running medians as the baseline, in memory (no file I/O).

A synthetic NIRCam NRCB1 cube (default 1 integration x 8 groups x 2048 x 2048) with row drifts
and white noise, reference pixels flagged as in CRDS masks. jwst runs
``reference_pixels.correct_model`` (what its RefPixStep calls) on a RampModel; rampflow runs
``RefPixStep.process`` on the array. The first rampflow call (numba compilation, cached on
disk) is not timed. Prints each time and the ratios jwst / rampflow.

    python benchmarks/bench_refpix_sirs.py
    python benchmarks/bench_refpix_sirs.py --shape 2 4 --repeat 3
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

N = 2048


def _cube(nints, ngroups, seed=1):
    rng = np.random.default_rng(seed)
    sci = rng.normal(0, 5, (nints, ngroups, N, N)).astype(np.float32)
    drift = 30 * np.sin(2 * np.pi * np.arange(N) / 400.0)
    sci += drift.astype(np.float32)[None, None, None, :]     # NRCB1 reads along DMS rows
    pdq = np.zeros((N, N), np.uint32)
    pdq[:4] = pdq[-4:] = 2**31
    pdq[:, :4] = pdq[:, -4:] = 2**31
    return sci, pdq


def _time(fn, repeat):
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return float(np.median(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=2, default=[1, 8], metavar=("NINTS", "NGROUPS"))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    from jwst.refpix import reference_pixels
    from stdatamodels.jwst.datamodels import RampModel, SIRSKernelModel

    from rampflow.meta import ExposureMeta
    from rampflow.references import load_reference
    from rampflow.simulate.sirskernel import write_sirskernel
    from rampflow.steps.refpix import RefPixStep

    nints, ngroups = args.shape
    sci, pdq = _cube(nints, ngroups)
    prim = {"INSTRUME": "NIRCAM", "DETECTOR": "NRCB1", "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1,
            "SUBSIZE1": N, "SUBSIZE2": N, "FASTAXIS": 1, "SLOWAXIS": -2, "NOUTPUTS": 4, "READPATT": "RAPID",
            "NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 10.73677, "TGROUP": 10.73677}
    meta = ExposureMeta.from_headers(prim, {}, filename="bench", shape=sci.shape)
    tmp = tempfile.mkdtemp()
    path = write_sirskernel(tmp, "NIRCAM")
    kernel = load_reference("sirskernel", path, meta)
    model_sirs = SIRSKernelModel(str(path))

    def ours(algo):
        refs = {"sirskernel": kernel} if algo == "sirs" else {}
        step = RefPixStep(meta, refs, refpix_algorithm=algo)
        a = sci.copy()
        return lambda: step.process(a, None, pdq, slice(0, nints), slice(0, N))

    def theirs(algo):
        def run():
            m = RampModel(data=sci.copy(), pixeldq=pdq.copy(), groupdq=np.zeros(sci.shape, np.uint8))
            m.meta.instrument.name, m.meta.instrument.detector = "NIRCAM", "NRCB1"
            m.meta.subarray.name = "FULL"
            m.meta.subarray.xstart = m.meta.subarray.ystart = 1
            m.meta.subarray.xsize = m.meta.subarray.ysize = N
            m.meta.subarray.fastaxis, m.meta.subarray.slowaxis = 1, -2
            m.meta.exposure.noutputs = 4
            params = {"refpix_algorithm": algo, "sirs_kernel_model": model_sirs if algo == "sirs" else None,
                      "sigreject": 4.0, "gaussmooth": 1.0, "halfwidth": 30}
            reference_pixels.correct_model(m, True, True, 11, 1.0, True, params, 3.0)
        return run

    for algo in ("median", "sirs"):
        ours(algo)()                                    # compile
    res = {}
    for algo in ("median", "sirs"):
        res[("rampflow", algo)] = _time(ours(algo), args.repeat)
        res[("jwst", algo)] = _time(theirs(algo), args.repeat)
    print(f"refpix, NRCB1 full frame, {nints} x {ngroups} groups (median of {args.repeat})")
    for (who, algo), t in res.items():
        print(f"  {who:8s} {algo:6s} {t:8.2f} s")
    for algo in ("median", "sirs"):
        print(f"RESULT {algo}: jwst / rampflow = {res[('jwst', algo)] / res[('rampflow', algo)]:.1f}")
    print(f"RESULT rampflow sirs / rampflow median = {res[('rampflow', 'sirs')] / res[('rampflow', 'median')]:.2f}")


if __name__ == "__main__":
    main()
