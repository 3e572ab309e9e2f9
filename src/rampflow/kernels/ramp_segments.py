"""numba helpers of the ramp fit, per ramp (private; arrays and scalars only): group DQ as the
fit sees it, segments, medians, read-noise variances, the Fixsen weight table and the
fitopt sizes. A port of the matching parts of stcal 1.20's ``slope_fitter.c`` (see
:mod:`.ramp_fit`); ``firstgroup`` / ``lastgroup`` / ``suppress_one_group`` are the step's
parameters after validation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..dq import CHARGELOSS, DO_NOT_USE, FLAGS, JUMP_DET, NO_GAIN_VALUE, SATURATED
from .order_stats import _next_order_stat, _rank_select, _sort16

_DNU = DO_NOT_USE
_SAT = SATURATED
_JUMP = JUMP_DET
_PERS = FLAGS["PERSISTENCE"]
_CHG = CHARGELOSS
_NGVAL = NO_GAIN_VALUE
_NPERS = 0xFFFFFFFF ^ _PERS  # every bit but PERSISTENCE
_INVALID = _DNU | _SAT

#: rounding-level freedom only (no NaN / inf assumptions), for sums that only guide a bracket
_FM = {"reassoc", "nsz", "contract"}
#: half-width of :func:`_median_bracketed`'s bracket, in standard deviations of the values
_BRACKET = 0.18
_CRIT = _JUMP | _PERS | _CHG

#: stcal's LARGE_VARIANCE_THRESHOLD (slope_fitter.c: 1.e6): larger variances are set to 0
_LARGE_VAR = 1.0e6


@njit(cache=True)
def _power_index(snr):
    """Index into the power table [0, 0.4, 1, 3, 6, 10] (stcal ``snr_power``; NaN -> 10)."""
    if snr < 5.0:
        return 0
    elif snr < 10.0:
        return 1
    elif snr < 20.0:
        return 2
    elif snr < 50.0:
        return 3
    elif snr < 100.0:
        return 4
    return 5


@njit(cache=True)
def _weight_table_kernel(powers, ngroups, tab):
    """tab[k, n, j] = powf(|(j - m) / m|, powers[k]) for segment length n >= 3, m = (n - 1) / 2:
    the base in double, the power in single precision (numba's float32 power is the C
    library's ``powf``, which stcal's C code calls)."""
    for n in range(3, ngroups + 1):
        mid = np.float64(n - 1) / 2.0
        invmid = 1.0 / mid
        for k in range(powers.shape[0]):
            pw = np.float32(powers[k])
            for j in range(n):
                base = np.float32(abs((np.float64(j) - mid) * invmid))
                tab[k, n, j] = np.float64(base ** pw)


@njit(cache=True)
def _wls_segment(data, st, length, rn, gain, wtab, group_time, save_opt):
    """Weighted least-squares fit of a segment of ``length`` >= 3 groups from ``st`` (stcal
    ``ramp_fit_segment`` with optimal weighting): Fixsen weights by the segment's S/N, NaN
    groups counted as 0. Returns (slope, sigslope, yint, sigyint), the last three only with
    ``save_opt`` (else 0)."""
    sig_s = 0.0
    yint = 0.0
    sig_y = 0.0
    diff = data[st + length - 1] - data[st]
    den = rn * rn + diff * gain
    if den <= 0.0 or gain == 0.0:
        snr = 0.0
    else:
        snr = diff * gain / math.sqrt(den)
        if snr < 0.0:
            snr = 0.0
    pidx = _power_index(snr)
    invrn2 = 1.0 / (rn * rn)
    sumw = 0.0
    sumx = 0.0
    sumxx = 0.0
    sumy = 0.0
    sumxy = 0.0
    for g in range(length):
        w = wtab[pidx, length, g] * invrn2
        x = np.float64(g + st)
        d = data[st + g]
        if math.isnan(d):
            d = 0.0
        xwt = x * w
        sumw += w
        sumx += xwt
        sumxx += x * xwt
        sumy += d * w
        sumxy += d * xwt
    dden = sumw * sumxx - sumx * sumx
    dnum = sumw * sumxy - sumx * sumy
    invden = 1.0 / dden
    sslope = (dnum * invden) / group_time
    if save_opt:
        sig_s = math.sqrt(sumw * invden)
        yint = (sumxx * sumy - sumx * sumxy) * invden
        sig_y = math.sqrt(sumxx * invden)
    return sslope, sig_s, yint, sig_y


@njit(cache=True)
def _effective_dq(qpix, ngroups, firstgroup, lastgroup, suppress_one_group, clear_jump0, dq):
    """Fill ``dq`` (int64 (ngroups,)) with the effective group DQ of one ramp (``qpix``: its
    GROUPDQ, (ngroups,)). ``clear_jump0``: JUMP_DET is then taken off group 0, after the
    suppression (stcal's ``discard_miri_groups`` on the group that follows discarded
    leading groups)."""
    ngood = 0
    for g in range(ngroups):
        d = np.int64(qpix[g])
        if g < firstgroup or g > lastgroup:
            d |= _DNU
        dq[g] = d
        if (d & _NPERS) == 0:
            ngood += 1
    if suppress_one_group and ngood == 1:
        for g in range(ngroups):
            dq[g] |= _DNU
    if clear_jump0 and ngroups > 0 and (dq[0] & _JUMP):
        dq[0] ^= _JUMP


@njit(cache=True)
def _original_dq(qpix, ngroups, firstgroup, lastgroup, dq):
    """The DQ stcal keeps as ``orig_gdq``, with CHARGELOSS groups un-flagged (CHARGELOSS and
    DO_NOT_USE toggled off by XOR, as ``ramp_fit_pixel_rnoise_chargeloss_remove`` does)."""
    for g in range(ngroups):
        d = np.int64(qpix[g])
        if g < firstgroup or g > lastgroup:
            d |= _DNU
        if d & _CHG:
            d ^= (_DNU | _CHG)
        dq[g] = d


@njit(cache=True)
def _load_data(dpix, ngroups, dq, data):
    """Group values as float64, NaN for SATURATED groups. Returns the group statistics
    (cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, or-ed JUMP/PERSISTENCE/CHARGELOSS bits)."""
    cnt_good = 0
    cnt_sat = 0
    cnt_dnu = 0
    cnt_dnu_sat = 0
    anyf = 0
    for g in range(ngroups):
        d = dq[g]
        anyf |= d & _CRIT
        if d == 0:
            cnt_good += 1
        elif d & _DNU:
            cnt_dnu += 1
        if d & _INVALID:
            cnt_dnu_sat += 1
        if d & _SAT:
            data[g] = np.nan
            cnt_sat += 1
        else:
            data[g] = np.float64(dpix[g])
    return cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, anyf


@njit(cache=True)
def _segments(dq, ngroups, starts, ends):
    """stcal ``compute_integration_segments`` (without the saturated-first-group test) and
    ``prune_segment_list``. Segments are runs of good groups (DQ == 0 ignoring PERSISTENCE),
    starting one group earlier when the previous group's DQ is exactly JUMP_DET; ``[start,
    end)``. A one-group segment is dropped when a longer one came before it; after the scan,
    one-group segments are dropped if any segment is longer, else only the first is kept.

    Returns ``(nseg, size)``: the number of segments kept in ``starts``/``ends`` and the list
    size stcal reports (which, when only one-group segments exist, is not decremented by the
    pruning -- it sets the segment axis of the optional output).
    """
    nseg = 0
    maxlen = 0
    in_seg = False
    start = 0
    for idx in range(ngroups + 1):
        if idx < ngroups and (dq[idx] & _NPERS) == 0:
            if not in_seg:
                if idx > 0 and (dq[idx - 1] & _NPERS) == _JUMP:
                    start = idx - 1
                else:
                    start = idx
                in_seg = True
        elif in_seg:
            length = idx - start
            if not (length == 1 and maxlen > 1):
                starts[nseg] = start
                ends[nseg] = idx
                nseg += 1
                if length > maxlen:
                    maxlen = length
            in_seg = False
    size = nseg
    if nseg >= 2:
        if maxlen < 2:
            nseg = 1
        else:
            k = 0
            for s in range(nseg):
                if ends[s] - starts[s] != 1:
                    starts[k] = starts[s]
                    ends[k] = ends[s]
                    k += 1
            nseg = k
            size = k
    return nseg, size


@njit(cache=True)
def _med3(a, b, c):
    """The median of three values."""
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    if a > b:
        b = a
    return b


@njit(cache=True)
def _median(buf, m, tmp):
    """Median of buf[:m] (NaN-free; reorders it, ``tmp``: float64 scratch of length >= m): the
    middle value, or the mean of the two middle ones ``(upper + lower) / 2`` (stcal
    ``real_nan_median`` on the sorted values). Any exact selection gives these same values.

    Quickselect with a median-of-three pivot (Tukey's ninther on 32 values or more); each
    pass copies the range from one buffer to the other, values below the pivot to the front
    and above it to the back, both written unconditionally (no branch on the comparisons,
    which on noisy data are unpredictable, and no load that waits on the previous store);
    values equal to the pivot are only counted. ``lower`` (the order statistic below the
    middle) is the largest value of the
    ranks discarded on the left.
    """
    if m == 0:
        return np.nan
    if m == 1:
        return buf[0]
    if m == 2:
        return (buf[0] + buf[1]) / 2.0
    k = m >> 1
    src = buf
    dst = tmp
    lo = 0
    hi = m  # src[lo:hi] holds the values of ranks lo .. hi - 1 (lo <= k < hi)
    leftmax = -np.inf  # the largest value of rank < lo
    while True:
        if hi - lo == 1:
            upper = src[lo]
            lower = leftmax
            break
        n = hi - lo
        if n >= 32:  # Tukey's ninther
            q = n >> 3
            mid = lo + (n >> 1)
            pivot = _med3(_med3(src[lo], src[lo + q], src[lo + 2 * q]),
                          _med3(src[mid - q], src[mid], src[mid + q]),
                          _med3(src[hi - 1 - 2 * q], src[hi - 1 - q], src[hi - 1]))
        else:
            pivot = _med3(src[lo], src[(lo + hi - 1) >> 1], src[hi - 1])
        f = lo  # dst[lo:f] < pivot
        e = hi - 1  # dst[e + 1:hi] > pivot
        for t in range(lo, hi):
            v = src[t]
            dst[f] = v
            dst[e] = v
            f += np.int64(v < pivot)
            e -= np.int64(v > pivot)
        if k < f:
            hi = f
        elif k <= e:  # ranks f .. e are the pivot
            upper = pivot
            lower = pivot
            if k == f:
                lower = leftmax
                for t in range(lo, f):
                    if dst[t] > lower:
                        lower = dst[t]
            break
        else:
            lo = e + 1
            leftmax = pivot
        src, dst = dst, src
    if m & 1:
        return upper
    return (upper + lower) / 2.0


@njit(cache=True, fastmath=_FM)
def _center_spread(buf, m):
    """Mean and population standard deviation of buf[:m] (m >= 1), summed in any order: they
    only place :func:`_median_bracketed`'s bracket, whose counts decide what it returns."""
    s = 0.0
    for t in range(m):
        s += buf[t]
    mean = s / m
    ss = 0.0
    for t in range(m):
        d = buf[t] - mean
        ss += d * d
    return mean, math.sqrt(ss / m)


@njit(cache=True)
def _median_bracketed(buf, m, tmp):
    """:func:`_median`'s value of buf[:m] (NaN-free; see :func:`_median_in_bracket`), with
    the bracket placed by the values' mean and standard deviation; m < 16: :func:`_median`."""
    if m < 16:
        return _median(buf, m, tmp)
    mean, sd = _center_spread(buf, m)
    return _median_in_bracket(buf, m, tmp, mean, sd)


@njit(cache=True)
def _median_in_bracket(buf, m, tmp, mean, sd):
    """:func:`_median`'s value (the middle order statistic, or ``(upper + lower) / 2``) of
    buf[:m] (m >= 16, NaN-free; ``buf`` is only read unless the bracket misses; ``tmp``:
    scratch of length >= m), faster on the first differences of a ramp (noise around the
    rate): one branch-free pass counts the values below ``mean - 0.18 sd`` and copies those
    within ``mean -+ 0.18 sd`` (about a seventh of noisy values) to ``tmp``; the middle
    ranks are then selected among those few (up to 16: sorted by a network of
    compare-exchanges; more: by counting ranks). When the counts show that the bracket
    misses a middle rank (skewed values; NaN or infinite ``mean`` or ``sd`` count nothing
    inside), :func:`_median` on all the values. ``mean`` and ``sd`` only place the bracket:
    order statistics do not depend on the algorithm that finds them, so the value is bit
    for bit :func:`_median`'s."""
    a = _BRACKET * sd
    lo = mean - a
    hi = mean + a
    nb = 0
    nc = 0
    for t in range(m):
        v = buf[t]
        nb += v < lo
        tmp[nc] = v
        nc += (v >= lo) & (v <= hi)
    klo = (m - 1) // 2 - nb
    khi = m // 2 - nb
    if klo < 0 or khi >= nc:
        return _median(buf, m, tmp)
    if nc <= 16:
        for t in range(nc, 16):
            tmp[t] = np.inf
        _sort16(tmp)
        lower = tmp[klo]
        upper = tmp[khi]
    else:
        lower = _rank_select(tmp, nc, klo)
        upper = lower if m & 1 else _next_order_stat(tmp, nc, lower, khi)
    if m & 1:
        return lower
    return (upper + lower) / 2.0


@njit(cache=True)
def _median_rate_integration(data, dq, ngroups, group_time, buf, tmp):
    """stcal ``median_rate_integration``: NaN-median of the first differences of
    data/group_time (DO_NOT_USE groups and differences ending on a JUMP_DET group are NaN);
    if every difference is NaN, the first group's data/group_time (NaN if that is unusable).
    ``buf``, ``tmp``: float64 scratch of length >= ngroups."""
    prev = np.nan if dq[0] & _DNU else data[0] / group_time
    loc0 = prev
    m = 0
    for k in range(1, ngroups):
        cur = np.nan if dq[k] & _DNU else data[k] / group_time
        if not (dq[k] & _JUMP):
            v = cur - prev
            if not math.isnan(v):
                buf[m] = v
                m += 1
        prev = cur
    if m == 0 and not math.isnan(loc0):
        buf[0] = loc0
        m = 1
    return _median_bracketed(buf, m, tmp)


@njit(cache=True)
def _zeroframe_and_0th(ngroups, suppress_one_group, has_zeroframe, zf, cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat,
                       dq, data):
    """stcal ``get_pixel_ramp``'s one-good-0th-group and ZEROFRAME handling (only when one-group
    suppression is off); ``zf`` is the pixel's ZEROFRAME value. Returns (is_0th, is_zframe,
    cnt_good, cnt_sat, cnt_dnu_sat)."""
    is0 = False
    isz = False
    if not suppress_one_group:
        if cnt_good == 1 and dq[0] == 0:
            is0 = True
        elif cnt_good == 0 and has_zeroframe:
            if zf != 0.0:
                data[0] = zf
                dq[0] = 0
                cnt_good = 1
                cnt_dnu_sat -= 1
                if cnt_sat == ngroups:
                    cnt_sat -= 1
                if cnt_dnu == ngroups:
                    cnt_dnu -= 1
                isz = True
    return is0, isz, cnt_good, cnt_sat, cnt_dnu_sat


@njit(cache=True)
def _seg_rnoise(length, timing, group_time, rn, gain):
    """Segment read-noise variance (stcal ``segment_rnoise_len1/len2/default``)."""
    if length == 1:
        rnum = rn / timing
        rnum = 12.0 * rnum * rnum
        rden = 6.0
        rden = rden * gain * gain
        return rnum / rden
    if length == 2:
        rnum = rn / group_time
        rnum = 12.0 * rnum * rnum
        rden = 6.0
        rden = rden * gain * gain
        return rnum / rden
    if gain <= 0.0 or math.isnan(gain):
        return 0.0
    seglen = np.float64(length)
    rnum = rn / group_time
    rnum = 12.0 * rnum * rnum
    rden = seglen * seglen * seglen - seglen
    rden = rden * gain * gain
    return rnum / rden


@njit(cache=True)
def _copy_slab(sci, gdq, i, r, c0, nt, dslab, qslab, qor):
    """dslab[j, g] = sci[i, g, r, c0 + j], qslab[j, g] = gdq[i, g, r, c0 + j] for j < nt, and
    qor[j] = the OR of the ramp's GROUPDQ (0 for a ramp without any flag)."""
    ngroups = sci.shape[1]
    for j in range(nt):
        qor[j] = 0
    for g in range(ngroups):
        for j in range(nt):
            q = gdq[i, g, r, c0 + j]
            dslab[j, g] = sci[i, g, r, c0 + j]
            qslab[j, g] = q
            qor[j] |= q


@njit(cache=True)
def _median_rate_clean(dpix, ngroups, group_time, buf, tmp):
    """:func:`_median_rate_integration` of a ramp without any flag (``dpix``: its float32
    groups): the same differences, the same median. With 17 groups or more and finite
    differences (the usual case) the differences are formed in vectorised passes, and the
    median's bracket is centred on their mean ``(last - first) / (ngroups - 1)``."""
    m = ngroups - 1
    if m >= 16:
        for k in range(ngroups):
            tmp[k] = np.float64(dpix[k]) / group_time
        for k in range(m):
            buf[k] = tmp[k + 1] - tmp[k]
        mean = (tmp[m] - tmp[0]) / m
        ss = _sum_sq_dev(buf, m, mean)
        if math.isfinite(ss):  # no NaN or infinite difference (nor an infinite first or last group)
            return _median_in_bracket(buf, m, tmp, mean, math.sqrt(ss / m))
    prev = np.float64(dpix[0]) / group_time
    loc0 = prev
    m = 0
    for k in range(1, ngroups):
        cur = np.float64(dpix[k]) / group_time
        v = cur - prev
        if not math.isnan(v):
            buf[m] = v
            m += 1
        prev = cur
    if m == 0 and not math.isnan(loc0):
        buf[0] = loc0
        m = 1
    return _median_bracketed(buf, m, tmp)


@njit(cache=True, fastmath=_FM)
def _sum_sq_dev(buf, m, mean):
    """Sum of (buf[t] - mean) ** 2 over t < m, in any order (it only places a bracket);
    NaN or infinite if any value is."""
    ss = 0.0
    for t in range(m):
        d = buf[t] - mean
        ss += d * d
    return ss


@njit(cache=True, parallel=True)
def _opt_sizes_kernel(gdq, zframe, has_zeroframe, firstgroup, lastgroup, suppress_one_group, clear_jump0, out):
    """Per row: out[r, 0] = max segment-list size, out[r, 1] = max number of JUMP_DET groups
    (after group 0) over the row's pixels and integrations, as stcal sizes the fitopt arrays."""
    nints, ngroups, ny, nx = gdq.shape
    for r in prange(ny):
        dq = np.empty(ngroups, dtype=np.int64)
        starts = np.empty(ngroups + 1, dtype=np.int64)
        ends = np.empty(ngroups + 1, dtype=np.int64)
        mseg = 0
        mcr = 0
        for i in range(nints):
            for c in range(nx):
                _effective_dq(gdq[i, :, r, c], ngroups, firstgroup, lastgroup, suppress_one_group, clear_jump0, dq)
                ncr = 0
                cnt_good = 0
                for g in range(ngroups):
                    if g > 0 and (dq[g] & _JUMP):
                        ncr += 1
                    if dq[g] == 0:
                        cnt_good += 1
                if ncr > mcr:
                    mcr = ncr
                if (not suppress_one_group) and cnt_good == 0 and has_zeroframe:
                    if zframe[i, r, c] != 0.0:
                        dq[0] = 0
                if dq[0] & _SAT:
                    continue
                nseg, size = _segments(dq, ngroups, starts, ends)
                if size > mseg:
                    mseg = size
        out[r, 0] = mseg
        out[r, 1] = mcr


@njit(cache=True, parallel=True)
def _all_dnu_groups_kernel(gdq, firstgroup, lastgroup, suppress_one_group, out):
    """Per row: out[r, g] = True when group g is DO_NOT_USE (in the effective DQ: firstgroup /
    lastgroup and one-group suppression applied) in every integration and column of row r."""
    nints, ngroups, ny, nx = gdq.shape
    for r in prange(ny):
        dq = np.empty(ngroups, dtype=np.int64)
        for g in range(ngroups):
            out[r, g] = True
        for i in range(nints):
            for c in range(nx):
                _effective_dq(gdq[i, :, r, c], ngroups, firstgroup, lastgroup, suppress_one_group, False, dq)
                for g in range(ngroups):
                    if (dq[g] & _DNU) == 0:
                        out[r, g] = False
