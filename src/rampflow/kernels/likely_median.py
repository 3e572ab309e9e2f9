"""numba helpers of the LIKELY fit (private): stcal's count-rate guess, the median of a
pixel's differences, for a block of pixels (see :mod:`.likely`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .order_stats import _kth_branchless, _median_any

#: half-width of the median guess's bracket, in standard deviations of the differences
#: (the median of n Gaussian values is within 0.3 sigma of their mean but for about 1e-3)
BRACKET = 0.3


@njit(cache=True, error_model="numpy")
def _median(x, n, ta, tb):
    """numpy's median of x[:n] (NaN if any is NaN; mean of the two middle values);
    ``ta`` / ``tb`` scratch of size >= n."""
    nan = False
    for k in range(n):
        nan |= math.isnan(x[k])
    if nan:
        return np.nan
    return _median_any(x, n, ta, tb, 12)  # selection down to 12 values: fastest on 19 to 69


@njit(cache=True, error_model="numpy")
def _median_guess(d, n, crg, t0, ta, tb, lo, hi):
    """stcal's count-rate guess for every pixel of a block: the median of all its
    differences (NaN if any is NaN), clipped at 0. ``t0``, ``ta``, ``tb`` scratch (n,),
    ``lo``, ``hi`` (P,).

    The differences within ``BRACKET`` standard deviations of their mean (sums across the
    block, in SIMD) are gathered, and the values below counted: when the middle ranks fall
    among the gathered ones (nearly always), the median is selected from those few; the
    same value as a selection over all of them. Otherwise (NaN or inf, or a bracket that
    misses) the median of all of them."""
    P = d.shape[1]
    for p in range(P):
        lo[p] = 0.0
        hi[p] = 0.0
    for k in range(n):
        for p in range(P):
            x = d[k, p]
            lo[p] += x
            hi[p] += x * x
    for p in range(P):
        m = lo[p] / n
        v = hi[p] / n - m * m
        w = BRACKET * math.sqrt(v) if v > 0 else 0.0
        lo[p] = m - w
        hi[p] = m + w
    klo = (n - 1) // 2
    khi = n // 2
    for p in range(P):
        a = lo[p]
        b = hi[p]
        below = 0
        m = 0
        for k in range(n):
            x = d[k, p]
            t0[m] = x
            m += (x >= a) & (x <= b)
            below += x < a
        if math.isfinite(a) and math.isfinite(b) and below <= klo and khi < below + m:
            med = _kth_branchless(t0, m, klo - below, ta, tb, 12)
            if khi != klo:
                med = 0.5 * (med + _kth_branchless(t0, m, khi - below, ta, tb, 12))
        else:
            for k in range(n):
                t0[k] = d[k, p]
            med = _median(t0, n, ta, tb)
        crg[p] = med * (med > 0)
