"""MIRI through the DAG: simulated uncal files (Level1bModel layout, uint16, INT_TIMES, REFOUT)
and a folder of MIRI reference files, reduced by the workflow with ``inputs.source: local`` and
``references.overrides``, every step product kept. Each product must equal what jwst 3.0's step
writes when given the previous rampflow product and the same reference files: SCI to float32
rounding, GROUPDQ and PIXELDQ exactly; rate and rateints (SCI, ERR, VAR_*) likewise.

The LRS slitless case (SLITLESSPRISM: refpix SKIPPED, as jwst does for MIRI subarrays) and the
full-frame imaging case (MIRI's reference-column refpix) both run, with emicorr on and EMI
injected so that the step has something to remove."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from parity_helpers import JWST_OVERRIDES, run_jwst_step

from tests.workflow.test_workflow import _snakemake, _tiny, _workdir

STEPS = ["group_scale", "dq_init", "emicorr", "saturation", "firstframe", "lastframe", "reset", "linearity",
         "rscd", "dark_current", "refpix", "jump", "ramp_fit", "gain_scale"]
RAMP_STEPS = STEPS[:STEPS.index("ramp_fit")]
CASES = {
    "lrs": dict(kind="miri_lrs_tso", nints=3, ngroups=8, seed=4, emi_amplitude=4.0),
    "image": dict(kind="miri_image", nints=1, ngroups=6, seed=6, emi_amplitude=4.0),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def dag(request, tmp_path_factory, jwst_offline):
    from rampflow.simulate import simulate_exposure

    root = tmp_path_factory.mktemp(f"miri_dag_{request.param}")
    uncal_dir = root / "wd" / "data" / "uncal"
    sim = simulate_exposure(uncal_dir, detector="MIRIMAGE", refdir=root / "refs", **CASES[request.param])
    for p in uncal_dir.glob("*_truth.fits"):
        p.unlink()
    refs = {rt: str(p) for rt, p in sim.refs.items()}
    cfg = _tiny(program="mdag", steps=STEPS)
    cfg["inputs"] = {"source": "local", "uncal_dir": str(uncal_dir)}
    cfg["references"] = {"overrides": refs, "use_crds_pars": False}
    cfg["step_params"] = {}
    cfg["compute"] = {"fuse": False, "chunk_mb": 16, "threads": 1}
    cfg["qa"] = {"diagnostics": False}
    wd = _workdir(root / "wd", cfg)
    stem = sim.uncal.name[: -len("_uncal.fits")]
    out = wd / "results" / "mdag" / "stage1"
    targets = [f"results/mdag/stage1/{stem}_{s}.fits" for s in ("rate", "rateints")]
    _snakemake(wd, "--cores", "2", *targets)
    return sim, refs, out, stem


def _product(out, stem, step):
    from stdatamodels.jwst import datamodels

    return datamodels.RampModel(str(out / f"{stem}_{step}.fits"))


def test_every_ramp_step_equals_jwst_on_the_previous_product(dag):
    sim, refs, out, stem = dag
    previous = str(sim.uncal)
    refs = {**refs, "superbias": "N/A"}  # MIRI has none (N/A in CRDS)
    for step in RAMP_STEPS:
        # a step in the list runs; jwst skips emicorr (and firstframe) unless told
        theirs = run_jwst_step(step, previous, refs, **({"skip": False} if step in ("emicorr", "firstframe") else {}))
        with fits.open(out / f"{stem}_{step}.fits") as h:
            sci, gdq, pdq = h["SCI"].data, h["GROUPDQ"].data, h["PIXELDQ"].data
            np.testing.assert_array_equal(pdq, np.asarray(theirs.pixeldq), err_msg=f"{step} PIXELDQ")
            np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq), err_msg=f"{step} GROUPDQ")
            np.testing.assert_allclose(sci, np.asarray(theirs.data, dtype=np.float32), rtol=2e-7, atol=1e-3,
                                       err_msg=f"{step} SCI")
            if "REFOUT" in [x.name for x in h]:
                assert h["REFOUT"].data.shape[:2] == sci.shape[:2]
        previous = str(out / f"{stem}_{step}.fits")
    assert set(JWST_OVERRIDES) >= set(STEPS)


def test_rates_equal_jwst(dag):
    sim, refs, out, stem = dag
    rate, rateints = run_jwst_step("ramp_fit", str(out / f"{stem}_jump.fits"), refs)
    rate = run_jwst_step("gain_scale", rate, refs)
    rateints = run_jwst_step("gain_scale", rateints, refs)
    for suffix, theirs in (("rate", rate), ("rateints", rateints)):
        with fits.open(out / f"{stem}_{suffix}.fits") as h:
            np.testing.assert_array_equal(h["DQ"].data, np.asarray(theirs.dq), err_msg=f"{suffix} DQ")
            for ext, attr in (("SCI", "data"), ("ERR", "err"), ("VAR_POISSON", "var_poisson"),
                              ("VAR_RNOISE", "var_rnoise")):
                ours, ref = h[ext].data, np.asarray(getattr(theirs, attr), dtype=np.float32)
                np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{suffix} {ext} NaN")
                ok = np.isfinite(ref)
                np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-5, atol=1e-7, err_msg=f"{suffix} {ext}")
