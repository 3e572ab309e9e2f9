"""First-frame flagging: jwst's ``firstframe`` step (``jwst.firstframe.firstframe_sub``, jwst 3.0).

The first group of a MIRI integration is affected by the reset before it; jwst stops using it.
With more than 3 groups per integration every pixel's first group gets DO_NOT_USE in GROUPDQ,
except, with ``bright_use_group1`` (jwst default True), in the integrations where the pixel's
third group is SATURATED: there the first group is kept (its anomaly is small against the
signal of group 2 - group 1, and without it a pixel saturating by group 3 has no slope), and
the pixel gets FLUX_ESTIMATED in PIXELDQ when that happens in any integration. SCI is not
changed. With 3 groups or fewer the step is SKIPPED, as for a detector that is not MIRI's.

jwst 3.0 deprecates this step (the rscd step now flags the first groups) and skips it by
default (``skip = True``): rampflow runs it only when ``firstframe`` is in the config's
``steps`` list. Follows jwst 3.0 exactly; no deliberate difference.
"""

from __future__ import annotations

import logging

import numpy as np

from ..dq import DO_NOT_USE, FLUX_ESTIMATED, SATURATED
from .base import Step
from .lastframe import miri_only

log = logging.getLogger(__name__)


def flag_first_group(gdq: np.ndarray, pdq: np.ndarray, bright_use_group1: bool) -> np.ndarray:
    """Flag the first group DO_NOT_USE in place (see the module docstring); returns the bool
    (ny, nx) mask of the pixels whose first group was kept in some integration (third group
    SATURATED).

    gdq : uint8 (nints, ngroups, ny, nx), ngroups > 3; pdq : uint32 (ny, nx)
    """
    if gdq.ndim != 4 or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 (nints, ngroups, ny, nx); got {gdq.dtype} {gdq.shape}")
    if pdq.shape != gdq.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 {gdq.shape[2:]}; got {pdq.dtype} {pdq.shape}")
    if not bright_use_group1:
        gdq[:, 0] |= np.uint8(DO_NOT_USE)
        return np.zeros(pdq.shape, dtype=bool)
    kept = (gdq[:, 2] & np.uint8(SATURATED)) > 0
    first = gdq[:, 0]
    first[~kept] |= np.uint8(DO_NOT_USE)
    any_kept = np.any(kept, axis=0)
    pdq[any_kept] |= np.uint32(FLUX_ESTIMATED)
    return any_kept


class FirstFrame(Step):
    """jwst ``FirstFrameStep`` (class_alias "firstframe"); no reference file.

    Parameters as jwst's spec: ``bright_use_group1`` (True). (jwst's ``skip = True`` default
    is the config's ``steps`` list here.)
    """

    name = "firstframe"
    keyword = "S_FRSTFR"
    reftypes = ()
    spec = """
        bright_use_group1 = boolean(default=True) # do not flag group1 if group3 is saturated
    """
    skip_default = True
    modifies_sci = False

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        if miri_only(self) and meta.ngroups <= 3:
            self.skipped = f"too few groups per integration ({meta.ngroups} <= 3) to flag the first one"
        self.kept = np.zeros((meta.subsize2, meta.subsize1), dtype=bool)

    def process(self, sci, gdq, pdq, ints, rows):
        self.kept[rows] |= flag_first_group(gdq, pdq, bool(self.params["bright_use_group1"]))

    def history(self):
        lines = super().history()
        if not self.skipped and self.params["bright_use_group1"]:
            lines.append(f"rampflow firstframe: first group kept where group 3 saturates in "
                         f"{int(self.kept.sum())} pixels")
        return lines
