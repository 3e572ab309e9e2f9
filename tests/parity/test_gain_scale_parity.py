"""gain_scale parity with jwst's GainScaleStep on jwst's own rate / rateints products: a GAIN
reference with GAINFACT (scaled, COMPLETE) and the simulator's, which has none (SKIPPED)."""

import numpy as np
import pytest
from parity_helpers import run_jwst_step
from test_ramp_fit_parity import jwst_fit

from rampflow.references import load_reference
from rampflow.steps import gain_scale as gs

KEYS = (("SCI", "data"), ("ERR", "err"), ("DQ", "dq"), ("VAR_POISSON", "var_poisson"), ("VAR_RNOISE", "var_rnoise"))


def _arrays(model):
    return {k: np.array(getattr(model, attr), copy=True) for k, attr in KEYS}


def _gain_with_factor(case, tmp_path, factor):
    from stdatamodels.jwst import datamodels

    path = tmp_path / "gain_with_gainfact.fits"
    with datamodels.GainModel(str(case.refs["gain"])) as g:
        g.meta.exposure.gain_factor = factor
        g.save(str(path))
    return path


@pytest.mark.parametrize("which", [0, 1], ids=["rate", "rateints"])
def test_gainfact(jwst_offline, nirspec_case, tmp_path, which):
    product = jwst_fit(nirspec_case)[which]
    assert product.meta.exposure.gain_factor is None
    gain_path = _gain_with_factor(nirspec_case, tmp_path, 1.7)
    refs = dict(nirspec_case.refs, gain=gain_path)
    theirs = run_jwst_step("gain_scale", product, refs)
    assert theirs.meta.cal_step.gain_scale == "COMPLETE"
    gain = load_reference("gain", gain_path, nirspec_case.meta)
    ours, factor = gs.gain_scale(_arrays(product), gain.header)
    assert factor == theirs.meta.exposure.gain_factor == 1.7
    for key, attr in KEYS:
        np.testing.assert_array_equal(ours[key], np.asarray(getattr(theirs, attr)), err_msg=key)
    assert not np.array_equal(ours["VAR_POISSON"], np.asarray(product.var_poisson))


def test_skipped_without_gainfact(jwst_offline, nirspec_case):
    product = jwst_fit(nirspec_case)[0]
    theirs = run_jwst_step("gain_scale", product, nirspec_case.refs)
    assert theirs.meta.cal_step.gain_scale == "SKIPPED"
    gain = load_reference("gain", nirspec_case.refs["gain"], nirspec_case.meta)
    ours, factor = gs.gain_scale(_arrays(product), gain.header)
    assert factor is None
    for key, attr in KEYS:
        np.testing.assert_array_equal(ours[key], np.asarray(getattr(theirs, attr)), err_msg=key)
