"""ramp_fit parity with jwst's RampFitStep (stcal 1.20 OLS_C): same input (jwst's own output
of the steps up to jump), rate and rateints compared array by array, DQ exactly; the fitopt
product with save_opt; and non-default parameters (firstgroup/lastgroup, suppress_one_group).
"""

import numpy as np
import pytest
from parity_helpers import jwst_stage, run_jwst_step

from rampflow import dq
from rampflow.references import load_reference
from rampflow.steps import ramp_fit as rf

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]
ARRAYS = (("SCI", "data"), ("ERR", "err"), ("VAR_POISSON", "var_poisson"), ("VAR_RNOISE", "var_rnoise"))
#: (uncal, params) -> (rate, rateints) from jwst, shared with the gain_scale parity tests
_JWST_FITS: dict = {}


def jwst_fit(case, **params):
    key = (str(case.uncal), tuple(sorted(params.items())))
    if key not in _JWST_FITS:
        _JWST_FITS[key] = run_jwst_step("ramp_fit", jwst_stage(case, PREV), case.refs, **params)
    return _JWST_FITS[key]


def our_fit(case, chunk_rows=None, model=None, **params):
    """Our fit of jwst's jump output (or ``model``), in row chunks like the runner."""
    model = jwst_stage(case, PREV) if model is None else model
    sci = np.array(model.data, dtype=np.float32)
    gdq = np.array(model.groupdq, dtype=np.uint8)
    pdq = np.array(model.pixeldq, dtype=np.uint32)
    dark = np.array(model.average_dark_current, np.float32) if model.hasattr("average_dark_current") else None
    zf = np.array(model.zeroframe, np.float32) if model.hasattr("zeroframe") else None
    refs = {rt: load_reference(rt, case.refs[rt], case.meta) for rt in ("readnoise", "gain")}
    setup = rf.prepare_ramp_fit(case.meta, refs["readnoise"], refs["gain"], average_dark_current=dark, **params)
    ny = sci.shape[2]
    step = chunk_rows or ny
    parts = []
    for y0 in range(0, ny, step):
        rows = slice(y0, min(ny, y0 + step))
        # contiguous chunks, as the runner reads them
        chunk = (np.ascontiguousarray(sci[:, :, rows]), np.ascontiguousarray(gdq[:, :, rows]), pdq[rows])
        parts.append((rows, rf.fit_ramps(*chunk, setup, rows, zeroframe=None if zf is None else zf[:, rows])))
    rate = {k: np.concatenate([p.rate[k] for _, p in parts]) for k in rf.RATE_NAMES}
    ints = {k: np.concatenate([p.rateints[k] for _, p in parts], axis=1) for k in rf.RATE_NAMES}
    opt = rf.assemble_opt([(rows, p.opt) for rows, p in parts], (ny, sci.shape[3])) if parts[0][1].opt else None
    return rate, ints, opt


def assert_image_parity(ours: dict, theirs, what: str):
    np.testing.assert_array_equal(ours["DQ"], np.asarray(theirs.dq, dtype=np.uint32), err_msg=f"{what} DQ differs")
    for key, attr in ARRAYS:
        a = ours[key]
        b = np.asarray(getattr(theirs, attr), dtype=np.float32)
        assert a.shape == b.shape, f"{what} {key}: shape {a.shape} vs {b.shape}"
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what} {key}: NaN masks differ")
        fin = np.isfinite(b)
        np.testing.assert_allclose(a[fin], b[fin], rtol=1e-6, atol=0, err_msg=f"{what} {key} differs")


def test_defaults_match_jwst_spec():
    from jwst.ramp_fitting import RampFitStep

    cfg = RampFitStep().get_pars()
    for name, value in rf.DEFAULTS.items():
        if name == "weighting":
            assert RampFitStep.weighting == value
            continue
        assert cfg[name] == value, name


def test_default(jwst_offline, sim_case):
    rate, rateints = jwst_fit(sim_case)
    ours_rate, ours_ints, _ = our_fit(sim_case, chunk_rows=16 if sim_case.meta.subsize2 <= 64 else 700)
    assert_image_parity(ours_rate, rate, "rate")
    assert_image_parity(ours_ints, rateints, "rateints")
    # the comparison has teeth: jumps, saturated and unusable pixels are all present
    d = ours_ints["DQ"]
    assert (d & dq.JUMP_DET).any() and np.isnan(ours_ints["SCI"]).any()
    if sim_case.meta.instrument == "NIRCAM":
        assert (d & dq.SATURATED).any()


def test_save_opt(jwst_offline, nirspec_case, tmp_path):
    run_jwst_step("ramp_fit", jwst_stage(nirspec_case, PREV), nirspec_case.refs, save_opt=True,
                  output_dir=str(tmp_path))
    files = sorted(tmp_path.glob("*fitopt*.fits"))
    assert files, "jwst wrote no fitopt product"
    from stdatamodels.jwst import datamodels

    _, _, opt = our_fit(nirspec_case, chunk_rows=5, save_opt=True)   # chunks with different segment counts
    with datamodels.open(str(files[0])) as theirs:
        for name, ext in rf.OPT_NAMES.items():
            b = np.asarray(getattr(theirs, name), dtype=np.float32)
            a = opt[ext]
            assert a.shape == b.shape, f"fitopt {name}: shape {a.shape} vs {b.shape}"
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"fitopt {name}: NaN masks")
            fin = np.isfinite(b)
            np.testing.assert_allclose(a[fin], b[fin], rtol=1e-6, atol=1e-30, err_msg=f"fitopt {name}")
        assert np.count_nonzero(theirs.crmag) > 0 and opt["SLOPE"].shape[1] >= 2


@pytest.mark.parametrize("params", [
    {"firstgroup": 1, "lastgroup": 4},
    {"firstgroup": 2, "suppress_one_group": False},
])
def test_group_selection(jwst_offline, nirspec_case, params):
    rate, rateints = jwst_fit(nirspec_case, **params)
    ours_rate, ours_ints, _ = our_fit(nirspec_case, **params)
    assert_image_parity(ours_rate, rate, "rate")
    assert_image_parity(ours_ints, rateints, "rateints")
    default_rate, _, _ = our_fit(nirspec_case)
    assert not np.array_equal(ours_rate["VAR_RNOISE"], default_rate["VAR_RNOISE"])   # the groups mattered


def test_one_group_ramps_not_suppressed(jwst_offline, nircam_case):
    """Stars saturating after group 0: one-good-group ramps get a rate from the 0th group."""
    rate, rateints = jwst_fit(nircam_case, suppress_one_group=False)
    ours_rate, ours_ints, _ = our_fit(nircam_case, chunk_rows=1024, suppress_one_group=False)
    assert_image_parity(ours_rate, rate, "rate")
    assert_image_parity(ours_ints, rateints, "rateints")
    default_rate, _, _ = our_fit(nircam_case, chunk_rows=1024)
    changed = np.isnan(default_rate["SCI"]) & np.isfinite(ours_rate["SCI"])
    assert changed.any()


def test_average_dark_current(jwst_offline, nirspec_case):
    """A non-zero AVERAGE_DARK_CURRENT (set by jwst's dark_current step from the DARK
    reference) enters every segment's Poisson variance."""
    model = jwst_stage(nirspec_case, PREV).copy()
    rng = np.random.default_rng(5)
    model.average_dark_current = rng.uniform(0.0, 2.0, model.pixeldq.shape).astype(np.float32)
    rate, rateints = run_jwst_step("ramp_fit", model, nirspec_case.refs)
    ours_rate, ours_ints, _ = our_fit(nirspec_case, model=model)
    assert_image_parity(ours_rate, rate, "rate")
    assert_image_parity(ours_ints, rateints, "rateints")
    default_rate, _, _ = our_fit(nirspec_case)
    assert not np.array_equal(ours_rate["VAR_POISSON"], default_rate["VAR_POISSON"])
