"""Group scale: jwst's ``group_scale`` step (``jwst.group_scale``).

On board, NFRAMES frames are summed and divided by FRMDIVSR (a power of 2). When
FRMDIVSR != NFRAMES every group is off by NFRAMES/FRMDIVSR, so jwst multiplies all groups by
``FRMDIVSR / NFRAMES`` (a float32 multiply, as numpy does ``data *= python_float``).

jwst's conditions: no NFRAMES -> SKIPPED; no FRMDIVSR -> SKIPPED (whether or not NFRAMES is
a power of 2: jwst's correction routine also skips without FRMDIVSR); NFRAMES == FRMDIVSR ->
SKIPPED. :class:`rampflow.meta.ExposureMeta` fills a missing FRMDIVSR with NFRAMES and a
missing NFRAMES with 1, so "missing" arrives here as "equal" and is SKIPPED too (the one
case that differs: FRMDIVSR present, NFRAMES absent, FRMDIVSR != 1 -- jwst skips, we scale
by FRMDIVSR/1; real uncal files always carry NFRAMES).
"""

from __future__ import annotations

import numpy as np

from .base import Step


def group_scale_factor(nframes: int | None, frmdivsr: int | None) -> float | None:
    """The factor FRMDIVSR/NFRAMES, or None when jwst would skip the step."""
    if nframes is None or frmdivsr is None:
        return None
    if int(nframes) == int(frmdivsr):
        return None
    return float(frmdivsr) / int(nframes)


def scale_groups(sci: np.ndarray, factor: float) -> None:
    """``sci *= float32(factor)`` in place; sci float32 (..., ny, nx)."""
    if sci.dtype != np.float32:
        raise ValueError(f"sci must be float32; got {sci.dtype} {sci.shape}")
    sci *= np.float32(factor)


class GroupScale(Step):
    """jwst ``GroupScaleStep`` (class_alias "group_scale"); no reference files, no parameters."""

    name = "group_scale"
    keyword = "S_GRPSCL"
    reftypes = ()
    spec = ""  # jwst's GroupScaleStep takes no parameters

    rows_ok = True  # pixel by pixel: any chunk of rows

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        self.factor = group_scale_factor(meta.nframes, meta.frmdivsr)
        if self.factor is None:
            self.skipped = f"NFRAMES ({meta.nframes}) equals FRMDIVSR ({meta.frmdivsr}); correction not needed"

    def process(self, sci, gdq, pdq, ints, rows):
        scale_groups(sci, self.factor)

    def elementwise(self, rows):
        return "scale", np.float32(self.factor), None
