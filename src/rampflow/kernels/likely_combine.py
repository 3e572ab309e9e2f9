"""numba kernel behind :mod:`rampflow.steps.ramp_fit_likely`: the exposure's rate from the
integrations' LIKELY rates (stcal 1.20's ``compute_image_info`` for nints > 1; private)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..dq import FLAGS

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



@njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _combine_kernel(sci, err, vp, vr, chi, dq, r_sci, r_err, r_vp, r_vr, r_chi, r_dq):
    """stcal's ``compute_image_info`` for nints > 1, per pixel, in float32 as numpy does it:
    the NaN-median of the integrations' rates, then twice: weights
    ``1 / (var_poisson * median / rate + var_rnoise)`` (the Poisson part rescaled to the
    median rate; the ratio set to 0 where negative or not finite), normalised, and the
    weighted mean. Variances are the weighted sums; chi square the plain sum."""
    nints, nrows, nx = sci.shape
    for r in prange(nrows):
        tmp = np.empty(nints, np.float32)
        srt = np.empty(nints, np.float32)
        wt = np.empty(nints, np.float32)
        avp = np.empty(nints, np.float32)
        for c in range(nx):
            acc = dq[0, r, c]
            alldnu = True
            for i in range(nints):
                acc |= dq[i, r, c]
                if dq[i, r, c] & _DNU32 == 0:
                    alldnu = False
            acc &= ~_DNU32
            if alldnu:
                acc |= _DNU32
            r_dq[r, c] = acc
            m = 0
            for i in range(nints):
                if not math.isnan(sci[i, r, c]):
                    tmp[m] = sci[i, r, c]
                    m += 1
            if m == 0:
                slope = np.float32(np.nan)
            else:
                _sort_into(tmp, m, srt)
                h = m // 2
                slope = srt[h] if m % 2 == 1 else np.float32((srt[h - 1] + srt[h]) / np.float32(2))
            for _ in range(2):
                wsum = np.float32(0)
                for i in range(nints):
                    rs = np.float32(slope / sci[i, r, c])
                    if not math.isfinite(rs) or rs < 0:
                        rs = np.float32(0)
                    avp[i] = np.float32(vp[i, r, c] * rs)
                    wt[i] = np.float32(np.float32(1) / np.float32(avp[i] + vr[i, r, c]))
                    if not math.isnan(wt[i]):
                        wsum = np.float32(wsum + wt[i])
                allnan = True
                acc_s = np.float32(0)
                for i in range(nints):
                    wt[i] = np.float32(wt[i] / wsum)
                    t = np.float32(sci[i, r, c] * wt[i])
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
                t = np.float32(vr[i, r, c] * np.float32(wt[i] * wt[i]))
                if not math.isnan(t):
                    nan_r = False
                    out_r = np.float32(out_r + t)
                csum = np.float32(csum + chi[i, r, c])
            if nan_p:
                out_p = np.float32(np.nan)
            if nan_r:
                out_r = np.float32(np.nan)
            r_sci[r, c] = slope
            r_vp[r, c] = out_p
            r_vr[r, c] = out_r
            r_err[r, c] = np.sqrt(np.float32(out_p + out_r))
            r_chi[r, c] = csum
