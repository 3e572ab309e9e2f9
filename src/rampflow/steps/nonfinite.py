"""Non-finite reference values (NaN, +-inf): which pixels they touch and the DQ those get.

Every step that reads a float reference array flags a pixel whose values there are not all
finite with DO_NOT_USE plus the JWST flag that says which reference was bad, so no NaN or inf
reaches the SCI / ERR / VAR_* of a pixel whose DQ says it is good:

========== ============================= ===================================================
reference  flag (with DO_NOT_USE)        where
========== ============================= ===================================================
SATURATION NO_SAT_CHECK                  saturation (threshold set above the A-to-D limit)
SUPERBIAS  UNRELIABLE_BIAS               superbias (the value is replaced by 0)
LINEARITY  NO_LIN_CORR                   linearity (identity polynomial)
DARK       UNRELIABLE_DARK               dark_current (0 subtracted; AVDRKCUR likewise)
READNOISE  UNRELIABLE_SLOPE              jump, ramp_fit
GAIN       NO_GAIN_VALUE                 jump, ramp_fit
========== ============================= ===================================================

MASK holds only an integer DQ array, where NaN cannot occur. jwst flags only some of these
cases (see each step's docstring and the README's differences table).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import dq as dqflags

log = logging.getLogger(__name__)


def nonfinite_pixels(values: np.ndarray) -> np.ndarray:
    """bool (ny, nx): pixels with a NaN or inf anywhere along the leading axes of ``values``
    (shape (..., ny, nx))."""
    values = np.asarray(values)
    bad = ~np.isfinite(values)
    if bad.ndim > 2:
        bad = bad.any(axis=tuple(range(bad.ndim - 2)))
    return bad


def nonfinite_flags(values: np.ndarray, flag: str, what: str) -> np.ndarray:
    """uint32 (ny, nx): ``DO_NOT_USE | <flag>`` where ``values`` (..., ny, nx) is not finite,
    0 elsewhere. ``flag`` is a JWST flag name (e.g. "NO_GAIN_VALUE"); ``what`` names the
    reference (its file) in the warning logged when any pixel is flagged."""
    bad = nonfinite_pixels(values)
    bits = np.uint32(dqflags.DO_NOT_USE | dqflags.FLAGS[flag])
    out = np.zeros(bad.shape, dtype=np.uint32)
    out[bad] = bits
    n = int(bad.sum())
    if n:
        log.warning("%s: %d pixel(s) with NaN or inf values flagged DO_NOT_USE | %s", what, n, flag)
    return out


def inf_to_nan(values: np.ndarray) -> np.ndarray:
    """``values`` with +-inf replaced by NaN (a float copy only when there is an inf), so that a
    step's NaN handling, jwst's, also takes the infinities."""
    values = np.asarray(values)
    if values.dtype.kind != "f" or not np.isinf(values).any():
        return values
    return np.where(np.isinf(values), np.nan, values).astype(values.dtype, copy=False)
