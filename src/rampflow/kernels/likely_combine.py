"""numba kernel behind :mod:`rampflow.steps.ramp_fit_likely`: the exposure's rate from the
integrations' LIKELY rates (stcal 1.20's ``compute_image_info`` for nints > 1; private)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..dq import FLAGS
from .order_stats import _kth_branchless

_DNU32 = np.uint32(FLAGS["DO_NOT_USE"])


@njit(cache=True, error_model="numpy")
def _sort_into(x, n, buf):
    """buf[:n] <- x[:n] sorted (insertion sort: for the few integrations of a pixel)."""
    for k in range(n):
        v = x[k]
        j = k - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v



@njit(cache=True, error_model="numpy")
def _median32(tmp, m, srt, ta, tb):
    """numpy's median of tmp[:m] (no NaN, m > 0) in float32, as the sorted values give it
    (``srt[h]``, or ``(srt[h - 1] + srt[h]) / 2`` in float32): by selection (``srt``, ``ta``,
    ``tb`` scratch of size >= m). A zero median is taken from the sorted values, so that its
    sign is the sort's whatever the order of -0.0 and 0.0 among the values."""
    h = m // 2
    if m % 2 == 1:
        v = np.float32(_kth_branchless(tmp, m, h, ta, tb, 16))
        if v != 0:
            return v
    else:
        lo = np.float32(_kth_branchless(tmp, m, h - 1, ta, tb, 16))
        cle = 0
        hi = np.float32(np.inf)
        for j in range(m):
            x = tmp[j]
            cle += x <= lo
            if x > lo and x < hi:
                hi = x
        if cle > h:
            hi = lo
        if lo != 0 and hi != 0:
            return np.float32((lo + hi) / np.float32(2))
    _sort_into(tmp, m, srt)
    return srt[h] if m % 2 == 1 else np.float32((srt[h - 1] + srt[h]) / np.float32(2))


#: columns per parallel task of the exposure combination, and per gather into contiguous
#: buffers (one cache line of float32 values per integration)
_COLS = 128
_SUB = 16


@njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _combine_kernel(sci, err, vp, vr, chi, dq, r_sci, r_err, r_vp, r_vr, r_chi, r_dq):
    """stcal's ``compute_image_info`` for nints > 1, per pixel, in float32 as numpy does it:
    the NaN-median of the integrations' rates, then twice: weights
    ``1 / (var_poisson * median / rate + var_rnoise)`` (the Poisson part rescaled to the
    median rate; the ratio set to 0 where negative or not finite), normalised, and the
    weighted mean. Variances are the weighted sums; chi square the plain sum.

    Parallel over (row, block of columns) tasks, so that a chunk of one row keeps every
    thread busy. The integrations of ``_SUB`` columns are first gathered into contiguous
    buffers (pixel-major): read in place, a pixel's values lie a plane apart, all in the
    same L1 cache set, and every access missed it."""
    nints, nrows, nx = sci.shape
    nblk = (nx + _COLS - 1) // _COLS
    for task in prange(nrows * nblk):
        r = task // nblk
        b = task - r * nblk
        tmp = np.empty(nints, np.float32)
        srt = np.empty(nints, np.float32)
        ta = np.empty(nints, np.float32)
        tb = np.empty(nints, np.float32)
        wt = np.empty(nints, np.float32)
        avp = np.empty(nints, np.float32)
        gs = np.empty((_SUB, nints), np.float32)
        gp = np.empty((_SUB, nints), np.float32)
        gr = np.empty((_SUB, nints), np.float32)
        gc = np.empty((_SUB, nints), np.float32)
        gq = np.empty((_SUB, nints), np.uint32)
        for s0 in range(b * _COLS, min(nx, (b + 1) * _COLS), _SUB):
            ns = min(_SUB, nx - s0)
            for i in range(nints):
                for q in range(ns):
                    gs[q, i] = sci[i, r, s0 + q]
                    gp[q, i] = vp[i, r, s0 + q]
                    gr[q, i] = vr[i, r, s0 + q]
                    gc[q, i] = chi[i, r, s0 + q]
                    gq[q, i] = dq[i, r, s0 + q]
            for q in range(ns):
                c = s0 + q
                _combine_pixel(gs[q], gp[q], gr[q], gc[q], gq[q], nints, tmp, srt, ta, tb, wt, avp, r, c,
                               r_sci, r_err, r_vp, r_vr, r_chi, r_dq)


@njit(cache=True, error_model="numpy")
def _combine_pixel(sci, vp, vr, chi, dq, nints, tmp, srt, ta, tb, wt, avp, r, c, r_sci, r_err, r_vp, r_vr,
                   r_chi, r_dq):
    """One pixel of :func:`_combine_kernel` from its integrations' values (1-D, contiguous)."""
    acc = dq[0]
    alldnu = True
    for i in range(nints):
        acc |= dq[i]
        if dq[i] & _DNU32 == 0:
            alldnu = False
    acc &= ~_DNU32
    if alldnu:
        acc |= _DNU32
    r_dq[r, c] = acc
    m = 0
    for i in range(nints):
        if not math.isnan(sci[i]):
            tmp[m] = sci[i]
            m += 1
    if m == 0:
        slope = np.float32(np.nan)
    else:
        slope = _median32(tmp, m, srt, ta, tb)
    for _ in range(2):
        wsum = np.float32(0)
        for i in range(nints):
            rs = np.float32(slope / sci[i])
            if not math.isfinite(rs) or rs < 0:
                rs = np.float32(0)
            avp[i] = np.float32(vp[i] * rs)
            wt[i] = np.float32(np.float32(1) / np.float32(avp[i] + vr[i]))
            if not math.isnan(wt[i]):
                wsum = np.float32(wsum + wt[i])
        allnan = True
        acc_s = np.float32(0)
        for i in range(nints):
            wt[i] = np.float32(wt[i] / wsum)
            t = np.float32(sci[i] * wt[i])
            if not math.isnan(t):
                allnan = False
                acc_s = np.float32(acc_s + t)
        slope = np.float32(np.nan) if allnan else acc_s
    out_p = np.float32(0)
    out_r = np.float32(0)
    nan_p = True
    nan_r = True
    csum = np.float32(0)
    for i in range(nints):
        t = np.float32(avp[i] * np.float32(wt[i] * wt[i]))
        if not math.isnan(t):
            nan_p = False
            out_p = np.float32(out_p + t)
        t = np.float32(vr[i] * np.float32(wt[i] * wt[i]))
        if not math.isnan(t):
            nan_r = False
            out_r = np.float32(out_r + t)
        csum = np.float32(csum + chi[i])
    if nan_p:
        out_p = np.float32(np.nan)
    if nan_r:
        out_r = np.float32(np.nan)
    r_sci[r, c] = slope
    r_vp[r, c] = out_p
    r_vr[r, c] = out_r
    r_err[r, c] = np.sqrt(np.float32(out_p + out_r))
    r_chi[r, c] = csum
