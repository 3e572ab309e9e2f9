"""numba kernels behind :mod:`rampflow.steps.ramp_fit_likely` (private; arrays and scalars only).

A per-pixel port of stcal 1.20's LIKELY ramp fitter (``stcal/ramp_fitting/likely_fit.py``,
Brandt 2024, PASP 136, 045004 ("paper I") and its jump-detection companion ("paper II")).
stcal evaluates every formula on whole rows of pixels with numpy; here each pixel's ramp is
handled on its own, in float64 from the float32 inputs (as numpy promotes them), and rounded
to float32 on output. Two codings of the same fit:

* the exact port (:func:`_fit_block`, :func:`_mask_jumps`): stcal's formulas in stcal's order
  of operations, so that its jump decisions, ties and NaN included, are stcal's to the last
  bit;
* the fast fit (:mod:`.likely_fast`): the same quantities with reciprocals and fewer passes
  (a few units in the last place apart). It screens the jump search -- a pixel it finds
  clear of every threshold by a wide margin keeps all its differences, as stcal decides;
  the few others are searched with the exact port -- and does the final fit.

So the jump flags (DQ) are stcal's exactly; SCI, ERR and the variances agree with stcal's to
rounding (about 1e-15 relative in float64, below one float32 unit in the last place).

The covariance of the resultant differences is tridiagonal: diagonal
``alpha_k = rate / gain * alpha_ph_k + rn**2 * alpha_rn_k`` and off-diagonal
``beta_k = rate / gain * beta_ph_k + rn**2 * beta_rn_k``, with the pattern coefficients
(``alpha_ph``, ``alpha_rn``, ``beta_ph``, ``beta_rn``, paper I eqs. 28-29) computed once per
exposure by the step. The inverse is never formed: the recursions ``theta`` / ``phi``
(eqs. 38-43), ``Theta`` / ``Phi`` (46-48) give the best-fit rate ``B / C``, its chi square
``A - B**2 / C`` and weights ``C'_k / C`` (eqs. 61-63, 71, 75), and for jump detection the
chi square with one difference, or two adjacent ones, left out (paper II).

Layout: parallel over (row, integration) tasks of the chunk, dealt round-robin to the
threads (``prange`` over workers), so that small row chunks (the memory budget) still keep
every thread busy. Each task fits its row in blocks of ``BLOCK`` pixels: the block's
differences and flags are formed straight from the cube into contiguous scratch with the
pixel the last axis, so every step of the recursions is a SIMD loop over the block (64
pixels amortise the loop overheads best on 19 to 69 differences). Scratch is per thread,
allocated once, of size (NSCRATCH, ngroups, BLOCK); nothing the size of a row or of the cube
is allocated. The kernel releases the GIL (the runner reads the next chunk meanwhile). The
median count-rate guess is in :mod:`.likely_median` (a selection from a bracket around the mean); the block's
inputs and DQ are in :mod:`.likely_blocks`, the exposure combination in :mod:`.likely_combine`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .likely_blocks import _block_dq, _block_inputs
from .likely_fast import _CLEAR as _F_CLEAR
from .likely_fast import _RC as _F_RC
from .likely_fast import _RP as _F_RP
from .likely_fast import _RR as _F_RR
from .likely_fast import _RU as _F_RU
from .likely_fast import _RX as _F_RX
from .likely_fast import NFAST, NFS, _fast_fit
from .likely_median import _median_guess

# planes of the block scratch array W (NSCRATCH, ndiffs + 2, BLOCK)
_AL, _BE, _APH, _BPH, _ARN, _BRN, _TH, _PH, _PHI, _PHID, _THE, _THED, _DC, _DB, _DM = range(15)
_CR1, _CHI1, _CR2, _CHI2, _CD, _COFF, _UF, _BE2 = range(15, 23)
NSCRATCH = 23
# rows of the per-pixel scalars S (NS, BLOCK): results first
_RC, _RX, _RU, _RP, _RR, _SCALE, _CG, _RN2, _A1, _A2, _AA, _B, _C, _VP2, _VR2, _BEST1, _BEST2 = range(17)
NS = 17
#: pixels fitted side by side (the last, contiguous axis of every block array)
BLOCK = 64
#: the exact search's narrow block, for a block's few unscreened pixels (often one)
NARROW = 8


@njit(cache=True, error_model="numpy")
def _fit_block(d, use, n, crg, gain, rn, aph, arn, bph, brn, W, S, detect):
    """stcal's ``fit_ramps`` for a block of pixels side by side (the pixel is the last,
    contiguous axis of every array, so each step of the recursions runs across the block's
    pixels in SIMD; per pixel the operations are stcal's, in its order, so that results and
    jump decisions, ties included, are stcal's to the last bit).

    d float64 (n, P) differences (DN/s); use uint8 (n, P), 1 = use; crg / gain / rn (P,)
    count-rate guess (DN/s), gain (e-/DN), read noise per read (DN). W (NSCRATCH, n + 2, P)
    scratch; S (NS, P) per-pixel scalars: S[_RC] rate, S[_RX] chisq, S[_RU] uncert,
    S[_RP] var_poisson, S[_RR] var_rnoise. With ``detect`` (the jump search) instead of the
    variances, which only the final fit reports: W[_CR1], W[_CHI1] (one difference left out)
    and W[_CR2], W[_CHI2] (two adjacent), as stcal's ``compute_jump_detects`` and
    ``fill_masked_reads``; B' (W[_DB]) is only formed for them."""
    P = d.shape[1]
    al, be, be2, uf = W[_AL], W[_BE], W[_BE2], W[_UF]
    a_ph, b_ph, a_rn, b_rn = W[_APH], W[_BPH], W[_ARN], W[_BRN]
    th, ph, dm = W[_TH], W[_PH], W[_DM]
    scale, cg, rn2 = S[_SCALE], S[_CG], S[_RN2]
    for p in range(P):
        rn2[p] = rn[p] * rn[p]
        cg[p] = crg[p] / gain[p]
    for k in range(n):
        ak = aph[k]
        rk = arn[k]
        for p in range(P):
            x = cg[p] * ak
            y = rn2[p] * rk
            a_ph[k, p] = x
            a_rn[k, p] = y
            al[k, p] = x + y
            uf[k, p] = use[k, p]
    for k in range(n - 1):
        bk = bph[k]
        rk = brn[k]
        for p in range(P):
            x = cg[p] * bk
            y = rn2[p] * rk
            b_ph[k, p] = x
            b_rn[k, p] = y
            be[k, p] = x + y
            be2[k, p] = (x + y) * (x + y)
    # rescale the covariance to determinant 1 (compute_alphas_betas, rescale=True, dn_scale=10)
    for p in range(P):
        th[0, p] = 1.0
        th[1, p] = al[0, p]
        scale[p] = 1.0
    for i in range(2, n + 1):
        for p in range(P):
            sc = scale[p]
            th[i, p] = al[i - 1, p] / sc * th[i - 1, p] - be2[i - 2, p] / (sc * sc) * th[i - 2, p]
        if i % 10 == 0 or i == n:
            for p in range(P):
                f = th[i, p] ** (1 / i)
                scale[p] *= f
                tmp = th[i, p] / f
                th[i - 1, p] /= tmp
                th[i - 2, p] /= tmp / f
                th[i, p] = 1.0
    for k in range(n):
        for p in range(P):
            al[k, p] /= scale[p]
            dm[k, p] = d[k, p] * uf[k, p]
    for k in range(n - 1):
        for p in range(P):
            b = be[k, p] / scale[p] * uf[k + 1, p] * uf[k, p]
            be[k, p] = b
            be2[k, p] = b * b
    # theta, phi (eqs. 38-43)
    for p in range(P):
        th[0, p] = 1.0
        th[1, p] = al[0, p]
        ph[n, p] = 1.0
        ph[n - 1, p] = al[n - 1, p]
    # Phi, PhiD, Theta, ThetaD (eqs. 46-48; paper II eq. 4); sgn_k = -1 for even k. Each is
    # computed in the pass of the recursion it feeds on (theta forward, phi backward).
    Phi, PhiD, Theta, ThetaD = W[_PHI], W[_PHID], W[_THE], W[_THED]
    for p in range(P):
        Phi[n - 1, p] = 0.0
        PhiD[n - 1, p] = 0.0
        Theta[0, p] = -th[0, p]
        ThetaD[0, p] = 0.0
        ThetaD[1, p] = -dm[0, p] * th[0, p]
    for i in range(1, n + 1):
        s = -1.0 if i % 2 == 0 else 1.0
        for p in range(P):
            if i >= 2:
                th[i, p] = al[i - 1, p] * th[i - 1, p] - be2[i - 2, p] * th[i - 2, p]
            if i < n:
                b = be[i - 1, p]
                t = th[i, p]
                Theta[i, p] = Theta[i - 1, p] * b + s * t
                ThetaD[i + 1, p] = b * ThetaD[i, p] + s * dm[i, p] * t
    for i in range(n - 2, -1, -1):
        s1 = -1.0 if (i + 1) % 2 == 0 else 1.0
        for p in range(P):
            ph[i, p] = al[i, p] * ph[i + 1, p] - be2[i, p] * ph[i + 2, p]
            b = be[i, p]
            q = ph[i + 2, p]
            Phi[i, p] = Phi[i + 1, p] * b + s1 * b * q
        if detect:  # PhiD only feeds B' (dB), which only the leave-out chi squares use
            for p in range(P):
                PhiD[i, p] = (PhiD[i + 1, p] + s1 * dm[i + 1, p] * ph[i + 2, p]) * be[i, p]
    # C', B' and A, B, C (eqs. 61-63, 71, 75)
    dC, dB = W[_DC], W[_DB]
    A1, A2, B, C = S[_A1], S[_A2], S[_B], S[_C]
    for p in range(P):
        A1[p] = 0.0
        A2[p] = 0.0
        B[p] = 0.0
        C[p] = 0.0
    for i in range(n):
        s = -1.0 if i % 2 == 0 else 1.0
        for p in range(P):
            thn = th[n, p]
            q = ph[i + 1, p]
            t = th[i, p]
            x = dm[i, p]
            c = s / thn * (q * Theta[i, p] + t * Phi[i, p]) * uf[i, p]
            dC[i, p] = c
            bext = 1.0 if i == 0 else be[i - 1, p]
            A1[p] += x * s / thn * bext * q * ThetaD[i, p]
            A2[p] += x * x * t * q / thn
            B[p] += x * c
            C[p] += c
        if detect:
            for p in range(P):
                dB[i, p] = s / th[n, p] * (ph[i + 1, p] * ThetaD[i + 1, p] + th[i, p] * PhiD[i, p])
    # get_ramp_result (numpy semantics: C == 0, a ramp with no usable difference, gives NaN / inf)
    A = S[_AA]
    cr, chisq, unc, vp, vr = S[_RC], S[_RX], S[_RU], S[_RP], S[_RR]
    vp2, vr2 = S[_VP2], S[_VR2]
    for p in range(P):
        A[p] = 2 * A1[p] + A2[p]
        cr[p] = B[p] * (1 / C[p])
        chisq[p] = (A[p] - B[p] * B[p] / C[p]) / scale[p]
        unc[p] = np.sqrt(scale[p] / C[p])
    if detect:  # the jump search needs the rate and chi squares, not the variances
        _jump_omits(n, W, S)
        return
    for p in range(P):
        vp[p] = 0.0
        vr[p] = 0.0
        vp2[p] = 0.0
        vr2[p] = 0.0
    for i in range(n):
        for p in range(P):
            w = dC[i, p] / C[p]
            vp[p] += w * w * a_ph[i, p]
            vr[p] += w * w * a_rn[i, p]
    for i in range(n - 1):
        for p in range(P):
            ww = dC[i + 1, p] / C[p] * (dC[i, p] / C[p])
            vp2[p] += ww * b_ph[i, p]
            vr2[p] += ww * b_rn[i, p]
    for p in range(P):
        vp[p] += 2 * vp2[p]
        vr[p] += 2 * vr2[p]


@njit(cache=True, error_model="numpy")
def _jump_omits(n, W, S):
    """stcal's ``compute_jump_detects`` + ``RampResult.fill_masked_reads`` for a block:
    best-fit rate and chi square leaving out each difference (W[_CR1], W[_CHI1]) and each
    pair of adjacent differences (W[_CR2], W[_CHI2])."""
    Cd, Coff, uf = W[_CD], W[_COFF], W[_UF]
    P = Cd.shape[1]
    cr1, chi1, cr2, chi2 = W[_CR1], W[_CHI1], W[_CR2], W[_CHI2]
    dC, dB, be, ph, th = W[_DC], W[_DB], W[_BE], W[_PH], W[_TH]
    A, B, C, scale, cr, chisq = S[_AA], S[_B], S[_C], S[_SCALE], S[_RC], S[_RX]
    for i in range(n):
        for p in range(P):
            Cd[i, p] = th[i, p] * ph[i + 1, p] / th[n, p] * uf[i, p]
    for i in range(n - 1):
        for p in range(P):
            Coff[i, p] = -be[i, p] * th[i, p] * ph[i + 2, p] / th[n, p]
    for i in range(n):
        for p in range(P):
            cd = Cd[i, p]
            dc = dC[i, p]
            db = dB[i, p]
            a = (cd * B[p] - db * dc) / (C[p] * cd - dc * dc)
            b = (db - a * dc) / cd
            cr1[i, p] = a
            chi1[i, p] = (A[p] + a * a * C[p] - 2 * a * B[p] + b * b * cd - 2 * b * db
                          + 2 * a * b * dc) / scale[p]
    for i in range(n - 1):
        for p in range(P):
            dc0 = dC[i, p]
            dc1 = dC[i + 1, p]
            db0 = dB[i, p]
            db1 = dB[i + 1, p]
            cpj = dc0 * dc0 - C[p] * Cd[i, p]
            cjck = dc0 * dc1 - C[p] * Coff[i, p]
            bcpj = B[p] * dc0 - db0 * C[p]
            c = bcpj / cpj - (B[p] * dc1 - db1 * C[p]) / cjck
            c /= cjck / cpj - (dc1 * dc1 - C[p] * Cd[i + 1, p]) / cjck
            b = (bcpj - c * cjck) / cpj
            a = (B[p] - b * dc0 - c * dc1) / C[p]
            cr2[i, p] = a
            x = A[p] + a * a * C[p] + b * b * Cd[i, p] + c * c * Cd[i + 1, p]
            x -= 2 * a * B[p] + 2 * b * db0 + 2 * c * db1
            x += 2 * a * b * dc0 + 2 * a * c * dc1 + 2 * b * c * Coff[i, p]
            chi2[i, p] = x / scale[p]
    # fill_masked_reads
    for i in range(n):
        for p in range(P):
            if uf[i, p] == 0:
                cr1[i, p] = cr[p]
                chi1[i, p] = chisq[p]
    for i in range(n - 1):
        for p in range(P):
            if uf[i + 1, p] == 0:
                cr2[i, p] = cr1[i, p]
                chi2[i, p] = chi1[i, p]
    for i in range(n - 1):
        for p in range(P):
            if uf[i, p] == 0:
                cr2[i, p] = cr1[i + 1, p]
                chi2[i, p] = chi1[i + 1, p]


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
def _best_omits(n, W, S, one_ok, two_ok):
    """For every pixel of a block fitted with ``detect``, the largest chi-square improvement
    from leaving out one difference (S[_BEST1]) or two adjacent ones (S[_BEST2]), each where
    allowed: ``_decide``'s ``best1`` / ``best2`` (np.amax, NaN propagating), computed across
    the block so that ``_decide`` runs only for the few pixels where one passes its threshold."""
    chisq, chi1, chi2, b1, b2 = S[_RX], W[_CHI1], W[_CHI2], S[_BEST1], S[_BEST2]
    P = chisq.shape[0]
    for p in range(P):
        b1[p] = -np.inf
        b2[p] = -np.inf
    for i in range(n):
        o = one_ok[i]
        for p in range(P):
            v = (chisq[p] - chi1[i, p]) * o
            if v > b1[p] or v != v:
                b1[p] = v
    for i in range(n - 1):
        o = two_ok[i]
        for p in range(P):
            v = (chisq[p] - chi2[i, p]) * o
            if v > b2[p] or v != v:
                b2[p] = v


@njit(cache=True, error_model="numpy")
def _decide(n, p, W, S, use, one_ok, two_ok, t1, t2, dch1, dch2):
    """One step of stcal's ``mask_jumps`` for pixel p of a block fitted with ``detect``:
    leave out the difference (or two adjacent ones) whose omission improves chi square most,
    if by more than its threshold (t1 for one, t2 for two; each penalised by its threshold).
    Updates use[:, p]; returns (dropped?, the count rate without them)."""
    chisq = S[_RX, p]
    for i in range(n):
        dch1[i] = chisq - W[_CHI1, i, p]
    for i in range(n - 1):
        dch2[i] = chisq - W[_CHI2, i, p]
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
                new += W[_CR1, i, p] * (dch1[i] == best)
            for i in range(n):
                if dch1[i] == best:
                    use[i, p] = 0
    else:
        for i in range(n - 1):
            if dch2[i] == best:
                drop = True
        if drop:
            for i in range(n - 1):
                new += W[_CR2, i, p] * (dch2[i] == best)
            for i in range(n - 1):
                if dch2[i] == best:
                    use[i, p] = 0
                    use[i + 1, p] = 0
    return drop, new


@njit(cache=True, error_model="numpy")
def _nuse(use, n, p):
    m = 0
    for i in range(n):
        m += use[i, p]
    return m


@njit(cache=True, error_model="numpy")
def _mask_jumps(d, use, n, npx, gain, rn, crg, co, one_ok, two_ok, t1, t2, W, S, one, countrate, dch1, dch2):
    """stcal's ``mask_jumps`` for a block, from the count-rate guess ``crg``: the block is
    fitted with jump detection and each pixel's best omission decided; a pixel that dropped
    something and keeps more than three differences is searched again on its own (at most
    ndiffs searches in all). ``use`` is updated in place, ``countrate`` (P,) receives the
    rate that seeds the final fit. ``one`` holds the 1-pixel scratch: (d1, u1, g1, r1, c1,
    W1, S1). Only the first ``npx`` pixels of the block are real (the others are padding,
    fitted but never searched again)."""
    d1, u1, g1, r1, c1, W1, S1 = one
    _fit_block(d, use, n, crg, gain, rn, co[1], co[2], co[3], co[4], W, S, True)
    _best_omits(n, W, S, one_ok, two_ok)
    for p in range(npx):
        countrate[p] = S[_RC, p] * 1.0
        b1 = S[_BEST1, p]
        b2 = S[_BEST2, p]
        onebetter = b1 - t1 > b2 - t2
        best = b1 * (b1 > t1) * onebetter
        best += b2 * (b2 > t2) * (not onebetter)
        if best == 0 or math.isnan(best):
            continue  # nothing passes its threshold: _decide would leave every difference in
        drop, new = _decide(n, p, W, S, use, one_ok, two_ok, t1, t2, dch1, dch2)
        if not drop:
            continue
        countrate[p] = countrate[p] * 0.0 + new
        if _nuse(use, n, p) <= 3:
            continue
        for k in range(n):
            d1[k, 0] = d[k, p]
            u1[k, 0] = use[k, p]
        g1[0], r1[0], c1[0] = gain[p], rn[p], crg[p]
        for _ in range(1, n):
            _fit_block(d1, u1, n, c1, g1, r1, co[1], co[2], co[3], co[4], W1, S1, True)
            drop, new = _decide(n, 0, W1, S1, u1, one_ok, two_ok, t1, t2, dch1, dch2)
            if not drop:
                break
            countrate[p] = countrate[p] * 0.0 + new
            if _nuse(u1, n, 0) <= 3:
                break
        for k in range(n):
            use[k, p] = u1[k, 0]


@njit(cache=True, error_model="numpy")
def _exact_group(d, use, n, gain, rn, crg, co, one_ok, two_ok, t1, t2, idx, j0, nsub, scratch, one, countrate,
                 dch1, dch2):
    """The exact search (:func:`_mask_jumps`) of the pixels idx[j0:j0 + nsub] of a block,
    gathered into ``scratch`` = (ds, us, gs, rs, cs, crs, W, S) of width >= nsub (the rest
    padding: a flat, usable ramp); their flags and rates scattered back."""
    ds, us, gs, rs, cs, crs, W, S = scratch
    P = ds.shape[1]
    for q in range(P):
        if q < nsub:
            p = idx[j0 + q]
            for k in range(n):
                ds[k, q] = d[k, p]
                us[k, q] = use[k, p]
            gs[q], rs[q], cs[q] = gain[p], rn[p], crg[p]
        else:
            for k in range(n):
                ds[k, q] = 0.0
                us[k, q] = 1
            gs[q], rs[q], cs[q] = 1.0, 1.0, 0.0
    _mask_jumps(ds, us, n, nsub, gs, rs, cs, co, one_ok, two_ok, t1, t2, W, S, one, crs, dch1, dch2)
    for q in range(nsub):
        p = idx[j0 + q]
        for k in range(n):
            use[k, p] = us[k, q]
        countrate[p] = crs[q]


@njit(cache=True, error_model="numpy")
def _search_jumps(d, use, n, npx, gain, rn, crg, co, one_ok, two_ok, t1, t2, FW, FS, exact, countrate, dch1,
                  dch2):
    """The jump search of a block: the fast fit screens every pixel (:mod:`.likely_fast`);
    a clear pixel keeps all its differences and the fit's rate; the others (a few per cent:
    the ramps with a jump, or near a threshold, or with too few differences) are gathered
    and searched with the exact port, :func:`_mask_jumps`: in a narrow block (``NARROW``
    pixels) when they fit in one, else in blocks of the full width (each pixel's results do
    not depend on the block it is fitted in). ``exact`` holds that path's scratch:
    (wide, narrow, idx, one), wide and narrow as :func:`_exact_group` takes them."""
    wide, narrow, idx, one = exact
    P = d.shape[1]
    _fast_fit(d, use, n, crg, gain, rn, co[1], co[2], co[3], co[4], FW, FS, True, one_ok, two_ok, t1, t2)
    m = 0
    for p in range(npx):
        countrate[p] = FS[_F_RC, p]
        if FS[_F_CLEAR, p] == 0.0:
            idx[m] = p
            m += 1
    if 0 < m <= NARROW:
        _exact_group(d, use, n, gain, rn, crg, co, one_ok, two_ok, t1, t2, idx, 0, m, narrow, one, countrate,
                     dch1, dch2)
        return
    for j0 in range(0, m, P):
        _exact_group(d, use, n, gain, rn, crg, co, one_ok, two_ok, t1, t2, idx, j0, min(P, m - j0), wide, one,
                     countrate, dch1, dch2)


@njit(cache=True)
def _exact_scratch(n, P):
    """Scratch of :func:`_exact_group` for blocks of width P."""
    return (np.empty((n, P), np.float64), np.empty((n, P), np.uint8), np.empty(P), np.empty(P), np.empty(P),
            np.empty(P), np.zeros((NSCRATCH, n + 2, P), np.float64), np.zeros((NS, P), np.float64))


@njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _likely_kernel(sci, gdq, pdq, gain, rnoise, dark, zf, use_zf, nframes, first, last, coef, one_ok,
                   two_ok, t1, t2, nworkers, want_chi, o_sci, o_err, o_vp, o_vr, o_chi, o_dq):
    """Fit every integration of a row chunk.

    sci float32 / gdq uint8 (nints, ngroups, nrows, nx); pdq uint32, gain float32, rnoise
    float64 (read noise per read, DN), dark float32 (nrows, nx); zf float32 (nints, nrows, nx)
    used if ``use_zf`` (it becomes resultant 0 and group 0 loses its first read, as stcal
    does); groups outside [first, last] count as DO_NOT_USE; coef float64 (5, n): delta_t,
    alpha_ph, alpha_rn, beta_ph, beta_rn (n = number of differences); one_ok / two_ok
    float64 (n) (where a one / two-difference omission may be tried). Outputs float32 /
    uint32 (nints, nrows, nx); o_chi, the final fit's chi square, only with ``want_chi``
    (else it is left as it is; the final fit then skips what only chi square needs).

    Work is split into (row, integration) tasks dealt round-robin to ``nworkers`` workers
    (the threads), each with its own scratch allocated once: the load stays balanced when a
    chunk has fewer rows than threads, and memory is a few block-sized arrays per thread.
    """
    nints, ng, nrows, nx = sci.shape
    npts = ng + 1 if use_zf else ng
    n = npts - 1
    dt = coef[0]
    P = BLOCK
    ntask = nrows * nints
    nw = max(1, min(nworkers, ntask))
    for w in prange(nw):
        db = np.empty((n, P), np.float64)
        ub = np.empty((n, P), np.uint8)
        u0 = np.empty((n, P), np.uint8)
        qb = np.empty((npts, P), np.uint8)
        FW = np.zeros((NFAST, n + 2, P), np.float64)
        FS = np.zeros((NFS, P), np.float64)
        one = (np.empty((n, 1), np.float64), np.empty((n, 1), np.uint8), np.empty(1), np.empty(1),
               np.empty(1), np.zeros((NSCRATCH, n + 2, 1), np.float64), np.zeros((NS, 1), np.float64))
        exact = (_exact_scratch(n, P), _exact_scratch(n, NARROW), np.empty(P, np.int64), one)
        dch1 = np.empty(n, np.float64)
        dch2 = np.empty(n, np.float64)
        dch3 = np.empty(n, np.float64)
        gb = np.empty(P)
        rb = np.empty(P)
        crg = np.empty(P)
        cr = np.empty(P)
        gl = np.empty(P)
        gh = np.empty(P)
        for task in range(w, ntask, nw):
            r = task // nints
            it = task - r * nints
            for c0 in range(0, nx, P):
                npx = min(P, nx - c0)
                _block_inputs(sci, gdq, zf, use_zf, nframes, first, last, dt, it, r, c0, npx, db, qb, ub, u0)
                for p in range(P):
                    gb[p] = np.float64(gain[r, c0 + p]) if p < npx else 1.0
                    rb[p] = rnoise[r, c0 + p] if p < npx else 1.0
                _median_guess(db, n, crg, dch1, dch2, dch3, gl, gh)
                _search_jumps(db, ub, n, npx, gb, rb, crg, coef, one_ok, two_ok, t1, t2, FW, FS, exact, cr, dch1,
                              dch2)
                # the final fit ("debiasing"): covariance from the jump search's rate plus the dark
                for p in range(P):
                    crg[p] = cr[p] * (cr[p] > 0) + np.float64(dark[r, c0 + p]) if p < npx else 0.0
                _fast_fit(db, ub, n, crg, gb, rb, coef[1], coef[2], coef[3], coef[4], FW, FS, False, one_ok, two_ok,
                          t1, t2, want_chi)
                for p in range(npx):
                    c = c0 + p
                    o_sci[it, r, c] = np.float32(FS[_F_RC, p])
                    o_err[it, r, c] = np.float32(FS[_F_RU, p])
                    o_vp[it, r, c] = np.float32(FS[_F_RP, p])
                    o_vr[it, r, c] = np.float32(FS[_F_RR, p])
                if want_chi:
                    for p in range(npx):
                        o_chi[it, r, c0 + p] = np.float32(FS[_F_RX, p])
                _block_dq(pdq, r, c0, npx, qb, ub, u0, it, o_dq)
