"""The one pass's fused elementwise kernel (runner.fusion): group_scale, superbias, linearity
and dark_current in one kernel give the separate steps' SCI and PIXELDQ bit for bit."""

import numpy as np
import pytest

from rampflow import dq as dqflags
from rampflow.runner.fusion import fusable_runs, run_fused
from rampflow.steps.dark_current import subtract_dark
from rampflow.steps.group_scale import scale_groups
from rampflow.steps.linearity import correct_groups
from rampflow.steps.superbias import subtract_superbias

SHAPE = (3, 6, 9, 17)


class Fake:
    skipped = None

    def __init__(self, op, operand, flags=None, halo=0):
        self.op, self.operand, self.flags, self.halo = op, operand, flags, halo
        self.name = op

    def row_halo(self):
        return self.halo

    def elementwise(self, rows):
        if self.op is None:
            return None
        if self.op == "scale" or self.operand is None:
            return self.op, self.operand, self.flags
        arr = self.operand[rows] if self.op == "bias" else self.operand[:, rows]
        return self.op, arr, None if self.flags is None else self.flags[rows]


def _data(seed):
    rng = np.random.default_rng(seed)
    sci = (rng.random(SHAPE, dtype=np.float32) * 40000).astype(np.float32)
    gdq = np.where(rng.random(SHAPE) < 0.2, dqflags.SATURATED, 0).astype(np.uint8)
    bias = (rng.random(SHAPE[2:], dtype=np.float32) * 12000).astype(np.float32)
    coeffs = np.stack([rng.normal(0, 3, SHAPE[2:]), 1 + rng.normal(0, 1e-2, SHAPE[2:]),
                       rng.normal(0, 1e-6, SHAPE[2:]), rng.normal(0, 1e-11, SHAPE[2:])]).astype(np.float32)
    dark = rng.normal(5, 2, (SHAPE[1] + 2,) + SHAPE[2:])
    flags = [rng.integers(0, 2**20, SHAPE[2:], dtype=np.uint32) for _ in range(3)]
    return sci, gdq, bias, coeffs, dark, flags


@pytest.mark.parametrize("dark_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ops", [("scale", "bias", "poly", "dark"), ("bias", "poly"), ("poly", "dark"),
                                 ("bias", "dark"), ("scale", "bias")])
def test_fused_kernel_equals_the_steps_one_by_one(ops, dark_dtype):
    sci, gdq, bias, coeffs, dark, flags = _data(7)
    dark = dark.astype(dark_dtype)
    rows = slice(2, 7)
    want, pdq_want = sci[:, :, rows].copy(), np.zeros((5, SHAPE[3]), np.uint32)
    fakes = []
    for op in ops:
        if op == "scale":
            scale_groups(want, 0.5)
            fakes.append(Fake("scale", np.float32(0.5)))
        elif op == "bias":
            subtract_superbias(want, pdq_want, bias[rows], flags[0][rows])
            fakes.append(Fake("bias", bias, flags[0]))
        elif op == "poly":  # stcal's Horner order in numpy float32, SATURATED groups unchanged
            c = coeffs[:, rows]
            r = c[-1] * want
            for j in range(c.shape[0] - 2, 0, -1):
                r = (r + c[j]) * want
            want[...] = np.where(gdq[:, :, rows] & dqflags.SATURATED, want, r + c[0])
            pdq_want |= flags[1][rows]
            fakes.append(Fake("poly", coeffs, flags[1]))
        else:
            subtract_dark(want, pdq_want, dark[:, rows], flags[2][rows])
            fakes.append(Fake("dark", dark, flags[2]))
    got = sci[:, :, rows]  # a view of rows of a larger array, as the row stream passes them
    pdq = np.zeros_like(pdq_want)
    run_fused(fakes, got, gdq[:, :, rows], pdq, rows)
    assert np.array_equal(got, want)
    assert np.array_equal(pdq, pdq_want)
    assert not np.array_equal(sci[:, :, :2], want[:, :, :2])  # rows outside untouched (sanity)


def test_linearity_step_kernel_on_window_rows_and_odd_coefficient_counts():
    """correct_groups (linearity's kernel: the fused one with its polynomial alone), on rows
    of a larger window and on a contiguous chunk, with 2, 3 and 6 coefficients: stcal's float32
    Horner order computed by numpy, NaN coefficients and data through as NaN, SATURATED groups
    and the window's other rows untouched."""
    rng = np.random.default_rng(3)
    for nc in (2, 3, 6):
        win = (rng.random((2, 5, 8, 33), dtype=np.float32) * 30000).astype(np.float32)
        gdq = np.where(rng.random(win.shape) < 0.2, dqflags.SATURATED, 0).astype(np.uint8)
        coeffs = np.stack([rng.normal(0, 10 ** -(3 * k), (8, 33)) for k in range(nc)]).astype(np.float32)
        coeffs[1] += 1
        coeffs[nc - 1, 3, 4] = np.nan
        win[0, 2, 5, 6] = np.nan
        for rows in (slice(2, 6), slice(0, 8)):
            data = win.copy()
            c = coeffs[:, rows]
            want = data.copy()
            r = c[-1] * want[:, :, rows]
            for j in range(nc - 2, 0, -1):
                r = (r + c[j]) * want[:, :, rows]
            sat = gdq[:, :, rows] & dqflags.SATURATED
            want[:, :, rows] = np.where(sat, want[:, :, rows], r + c[0])
            correct_groups(data[:, :, rows], gdq[:, :, rows], np.ascontiguousarray(c))
            np.testing.assert_array_equal(data, want)
            assert np.isnan(want[:, :, rows]).any() and not np.array_equal(want, win)


def test_runs_are_consecutive_elementwise_steps_in_kernel_order_with_no_kept_product_inside():
    b, p, d, s = (Fake("bias", None), Fake("poly", None), Fake("dark", None), Fake("scale", None))
    other, halo = Fake(None, None), Fake("bias", None, halo=1)
    assert fusable_runs([other, b, other, p, d], set()) == [(3, 5)]
    assert fusable_runs([b, p, d], set()) == [(0, 3)]
    assert fusable_runs([b, p, d], {1}) == [(0, 2)]       # the linearity product is kept: a run ends there
    assert fusable_runs([b, p, d], {0}) == [(1, 3)]
    assert fusable_runs([d, b, p], set()) == [(1, 3)]     # out of the kernel's order
    assert fusable_runs([s, halo, p], set()) == []        # a halo step is not elementwise
    skipped = Fake("poly", None)
    skipped.skipped = "not needed"
    assert fusable_runs([b, skipped, d], set()) == [(0, 3)]
    assert fusable_runs([b, skipped], set()) == []        # one active step: nothing to fuse
