"""linearity: exact Horner values for a known cubic, bad-coefficient handling, read-level path."""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.linearity import correct_groups, correct_read_level, linearity_correction, prepare_coefficients

NLC = dq.NO_LIN_CORR


def _cubic(ny=2, nx=3):
    """c = (0, 1, 2**-16, 2**-30) everywhere: f(1024) = 1024 + 2**20/2**16 + 2**30/2**30 = 1041,
    f(2048) = 2048 + 64 + 8 = 2120, f(0) = 0 -- all exact in float32."""
    c = np.zeros((4, ny, nx), np.float32)
    c[1] = 1.0
    c[2] = 2.0**-16
    c[3] = 2.0**-30
    return c


def test_known_cubic_and_saturated_groups_untouched():
    c = _cubic()
    data = np.zeros((2, 3, 2, 3), np.float32)
    data[:, 0] = 0.0
    data[:, 1] = 1024.0
    data[:, 2] = 2048.0
    data[1, 2, 1, 2] = 4.0       # other exact case: 4 + 16/65536 + 64/2**30 (float32-rounded below)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 2, 0, 0] = dq.SATURATED
    gdq[1, 1, 1, 1] = dq.SATURATED | dq.DO_NOT_USE
    gdq[0, 1, 0, 1] = dq.JUMP_DET            # other flags do not stop the correction
    correct_groups(data, gdq, c)
    assert np.all(data[:, 0] == 0.0)
    assert data[0, 1, 0, 1] == 1041.0 and data[0, 2, 0, 1] == 2120.0
    assert data[0, 2, 0, 0] == 2048.0        # saturated: unchanged
    assert data[1, 1, 1, 1] == 1024.0        # saturated: unchanged
    assert data[1, 1, 1, 0] == 1041.0
    # 4 -> 4 + 2**-12 + 2**-24: float32 spacing at 4 is 2**-21, so 4 + 2**-12 exactly
    assert data[1, 2, 1, 2] == np.float32(4 + 2.0**-12)


def test_horner_integer_example():
    # c = (2, 1, 0.5, 0.25) at x = 4: ((0.25*4 + 0.5)*4 + 1)*4 + 2 = 30 = 2 + 4 + 8 + 16
    c = np.array([2, 1, 0.5, 0.25], np.float32).reshape(4, 1, 1)
    data = np.full((1, 1, 1, 1), 4.0, np.float32)
    correct_groups(data, np.zeros(data.shape, np.uint8), c)
    assert data[0, 0, 0, 0] == 30.0


def test_bad_coefficients_become_identity():
    c = _cubic(2, 3)
    c[2, 0, 0] = np.nan                      # NaN -> identity + NO_LIN_CORR
    c[1, 0, 1] = 0.0                         # zero linear term -> identity + NO_LIN_CORR
    lin_dq = np.zeros((2, 3), np.uint32)
    lin_dq[0, 2] = NLC                       # flagged in the reference: identity, flag kept
    lin_dq[1, 0] = dq.HOT                    # other flags are just propagated
    pc, flags = prepare_coefficients(c, lin_dq)
    np.testing.assert_array_equal(pc[:, 0, 0], [0, 1, 0, 0])
    np.testing.assert_array_equal(pc[:, 0, 1], [0, 1, 0, 0])
    np.testing.assert_array_equal(pc[:, 0, 2], [0, 1, 0, 0])
    np.testing.assert_array_equal(pc[:, 1, 1], [0, 1, 2.0**-16, 2.0**-30])
    np.testing.assert_array_equal(flags, [[NLC, NLC, NLC], [dq.HOT, 0, 0]])
    assert np.isnan(c[2, 0, 0])              # input untouched
    data = np.full((1, 1, 2, 3), 1024.0, np.float32)
    pdq = np.zeros((2, 3), np.uint32)
    linearity_correction(data, np.zeros(data.shape, np.uint8), pdq, c, lin_dq)
    np.testing.assert_array_equal(data[0, 0], [[1024, 1024, 1024], [1041, 1041, 1041]])
    np.testing.assert_array_equal(pdq, flags)


def test_read_level_quadratic_by_hand():
    """f(x) = x + x**2/1024, inverse given as the identity, NFRAMES = 4, groups [1-4], [5-8], [9-12]
    (mean read 2.5, 6.5, 10.5), data 100, 500, 900 (no saturation).

    stcal uses resultants 0 and 1 (unsaturated count 3, minus 1): countrate =
    (f(500) - f(100)) / (6.5 - 2.5) = (744.140625 - 109.765625)/4 = 158.59375 DN/read.
    The reconstructed reads of group i are d_i + 158.59375*(k - 1.5), k = 0..3 (the identity
    inverse plus the offset keeps their mean at d_i); the result is mean f(reads) =
    f(d_i) + mean(delta**2)/1024 with mean(delta**2) = 158.59375**2 * (2.25+0.25+0.25+2.25)/4.
    """
    c = np.zeros((3, 1, 1), np.float32)
    c[1] = 1.0
    c[2] = 1.0 / 1024
    inv = np.zeros((3, 1, 1), np.float32)
    inv[1] = 1.0
    rp = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    data = np.array([100.0, 500.0, 900.0], np.float32).reshape(1, 3, 1, 1)
    correct_read_level(data, np.zeros(data.shape, np.uint8), c, inv, rp)
    extra = 158.59375**2 * 1.25 / 1024
    expected = [d + d * d / 1024 + extra for d in (100.0, 500.0, 900.0)]
    np.testing.assert_allclose(data.ravel(), expected, rtol=1e-6)
    assert abs(data[0, 0, 0, 0] - 140.4687226) < 1e-4
    # classic correction for comparison: f(d) only
    classic = np.array([100.0, 500.0, 900.0], np.float32).reshape(1, 3, 1, 1)
    correct_groups(classic, np.zeros(classic.shape, np.uint8), c)
    np.testing.assert_allclose(classic.ravel(), [109.765625, 744.140625, 1691.015625])


def _meta(nframes=1):
    return ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NFRAMES": nframes,
                                      "NGROUPS": 3, "TFRAME": 10.73677, "TGROUP": 10.73677},
                                     {}, "test", shape=(1, 3, 2, 3))


def test_step_paths():
    c = _cubic()
    inv = np.zeros_like(c)
    inv[1] = 1.0
    lin_dq = np.zeros((2, 3), np.uint32)
    lin_dq[1, 2] = dq.DEAD
    ref = Reference("linearity", "hand", {}, {"COEFFS": c, "DQ": lin_dq, "INV_COEFFS": inv})
    cls = get_step_class("linearity")
    assert cls.keyword == "S_LINEAR" and cls.reftypes == ("linearity",)
    step = cls(_meta(1), {"linearity": ref})
    assert step.inv_coeffs is None          # NFRAMES = 1: classic path even with INV_COEFFS
    data = np.full((1, 3, 2, 3), 1024.0, np.float32)
    pdq = np.zeros((2, 3), np.uint32)
    step.process(data, np.zeros(data.shape, np.uint8), pdq, slice(0, 1), slice(0, 2))
    assert np.all(data == 1041.0) and pdq[1, 2] == dq.DEAD
    step = cls(_meta(4), {"linearity": ref})
    assert step.inv_coeffs is not None and step.read_pattern[2] == [9, 10, 11, 12]
    ref2 = Reference("linearity", "hand", {}, {"COEFFS": c, "DQ": lin_dq})
    assert cls(_meta(4), {"linearity": ref2}).inv_coeffs is None


def test_checks():
    with pytest.raises(ValueError, match="ncoeffs"):
        prepare_coefficients(np.zeros((1, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="coeffs must be float32"):
        correct_groups(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.uint8),
                       np.zeros((2, 3, 2), np.float32))
    with pytest.raises(ValueError, match="read_pattern"):
        linearity_correction(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.uint8),
                             np.zeros((2, 2), np.uint32), np.ones((2, 2, 2)), np.zeros((2, 2)),
                             inv_coeffs=np.ones((2, 2, 2)))
