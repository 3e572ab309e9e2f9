"""Integration times: INT_TIMES mid-times (BJD_TDB, else MJD_UTC) and the time order of a stitched series."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from .config import LightCurveError

log = logging.getLogger(__name__)

__all__ = ["BJD", "MJD", "integration_mid_times", "stitch_order", "select_rows", "valid_times", "time_scale"]

#: the INT_TIMES mid-time columns, preferred first
BJD, MJD = "int_mid_BJD_TDB", "int_mid_MJD_UTC"


def select_rows(int_times: Table, nints: int, intstart: int | None, source: str) -> Table:
    """The INT_TIMES rows of this file's integrations (a segment may carry the whole table)."""
    if len(int_times) == nints:
        return int_times
    if "integration_number" in int_times.colnames and intstart is not None:
        num = np.asarray(int_times["integration_number"])
        want = np.arange(intstart, intstart + nints)
        idx = [np.flatnonzero(num == n) for n in want]
        if all(len(i) for i in idx):
            return int_times[[int(i[0]) for i in idx]]
    raise LightCurveError(f"{source}: INT_TIMES has {len(int_times)} rows for {nints} integrations "
                          f"(INTSTART={intstart}) and they cannot be matched")


def valid_times(col) -> bool:
    """Whether a time column is non-empty, finite and positive everywhere."""
    t = np.asarray(col, dtype=float)
    return t.size > 0 and bool(np.all(np.isfinite(t)) and np.all(t > 0))


def integration_mid_times(int_times: Table | None, *, source: str = "<INT_TIMES>") -> tuple[np.ndarray, str]:
    """Integration mid-times and their scale from an INT_TIMES table.

    Returns ``(times, scale)``: ``int_mid_BJD_TDB`` and ``"BJD_TDB"`` where that column is
    present, finite and non-zero; otherwise ``int_mid_MJD_UTC`` and ``"MJD_UTC"`` with a
    logged warning naming ``source``. Both are MJD-like (days, JD - 2400000.5). Raises
    LightCurveError when neither is usable.
    """
    if int_times is None:
        raise LightCurveError(f"{source}: no INT_TIMES table; integration times are unknown")
    cols = int_times.colnames
    if BJD in cols and valid_times(int_times[BJD]):
        return np.asarray(int_times[BJD], dtype=np.float64), "BJD_TDB"
    if MJD in cols and valid_times(int_times[MJD]):
        why = "absent" if BJD not in cols else "zero or invalid"
        log.warning("%s: %s is %s; using %s (UTC, not barycentric: times are off by up to "
                    "~8.3 min plus TDB-UTC)", source, BJD, why, MJD)
        return np.asarray(int_times[MJD], dtype=np.float64), "MJD_UTC"
    raise LightCurveError(f"{source}: INT_TIMES has neither a valid {BJD} nor {MJD} column "
                          f"(columns: {cols})")


def stitch_order(times, segments=None, int_numbers=None) -> np.ndarray:
    """Permutation putting integrations in time order.

    ``times`` (n,) mid-times of all integrations concatenated in any segment order;
    ``segments`` / ``int_numbers`` (n,) break ties (equal times). Logs a warning when two
    integrations share a mid-time (the same integration given twice?).
    """
    t = np.asarray(times, dtype=np.float64)
    seg = np.zeros(t.size) if segments is None else np.asarray(segments, dtype=np.float64)
    num = np.arange(t.size) if int_numbers is None else np.asarray(int_numbers, dtype=np.float64)
    order = np.lexsort((num, seg, t))
    st = t[order]
    if st.size > 1 and np.any(np.diff(st) == 0):
        log.warning("%d integrations share a mid-time with another: is a segment given twice?",
                    int(np.sum(np.diff(st) == 0)))
    return order


def time_scale(segs):
    """BJD_TDB mid-times if every segment has them, else MJD_UTC for all (with a warning).

    ``segs``: segments with ``path``, ``bjd`` and ``mjd`` (arrays or None). Returns
    ``(scale, [times of each segment])``.
    """
    if all(s.bjd is not None for s in segs):
        return "BJD_TDB", [s.bjd for s in segs]
    missing = [Path(s.path).name for s in segs if s.bjd is None]
    for s in segs:
        if s.mjd is None:
            raise LightCurveError(f"{s.path}: {BJD} is missing in other segments and {MJD} here")
    log.warning("%s absent or zero in %s: using %s (UTC, not barycentric: off by up to ~8.3 min "
                "plus TDB-UTC) for all %d segments", BJD, ", ".join(missing), MJD, len(segs))
    return "MJD_UTC", [s.mjd for s in segs]
