"""numba kernels behind :mod:`rampflow.steps.ramp_fit_likely` (private; arrays and scalars only).

A per-pixel port of stcal 1.20's LIKELY ramp fitter (``stcal/ramp_fitting/likely_fit.py``,
Brandt 2024, PASP 136, 045004 ("paper I") and its jump-detection companion ("paper II")).
stcal evaluates every formula on whole rows of pixels with numpy; here each pixel's ramp is
handled on its own, with the same formulas in the same order of operations, in float64
from the float32 inputs (as numpy promotes them), and rounded to float32 on output.

The covariance of the resultant differences is tridiagonal: diagonal
``alpha_k = rate / gain * alpha_ph_k + rn**2 * alpha_rn_k`` and off-diagonal
``beta_k = rate / gain * beta_ph_k + rn**2 * beta_rn_k``, with the pattern coefficients
(``alpha_ph``, ``alpha_rn``, ``beta_ph``, ``beta_rn``, paper I eqs. 28-29) computed once per
exposure by the step. The inverse is never formed: the recursions ``theta`` / ``phi``
(eqs. 38-43), ``Theta`` / ``Phi`` (46-48) give the best-fit rate ``B / C``, its chi square
``A - B**2 / C`` and weights ``C'_k / C`` (eqs. 61-63, 71, 75), and for jump detection the
chi square with one difference, or two adjacent ones, left out (paper II).

Layout: parallel over the chunk's rows (``prange``); for each row and integration the
differences of the whole row are formed plane by plane (contiguous reads of the cube) into
a pixel-major scratch array, then each pixel is fitted from it. Scratch is per row, of size
(nx, ngroups); nothing the size of the cube is allocated.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..dq import FLAGS

_DNU = np.uint8(FLAGS["DO_NOT_USE"])
_SAT = np.uint8(FLAGS["SATURATED"])
_JUMP = np.uint8(FLAGS["JUMP_DET"])
_DNU32 = np.uint32(FLAGS["DO_NOT_USE"])
_SAT32 = np.uint32(FLAGS["SATURATED"])
_JUMP32 = np.uint32(FLAGS["JUMP_DET"])

# rows of the per-pixel scratch array W (each of length ndiffs + 2)
_AL, _BE, _APH, _BPH, _ARN, _BRN, _TH, _PH, _PHI, _PHID, _THE, _THED, _DC, _DB, _DM = range(15)
_CR1, _CHI1, _CR2, _CHI2, _CD, _COFF = range(15, 21)
NSCRATCH = 21


@njit(cache=True, error_model="numpy")
def _sort_into(x, n, buf):
    """buf[:n] <- x[:n] sorted (insertion sort: ramps are short, and nothing is allocated)."""
    for k in range(n):
        v = x[k]
        j = k - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v


@njit(cache=True, error_model="numpy")
def _median(x, n, buf):
    """numpy's median of x[:n] (NaN if any is NaN; mean of the two middle values)."""
    for k in range(n):
        if math.isnan(x[k]):
            return np.nan
    _sort_into(x, n, buf)
    h = n // 2
    if n % 2 == 1:
        return buf[h]
    return (buf[h - 1] + buf[h]) / 2.0


@njit(cache=True, error_model="numpy")
def _fit_pixel(d, use, n, crg, gain, rn, aph, arn, bph, brn, W, detect, res):
    """stcal's ``fit_ramps`` for one pixel: differences d[:n] (float64, DN/s), ``use`` (uint8,
    1 = use the difference), count-rate guess ``crg`` (DN/s), gain (e-/DN), read noise ``rn``
    (DN, per read). res <- (countrate, chisq, uncert, var_poisson, var_rnoise). With
    ``detect``, W[_CR1], W[_CHI1] (one left out) and W[_CR2], W[_CHI2] (two adjacent left
    out) are filled, as stcal's ``compute_jump_detects`` and ``fill_masked_reads`` do."""
    al, be = W[_AL], W[_BE]
    a_ph, b_ph, a_rn, b_rn = W[_APH], W[_BPH], W[_ARN], W[_BRN]
    rn2 = rn ** 2
    cg = crg / gain
    for k in range(n):
        a_ph[k] = cg * aph[k]
        a_rn[k] = rn2 * arn[k]
        al[k] = a_ph[k] + a_rn[k]
    for k in range(n - 1):
        b_ph[k] = cg * bph[k]
        b_rn[k] = rn2 * brn[k]
        be[k] = b_ph[k] + b_rn[k]
    # rescale the covariance to determinant 1 (compute_alphas_betas, rescale=True, dn_scale=10)
    th = W[_TH]
    th[0] = 1.0
    th[1] = al[0]
    scale = th[0] * 1
    for i in range(2, n + 1):
        th[i] = al[i - 1] / scale * th[i - 1] - be[i - 2] ** 2 / scale ** 2 * th[i - 2]
        if i % 10 == 0 or i == n:
            f = th[i] ** (1 / i)
            scale *= f
            tmp = th[i] / f
            th[i - 1] /= tmp
            th[i - 2] /= tmp / f
            th[i] = 1.0
    for k in range(n):
        al[k] /= scale
    for k in range(n - 1):
        be[k] /= scale
    dm = W[_DM]
    for k in range(n):
        dm[k] = d[k] * use[k]
    for k in range(n - 1):
        be[k] = be[k] * use[k + 1] * use[k]
    # theta, phi (eqs. 38-43)
    th[0] = 1.0
    th[1] = al[0]
    for i in range(2, n + 1):
        th[i] = al[i - 1] * th[i - 1] - be[i - 2] ** 2 * th[i - 2]
    ph = W[_PH]
    ph[n] = 1.0
    ph[n - 1] = al[n - 1]
    for i in range(n - 2, -1, -1):
        ph[i] = al[i] * ph[i + 1] - be[i] ** 2 * ph[i + 2]
    # Phi, PhiD, Theta, ThetaD (eqs. 46-48; paper II eq. 4); sgn_k = -1 for even k
    Phi, PhiD, Theta, ThetaD = W[_PHI], W[_PHID], W[_THE], W[_THED]
    Phi[n - 1] = 0.0
    PhiD[n - 1] = 0.0
    for i in range(n - 2, -1, -1):
        s1 = -1.0 if (i + 1) % 2 == 0 else 1.0
        Phi[i] = Phi[i + 1] * be[i] + s1 * be[i] * ph[i + 2]
        PhiD[i] = (PhiD[i + 1] + s1 * dm[i + 1] * ph[i + 2]) * be[i]
    Theta[0] = -th[0]
    for i in range(1, n):
        s = -1.0 if i % 2 == 0 else 1.0
        Theta[i] = Theta[i - 1] * be[i - 1] + s * th[i]
    ThetaD[0] = 0.0
    ThetaD[1] = -dm[0] * th[0]
    for i in range(1, n):
        s = -1.0 if i % 2 == 0 else 1.0
        ThetaD[i + 1] = be[i - 1] * ThetaD[i] + s * dm[i] * th[i]
    # C', B' and A, B, C (eqs. 61-63, 71, 75)
    dC, dB = W[_DC], W[_DB]
    thn = th[n]
    A1 = 0.0
    A2 = 0.0
    B = 0.0
    C = 0.0
    for i in range(n):
        s = -1.0 if i % 2 == 0 else 1.0
        dC[i] = s / thn * (ph[i + 1] * Theta[i] + th[i] * Phi[i])
        dC[i] *= use[i]
        dB[i] = s / thn * (ph[i + 1] * ThetaD[i + 1] + th[i] * PhiD[i])
        bext = 1.0 if i == 0 else be[i - 1]
        A1 += dm[i] * s / thn * bext * ph[i + 1] * ThetaD[i]
        A2 += dm[i] ** 2 * th[i] * ph[i + 1] / thn
    A = 2 * A1
    A += A2
    for i in range(n):
        B += dm[i] * dC[i]
    for i in range(n):
        C += dC[i]
    # get_ramp_result (numpy semantics: C == 0, a ramp with no usable difference, gives NaN / inf)
    invC = 1 / C
    cr = B * invC
    chisq = (A - B ** 2 / C) / scale
    unc = np.sqrt(scale / C)
    vp = 0.0
    vr = 0.0
    for i in range(n):
        w = dC[i] / C
        vp += w ** 2 * a_ph[i]
        vr += w ** 2 * a_rn[i]
    vp2 = 0.0
    vr2 = 0.0
    for i in range(n - 1):
        ww = dC[i + 1] / C * (dC[i] / C)
        vp2 += ww * b_ph[i]
        vr2 += ww * b_rn[i]
    vp += 2 * vp2
    vr += 2 * vr2
    res[0] = cr
    res[1] = chisq
    res[2] = unc
    res[3] = vp
    res[4] = vr
    if detect:
        _jump_omits(n, use, dC, dB, A, B, C, scale, be, ph, th, cr, chisq, W)


@njit(cache=True, error_model="numpy")
def _jump_omits(n, use, dC, dB, A, B, C, scale, be, ph, th, cr, chisq, W):
    """stcal's ``compute_jump_detects`` + ``RampResult.fill_masked_reads`` for one pixel:
    best-fit rate and chi square leaving out each difference (W[_CR1], W[_CHI1]) and each
    pair of adjacent differences (W[_CR2], W[_CHI2])."""
    Cd, Coff = W[_CD], W[_COFF]
    cr1, chi1, cr2, chi2 = W[_CR1], W[_CHI1], W[_CR2], W[_CHI2]
    thn = th[n]
    for i in range(n):
        Cd[i] = th[i] * ph[i + 1] / thn
        Cd[i] *= use[i]
    for i in range(n - 1):
        Coff[i] = -be[i] * th[i] * ph[i + 2] / thn
    for i in range(n):
        den = C * Cd[i] - dC[i] ** 2
        a = (Cd[i] * B - dB[i] * dC[i]) / den
        b = (dB[i] - a * dC[i]) / Cd[i]
        cr1[i] = a
        chi1[i] = (A + a ** 2 * C - 2 * a * B + b ** 2 * Cd[i] - 2 * b * dB[i] + 2 * a * b * dC[i]) / scale
    for i in range(n - 1):
        cpj = dC[i] ** 2 - C * Cd[i]
        cjck = dC[i] * dC[i + 1] - C * Coff[i]
        bcpj = B * dC[i] - dB[i] * C
        c = bcpj / cpj - (B * dC[i + 1] - dB[i + 1] * C) / cjck
        c /= cjck / cpj - (dC[i + 1] ** 2 - C * Cd[i + 1]) / cjck
        b = (bcpj - c * cjck) / cpj
        a = (B - b * dC[i] - c * dC[i + 1]) / C
        cr2[i] = a
        x = A + a ** 2 * C + b ** 2 * Cd[i] + c ** 2 * Cd[i + 1]
        x -= 2 * a * B + 2 * b * dB[i] + 2 * c * dB[i + 1]
        x += 2 * a * b * dC[i] + 2 * a * c * dC[i + 1] + 2 * b * c * Coff[i]
        chi2[i] = x / scale
    # fill_masked_reads
    for i in range(n):
        if use[i] == 0:
            cr1[i] = cr
            chi1[i] = chisq
    for i in range(n - 1):
        if use[i + 1] == 0:
            cr2[i] = cr1[i]
            chi2[i] = chi1[i]
    for i in range(n - 1):
        if use[i] == 0:
            cr2[i] = cr1[i + 1]
            chi2[i] = chi1[i + 1]


@njit(cache=True, error_model="numpy")
def _nanmax_prop(x, ok, n):
    """np.amax(x[:n] * ok[:n]) (NaN propagates, as in numpy)."""
    m = -np.inf
    for i in range(n):
        v = x[i] * ok[i]
        if math.isnan(v):
            return np.nan
        if v > m:
            m = v
    return m


@njit(cache=True, error_model="numpy")
def _mask_jumps(d, use, n, gain, rn, aph, arn, bph, brn, one_ok, two_ok, t1, t2, W, dch1, dch2, res):
    """stcal's ``mask_jumps`` for one pixel: iteratively leave out the difference (or the
    two adjacent differences) whose omission improves chi square most, while it improves
    by more than the threshold (t1 for one, t2 for two) and more than three differences
    remain. ``use`` is updated in place; returns the count rate to seed the final fit."""
    crg = _median(d, n, dch1)
    crg = crg * (crg > 0)
    countrate = 0.0
    for j in range(n):
        _fit_pixel(d, use, n, crg, gain, rn, aph, arn, bph, brn, W, True, res)
        if j == 0:
            countrate = res[0] * 1.0
        chisq = res[1]
        for i in range(n):
            dch1[i] = chisq - W[_CHI1][i]
        for i in range(n - 1):
            dch2[i] = chisq - W[_CHI2][i]
        best1 = _nanmax_prop(dch1, one_ok, n)
        best2 = _nanmax_prop(dch2, two_ok, n - 1)
        onebetter = best1 - t1 > best2 - t2
        best = best1 * (best1 > t1) * onebetter
        best += best2 * (best2 > t2) * (not onebetter)
        if best == 0:
            best = np.nan
        drop = False
        new = 0.0
        if onebetter:
            for i in range(n):
                if dch1[i] == best:
                    drop = True
            if drop:
                for i in range(n):
                    new += W[_CR1][i] * (dch1[i] == best)
                for i in range(n):
                    if dch1[i] == best:
                        use[i] = 0
        else:
            for i in range(n - 1):
                if dch2[i] == best:
                    drop = True
            if drop:
                for i in range(n - 1):
                    new += W[_CR2][i] * (dch2[i] == best)
                for i in range(n - 1):
                    if dch2[i] == best:
                        use[i] = 0
                        use[i + 1] = 0
        if not drop:
            break
        countrate = countrate * 0.0 + new
        nuse = 0
        for i in range(n):
            nuse += use[i]
        if nuse <= 3:
            break
    return countrate


@njit(parallel=True, cache=True, error_model="numpy")
def _likely_kernel(sci, gdq, pdq, gain, rnoise, dark, zf, use_zf, nframes, first, last, coef, one_ok,
                   two_ok, t1, t2, o_sci, o_err, o_vp, o_vr, o_chi, o_dq):
    """Fit every integration of a row chunk.

    sci float32 / gdq uint8 (nints, ngroups, nrows, nx); pdq uint32, gain float32, rnoise
    float64 (read noise per read, DN), dark float32 (nrows, nx); zf float32 (nints, nrows, nx)
    used if ``use_zf`` (it becomes resultant 0 and group 0 loses its first read, as stcal
    does); groups outside [first, last] count as DO_NOT_USE; coef float64 (5, n): delta_t,
    alpha_ph, alpha_rn, beta_ph, beta_rn (n = number of differences); one_ok / two_ok
    float64 (n) (where a one / two-difference omission may be tried). Outputs float32 /
    uint32 (nints, nrows, nx).
    """
    nints, ng, nrows, nx = sci.shape
    npts = ng + 1 if use_zf else ng
    n = npts - 1
    dt, aph, arn, bph, brn = coef[0], coef[1], coef[2], coef[3], coef[4]
    for r in prange(nrows):
        D = np.empty((nx, n), np.float64)
        U = np.empty((nx, n), np.uint8)
        Q = np.empty((nx, npts), np.uint8)
        W = np.zeros((NSCRATCH, n + 2), np.float64)
        dch1 = np.empty(n, np.float64)
        dch2 = np.empty(n, np.float64)
        use0 = np.empty(n, np.uint8)
        res = np.empty(5, np.float64)
        for it in range(nints):
            # differences of the row, plane by plane (stcal: float32 subtraction, float64 division)
            for k in range(n):
                for c in range(nx):
                    if use_zf:
                        if k == 0:
                            hi = (sci[it, 0, r, c] * np.float32(nframes) - zf[it, r, c]) / np.float32(nframes - 1)
                            lo = zf[it, r, c]
                        elif k == 1:
                            hi = sci[it, 1, r, c]
                            lo = (sci[it, 0, r, c] * np.float32(nframes) - zf[it, r, c]) / np.float32(nframes - 1)
                        else:
                            hi = sci[it, k, r, c]
                            lo = sci[it, k - 1, r, c]
                    else:
                        hi = sci[it, k + 1, r, c]
                        lo = sci[it, k, r, c]
                    D[c, k] = np.float32(hi - lo) / dt[k]
            for k in range(npts):
                g = k - 1 if (use_zf and k > 0) else k
                extra = _DNU if (g < first or g > last) else np.uint8(0)
                for c in range(nx):
                    Q[c, k] = gdq[it, g, r, c] | extra
            for c in range(nx):
                d = D[c]
                q = Q[c]
                use = U[c]
                for k in range(n):
                    use[k] = 1 if (q[k] == 0 and q[k + 1] == 0) else 0
                    use0[k] = use[k]
                g = np.float64(gain[r, c])
                rn = rnoise[r, c]
                cr = _mask_jumps(d, use, n, g, rn, aph, arn, bph, brn, one_ok, two_ok, t1, t2,
                                 W, dch1, dch2, res)
                # a difference dropped here flags the group that ends it
                for k in range(n):
                    if use0[k] != use[k]:
                        q[k + 1] |= _JUMP
                crg = cr * (cr > 0) + np.float64(dark[r, c])
                _fit_pixel(d, use, n, crg, g, rn, aph, arn, bph, brn, W, False, res)
                o_sci[it, r, c] = np.float32(res[0])
                o_err[it, r, c] = np.float32(res[2])
                o_vp[it, r, c] = np.float32(res[3])
                o_vr[it, r, c] = np.float32(res[4])
                o_chi[it, r, c] = np.float32(res[1])
                # stcal's dq_compress_sect
                all_bad = True
                anysat = np.uint8(0)
                anyjump = np.uint8(0)
                for k in range(npts):
                    if q[k] & (_SAT | _DNU) == 0:
                        all_bad = False
                    anysat |= q[k] & _SAT
                    anyjump |= q[k] & _JUMP
                v = pdq[r, c]
                if all_bad:
                    v |= _DNU32
                if anysat:
                    v |= _SAT32
                if anyjump:
                    v |= _JUMP32
                o_dq[it, r, c] = v


@njit(parallel=True, cache=True, error_model="numpy")
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
