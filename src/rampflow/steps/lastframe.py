"""Last-frame flagging: jwst's ``lastframe`` step (``jwst.lastframe.lastframe_sub``, jwst 3.0).

A MIRI integration's last group is affected by the reset of the next one (the "last frame
effect"); jwst does not correct it but stops using it: with more than 2 groups per
integration, every pixel's last group gets DO_NOT_USE in GROUPDQ. SCI is not changed. With 2
groups or fewer the step is SKIPPED, as for a detector that is not MIRI's (``MIR*``).

Follows jwst 3.0 exactly; no deliberate difference.
"""

from __future__ import annotations

import numpy as np

from ..dq import DO_NOT_USE
from .base import Step


def flag_last_group(gdq: np.ndarray) -> None:
    """``gdq[:, -1] |= DO_NOT_USE`` in place; gdq uint8 (nints, ngroups, ny, nx)."""
    if gdq.ndim != 4 or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 (nints, ngroups, ny, nx); got {gdq.dtype} {gdq.shape}")
    gdq[:, -1] |= np.uint8(DO_NOT_USE)


def miri_only(step: Step) -> bool:
    """Mark ``step`` SKIPPED, as jwst's MIRI-only steps do, when the exposure's detector is not
    a MIRI one (DETECTOR starting with ``MIR``); True when it applies."""
    if not step.meta.detector.upper().startswith("MIR"):
        step.skipped = f"{step.name} is only for MIRI data (DETECTOR = {step.meta.detector})"
        return False
    return True


class LastFrame(Step):
    """jwst ``LastFrameStep`` (class_alias "lastframe"); no reference file, no parameters."""

    name = "lastframe"
    keyword = "S_LASTFR"
    reftypes = ()
    spec = ""  # jwst's LastFrameStep takes no parameters
    modifies_sci = False

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        if miri_only(self) and meta.ngroups <= 2:
            self.skipped = f"too few groups per integration ({meta.ngroups} <= 2) to flag the last one"

    def process(self, sci, gdq, pdq, ints, rows):
        flag_last_group(gdq)
