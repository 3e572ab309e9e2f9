"""refpix's pre-pass in the one pass: reading only the reference pixels against whole planes.

The one-pass Stage 1 measures refpix's per-plane corrections before its row chunks
(rampflow.runner.prepass.run_prepasses). It reads from the uncal file only the pixels the
statistics use (Step.prepass_pixels: a SUB2048's 4 + 4 edge columns of every row) with the
steps before refpix restricted to them; the baseline, measured in the same run on the same
file, reads every pixel of every plane (what the runner does when a step before refpix is not
elementwise). Prints wall and CPU time of each, their ratio, and whether the corrections are
equal (they must be, bit for bit).

    python benchmarks/bench_refpix_prepass.py                       # a simulated 40 x 70 x 32 x 2048 TSO
    python benchmarks/bench_refpix_prepass.py --uncal X_uncal.fits --refs references/
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

STEPS = ["group_scale", "dq_init", "saturation", "superbias", "refpix"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(uncal: str, refs: dict, whole: bool, chunk_mb: float) -> tuple[float, float, object]:
    """(wall s, CPU s, refpix's corrections) of the pre-pass over ``uncal``."""
    from rampflow import io
    from rampflow.runner.loading import load_step
    from rampflow.runner.prepass import run_prepasses
    from rampflow.steps.refpix import RefPixStep

    with io.open_ramp(uncal) as rf:
        steps = [load_step(n, rf.meta, overrides=refs, ramp=rf, prepass=True)[0] for n in STEPS]
        step = steps[-1]
        if whole:  # the baseline: whole planes
            step.prepass_pixels = lambda pdq: None
        assert isinstance(step, RefPixStep) and step.prepass_rounds() == 1
        c0, t0 = _cpu(), time.perf_counter()
        run_prepasses(rf, steps, rf.pixeldq(), chunk_mb, "bench")
        return time.perf_counter() - t0, _cpu() - c0, step._corr


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uncal", help="an uncal file (default: simulate a NIRSpec TSO segment)")
    ap.add_argument("--refs", help="its reference files (jwst_<instrument>_<reftype>_*.fits)")
    ap.add_argument("--nints", type=int, default=40, help="integrations of the simulated segment")
    ap.add_argument("--chunk-mb", type=float, default=700.0)
    a = ap.parse_args(argv)
    os.environ.setdefault("CRDS_MODE", "local")
    tmp = None
    if a.uncal:
        uncal = a.uncal
        refs = {p.name.split("_")[2]: str(p) for p in Path(a.refs).glob("jwst_*.fits")}
    else:
        from rampflow.simulate import simulate_exposure

        tmp = tempfile.TemporaryDirectory(prefix="bench_refpix_prepass_")
        sim = simulate_exposure(tmp.name, kind="nirspec_tso", detector="NRS1", nints=a.nints, ngroups=70, seed=1)
        uncal, refs = str(sim.uncal), {k: str(v) for k, v in sim.refs.items()}
    measure(uncal, refs, False, a.chunk_mb)  # compile and warm the page cache first
    base = measure(uncal, refs, True, a.chunk_mb)
    new = measure(uncal, refs, False, a.chunk_mb)
    equal = all(np.array_equal(getattr(base[2], k), getattr(new[2], k), equal_nan=True)
                for k in ("f32", "ref", "r32", "rok", "sig"))
    print(f"refpix pre-pass on {Path(uncal).name}")
    print(f"  whole planes       wall {base[0]:6.2f} s  cpu {base[1]:6.2f} s")
    print(f"  reference pixels   wall {new[0]:6.2f} s  cpu {new[1]:6.2f} s")
    print(f"  ratio (reference pixels / whole planes): wall {new[0] / base[0]:.3f}  cpu {new[1] / base[1]:.3f}")
    print(f"  corrections equal: {equal}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
