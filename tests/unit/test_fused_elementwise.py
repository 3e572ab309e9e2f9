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
        elif op == "poly":
            correct_groups(want, gdq[:, :, rows], coeffs[:, rows])
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
