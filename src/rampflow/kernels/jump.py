"""numba kernels behind :mod:`rampflow.steps.jump` (private; arrays and scalars only).

Shapes: ``sci`` float32 and ``gdq`` uint8 (nints, ngroups, ny, nx) -- a chunk of rows with
ALL integrations; ``rn``/``gain`` float32 (ny, nx); ``med``/``sig`` float64 (ny, nx).
Nothing here copies the 4-D chunk: the first differences of a block of pixels of one row
(all integrations of those pixels, at most ~4 MB) are formed in a per-thread buffer.

Arithmetic follows numpy's dtypes in ``stcal.jump.twopoint_difference`` exactly so the
flags are bit-identical: electrons = float32(DN * gain); first differences are float32
subtractions of those, used as float64 (stcal divides them by a float64 ``dt_group`` of
1); medians, sigmas and ratios are float64; the iterative search stores ``|d| - median``
as float32 and, after its first pass, the median as float32 (stcal writes them into
float32 arrays).

Medians are exact order statistics (any selection algorithm gives numpy's value; a
branch-free quickselect is used for speed). Sigma clipping is a line-by-line port of
astropy's C ``_sigma_clip_fast`` (Wirth selection, then mean and std summed in the buffer
order the selection leaves, so even the last bits of the bounds agree); it is only run
where it can clip something: a cheap test first proves, from the mean, the standard
deviation and ``|median - mean| <= std``, that astropy's first pass would keep every value
(then nothing is flagged, exactly as astropy would decide).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: detection modes chosen by the caller (stcal's branches in ``find_crs``/``run_jump_detection``)
MODE_SKIP = 0        # too few usable groups: nothing is flagged
MODE_ITERATIVE = 1   # ``iterative_jump``: one jump per pixel per pass, median re-computed
MODE_SINGLE = 2      # ``look_for_more_than_one_jump``: every difference tested in one pass
MODE_SIGCLIP = 3     # ``det_jump_sigma_clipping``: astropy sigma_clip across integrations


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
def _kth_branchless(a, n, k, ta, tb):
    """k-th smallest of a[:n] (no NaN); quickselect with median-of-3 pivots and
    branch-free partitions into the scratch arrays ``ta``/``tb`` (size >= n). ``a`` is
    not modified. Same value as any exact selection (about 3x faster than Wirth's on
    unordered data)."""
    m = n
    which = 0
    while m > 24:
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
def _median_any(a, n, ta, tb):
    """Median of a[:n] (no NaN; NaN if n == 0), the value numpy's median gives; ``a`` is
    not modified, ``ta``/``tb`` are scratch of size >= n."""
    if n == 0:
        return np.nan
    khi = n // 2
    if n % 2 == 1:
        return _kth_branchless(a, n, khi, ta, tb)
    vlo = _kth_branchless(a, n, khi - 1, ta, tb)
    cle = 0
    nxt = np.inf
    for j in range(n):
        v = a[j]
        cle += v <= vlo
        if v > vlo and v < nxt:
            nxt = v
    vhi = vlo if cle > khi else nxt
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


@njit(cache=True, parallel=True)
def _plane_all_kernel(gdq, bits, out):
    """out[i, g] = every pixel of plane (i, g) has at least one of ``bits`` set."""
    nints, ngroups, ny, nx = gdq.shape
    for p in prange(nints * ngroups):
        i = p // ngroups
        g = p % ngroups
        ok = True
        for y in range(ny):
            for x in range(nx):
                if (gdq[i, g, y, x] & bits) == 0:
                    ok = False
                    break
            if not ok:
                break
        out[i, g] = ok


@njit(cache=True, parallel=True)
def _clear_planes_kernel(gdq, planes, jump):
    """In planes (i, g) marked in ``planes``: pixels whose DQ is exactly ``jump`` -> 0."""
    nints, ngroups, ny, nx = gdq.shape
    for p in prange(nints * ngroups):
        i = p // ngroups
        g = p % ngroups
        if not planes[i, g]:
            continue
        for y in range(ny):
            for x in range(nx):
                if gdq[i, g, y, x] == jump:
                    gdq[i, g, y, x] = 0


@njit(cache=True, parallel=True)
def _count_rows_kernel(gdq, bits, out):
    """out[y] = number of (integration, group) with any of ``bits`` set, summed over row y."""
    nints, ngroups, ny, nx = gdq.shape
    for y in prange(ny):
        c = 0
        for i in range(nints):
            for g in range(ngroups):
                for x in range(nx):
                    if gdq[i, g, y, x] & bits:
                        c += 1
        out[y] = c


@njit(cache=True)
def _flag(gdq, i, g, y, x, jump):
    """Set JUMP on one group; returns 1 if it was not set before (a new primary jump)."""
    f = gdq[i, g, y, x]
    if f & jump:
        return 0
    gdq[i, g, y, x] = f | jump
    return 1


@njit(cache=True)
def _pixel_median(buf, w, n, work, ta, tb):
    """nanmedian of buf[w, :n] (float64)."""
    m = 0
    for j in range(n):
        v = buf[w, j]
        if not math.isnan(v):
            work[m] = v
            m += 1
    return _median_any(work, m, ta, tb)


@njit(cache=True, parallel=True)
def _detect_kernel(sci, gdq, rn, gain, rowlist, ntasks, mode, only_use_ints, nframes,
                   thr_normal, thr_3diff, thr_2diff, sigclip_maxiters, do_trig, post_all,
                   nb_min, nb_max, width, dnu, sat, jump,
                   med_out, sig_out, rowtrig, nprim_rows, nclean_rows):
    """Primary detection, per pixel, all integrations at once.

    The rows ``rowlist`` (int64) are split into ``ntasks`` contiguous ranges run in
    parallel; other rows are left alone. Writes ``jump`` into ``gdq`` on groups whose
    preceding difference is an outlier, and per pixel the post-processing median of the
    differences and its sigma (``med_out``, ``sig_out``, float64 (ny, nx); NaN-filled by
    the caller). They are computed for every pixel if ``post_all`` (single-pass mode and
    the after-jump flagging need them everywhere), else only for pixels with a JUMP
    flag when ``do_trig`` (nothing else reads them).
    ``rowtrig[i, g, y] = 1`` when some pixel of row y has JUMP in group g with
    min < ratio < max (a superset hint for the neighbour pass).
    ``nprim_rows[y]``: groups with JUMP after detection (stcal's primary CR count);
    ``nclean_rows[y]``: groups holding JUMP together with SATURATED or DO_NOT_USE.

    Thresholds: ``thr_normal`` (stcal's ``normal_rej_thresh``), ``thr_3diff`` for exactly
    3 usable differences (four_group_rejection_threshold), ``thr_2diff`` for 2
    (three_group_rejection_threshold).

    The differences of a pixel are held as ``buf[w, k * nints + i]`` (difference k of
    integration i; contiguous across integrations for the per-difference sigma clipping),
    except for sigma clipping over all differences (``only_use_ints`` False), where
    astropy's buffer order ``i * nd + k`` is kept because its sums follow that order.
    """
    nints, ngroups, ny, nx = sci.shape
    nd = ngroups - 1
    n = nints * nd
    badbits = dnu | sat
    nan32 = np.float32(np.nan)
    imajor = mode == 3 and not only_use_ints
    if imajor:
        si = nd
        sk = 1
    else:
        si = 1
        sk = nints
    nrow = rowlist.shape[0]
    for task in prange(ntasks):
        t_lo = (nrow * task) // ntasks
        t_hi = (nrow * (task + 1)) // ntasks
        buf = np.empty((width, max(n, 1)), dtype=np.float32)
        prev = np.empty((max(nints, 1), width), dtype=np.float32)
        work = np.empty(max(n, 1), dtype=np.float64)
        work2 = np.empty(max(n, 1), dtype=np.float64)
        ta = np.empty(max(n, 1), dtype=np.float64)
        tb = np.empty(max(n, 1), dtype=np.float64)
        col = np.empty(max(nints, 1), dtype=np.float64)
        newj = np.empty(max(n, 1), dtype=np.int64)
        injump = np.zeros(width, dtype=np.uint8)
        for t_row in range(t_lo, t_hi):
            y = rowlist[t_row]
            nprim = 0
            nclean = 0
            for x0 in range(0, nx, width):
                wn = min(width, nx - x0)
                injump[:] = 0
                # ---- gather the first differences (electrons) of this block of pixels
                for g in range(ngroups):
                    for i in range(nints):
                        j = i * si + (g - 1) * sk
                        for w in range(wn):
                            x = x0 + w
                            f = gdq[i, g, y, x]
                            v = sci[i, g, y, x] * gain[y, x]
                            if f & badbits:
                                v = nan32
                            if f & jump:
                                nprim += 1
                                injump[w] = 1
                                if f & badbits:
                                    nclean += 1
                            if g > 0:
                                buf[w, j] = v - prev[i, w]
                            prev[i, w] = v
                if mode == 0:
                    continue
                # ---- per pixel
                for w in range(wn):
                    x = x0 + w
                    nnew = 0
                    r32 = rn[y, x] * gain[y, x]
                    rn2 = r32 * r32
                    var_rn = np.float64(rn2) / nframes
                    med = np.nan
                    sig = np.nan
                    have_med = False
                    if mode == 2 or post_all:
                        med = _pixel_median(buf, w, n, work, ta, tb)
                        sig = math.sqrt(abs(med) + var_rn)
                        if sig == 0.0:
                            sig = np.nan
                        have_med = True

                    if mode == 2:
                        lim = 0.5 * thr_normal * sig
                        for k in range(nd):
                            for i in range(nints):
                                v = np.float64(buf[w, i * si + k * sk])
                                # |v - med| / sig > thr, evaluated exactly only near the limit
                                a = abs(v - med)
                                if a > lim and math.isfinite(v) and a / sig > thr_normal:
                                    if _flag(gdq, i, k + 1, y, x, jump):
                                        newj[nnew] = i * si + k * sk
                                        nnew += 1
                    elif mode == 3:
                        if only_use_ints:
                            for k in range(nd):
                                c = 0
                                j0 = k * sk
                                for i in range(nints):
                                    v = np.float64(buf[w, j0 + i])
                                    if math.isfinite(v):
                                        col[c] = v
                                        c += 1
                                if c == 0 or _sigclip_keeps_all(col, c, thr_normal):
                                    continue
                                lo, hi, clipped = _sigclip_bounds(col, c, thr_normal, sigclip_maxiters)
                                if not clipped:
                                    continue
                                for i in range(nints):
                                    v = np.float64(buf[w, j0 + i])
                                    if (v < lo or v > hi) and math.isfinite(v):
                                        if _flag(gdq, i, k + 1, y, x, jump):
                                            newj[nnew] = j0 + i
                                            nnew += 1
                        else:
                            c = 0
                            for j in range(n):
                                v = np.float64(buf[w, j])
                                if math.isfinite(v):
                                    work2[c] = v
                                    c += 1
                            if c > 0 and not _sigclip_keeps_all(work2, c, thr_normal):
                                lo, hi, clipped = _sigclip_bounds(work2, c, thr_normal, sigclip_maxiters)
                                for i in range(nints):
                                    if not clipped:
                                        break
                                    for k in range(nd):
                                        v = np.float64(buf[w, i * si + k * sk])
                                        if (v < lo or v > hi) and math.isfinite(v):
                                            if _flag(gdq, i, k + 1, y, x, jump):
                                                newj[nnew] = i * si + k * sk
                                                nnew += 1
                    elif mode == 1:
                        for j in range(n):
                            work2[j] = abs(np.float64(buf[w, j]))
                        it = 0
                        while True:
                            cnt = 0
                            for j in range(n):
                                if not math.isnan(work2[j]):
                                    cnt += 1
                            if cnt < 2:
                                break
                            medi = _clipped_abs_median(work2, n, work, ta, tb)
                            if it > 0:
                                medi = np.float64(np.float32(medi))
                            sgi = math.sqrt(abs(medi) + var_rn)
                            if sgi == 0.0:
                                sgi = np.nan
                            if cnt >= 4:
                                thr = thr_normal
                            elif cnt == 3:
                                thr = thr_3diff
                            else:
                                thr = thr_2diff
                            best = np.nan
                            for j in range(n):
                                v = work2[j]
                                if math.isnan(v):
                                    continue
                                rr = abs(np.float64(np.float32(v - medi))) / sgi
                                if math.isnan(rr):
                                    continue
                                if math.isnan(best) or rr > best:
                                    best = rr
                            if math.isnan(best) or not (best > thr):
                                break
                            for k in range(nd):
                                for i in range(nints):
                                    j = i * si + k * sk
                                    v = work2[j]
                                    if math.isnan(v):
                                        continue
                                    rr = abs(np.float64(np.float32(v - medi))) / sgi
                                    if rr == best:
                                        work2[j] = np.nan
                                        if _flag(gdq, i, k + 1, y, x, jump):
                                            newj[nnew] = j
                                            nnew += 1
                            it += 1

                    nprim += nnew
                    if do_trig and not have_med and (injump[w] or nnew > 0):
                        med = _pixel_median(buf, w, n, work, ta, tb)
                        sig = math.sqrt(abs(med) + var_rn)
                        if sig == 0.0:
                            sig = np.nan
                        have_med = True
                    if have_med:
                        med_out[y, x] = med
                        sig_out[y, x] = sig
                    if do_trig and (injump[w] or nnew > 0):
                        # a trigger needs JUMP in the group: scan everything if the pixel
                        # came with JUMP flags, else only the groups flagged just now
                        lim = 0.5 * nb_min * sig
                        ntest = n if injump[w] else nnew
                        for t in range(ntest):
                            j = t if injump[w] else newj[t]
                            if imajor:
                                i = j // nd
                                k = j - i * nd
                            else:
                                k = j // nints
                                i = j - k * nints
                            v = np.float64(buf[w, j])
                            a = abs(v - med)
                            if a > lim:
                                rr = a / sig
                                if rr < nb_max and rr > nb_min and (gdq[i, k + 1, y, x] & jump):
                                    rowtrig[i, k + 1, y] = 1
            nprim_rows[y] = nprim
            nclean_rows[y] = nclean


@njit(cache=True)
def _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, r, nb_min, nb_max, jump, badbits, out):
    """Neighbour triggers of row r in plane (i, g): JUMP set and min < ratio < max.
    Returns whether any pixel triggers; ``out`` (nx bool) is filled only if the hint is set."""
    if rowtrig[i, g, r] == 0:
        return False
    nx = out.shape[0]
    anyt = False
    for x in range(nx):
        t = False
        f = gdq[i, g, r, x]
        if (f & jump) and not (f & badbits) and not (gdq[i, g - 1, r, x] & badbits):
            gn = gain[r, x]
            d = np.float32(sci[i, g, r, x] * gn) - np.float32(sci[i, g - 1, r, x] * gn)
            rr = abs(np.float64(d) - med[r, x]) / sig[r, x]
            t = rr < nb_max and rr > nb_min
        out[x] = t
        anyt = anyt or t
    return anyt


@njit(cache=True, parallel=True)
def _neighbors_kernel(sci, gdq, gain, med, sig, rowtrig, nb_min, nb_max, jump, badbits):
    """stcal ``flag_four_neighbors``: in each plane (i, g >= 1) a JUMP pixel whose ratio
    |d - median| / sigma lies strictly between ``nb_min`` and ``nb_max`` flags its four
    neighbours JUMP (where they are not SATURATED / DO_NOT_USE). Triggers are taken from
    the state before the plane is modified: rows are walked in order with a 3-row window
    whose next row is evaluated before the current row is written. prange over integrations.
    """
    nints, ngroups, ny, nx = sci.shape
    for i in prange(nints):
        ta = np.zeros(nx, dtype=np.bool_)
        tb = np.zeros(nx, dtype=np.bool_)
        tc = np.zeros(nx, dtype=np.bool_)
        for g in range(1, ngroups):
            tp = ta
            tcur = tb
            tn = tc
            hp = False
            hc = _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, 0, nb_min, nb_max, jump, badbits, tcur)
            hn = False
            if ny > 1:
                hn = _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, 1, nb_min, nb_max, jump, badbits, tn)
            for y in range(ny):
                if hp or hc or hn:
                    for x in range(nx):
                        fl = False
                        if hc:
                            fl = tcur[x] or (x > 0 and tcur[x - 1]) or (x < nx - 1 and tcur[x + 1])
                        if hp and tp[x]:
                            fl = True
                        if hn and tn[x]:
                            fl = True
                        if fl:
                            f = gdq[i, g, y, x]
                            if (f & badbits) == 0:
                                gdq[i, g, y, x] = f | jump
                # rotate the window: next row's triggers are computed before it is written
                tmp = tp
                tp = tcur
                tcur = tn
                tn = tmp
                hp = hc
                hc = hn
                hn = False
                if y + 2 < ny:
                    hn = _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, y + 2, nb_min, nb_max,
                                   jump, badbits, tn)


@njit(cache=True, parallel=True)
def _after_kernel(sci, gdq, gain, med, do_transient, e1, n1, e2, n2, do_clean, jump, dnu, sat):
    """stcal ``transient_jumps`` (flag ``n1``/``n2`` groups after a JUMP group whose
    d - median >= e1/e2, where not SATURATED/DO_NOT_USE; n already capped at ngroups - 2)
    and detect_jumps_data's removal of JUMP where DO_NOT_USE or SATURATED is also set.
    prange over rows."""
    nints, ngroups, ny, nx = sci.shape
    badbits = dnu | sat
    jd = jump | dnu
    js = jump | sat
    for y in prange(ny):
        rem1 = np.zeros(nx, dtype=np.int64)
        rem2 = np.zeros(nx, dtype=np.int64)
        for i in range(nints):
            rem1[:] = 0
            rem2[:] = 0
            for g in range(ngroups):
                for x in range(nx):
                    f = gdq[i, g, y, x]
                    f0 = f
                    if do_transient:
                        if (g >= 1 and (f & jump) and not (f & badbits)
                                and not (gdq[i, g - 1, y, x] & badbits)):
                            gn = gain[y, x]
                            d = np.float32(sci[i, g, y, x] * gn) - np.float32(sci[i, g - 1, y, x] * gn)
                            ej = np.float64(d) - med[y, x]
                            if ej >= e1 and rem1[x] < n1 + 1:
                                rem1[x] = n1 + 1
                            if ej >= e2 and rem2[x] < n2 + 1:
                                rem2[x] = n2 + 1
                        flagged = rem1[x] > 0 or rem2[x] > 0
                        if rem1[x] > 0:
                            rem1[x] -= 1
                        if rem2[x] > 0:
                            rem2[x] -= 1
                        if flagged and (f & badbits) == 0:
                            f = f | jump
                    if do_clean:
                        if (f & jd) == jd:
                            f = f ^ jump
                        if (f & js) == js:
                            f = f ^ jump
                    if f != f0:
                        gdq[i, g, y, x] = f


@njit(cache=True, parallel=True)
def _row_hash_kernel(bits, gdq, rowlist, out):
    """64-bit fingerprint of each row ``rowlist[t]`` of a chunk: its SCI bit patterns
    (``bits``: the float32 SCI viewed as uint32) and GROUPDQ, position-dependent."""
    nints, ngroups, ny, nx = bits.shape
    k0 = np.uint64(0x9E3779B97F4A7C15)
    k1 = np.uint64(0xFF51AFD7ED558CCD)
    k2 = np.uint64(0xC4CEB9FE1A85EC53)
    s33 = np.uint64(33)
    s32 = np.uint64(32)
    for t in prange(rowlist.shape[0]):
        y = rowlist[t]
        acc = np.uint64(0)
        pos = np.uint64(0)
        for i in range(nints):
            for g in range(ngroups):
                for x in range(nx):
                    h = np.uint64(bits[i, g, y, x]) | (np.uint64(gdq[i, g, y, x]) << s32)
                    h ^= pos * k0
                    h ^= h >> s33
                    h *= k1
                    h ^= h >> s33
                    h *= k2
                    h ^= h >> s33
                    acc += h
                    pos += np.uint64(1)
        out[t] = acc
