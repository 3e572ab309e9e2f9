"""MIRI's group discarding in ramp fitting (stcal 1.20 ``ols_fit.discard_miri_groups``).

For a MIRI exposure with more than one group, fitted with OLS_C, stcal looks at the group DQ
the fit sees (GROUPDQ, plus DO_NOT_USE outside jwst's ``firstgroup`` / ``lastgroup`` and on
suppressed one-good-group ramps) over the *whole exposure*:

1. while group 0 is DO_NOT_USE in every pixel of every integration, it is cut off the ramp
   (data and DQ), and JUMP_DET is taken off the new group 0 (so a jump there does not flag
   the integration and starts no segment);
2. then, if the last group is DO_NOT_USE everywhere, it is cut off too (once: only one
   trailing group is ever discarded);
3. if no group is left, or fewer than 2, stcal fits nothing and jwst writes no rate product.

The fit then runs on the shortened ramps: the pedestal extrapolates from the first group
kept, yint is the intercept at that group, and the DQ of rate / rateints only sees the groups
kept. (Typical cause: jwst's firstframe / lastframe / rscd flag the first and last groups
DO_NOT_USE in every pixel.) stcal's LIKELY fit does not discard groups, nor does rampflow's.

Because the decision needs every pixel of the exposure, :func:`scan_ramp` reads the GROUPDQ
of the fit's input ramp once, before the first row chunk (the runner calls ``RampFit.scan``).
In a job where jump runs in the same pass, the ramp read is jump's input: jump never adds
DO_NOT_USE to a group, so the decision is the same.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


class NoUsableGroupsError(ValueError):
    """After discarding MIRI's all-DO_NOT_USE groups nothing (or one group) is left to fit:
    jwst 3.0 writes no rate product for such an exposure."""


def all_dnu_groups(gdq: np.ndarray, firstgroup: int, lastgroup: int, suppress_one_group: bool) -> np.ndarray:
    """bool (ngroups,): whether each group is DO_NOT_USE in every ramp of ``gdq`` (uint8
    (nints, ngroups, nrows, nx)) as the fit sees it. Combine chunks with ``&``."""
    if gdq.dtype != np.uint8 or gdq.ndim != 4:
        raise ValueError(f"ramp_fit: gdq must be a uint8 4-D array, got {gdq.dtype} {gdq.shape}")
    out = np.ones((gdq.shape[2], gdq.shape[1]), dtype=np.bool_)
    from ..kernels.ramp_segments import _all_dnu_groups_kernel

    _all_dnu_groups_kernel(gdq, int(firstgroup), int(lastgroup), bool(suppress_one_group), out)
    return out.all(axis=0)


def discarded_groups(all_dnu: np.ndarray, where: str = "ramp_fit") -> tuple[int, int]:
    """(leading, trailing) groups stcal discards given :func:`all_dnu_groups` of the exposure.

    Raises :class:`NoUsableGroupsError` naming ``where`` when no group, or a single one, is left.
    """
    all_dnu = np.asarray(all_dnu, dtype=bool)
    ngroups = all_dnu.size
    lead = 0
    while lead < ngroups and all_dnu[lead]:
        lead += 1
    if lead == ngroups:
        raise NoUsableGroupsError(f"{where}: MIRI exposure: every group is DO_NOT_USE in every pixel; "
                                  "there is nothing to fit (jwst writes no rate product)")
    trail = 1 if all_dnu[-1] else 0
    left = ngroups - lead - trail
    if left < 2:
        raise NoUsableGroupsError(
            f"{where}: MIRI exposure: {left} group left after discarding {lead} leading and {trail} "
            "trailing all-DO_NOT_USE group(s); MIRI ramps need at least 2 groups (jwst writes no rate product)")
    if lead or trail:
        log.info("%s: MIRI: discarding %d leading and %d trailing groups flagged DO_NOT_USE in every pixel",
                 where, lead, trail)
    return lead, trail


def scan_ramp(ramp, firstgroup: int, lastgroup: int, suppress_one_group: bool, chunk_mb: float = 64.0
              ) -> tuple[int, int]:
    """(leading, trailing) groups to discard for the open ramp ``ramp`` (a RampFile), reading its
    GROUPDQ in chunks of integrations (at most ~``chunk_mb`` MB at a time)."""
    nints, ngroups, ny, nx = ramp.shape
    per_int = max(1, ngroups * ny * nx)
    step = max(1, int(chunk_mb * 2**20) // per_int)
    acc = np.ones(ngroups, dtype=bool)
    for start in range(0, nints, step):
        gdq = ramp.read_groupdq(slice(start, min(nints, start + step)))
        acc &= all_dnu_groups(gdq, firstgroup, lastgroup, suppress_one_group)
        if not acc[0] and not acc[-1]:
            break  # nothing to discard: no need to read further
    return discarded_groups(acc, f"ramp_fit {ramp.path}")


def cut_groups(sci: np.ndarray, gdq: np.ndarray, discard: tuple[int, int], firstgroup: int, lastgroup: int):
    """The chunk without the discarded groups (views, not copies) and the fit's settings for it:
    (sci, gdq, firstgroup, lastgroup, clear_jump0) with firstgroup / lastgroup shifted to the
    kept groups and ``clear_jump0`` True when leading groups were cut."""
    lead, trail = discard
    if not lead and not trail:
        return sci, gdq, firstgroup, lastgroup, False
    stop = sci.shape[1] - trail
    return sci[:, lead:stop], gdq[:, lead:stop], firstgroup - lead, lastgroup - lead, lead > 0
