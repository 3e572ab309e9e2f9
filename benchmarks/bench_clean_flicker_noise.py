#!/usr/bin/env python
"""Speed and peak memory of rampflow's clean_flicker_noise against jwst 3.0's
CleanFlickerNoiseStep, in the same run, on the same jump product, each in its own process.

Cases as bench_stage1.py (``--small``: a 20 x 20 x 32 x 2048 NIRSpec TSO; ``--case tso``: the
155 x 70 x 32 x 2048 segment). rampflow makes its draft rate in a pass of row chunks and then
cleans chunks of whole integrations (``--chunk-mb``); jwst holds the whole exposure, a copy of
it and the draft rate products. Both runs' SCI are compared.

    python benchmarks/bench_clean_flicker_noise.py --small
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


def worker(task: str, inp: str, out: str, refs: dict, threads: int, chunk_mb: float) -> None:
    """Run one task in this process and print {"wall": s, "maxrss_mb": MB} as JSON."""
    t0 = time.perf_counter()
    if task == "ours":
        from rampflow import runner
        runner.run(["clean_flicker_noise"], {"ramp": inp}, {"clean_flicker_noise": out}, overrides=refs,
                   threads=threads, chunk_mb=chunk_mb, use_crds_pars=False)
    elif task == "jwst":
        import jwst.clean_flicker_noise.clean_flicker_noise as cfn
        from jwst.clean_flicker_noise import CleanFlickerNoiseStep
        from jwst.ramp_fitting import RampFitStep

        class DraftRampFit(RampFitStep):  # jwst's draft rate asks CRDS for these: give them
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                self.override_gain, self.override_readnoise = refs["gain"], refs["readnoise"]

        cfn.RampFitStep = DraftRampFit
        CleanFlickerNoiseStep.call(inp, skip=False).save(out)
    else:
        raise SystemExit(f"unknown task {task}")
    print("RESULT " + json.dumps({"wall": time.perf_counter() - t0, "maxrss_mb": _peak_rss_mb()}))


def measure(task, inp, out, refs, threads, env, chunk_mb) -> dict | None:
    _prepare_cache(inp, "warm")
    res = run_worker(__file__, task, inp, out, refs, threads, env, chunk_mb)
    if res is not None:
        print(f"    {task}: {res['wall']:.1f} s, anon {res['anon_mb']:.0f} MB", flush=True)
    return res


def run_case(name: str, workdir: Path, threads: int, chunk_mb: float):
    import numpy as np
    from stdatamodels.jwst import datamodels

    from rampflow import io, runner
    from rampflow.simulate import override_only_crds, simulate_exposure

    wd = workdir / name
    wd.mkdir(parents=True, exist_ok=True)
    sim = simulate_exposure(wd / "sim_cfn", seed=1, **CASES[name])
    refs = {k: str(v) for k, v in sim.refs.items()}
    jump = str(wd / "bench_cfn_jump.fits")
    if not Path(jump).exists():
        runner.run(PRE_STEPS + ["jump"], {"ramp": sim.uncal}, {"jump": jump}, overrides=refs, threads=threads,
                   chunk_mb=chunk_mb, use_crds_pars=False)
    env = override_only_crds(workdir / "crds_offline")
    ours = measure("ours", jump, str(wd / "ours_cfn.fits"), refs, threads, env, chunk_mb)
    theirs = measure("jwst", jump, str(wd / "jwst_cfn.fits"), refs, threads, env, chunk_mb)
    if ours and theirs:
        with io.open_ramp(wd / "ours_cfn.fits") as rf, datamodels.open(str(wd / "jwst_cfn.fits")) as m:
            a, _ = rf.read()
            b = np.asarray(m.data)
            rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-30)
            print(f"[{name}] SCI max rel diff {np.nanmax(rel):.2e}")
        print(f"[{name}] speed-up (jwst / rampflow wall) {theirs['wall'] / ours['wall']:.1f}; "
              f"private memory rampflow / jwst {ours['anon_mb'] / theirs['anon_mb']:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), default=None)
    ap.add_argument("--small", action="store_true", help="the small TSO case")
    ap.add_argument("--workdir", default="benchmarks/out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--chunk-mb", type=float, default=256.0, help="rampflow's memory budget per chunk")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        task, inp, out, refs, threads, chunk = a.worker
        worker(task, inp, out, json.loads(refs), int(threads), float(chunk))
        return
    run_case(a.case or ("tso-small" if a.small else "tso"), Path(a.workdir), a.threads, a.chunk_mb)


if __name__ == "__main__":
    main()
