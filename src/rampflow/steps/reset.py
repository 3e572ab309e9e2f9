"""Reset anomaly correction: jwst's ``reset`` step (``jwst.reset.reset_sub``, jwst 3.0).

After a MIRI reset the first groups of an integration sit off the ramp by an amount that
depends on the integration and the group ("reset anomaly"). The RESET reference holds it as
SCI (reset_nints, reset_ngroups, ny, nx) (float32; NaN taken as 0), with DQ (ny, nx) and the
header's NINTS / NGROUPS saying how many integrations and groups it covers. jwst subtracts,
for integration i of the exposure (counted from INTSTART for a segment) and group
g < min(NGROUPS of the exposure, reset NGROUPS), ``reset[min(i, reset_nints - 1), g]``
(float32); later groups are unchanged. PIXELDQ |= the reference DQ (through DQ_DEF).

A detector that is not MIRI's, or no RESET reference (CRDS N/A): SKIPPED, as in jwst.

Difference from jwst: the reference is cut to the exposure's subarray with SUBSTRT1/2
(rampflow.references), where jwst expects CRDS to give a reference of the subarray's size;
for a reference of the subarray's size the result is jwst's bit for bit.
"""

from __future__ import annotations

import numpy as np

from .base import Step
from .lastframe import miri_only


def reset_counts(ref, what: str) -> tuple[int, int]:
    """(reset_nints, reset_ngroups) of a RESET reference: its header's NINTS and NGROUPS (as
    jwst reads ``meta.exposure.nints/ngroups``), else SCI's shape; ReferenceError-free
    ValueError naming ``what`` when they exceed SCI's shape or SCI is not 4-D."""
    sci = ref["SCI"]
    if sci.ndim != 4:
        raise ValueError(f"{what}: RESET SCI must be 4-D (nints, ngroups, ny, nx); got shape {sci.shape}")
    nints = int(ref.header.get("NINTS", sci.shape[0]) or sci.shape[0])
    ngroups = int(ref.header.get("NGROUPS", sci.shape[1]) or sci.shape[1])
    if not (1 <= nints <= sci.shape[0]) or not (1 <= ngroups <= sci.shape[1]):
        raise ValueError(f"{what}: RESET header NINTS={nints}, NGROUPS={ngroups} do not fit its SCI "
                         f"shape {sci.shape}")
    return nints, ngroups


def subtract_reset(sci: np.ndarray, pdq: np.ndarray, reset: np.ndarray, reset_dq: np.ndarray,
                   first_int: int) -> None:
    """Subtract the reset anomaly in place.

    sci : float32 (nints, ngroups, ny, nx): integrations ``first_int``, ``first_int + 1``, ...
          of the exposure (0-based); pdq : uint32 (ny, nx);
    reset : float32 (reset_nints, reset_ngroups, ny, nx) without NaN (the groups and
          integrations the reference covers); reset_dq : uint32 (ny, nx).
    """
    if sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be float32 (nints, ngroups, ny, nx); got {sci.dtype} {sci.shape}")
    if reset.ndim != 4 or reset.shape[2:] != sci.shape[2:] or reset.dtype != np.float32:
        raise ValueError(f"reset must be float32 (nints, ngroups) + {sci.shape[2:]}; got {reset.dtype} {reset.shape}")
    if pdq.shape != sci.shape[2:] or reset_dq.shape != sci.shape[2:]:
        raise ValueError(f"pdq and reset_dq must be {sci.shape[2:]}; got {pdq.shape} and {reset_dq.shape}")
    pdq |= reset_dq.astype(np.uint32, copy=False)
    ng = min(sci.shape[1], reset.shape[1])
    for i in range(sci.shape[0]):
        ir = min(first_int + i, reset.shape[0] - 1)
        sci[i, :ng] -= reset[ir, :ng]


class Reset(Step):
    """jwst ``ResetStep`` (class_alias "reset"); reference RESET, no parameters."""

    name = "reset"
    keyword = "S_RESET"
    reftypes = ("reset",)
    optional_reftypes = ("reset",)
    spec = ""  # jwst's ResetStep takes no parameters

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        if not miri_only(self):
            return
        ref = refs.get("reset")
        if ref is None:
            self.skipped = "no RESET reference file (CRDS: N/A)"
            return
        nints, ngroups = reset_counts(ref, ref.path)
        reset = np.array(ref["SCI"][:nints, :ngroups], dtype=np.float32)
        reset[np.isnan(reset)] = 0.0
        self.reset = reset
        self.reset_dq = ref.dq() if "DQ" in ref else np.zeros(reset.shape[2:], dtype=np.uint32)
        if self.reset_dq.shape != reset.shape[2:]:
            raise ValueError(f"{ref.path}: RESET DQ shape {self.reset_dq.shape} differs from SCI's {reset.shape[2:]}")
        #: 0-based index in the exposure of this file's first integration (INTSTART for a segment)
        self.first_int = int(meta.extra.get("INTSTART", 1) or 1) - 1

    def process(self, sci, gdq, pdq, ints, rows):
        subtract_reset(sci, pdq[...], self.reset[:, :, rows], self.reset_dq[rows], self.first_int + ints.start)
