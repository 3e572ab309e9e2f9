"""gain_scale: SCI/ERR x GAINFACT, VAR_* x GAINFACT**2, SKIPPED without GAINFACT."""

from __future__ import annotations

import numpy as np

from rampflow.steps import gain_scale as gs


def product(shape=(2, 3)):
    return {
        "SCI": np.full(shape, 3.0, np.float32),
        "ERR": np.full(shape, 0.5, np.float32),
        "DQ": np.full(shape, 4, np.uint32),
        "VAR_POISSON": np.full(shape, 0.25, np.float32),
        "VAR_RNOISE": np.full(shape, 0.75, np.float32),
    }


def test_scales_with_gainfact():
    arrays = product((2, 2, 3))                     # a rateints cube
    sci = arrays["SCI"]
    out, factor = gs.gain_scale(arrays, {"GAINFACT": 2.0})
    assert factor == 2.0
    assert out["SCI"] is sci                        # in place
    np.testing.assert_array_equal(out["SCI"], 6.0)
    np.testing.assert_array_equal(out["ERR"], 1.0)
    np.testing.assert_array_equal(out["VAR_POISSON"], 1.0)   # 0.25 * 4
    np.testing.assert_array_equal(out["VAR_RNOISE"], 3.0)    # 0.75 * 4
    np.testing.assert_array_equal(out["DQ"], 4)
    assert out["SCI"].dtype == np.float32
    assert gs.header_updates(factor) == {"S_GANSCL": "COMPLETE", "GAINFACT": 2.0}


def test_float32_arithmetic_like_numpy_in_jwst():
    arrays = product()
    arrays["SCI"][:] = np.float32(1.1)
    gs.gain_scale(arrays, {"GAINFACT": 1.3})
    # jwst: model.data *= gain_factor (float32 array, Python float)
    expected = np.full((2, 3), np.float32(1.1), np.float32)
    expected *= 1.3
    np.testing.assert_array_equal(arrays["SCI"], expected)
    assert arrays["VAR_POISSON"][0, 0] == np.float32(np.float32(0.25) * np.float32(1.3 ** 2))


def test_skipped_without_gainfact():
    for header in ({}, None, {"GAINFACT": None}, {"OTHER": 1}):
        arrays = product()
        out, factor = gs.gain_scale(arrays, header)
        assert factor is None
        np.testing.assert_array_equal(out["SCI"], 3.0)
        np.testing.assert_array_equal(out["VAR_RNOISE"], 0.75)
    assert gs.header_updates(None) == {"S_GANSCL": "SKIPPED"}


def test_lowercase_names_and_missing_variances():
    arrays = {"slope": np.ones(3, np.float32), "err": np.ones(3, np.float32), "var_poisson": None}
    out, factor = gs.gain_scale(arrays, {"GAINFACT": 3.0})
    np.testing.assert_array_equal(out["slope"], 3.0)
    np.testing.assert_array_equal(out["err"], 3.0)
    assert out["var_poisson"] is None
