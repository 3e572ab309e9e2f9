"""Consecutive elementwise steps of a row pass as one kernel over each chunk.

group_scale, superbias, linearity (classic) and dark_current change each sample on its own
(``Step.elementwise``). Where two or more of them follow each other in a row pass and no
product of the first ones is kept, :func:`run_fused` applies them in one pass over the chunk
(rampflow.kernels.elementwise), each with its own step's arithmetic, so SCI is identical to
running them one by one; each step's PIXELDQ flags are OR-ed in as its ``process`` does.
ZEROFRAME still goes through each step's ``process_zeroframe``, in order.
"""

from __future__ import annotations

import numpy as np

from .. import dq as dqflags

_OPS = ("scale", "bias", "poly", "dark")


def fusable_runs(steps, kept: set) -> list[tuple[int, int]]:
    """Runs [i, j) of two or more consecutive steps that can be fused: each either skipped or
    elementwise (and without a row halo), their ops in the kernel's order (each at most once),
    and no product of ``kept`` (step indices) but the last's. Skipped steps inside a run are
    left out of it by :func:`run_fused`."""
    runs, start, last_op = [], None, -1

    def close(end):
        active = [k for k in range(start, end) if not steps[k].skipped]
        if len(active) >= 2:
            runs.append((start, end))

    for i, s in enumerate(steps):
        op = None
        if not s.skipped and s.row_halo() == 0:
            e = s.elementwise(slice(0, 0))
            op = None if e is None else _OPS.index(e[0])
        ok = s.skipped or op is not None
        if start is not None and (not ok or (op is not None and op <= last_op)):
            close(i)
            start = None
        if ok and start is None:
            start, last_op = i, -1
        if start is not None and op is not None:
            last_op = op
        if start is not None and i in kept:
            close(i + 1)
            start = None
    if start is not None:
        close(len(steps))
    return runs


def run_fused(steps, sci, gdq, pdq, rows: slice) -> None:
    """The elementwise ``steps`` (one run of :func:`fusable_runs`; skipped ones do nothing) on
    one chunk, in place, in one kernel call."""
    from ..kernels.elementwise import apply_elementwise

    ops = {}
    for s in steps:
        if s.skipped:
            continue
        op, operand, flags = s.elementwise(rows)
        ops[op] = np.ascontiguousarray(operand) if op != "scale" else np.float32(operand)
        if flags is not None:
            pdq |= flags.astype(np.uint32, copy=False)
    apply_elementwise(sci, gdq, sat=int(dqflags.SATURATED), **ops)


def apply_op(sci, op: str, operand) -> None:
    """One elementwise operation (:meth:`~rampflow.steps.base.Step.elementwise`'s "scale",
    "bias" or "dark", operand for sci's rows and columns) on ``sci`` (float32 (nints,
    ngroups, ny, nx)), in place, as the step's ``process`` does it."""
    from ..kernels.elementwise import apply_elementwise

    if op not in ("scale", "bias", "dark"):
        raise ValueError(f"apply_op: {op!r} is not scale, bias or dark")
    apply_elementwise(sci, **{op: np.float32(operand) if op == "scale" else operand})
