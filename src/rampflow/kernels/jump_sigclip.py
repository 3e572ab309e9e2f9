"""Shortcuts for astropy's sigma clipping of one column of first differences (the jump
kernel's sigma-clipping branch; private, arrays and scalars only).

astropy's ``sigma_clip`` (median centre, population std, ``maxiters``) is ported exactly in
:func:`.order_stats._sigclip_bounds`; its bounds depend on an exact median each iteration.
The functions here decide, from means, standard deviations and counts only, what the exact
algorithm will flag when that is certain: every value lies farther than a margin (1e-9
relative, far above the rounding of either computation) from every bound the exact
algorithm can produce. Otherwise they say so and the caller runs the exact port. The facts
used: ``|median - mean| <= std`` for any data, and counting the values on either side of
``mean -+ std / 4`` narrows the median to that interval for most data.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_FM = {"reassoc", "nsz", "contract"}  # rounding-level freedom only (no NaN / inf assumptions)


@njit(cache=True, fastmath=_FM)
def _mean_std(col, lo, hi):
    """(count, mean, population std) of the values of col within [lo, hi]."""
    c = 0
    tot = 0.0
    for i in range(col.shape[0]):
        v = np.float64(col[i])
        inside = (v >= lo) & (v <= hi)
        c += inside
        tot += v if inside else 0.0
    if c == 0:
        return 0, np.nan, np.nan
    mean = tot / c
    ss = 0.0
    for i in range(col.shape[0]):
        v = np.float64(col[i])
        d = v - mean
        ss += d * d if (v >= lo) & (v <= hi) else 0.0
    return c, mean, math.sqrt(ss / c)


@njit(cache=True, fastmath=_FM)
def _median_radius(col, lo, hi, c, mean, std):
    """r such that the median of the c values of col within [lo, hi] lies in mean -+ r:
    std / 4 when the counts show it, else std."""
    a = 0.25 * std
    up = mean + a
    dn = mean - a
    nle = 0
    nge = 0
    for i in range(col.shape[0]):
        v = np.float64(col[i])
        inside = (v >= lo) & (v <= hi)
        nle += inside & (v <= up)
        nge += inside & (v >= dn)
    khi = c // 2
    klo = khi if c % 2 == 1 else khi - 1
    if nle >= khi + 1 and nge >= c - klo:
        return a
    return std


@njit(cache=True)
def _finite_col_sigclip(col, sigma):
    """What astropy's sigma clipping (``sigma``, ``maxiters`` >= 2) of the column ``col``
    (1-D float32) flags, when certain. Returns (status, lo, hi):

    * status 0: the first pass provably keeps every value (nothing is flagged);
    * status 1: the first pass provably clips exactly the values outside [lo, hi] and the
      second keeps all the others, with the clipped ones outside its bounds too: those
      are the values flagged;
    * status -1: not certain, or a value is NaN / infinite: run the exact algorithm.
    """
    c = col.shape[0]
    if c < 3 or not (sigma > 1.0):
        return -1, 0.0, 0.0
    mn = np.inf
    mx = -np.inf
    for i in range(c):
        v = np.float64(col[i])
        mn = min(mn, v)
        mx = max(mx, v)
    if not (math.isfinite(mn) and math.isfinite(mx)):
        return -1, 0.0, 0.0
    n1, mean1, std1 = _mean_std(col, -np.inf, np.inf)
    if n1 != c or not (std1 > 0.0) or not math.isfinite(std1):
        return -1, 0.0, 0.0
    amax = max(abs(mn), abs(mx))
    half1 = sigma * std1
    tol = 1e-9 * (amax + half1)
    # pass 1: its bounds are median -+ half1 with median in mean1 -+ r1
    if mn >= mean1 + std1 - half1 + tol and mx <= mean1 - std1 + half1 - tol:
        return 0, 0.0, 0.0
    r1 = _median_radius(col, -np.inf, np.inf, c, mean1, std1)
    keep_lo = mean1 + r1 - half1 + tol   # at or above: kept whatever the median
    keep_hi = mean1 - r1 + half1 - tol
    clip_lo = mean1 - r1 - half1 - tol   # below: clipped whatever the median
    clip_hi = mean1 + r1 + half1 + tol
    if mn >= keep_lo and mx <= keep_hi:
        return 0, 0.0, 0.0
    for i in range(c):
        v = np.float64(col[i])
        if (v < keep_lo and v >= clip_lo) or (v > keep_hi and v <= clip_hi):
            return -1, 0.0, 0.0  # a value near a possible bound
    # pass 2 on the kept values [keep_lo, keep_hi]: keeps them all, and the clipped ones
    # lie outside its bounds too
    n2, mean2, std2 = _mean_std(col, keep_lo, keep_hi)
    if n2 < 2 or n2 == c or not (std2 > 0.0):
        return -1, 0.0, 0.0
    half2 = sigma * std2
    tol2 = 1e-9 * (amax + half1)
    r2 = _median_radius(col, keep_lo, keep_hi, n2, mean2, std2)
    in_lo = mean2 + r2 - half2 + tol2
    in_hi = mean2 - r2 + half2 - tol2
    out_lo = mean2 - r2 - half2 - tol2
    out_hi = mean2 + r2 + half2 + tol2
    for i in range(c):
        v = np.float64(col[i])
        if v >= keep_lo and v <= keep_hi:
            if v < in_lo or v > in_hi:
                return -1, 0.0, 0.0
        elif not (v < out_lo or v > out_hi):
            return -1, 0.0, 0.0
    return 1, keep_lo, keep_hi
