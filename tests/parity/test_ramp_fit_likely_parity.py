"""ramp_fit algorithm='LIKELY' parity with jwst 3.0's RampFitStep (stcal 1.20's likely_fit): same
input (jwst's own output of the steps up to jump), rate and rateints SCI, ERR, VAR_POISSON,
VAR_RNOISE to 1e-5 relative (NaN and inf where jwst has them), DQ exactly; the likely_chisq
product with save_opt; the file-to-file runner (jump and ramp_fit fused in one row pass)."""

import numpy as np
import pytest
from parity_helpers import jwst_stage, run_jwst_step
from test_ramp_fit_parity import PREV, our_fit

from rampflow import dq, io, runner
from rampflow.steps import ramp_fit as rf

ARRAYS = (("SCI", "data"), ("ERR", "err"), ("VAR_POISSON", "var_poisson"), ("VAR_RNOISE", "var_rnoise"))
RTOL = 1e-5


def assert_close(ours: dict, theirs, what: str):
    np.testing.assert_array_equal(ours["DQ"], np.asarray(theirs.dq, dtype=np.uint32), err_msg=f"{what} DQ differs")
    for key, attr in ARRAYS:
        a, b = ours[key], np.asarray(getattr(theirs, attr), dtype=np.float32)
        assert a.shape == b.shape, f"{what} {key}: shape {a.shape} vs {b.shape}"
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what} {key}: NaN masks differ")
        np.testing.assert_array_equal(np.isinf(a), np.isinf(b), err_msg=f"{what} {key}: inf masks differ")
        fin = np.isfinite(b)
        np.testing.assert_allclose(a[fin], b[fin], rtol=RTOL, atol=0, err_msg=f"{what} {key} differs")


@pytest.mark.parametrize("chunk", [None, 7])
def test_likely_matches_jwst(jwst_offline, sim_case, chunk):
    """NIRSpec BOTS (3 integrations x 6 groups) and NIRCam full frame (1 x 4, LIKELY's minimum)."""
    rate, rateints = run_jwst_step("ramp_fit", jwst_stage(sim_case, PREV), sim_case.refs, algorithm="LIKELY")
    ours_rate, ours_ints, _ = our_fit(sim_case, chunk_rows=chunk or 512, algorithm="LIKELY")
    assert_close(ours_ints, rateints, "rateints")
    assert_close(ours_rate, rate, "rate")
    # teeth: jumps found by LIKELY itself and finite rates nearly everywhere
    d = ours_ints["DQ"]
    assert (d & dq.JUMP_DET).any()
    assert np.isfinite(ours_ints["SCI"]).mean() > 0.9
    ols_rate, _, _ = our_fit(sim_case, chunk_rows=512)
    assert not np.array_equal(ols_rate["SCI"], ours_rate["SCI"], equal_nan=True)


def test_likely_group_selection(jwst_offline, nirspec_case):
    params = {"algorithm": "LIKELY", "firstgroup": 1}
    rate, rateints = run_jwst_step("ramp_fit", jwst_stage(nirspec_case, PREV), nirspec_case.refs, **params)
    ours_rate, ours_ints, _ = our_fit(nirspec_case, **params)
    assert_close(ours_ints, rateints, "rateints")
    assert_close(ours_rate, rate, "rate")


def test_likely_fused_runner_and_chisq_product(jwst_offline, nirspec_case, tmp_path):
    """jump + ramp_fit(LIKELY, save_opt) in one job from the dark_current ramp: rate, rateints
    and the likely_chisq image agree with jwst's and open as jwst datamodels."""
    from stdatamodels.jwst import datamodels

    refs = {k: str(v) for k, v in nirspec_case.refs.items()}
    dark = tmp_path / "x_dark_current.fits"
    jwst_stage(nirspec_case, PREV[:-1]).save(str(dark))
    outs = {s: str(tmp_path / f"x_{s}.fits") for s in ("rate", "rateints", "likely_chisq")}
    runner.run(["jump", "ramp_fit"], {"ramp": str(dark)}, outs, overrides=refs, chunk_mb=0.05,
               params={"ramp_fit": {"algorithm": "LIKELY"}})
    jdir = tmp_path / "jwst"
    jdir.mkdir()
    rate, rateints = run_jwst_step("ramp_fit", jwst_stage(nirspec_case, PREV), nirspec_case.refs,
                                   algorithm="LIKELY", save_opt=True, output_dir=str(jdir))
    assert_close(io.read_image_product(outs["rateints"]), rateints, "runner rateints")
    assert_close(io.read_image_product(outs["rate"]), rate, "runner rate")
    files = sorted(jdir.glob("*likely_chisq*.fits"))
    assert files, "jwst wrote no likely_chisq product"
    with datamodels.open(str(files[0])) as theirs, datamodels.open(outs["likely_chisq"]) as mine:
        a, b = np.asarray(mine.data), np.asarray(theirs.data)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        fin = np.isfinite(b)
        np.testing.assert_allclose(a[fin], b[fin], rtol=RTOL)
        assert np.median(b[fin]) > 0
    for path in (outs["rate"], outs["rateints"]):
        with datamodels.open(path) as m:
            assert m.meta.cal_step.ramp_fit == "COMPLETE"


def test_makes_products_by_algorithm():
    assert rf.RampFit.makes("fitopt", {"save_opt": True})
    assert not rf.RampFit.makes("likely_chisq", {"save_opt": True})
    assert rf.RampFit.makes("likely_chisq", {"save_opt": True, "algorithm": "LIKELY"})
    assert not rf.RampFit.makes("fitopt", {"save_opt": True, "algorithm": "likely"})
    assert not rf.RampFit.makes("likely_chisq", {"algorithm": "LIKELY"})


def test_uneven_read_times_switch_to_likely_as_jwst(jwst_offline, nirspec_case, tmp_path):
    """A hand-built ramp whose ASDF extension holds explicit, uneven read times (groups of 1,
    1, 2, 3, 1 and 2 frames): jwst 3.0's RampFitStep with its default OLS_C switches to LIKELY
    with that read pattern; so does ours, reading the times from the same file."""
    model = jwst_stage(nirspec_case, PREV).copy()
    tf = float(model.meta.exposure.frame_time)
    frames = [[1], [2], [3, 4], [5, 6, 7], [8], [9, 10]]
    model.meta.exposure.read_times = [[f * tf for f in g] for g in frames]
    path = tmp_path / "x_jump.fits"
    model.save(str(path))
    with io.open_ramp(path) as f:      # what jwst wrote is what we read
        assert [list(g) for g in f.meta.extra["READ_TIMES"]] == model.meta.exposure.read_times
    rate, rateints = run_jwst_step("ramp_fit", str(path), nirspec_case.refs)
    refs = {k: str(v) for k, v in nirspec_case.refs.items()}
    outs = {s: str(tmp_path / f"x_{s}.fits") for s in ("rate", "rateints")}
    runner.run(["ramp_fit"], {"ramp": str(path)}, outs, overrides=refs, chunk_mb=0.05)
    ours_ints, ours_rate = io.read_image_product(outs["rateints"]), io.read_image_product(outs["rate"])
    assert_close(ours_ints, rateints, "uneven rateints")
    assert_close(ours_rate, rate, "uneven rate")
    # teeth: the read times matter (LIKELY on the even pattern gives other rates)
    even, _, _ = our_fit(nirspec_case, algorithm="LIKELY")
    fin = np.isfinite(even["SCI"]) & np.isfinite(ours_rate["SCI"])
    assert np.median(np.abs(even["SCI"][fin] / ours_rate["SCI"][fin] - 1)) > 0.05
