"""NaN-aware statistics shared by extraction, photometry and normalisation."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = ["nanmedian", "quiet", "median_var_factor", "interp_nans_along_x"]


@contextmanager
def quiet():
    """Silence numpy's 'All-NaN slice' / 'Mean of empty slice' RuntimeWarnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """Median along ``axis`` ignoring NaNs (NaN where all are NaN), as ``np.nanmedian``.

    Sorts once (NaNs sort last) and averages the middle valid elements: much faster than
    ``np.nanmedian``, which goes through masked arrays for short axes.
    """
    a = np.asarray(a)
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    s = np.sort(a, axis=axis)
    n = np.sum(~np.isnan(s), axis=axis, keepdims=True)
    lo = np.maximum((n - 1) // 2, 0)
    hi = np.maximum(n // 2, 0)
    hi = np.minimum(hi, s.shape[axis] - 1)
    lo = np.minimum(lo, s.shape[axis] - 1)
    v = 0.5 * (np.take_along_axis(s, lo, axis=axis) + np.take_along_axis(s, hi, axis=axis))
    v = np.where(n > 0, v, np.nan)
    return np.squeeze(v, axis=axis)


def median_var_factor(n: np.ndarray) -> np.ndarray:
    """Variance of the median of n Gaussian samples / (sigma^2 / n): 1 for n <= 2, else pi/2."""
    return np.where(n <= 2, 1.0, math.pi / 2.0)


def interp_nans_along_x(a: np.ndarray) -> np.ndarray:
    """Fill NaNs of each row of ``a`` (k, nx) by linear interpolation along x (0 if none good)."""
    out = np.array(a, dtype=np.float64)
    x = np.arange(out.shape[-1])
    for r in range(out.shape[0]):
        bad = ~np.isfinite(out[r])
        if not bad.any():
            continue
        if bad.all():
            out[r] = 0.0
            continue
        out[r, bad] = np.interp(x[bad], x[~bad], out[r, ~bad])
    return out
