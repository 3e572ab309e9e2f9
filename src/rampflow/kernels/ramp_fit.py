"""numba kernels behind :mod:`rampflow.steps.ramp_fit` (private; arrays and scalars only).

A line-by-line port of stcal 1.20's OLS_C ramp fitter (``stcal/ramp_fitting/src/slope_fitter.c``)
to numba. Every quantity is computed in float64 from the float32 inputs, in the same order
of operations as the C code, and cast to float32 only when written out, as the C code does.

Layout: the kernels loop over *tiles* (one row, ``tile`` columns, a few hundred) in
parallel. For each integration the tile's ramps are copied, group plane by group plane
(long contiguous runs of the cube), into a pixel-major slab of ~200 kB that stays in cache;
each pixel's ramp is then processed from the slab. (Reading a pixel's ramp straight from the
cube hits addresses a whole row-chunk apart, which all map to the same cache sets.) Per
pixel quantities live in per-tile scratch arrays. The cube is read twice: a first pass for
the pixel's median rate (which every segment's Poisson variance needs), a second for the
fit. Nothing of the size of the cube is allocated.

Group DQ used by the fit ("effective" DQ, as the C code sees ``ramp_data.groupdq``): the
input GROUPDQ, plus DO_NOT_USE on groups outside ``[first, last]`` (the step's
firstgroup/lastgroup) and, with ``suppress1g``, DO_NOT_USE on every group of a ramp that
has exactly one good group (stcal's ``suppress_one_good_group_ramps``). The "original" DQ
used to recompute read noise for CHARGELOSS ramps is the input plus the first/last
DO_NOT_USE only (stcal copies ``groupdq`` before suppressing one-group ramps).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..dq import CHARGELOSS, DO_NOT_USE, FLAGS, JUMP_DET, NO_GAIN_VALUE, SATURATED

_DNU = DO_NOT_USE
_SAT = SATURATED
_JUMP = JUMP_DET
_PERS = FLAGS["PERSISTENCE"]
_CHG = CHARGELOSS
_NGVAL = NO_GAIN_VALUE
_NPERS = 0xFFFFFFFF ^ _PERS  # every bit but PERSISTENCE
_INVALID = _DNU | _SAT
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
def _effective_dq(qpix, ngroups, first, last, suppress1g, dq):
    """Fill ``dq`` (int64 (ngroups,)) with the effective group DQ of one ramp (``qpix``: its
    GROUPDQ, (ngroups,))."""
    ngood = 0
    for g in range(ngroups):
        d = np.int64(qpix[g])
        if g < first or g > last:
            d |= _DNU
        dq[g] = d
        if (d & _NPERS) == 0:
            ngood += 1
    if suppress1g and ngood == 1:
        for g in range(ngroups):
            dq[g] |= _DNU


@njit(cache=True)
def _original_dq(qpix, ngroups, first, last, dq):
    """The DQ stcal keeps as ``orig_gdq``, with CHARGELOSS groups un-flagged (CHARGELOSS and
    DO_NOT_USE toggled off by XOR, as ``ramp_fit_pixel_rnoise_chargeloss_remove`` does)."""
    for g in range(ngroups):
        d = np.int64(qpix[g])
        if g < first or g > last:
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
def _median(buf, m):
    """Median of buf[:m] (reorders it): the middle value, or the mean of the two middle ones
    ``(upper + lower) / 2`` (stcal ``real_nan_median`` on the sorted values).

    Quickselect with a median-of-three pivot and branch-free three-way partitions (the
    comparisons on noisy data are unpredictable, so branches would cost more than the work).
    """
    if m == 0:
        return np.nan
    if m == 1:
        return buf[0]
    if m == 2:
        return (buf[0] + buf[1]) / 2.0
    k = m >> 1
    lo = 0
    hi = m - 1
    while hi > lo:  # invariant: buf[:lo] <= buf[lo:hi+1] <= buf[hi+1:], lo <= k <= hi
        a = buf[lo]
        b = buf[(lo + hi) >> 1]
        c = buf[hi]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        if a > b:
            b = a
        pivot = b
        lt = lo  # [lo, lt) < pivot
        for t in range(lo, hi + 1):
            v = buf[t]
            w = buf[lt]
            less = v < pivot
            buf[t] = w if less else v
            buf[lt] = v if less else w
            lt += 1 if less else 0
        if k < lt:
            hi = lt - 1
            continue
        eq = lt  # [lt, eq) == pivot
        for t in range(lt, hi + 1):
            v = buf[t]
            w = buf[eq]
            same = v == pivot
            buf[t] = w if same else v
            buf[eq] = v if same else w
            eq += 1 if same else 0
        if k < eq:
            break
        lo = eq
    upper = buf[k]
    if m & 1:
        return upper
    lower = buf[0]
    for j in range(1, k):
        if buf[j] > lower:
            lower = buf[j]
    return (upper + lower) / 2.0


@njit(cache=True)
def _median_rate_integration(data, dq, ngroups, group_time, buf):
    """stcal ``median_rate_integration``: NaN-median of the first differences of
    data/group_time (DO_NOT_USE groups and differences ending on a JUMP_DET group are NaN);
    if every difference is NaN, the first group's data/group_time (NaN if that is unusable).
    ``buf``: float64 scratch of length >= ngroups."""
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
    return _median(buf, m)


@njit(cache=True)
def _zeroframe_and_0th(ngroups, suppress1g, has_zf, zf, cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, dq, data):
    """stcal ``get_pixel_ramp``'s one-good-0th-group and ZEROFRAME handling (only when one-group
    suppression is off); ``zf`` is the pixel's ZEROFRAME value. Returns (is_0th, is_zframe, cnt_good, cnt_sat, cnt_dnu_sat)."""
    is0 = False
    isz = False
    if not suppress1g:
        if cnt_good == 1 and dq[0] == 0:
            is0 = True
        elif cnt_good == 0 and has_zf:
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
def _copy_slab(sci, gdq, i, r, c0, nt, dslab, qslab):
    """dslab[j, g] = sci[i, g, r, c0 + j], qslab[j, g] = gdq[i, g, r, c0 + j] for j < nt."""
    ngroups = sci.shape[1]
    for g in range(ngroups):
        for j in range(nt):
            dslab[j, g] = sci[i, g, r, c0 + j]
            qslab[j, g] = gdq[i, g, r, c0 + j]


@njit(cache=True, parallel=True, error_model="numpy")
def _fit_ramps_kernel(sci, gdq, pdq, gain2d, rn2d, dc2d, zframe, has_zf,
                      first, last, suppress1g, group_time, frame_time, one_group_time, ped_tmp,
                      wtab, save_opt, tile,
                      r_slope, r_dq, r_vp, r_vr, r_err,
                      i_slope, i_dq, i_vp, i_vr, i_err,
                      o_slope, o_sigslope, o_vp, o_vr, o_yint, o_sigyint, o_weights, o_ped, o_crmag):
    """Fit every pixel of a row chunk. Inputs: sci float32 / gdq uint8 (nints, ngroups, ny, nx),
    pdq uint32 (ny, nx), gain2d / rn2d (stcal's gain-scaled read noise) / dc2d float32 (ny, nx),
    zframe float32 (nints, ny, nx) used when ``has_zf``; wtab float64 (6, ngroups+1, ngroups)
    unit Fixsen weights by (power index, segment length, group); ``tile``: columns per
    parallel work item (its ramps are copied pixel-major into a cache-resident slab, so it
    should be a few hundred: the cube is then read in long contiguous runs).
    Outputs (preallocated):
    rate 2-D and rateints 3-D float32/uint32; with ``save_opt`` the fitopt arrays
    (nints, nseg, ny, nx), pedestal (nints, ny, nx), crmag (nints, ncr, ny, nx), zero-filled
    by the caller."""
    nints, ngroups, ny, nx = sci.shape
    ntx = (nx + tile - 1) // tile
    nseg_opt = o_slope.shape[1]
    ncr_opt = o_crmag.shape[1]
    for t in prange(ny * ntx):
        r = t // ntx
        c0 = (t % ntx) * tile
        c1 = min(nx, c0 + tile)
        nt = c1 - c0
        data = np.empty(ngroups, dtype=np.float64)
        dq = np.empty(ngroups, dtype=np.int64)
        odq = np.empty(ngroups, dtype=np.int64)
        buf = np.empty(ngroups, dtype=np.float64)
        starts = np.empty(ngroups + 1, dtype=np.int64)
        ends = np.empty(ngroups + 1, dtype=np.int64)
        # the tile's ramps for one integration, pixel-major: read plane by plane (contiguous
        # runs of the cube), so the strided per-pixel access happens in cache
        dslab = np.empty((nt, ngroups), dtype=np.float32)
        qslab = np.empty((nt, ngroups), dtype=np.uint8)
        mrate = np.zeros(nt, dtype=np.float64)
        # ---- pass 1: the pixel's median rate (mean over integrations of the medians)
        for i in range(nints):
            _copy_slab(sci, gdq, i, r, c0, nt, dslab, qslab)
            for j in range(nt):
                c = c0 + j
                _effective_dq(qslab[j], ngroups, first, last, suppress1g, dq)
                cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, anyf = _load_data(dslab[j], ngroups, dq, data)
                zf = np.float64(zframe[i, r, c]) if has_zf else 0.0
                is0, isz, cnt_good, cnt_sat, cnt_dnu_sat = _zeroframe_and_0th(
                    ngroups, suppress1g, has_zf, zf, cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, dq, data)
                if ngroups == 1:  # median_rate_1ngroup: plain mean, NaN propagates
                    mrate[j] += data[0] / one_group_time
                    continue
                if is0:
                    mr = data[0] / one_group_time
                elif isz:
                    mr = data[0] / frame_time
                else:
                    mr = _median_rate_integration(data, dq, ngroups, group_time, buf)
                if math.isnan(mr):
                    mr = 0.0
                mrate[j] += mr
        fn = np.float64(np.float32(nints))
        for j in range(nt):
            mrate[j] = mrate[j] / fn
        # ---- pass 2: fit
        acc_vp = np.zeros(nt, dtype=np.float64)
        acc_vr = np.zeros(nt, dtype=np.float64)
        acc_sl = np.zeros(nt, dtype=np.float64)
        acc_evr = np.zeros(nt, dtype=np.float64)
        rdq = np.empty(nt, dtype=np.int64)
        pixdq = np.empty(nt, dtype=np.int64)
        dnu_cnt = np.zeros(nt, dtype=np.int64)
        sat_cnt = np.zeros(nt, dtype=np.int64)
        flags = np.zeros(nt, dtype=np.int64)  # bit 0: partial saturation, bit 1: chargeloss
        for j in range(nt):
            c = c0 + j
            p = np.int64(pdq[r, c])
            gn = np.float64(gain2d[r, c])
            if gn <= 0.0 or math.isnan(gn):
                p |= _DNU | _NGVAL
            pixdq[j] = p
            rdq[j] = p
        for i in range(nints):
            _copy_slab(sci, gdq, i, r, c0, nt, dslab, qslab)
            for j in range(nt):
                c = c0 + j
                gain = np.float64(gain2d[r, c])
                rn = np.float64(rn2d[r, c])
                dcur = np.float64(dc2d[r, c])
                med = mrate[j]
                _effective_dq(qslab[j], ngroups, first, last, suppress1g, dq)
                cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, anyf = _load_data(dslab[j], ngroups, dq, data)
                if save_opt and ncr_opt > 0:
                    k = 0
                    for g in range(1, ngroups):
                        if (dq[g] & _JUMP) and k < ncr_opt:
                            o_crmag[i, k, r, c] = np.float32(data[g] - data[g - 1])
                            k += 1
                zf = np.float64(zframe[i, r, c]) if has_zf else 0.0
                is0, isz, cnt_good, cnt_sat, cnt_dnu_sat = _zeroframe_and_0th(
                    ngroups, suppress1g, has_zf, zf, cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, dq, data)
                idq = pixdq[j]
                if anyf & _JUMP:
                    idq |= _JUMP
                    rdq[j] |= _JUMP
                if anyf & _PERS:
                    idq |= _PERS
                    rdq[j] |= _PERS
                islope = 0.0
                ivp = 0.0
                ivr = 0.0
                ierr = 0.0
                # ---- segments (compute_integration_segments)
                if dq[0] & _SAT:
                    idq |= _DNU | _SAT
                    islope = np.nan
                    nseg = 0
                    size = 0
                else:
                    nseg, size = _segments(dq, ngroups, starts, ends)
                # ---- ramp_fit_pixel_integration
                if cnt_dnu_sat == ngroups:
                    idq |= _DNU
                    if cnt_sat == ngroups:
                        idq |= _SAT
                elif nseg > 0:
                    inv_r = 0.0
                    inv_p = 0.0
                    inv_e = 0.0
                    num = 0.0
                    for s in range(nseg):
                        st = starts[s]
                        length = ends[s] - st
                        sig_s = 0.0
                        yint = 0.0
                        sig_y = 0.0
                        if length == 1:
                            timing = group_time
                            if not suppress1g:
                                if is0:
                                    timing = one_group_time
                                elif isz:
                                    timing = frame_time
                            sslope = data[st] / timing
                            pden = timing * gain
                            var_r = _seg_rnoise(1, timing, group_time, rn, gain)
                        elif length == 2:
                            d0 = data[st]
                            d1 = data[st + 1]
                            sslope = (d1 - d0) / group_time
                            pden = group_time * gain
                            var_r = _seg_rnoise(2, group_time, group_time, rn, gain)
                            if save_opt:
                                sig_s = 1.41421356 * rn
                                second = np.float64(st) + 1.0
                                yint = d1 * (1.0 - second) + d0 * second
                                sig_y = sig_s
                        else:
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
                            pden = group_time * gain * (np.float64(length) - 1.0)
                            var_r = _seg_rnoise(length, group_time, group_time, rn, gain)
                        if med > 0.0:
                            var_p = (med + dcur) / pden
                        else:
                            var_p = dcur / pden
                        var_e = var_p + var_r
                        if save_opt and s < nseg_opt:
                            o_slope[i, s, r, c] = np.float32(sslope)
                            o_sigslope[i, s, r, c] = np.float32(sig_s)
                            o_vp[i, s, r, c] = np.float32(var_p)
                            o_vr[i, s, r, c] = np.float32(var_r)
                            o_yint[i, s, r, c] = np.float32(yint)
                            o_sigyint[i, s, r, c] = np.float32(sig_y)
                            o_weights[i, s, r, c] = np.float32(1.0 / var_r)
                        inv_r += 1.0 / var_r
                        if var_p > 0.0:
                            inv_p += 1.0 / var_p
                        inv_e += 1.0 / var_e
                        num += sslope / var_r
                    if inv_p > 0.0:
                        ivp = 1.0 / inv_p
                    if ivp >= _LARGE_VAR:
                        ivp = 0.0
                    ivr = 1.0 / inv_r
                    if ivr >= _LARGE_VAR:
                        ivr = 0.0
                    if idq & _INVALID:
                        islope = np.nan
                        ivp = 0.0
                        ivr = 0.0
                        ierr = 0.0
                    else:
                        var_err = 1.0 / inv_e
                        islope = num * ivr
                        if var_err > _LARGE_VAR:
                            ierr = 0.0
                        else:
                            ierr = math.sqrt(var_err)
                    if inv_p > 0.0:
                        acc_vp[j] += inv_p
                    acc_vr[j] += inv_r
                    acc_sl[j] += num
                # ---- ramp_fit_pixel, per integration
                if idq & _DNU:
                    dnu_cnt[j] += 1
                    islope = np.nan
                if save_opt:
                    if idq & _SAT:
                        ped = 0.0
                    else:
                        ped = data[0] - islope * ped_tmp
                        if math.isnan(ped):
                            ped = 0.0
                    o_ped[i, r, c] = np.float32(ped)
                if idq & _SAT:
                    sat_cnt[j] += 1
                    islope = np.nan
                if cnt_sat > 0:
                    idq |= _SAT
                    flags[j] |= 1
                # ---- CHARGELOSS: recompute the integration's read-noise variance
                if anyf & _CHG:
                    flags[j] |= 2
                    _original_dq(qslab[j], ngroups, first, last, odq)
                    nseg2, size2 = _segments(odq, ngroups, starts, ends)
                    inv_r2 = 0.0
                    for s in range(nseg2):
                        length = ends[s] - starts[s]
                        timing = group_time
                        if length == 1 and not suppress1g:
                            if is0:
                                timing = one_group_time
                            elif isz:
                                timing = frame_time
                        svar = _seg_rnoise(length, timing, group_time, rn, gain)
                        if svar > 0.0:
                            inv_r2 += 1.0 / svar
                    ivr = 1.0 / inv_r2
                    if ivr >= _LARGE_VAR:
                        ivr = 0.0
                    acc_evr[j] += inv_r2
                elif ivr > 0.0:
                    acc_evr[j] += 1.0 / ivr
                i_slope[i, r, c] = np.float32(islope)
                i_dq[i, r, c] = np.uint32(idq)
                i_vp[i, r, c] = np.float32(ivp)
                i_vr[i, r, c] = np.float32(ivr)
                i_err[i, r, c] = np.float32(ierr)
        # ---- the exposure's rate (ramp_fit_pixel, end)
        for j in range(nt):
            c = c0 + j
            d = rdq[j]
            if dnu_cnt[j] == nints:
                d |= _DNU
            if sat_cnt[j] == nints:
                d |= _SAT
            vp = acc_vp[j]
            if vp > 0.0:
                vp = 1.0 / vp
            if vp >= _LARGE_VAR or vp < 0.0:
                vp = 0.0
            vr = acc_vr[j]
            if vr > 0.0:
                vr = 1.0 / vr
            if vr >= _LARGE_VAR:
                vr = 0.0
            err = math.sqrt(vp + vr)
            slope = acc_sl[j]
            if d & _INVALID:
                slope = np.nan
                vp = 0.0
                vr = 0.0
                err = 0.0
            if flags[j] & 1:
                d |= _SAT
            if not math.isnan(slope):
                slope = slope * vr
            if flags[j] & 2:  # ramp_fit_pixel_rnoise_chargeloss
                if acc_evr[j] > 0.0:
                    vr = 1.0 / acc_evr[j]
                if vr >= _LARGE_VAR:
                    vr = 0.0
            r_slope[r, c] = np.float32(slope)
            r_dq[r, c] = np.uint32(d)
            r_vp[r, c] = np.float32(vp)
            r_vr[r, c] = np.float32(vr)
            r_err[r, c] = np.float32(err)


@njit(cache=True, parallel=True)
def _opt_sizes_kernel(gdq, zframe, has_zf, first, last, suppress1g, out):
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
                _effective_dq(gdq[i, :, r, c], ngroups, first, last, suppress1g, dq)
                ncr = 0
                cnt_good = 0
                for g in range(ngroups):
                    if g > 0 and (dq[g] & _JUMP):
                        ncr += 1
                    if dq[g] == 0:
                        cnt_good += 1
                if ncr > mcr:
                    mcr = ncr
                if (not suppress1g) and cnt_good == 0 and has_zf:
                    if zframe[i, r, c] != 0.0:
                        dq[0] = 0
                if dq[0] & _SAT:
                    continue
                nseg, size = _segments(dq, ngroups, starts, ends)
                if size > mseg:
                    mseg = size
        out[r, 0] = mseg
        out[r, 1] = mcr
