"""numba order statistics and sigma clipping for the jump kernels (private; arrays and scalars).

Medians are exact order statistics (any selection algorithm gives numpy's value; a
branch-free quickselect is used for speed). Sigma clipping is a line-by-line port of
astropy's C ``_sigma_clip_fast`` (Wirth selection, then mean and std summed in the buffer
order the selection leaves, so even the last bits of the bounds agree); a cheap test first
proves, from the mean, the standard deviation and ``|median - mean| <= std``, that astropy's
first pass would keep every value (then nothing is flagged, exactly as astropy would decide).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _kth_smallest(a, n, k):
    """k-th smallest of a[:n] (Wirth / Devillard, as astropy's wirth_select.c; permutes a)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        x = a[k]
        i = lo
        j = hi
        while True:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
            if i > j:
                break
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]


@njit(cache=True)
def _wirth_median(a, n):
    """Median of a[:n] (no NaN), permuting a; mean of the two middle values for even n."""
    if n == 0:
        return np.nan
    if n % 2 == 0:
        hi = _kth_smallest(a, n, n // 2)
        lo = _kth_smallest(a, n, n // 2 - 1)
        return 0.5 * (hi + lo)
    return _kth_smallest(a, n, (n - 1) // 2)


@njit(cache=True)
def _rank_select(a, n, k):
    """k-th smallest of a[:n] by counting ranks (branch-free, for small n)."""
    for i in range(n):
        x = a[i]
        lt = 0
        le = 0
        for j in range(n):
            lt += a[j] < x
            le += a[j] <= x
        if lt <= k and k < le:
            return x
    return np.nan


@njit(cache=True)
def _kth_branchless(a, n, k, ta, tb, cut=24):
    """k-th smallest of a[:n] (no NaN); quickselect with median-of-3 pivots and
    branch-free partitions into the scratch arrays ``ta``/``tb`` (size >= n), down to
    ``cut`` values, then counting ranks. ``a`` is not modified. Same value as any exact
    selection (about 3x faster than Wirth's on unordered data)."""
    m = n
    which = 0
    while m > cut:
        if which == 0:
            x0 = a[0]
            x1 = a[m // 2]
            x2 = a[m - 1]
        elif which == 1:
            x0 = ta[0]
            x1 = ta[m // 2]
            x2 = ta[m - 1]
        else:
            x0 = tb[0]
            x1 = tb[m // 2]
            x2 = tb[m - 1]
        p = max(min(x0, x1), min(max(x0, x1), x2))
        nl = 0
        nh = 0
        if which == 0:
            for j in range(m):
                v = a[j]
                ta[nl] = v
                nl += v < p
                tb[nh] = v
                nh += v > p
        elif which == 1:
            for j in range(m):
                v = ta[j]
                ta[nl] = v
                nl += v < p
                tb[nh] = v
                nh += v > p
        else:
            for j in range(m):
                v = tb[j]
                ta[nl] = v
                nl += v < p
                tb[nh] = v
                nh += v > p
        if k < nl:
            m = nl
            which = 1
        elif k >= m - nh:
            k -= m - nh
            m = nh
            which = 2
        else:
            return p
    if which == 0:
        return _rank_select(a, m, k)
    if which == 1:
        return _rank_select(ta, m, k)
    return _rank_select(tb, m, k)


@njit(cache=True)
def _next_order_stat(a, n, lower, k):
    """The order statistic of rank ``k`` of ``a[:n]`` (no NaN), given ``lower``, the one of
    rank ``k - 1``: ``lower`` again if more than ``k`` values are <= it, else the smallest
    value above it (one pass, no sort)."""
    cle = 0
    nxt = np.inf
    for j in range(n):
        v = a[j]
        cle += v <= lower
        nxt = min(nxt, v) if v > lower else nxt
    return lower if cle > k else nxt


@njit(cache=True)
def _median_any(a, n, ta, tb, cut=24):
    """Median of a[:n] (no NaN; NaN if n == 0), the value numpy's median gives; ``a`` is
    not modified, ``ta``/``tb`` are scratch of size >= n; ``cut``: see _kth_branchless."""
    if n == 0:
        return np.nan
    khi = n // 2
    if n % 2 == 1:
        return _kth_branchless(a, n, khi, ta, tb, cut)
    vlo = _kth_branchless(a, n, khi - 1, ta, tb, cut)
    vhi = _next_order_stat(a, n, vlo, khi)
    return 0.5 * (vlo + vhi)


@njit(cache=True)
def _sigclip_bounds(buf, count, sigma, maxiters):
    """astropy ``compute_sigma_clipped_bounds`` (median centre, std, ``maxiters``).

    ``buf[:count]`` holds the finite values in input order and is modified.
    Returns (lower, upper, clipped): the bounds of the last iteration and whether any
    value was ever excluded (if not, no value lies outside the bounds).
    """
    iteration = 0
    clipped = False
    while True:
        median = _wirth_median(buf, count)
        mean = 0.0
        for i in range(count):
            mean += buf[i]
        mean /= count
        std = 0.0
        for i in range(count):
            std += (buf[i] - mean) * (buf[i] - mean)
        std = math.sqrt(std / count)
        lower = median - sigma * std
        upper = median + sigma * std
        new_count = 0
        for i in range(count):
            if buf[i] >= lower and buf[i] <= upper:
                buf[new_count] = buf[i]
                new_count += 1
        if new_count != count:
            clipped = True
        if new_count == count or new_count == 0:
            return lower, upper, clipped
        count = new_count
        iteration += 1
        if iteration >= maxiters:
            return lower, upper, clipped


@njit(cache=True)
def _sigclip_keeps_all(col, c, sigma):
    """True when astropy's first sigma-clipping pass provably keeps all of col[:c].

    Its bounds are ``median +- sigma * std`` (population std). For any data
    ``|median - mean| <= std``, and a count around the mean narrows that to ``mean +- std/4``
    for most data; if every value lies inside the bounds that any such median gives (with
    a margin far above the rounding of either computation) nothing is clipped, so no value
    is flagged -- without the costly exact median. Otherwise the caller runs the exact
    algorithm. ``col`` is only read.
    """
    if c < 2 or not (sigma > 1.0):
        return False
    tot = 0.0
    mn = np.inf
    mx = -np.inf
    for i in range(c):
        v = col[i]
        tot += v
        if v < mn:
            mn = v
        if v > mx:
            mx = v
    mean = tot / c
    ss = 0.0
    for i in range(c):
        d = col[i] - mean
        ss += d * d
    std = math.sqrt(ss / c)
    if not (std > 0.0):
        return False
    half = sigma * std
    tol = 1e-9 * (max(abs(mn), abs(mx)) + half)
    if mn >= mean + std - half + tol and mx <= mean - std + half - tol:
        return True
    a = 0.25 * std
    up = mean + a
    dn = mean - a
    nle = 0
    nge = 0
    for i in range(c):
        v = col[i]
        nle += v <= up
        nge += v >= dn
    khi = c // 2
    klo = khi if c % 2 == 1 else khi - 1
    if nle >= khi + 1 and nge >= c - klo:
        if mn >= up - half + tol and mx <= dn + half - tol:
            return True
    return False


@njit(cache=True)
def _clipped_abs_median(absd, n, tmp, ta, tb):
    """stcal ``calc_med_first_diffs`` for one pixel on |first differences| ``absd[:n]``
    (NaN = unusable): >= 4 usable -> drop every value equal to the maximum, median of the
    rest; 3 -> median; 2 -> minimum; < 2 -> NaN."""
    cnt = 0
    mx = -np.inf
    mn = np.inf
    for j in range(n):
        v = absd[j]
        if not math.isnan(v):
            cnt += 1
            if v > mx:
                mx = v
            if v < mn:
                mn = v
    if cnt < 2:
        return np.nan
    if cnt == 2:
        return mn
    m = 0
    for j in range(n):
        v = absd[j]
        if math.isnan(v):
            continue
        if cnt >= 4 and v == mx:
            continue
        tmp[m] = v
        m += 1
    if m == 0:
        return np.nan
    return _median_any(tmp, m, ta, tb)


@njit(cache=True)
def _bracket_round(src, m, klo, khi, dst, samp):
    """One bracketing round for the order statistics klo <= khi of src[:m] (no NaN unless
    ``src`` is the raw row: NaN is in no count). A sample of 32 values gives a bracket
    [lo, hi] around the ranks; one pass counts the values below it and copies those inside
    it to ``dst``. Returns (number below, number inside, number of non-NaN values), or
    (-1, 0, 0) if some stretch of m // ns values is all NaN."""
    ns = 64 if m >= 1024 else 32
    step = m // ns
    for t in range(ns):
        j = t * step
        v = src[j]
        while math.isnan(v) and j < (t + 1) * step - 1:
            j += 1
            v = src[j]
        if math.isnan(v):
            return -1, 0, 0
        samp[t] = v
    dr = 9 if ns == 64 else 7
    rlo = (klo * ns) // m - dr
    rhi = (khi * ns) // m + dr
    sa = samp[:ns]
    ta = samp[64:64 + ns]
    tb = samp[128:128 + ns]
    lo_v = _kth_branchless(sa, ns, max(rlo, 0), ta, tb)
    hi_v = _kth_branchless(sa, ns, min(rhi, ns - 1), ta, tb)
    if rlo < 0:
        lo_v = -np.inf
    if rhi > ns - 1:
        hi_v = np.inf
    nb = 0
    nc = 0
    na = 0
    for j in range(m):
        v = src[j]
        nb += v < lo_v
        na += v > hi_v
        dst[nc] = v
        nc += (v >= lo_v) & (v <= hi_v)
    return nb, nc, nb + nc + na


@njit(cache=True)
def _row_nanmedian(row, n, work, ta, tb, samp):
    """nanmedian of row[:n] as float64 (numpy's value; NaN if every value is NaN).

    ``row`` is only read (float32 or float64); ``work``/``ta``/``tb`` (same dtype, size >= n)
    and ``samp`` (size >= 192) are scratch. The two middle order statistics are narrowed down
    by bracketing rounds (:func:`_bracket_round`: a sample of 32 values, then one pass
    keeping the values between two sample values on either side of the target ranks, about
    half of them), then selected among the few left; when a bracket misses a rank, they are
    selected among all values. Order statistics do not depend on the algorithm, and float32 ->
    float64 is exact and keeps the order, so the result is bit for bit that of
    :func:`_median_any` on the float64 values: the middle value, or ``0.5 * (lo + hi)`` in
    float64.
    """
    ok = False
    m = 0
    klo = 0
    khi = 0
    if n > 256:
        # the first round reads the row (NaN counted nowhere), later ones work in place
        nb, nc, m = _bracket_round(row, n, (n - 1) // 2, n // 2, work, samp)
        if nb >= 0:
            klo = (m - 1) // 2 - nb
            khi = m // 2 - nb
            ok = klo >= 0 and khi < nc
            m = nc
            shrink = True
            while ok and shrink and m > 256:
                nb, nc, mm = _bracket_round(work, m, klo, khi, work, samp)
                klo -= nb
                khi -= nb
                ok = klo >= 0 and khi < nc
                shrink = 4 * nc < 3 * m  # many equal values: stop narrowing
                m = nc
    if not ok:
        # select among all values
        m = 0
        for j in range(n):
            v = row[j]
            work[m] = v
            m += not math.isnan(v)
        if m == 0:
            return np.nan
        klo = (m - 1) // 2
        khi = m // 2
    a = _kth_branchless(work, m, klo, ta, tb)
    if khi == klo:
        return np.float64(a)
    b = _next_order_stat(work, m, a, khi)
    return 0.5 * (np.float64(a) + np.float64(b))


@njit(cache=True)
def _sort16(a):
    """Sorts a[:16] in place (no NaN): Batcher's odd-even merge sorting network (63
    compare-exchanges, listed below as generated for 16 inputs; checked on all 2**16 0-1
    inputs, which by the 0-1 principle proves it sorts anything). The values stay in
    registers and no comparison branches, so on a few values this beats counting ranks."""
    x0, x1, x2, x3, x4, x5, x6, x7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    x8, x9, x10, x11, x12, x13, x14, x15 = a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]
    x0, x1 = min(x0, x1), max(x0, x1)
    x2, x3 = min(x2, x3), max(x2, x3)
    x0, x2 = min(x0, x2), max(x0, x2)
    x1, x3 = min(x1, x3), max(x1, x3)
    x1, x2 = min(x1, x2), max(x1, x2)
    x4, x5 = min(x4, x5), max(x4, x5)
    x6, x7 = min(x6, x7), max(x6, x7)
    x4, x6 = min(x4, x6), max(x4, x6)
    x5, x7 = min(x5, x7), max(x5, x7)
    x5, x6 = min(x5, x6), max(x5, x6)
    x0, x4 = min(x0, x4), max(x0, x4)
    x2, x6 = min(x2, x6), max(x2, x6)
    x2, x4 = min(x2, x4), max(x2, x4)
    x1, x5 = min(x1, x5), max(x1, x5)
    x3, x7 = min(x3, x7), max(x3, x7)
    x3, x5 = min(x3, x5), max(x3, x5)
    x1, x2 = min(x1, x2), max(x1, x2)
    x3, x4 = min(x3, x4), max(x3, x4)
    x5, x6 = min(x5, x6), max(x5, x6)
    x8, x9 = min(x8, x9), max(x8, x9)
    x10, x11 = min(x10, x11), max(x10, x11)
    x8, x10 = min(x8, x10), max(x8, x10)
    x9, x11 = min(x9, x11), max(x9, x11)
    x9, x10 = min(x9, x10), max(x9, x10)
    x12, x13 = min(x12, x13), max(x12, x13)
    x14, x15 = min(x14, x15), max(x14, x15)
    x12, x14 = min(x12, x14), max(x12, x14)
    x13, x15 = min(x13, x15), max(x13, x15)
    x13, x14 = min(x13, x14), max(x13, x14)
    x8, x12 = min(x8, x12), max(x8, x12)
    x10, x14 = min(x10, x14), max(x10, x14)
    x10, x12 = min(x10, x12), max(x10, x12)
    x9, x13 = min(x9, x13), max(x9, x13)
    x11, x15 = min(x11, x15), max(x11, x15)
    x11, x13 = min(x11, x13), max(x11, x13)
    x9, x10 = min(x9, x10), max(x9, x10)
    x11, x12 = min(x11, x12), max(x11, x12)
    x13, x14 = min(x13, x14), max(x13, x14)
    x0, x8 = min(x0, x8), max(x0, x8)
    x4, x12 = min(x4, x12), max(x4, x12)
    x4, x8 = min(x4, x8), max(x4, x8)
    x2, x10 = min(x2, x10), max(x2, x10)
    x6, x14 = min(x6, x14), max(x6, x14)
    x6, x10 = min(x6, x10), max(x6, x10)
    x2, x4 = min(x2, x4), max(x2, x4)
    x6, x8 = min(x6, x8), max(x6, x8)
    x10, x12 = min(x10, x12), max(x10, x12)
    x1, x9 = min(x1, x9), max(x1, x9)
    x5, x13 = min(x5, x13), max(x5, x13)
    x5, x9 = min(x5, x9), max(x5, x9)
    x3, x11 = min(x3, x11), max(x3, x11)
    x7, x15 = min(x7, x15), max(x7, x15)
    x7, x11 = min(x7, x11), max(x7, x11)
    x3, x5 = min(x3, x5), max(x3, x5)
    x7, x9 = min(x7, x9), max(x7, x9)
    x11, x13 = min(x11, x13), max(x11, x13)
    x1, x2 = min(x1, x2), max(x1, x2)
    x3, x4 = min(x3, x4), max(x3, x4)
    x5, x6 = min(x5, x6), max(x5, x6)
    x7, x8 = min(x7, x8), max(x7, x8)
    x9, x10 = min(x9, x10), max(x9, x10)
    x11, x12 = min(x11, x12), max(x11, x12)
    x13, x14 = min(x13, x14), max(x13, x14)
    a[0] = x0
    a[1] = x1
    a[2] = x2
    a[3] = x3
    a[4] = x4
    a[5] = x5
    a[6] = x6
    a[7] = x7
    a[8] = x8
    a[9] = x9
    a[10] = x10
    a[11] = x11
    a[12] = x12
    a[13] = x13
    a[14] = x14
    a[15] = x15
