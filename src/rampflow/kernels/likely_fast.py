"""The fast LIKELY fit behind :mod:`.likely` (private; arrays and scalars only).

:func:`_fast_fit` solves the same tridiagonal likelihood fit as :func:`.likely._fit_block`
(stcal's ``fit_ramps``: the ``theta`` / ``phi`` recursions, ``Theta`` / ``Phi``, C', B', A, B,
C; Brandt 2024, paper I eqs. 38-75) in fewer passes and with multiplications by reciprocals
(``1 / scale``, ``1 / theta_n``, ``1 / C``) where stcal divides: the same quantities to a few
units in the last place, not to the last bit. It serves

* the jump search's screening: with ``detect`` it also forms, for every difference and every
  pair of adjacent differences, the chi-square improvement of leaving it out, in closed form
  (``r_i**2 / K_ii`` and the 2 x 2 analogue, with ``r = Sigma^-1 (d - rate)`` and
  ``K = Sigma^-1 - Sigma^-1 1 1^T Sigma^-1 / C``: paper II's quantities without its
  cancelling sums), and marks a pixel *clear* when both best improvements are finite and
  below their thresholds by a margin far above the rounding of either computation, and it
  keeps at least three usable differences. A clear pixel leaves every difference in, exactly
  as stcal decides; every other pixel is searched with the exact port (``likely._mask_jumps``),
  so the jump flags are stcal's to the last decision;
* the final ("debiasing") fit: rate, chi square, uncertainty and the Poisson / read-noise
  variances, whose sums are accumulated in the same pass as C.

Arrays: d float64 (n, P) differences, use uint8 (n, P); W (NFAST, n + 2, P) and S (NFS, P)
scratch with the pixel the last, contiguous axis (SIMD over the block).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# planes of W (NFAST, n + 2, P)
_AL, _BE, _BE2, _DM, _UF, _TH, _PH, _THE, _THED, _PHI, _PHID, _DC, _DB, _K, _R, _D1 = range(16)
NFAST = 16
# rows of S (NFS, P)
(_SCALE, _RSC, _CG, _RN2, _RTHN, _A1, _A2, _B, _C, _RC, _RX, _RU, _RP, _RR, _VP2, _VR2, _BEST1, _BEST2,
 _NUSE, _CLEAR) = range(20)
NFS = 20
#: a clear pixel's best improvements stay this far below their thresholds, relative to
#: 1 + A / scale (the size of the sums whose rounding the chi squares carry: about 1e-15 of it)
MARGIN = 1e-7


@njit(cache=True, error_model="numpy")
def _fast_fit(d, use, n, crg, gain, rn, aph, arn, bph, brn, W, S, detect, one_ok, two_ok, t1, t2):
    """Fit a block (see the module docstring). S[_RC] rate, S[_RX] chi square, S[_RU]
    uncertainty; without ``detect`` S[_RP] / S[_RR] the variances; with ``detect``
    S[_BEST1] / S[_BEST2] the best improvements and S[_CLEAR] 1.0 for a clear pixel."""
    P = d.shape[1]
    al, be, be2, dm, uf, th, ph = W[_AL], W[_BE], W[_BE2], W[_DM], W[_UF], W[_TH], W[_PH]
    scale, rsc, cg, rn2 = S[_SCALE], S[_RSC], S[_CG], S[_RN2]
    for p in range(P):
        rn2[p] = rn[p] * rn[p]
        cg[p] = crg[p] / gain[p]
        scale[p] = 1.0
        rsc[p] = 1.0
        th[0, p] = 1.0
    # covariance, and stcal's rescaling to determinant 1 (theta recursion normalised every
    # 10 steps), in one forward pass
    for k in range(n):
        ak = aph[k]
        rk = arn[k]
        for p in range(P):
            al[k, p] = cg[p] * ak + rn2[p] * rk
            uf[k, p] = use[k, p]
        if k < n - 1:
            bk = bph[k]
            rb = brn[k]
            for p in range(P):
                b = cg[p] * bk + rn2[p] * rb
                be[k, p] = b
                be2[k, p] = b * b
        i = k + 1
        if i == 1:
            for p in range(P):
                th[1, p] = al[0, p]
        else:
            for p in range(P):
                r = rsc[p]
                th[i, p] = al[i - 1, p] * r * th[i - 1, p] - be2[i - 2, p] * (r * r) * th[i - 2, p]
            if i % 10 == 0 or i == n:
                for p in range(P):
                    f = th[i, p] ** (1 / i)
                    scale[p] *= f
                    rsc[p] = 1.0 / scale[p]
                    tmp = th[i, p] / f
                    th[i - 1, p] /= tmp
                    th[i - 2, p] /= tmp / f
                    th[i, p] = 1.0
    # scaled, masked covariance; theta, Theta, ThetaD forward (eqs. 38-48)
    Theta, ThetaD, Phi, PhiD = W[_THE], W[_THED], W[_PHI], W[_PHID]
    for p in range(P):
        dm[0, p] = d[0, p] * uf[0, p]
        th[0, p] = 1.0
        Theta[0, p] = -1.0
        ThetaD[0, p] = 0.0
        ThetaD[1, p] = -dm[0, p]
    for i in range(1, n + 1):
        k = i - 1
        s = -1.0 if i % 2 == 0 else 1.0
        for p in range(P):
            al[k, p] *= rsc[p]
        if k < n - 1:
            for p in range(P):
                b = be[k, p] * rsc[p] * uf[k + 1, p] * uf[k, p]
                be[k, p] = b
                be2[k, p] = b * b
        if i == 1:
            for p in range(P):
                th[1, p] = al[0, p]
        else:
            for p in range(P):
                th[i, p] = al[i - 1, p] * th[i - 1, p] - be2[i - 2, p] * th[i - 2, p]
        if i < n:
            for p in range(P):
                x = d[i, p] * uf[i, p]
                dm[i, p] = x
                b = be[i - 1, p]
                t = th[i, p]
                Theta[i, p] = Theta[i - 1, p] * b + s * t
                ThetaD[i + 1, p] = b * ThetaD[i, p] + s * x * t
    # phi, Phi, PhiD backward
    for p in range(P):
        ph[n, p] = 1.0
        ph[n - 1, p] = al[n - 1, p]
        Phi[n - 1, p] = 0.0
        PhiD[n - 1, p] = 0.0
    for i in range(n - 2, -1, -1):
        s1 = -1.0 if (i + 1) % 2 == 0 else 1.0
        for p in range(P):
            b = be[i, p]
            q = ph[i + 2, p]
            ph[i, p] = al[i, p] * ph[i + 1, p] - be2[i, p] * q
            Phi[i, p] = Phi[i + 1, p] * b + s1 * b * q
        if detect:  # PhiD feeds B' only, which the screening alone uses
            for p in range(P):
                PhiD[i, p] = (PhiD[i + 1, p] + s1 * dm[i + 1, p] * ph[i + 2, p]) * be[i, p]
    # C', B' and A, B, C (eqs. 61-63, 71, 75); the final fit's variances in the same pass
    dC, dB = W[_DC], W[_DB]
    rthn, A1, A2, B, C, vp, vr, vp2, vr2 = S[_RTHN], S[_A1], S[_A2], S[_B], S[_C], S[_RP], S[_RR], S[_VP2], S[_VR2]
    for p in range(P):
        rthn[p] = 1.0 / th[n, p]
        A1[p] = 0.0
        A2[p] = 0.0
        B[p] = 0.0
        C[p] = 0.0
        vp[p] = 0.0
        vr[p] = 0.0
        vp2[p] = 0.0
        vr2[p] = 0.0
    for i in range(n):
        s = -1.0 if i % 2 == 0 else 1.0
        for p in range(P):
            r = s * rthn[p]
            q = ph[i + 1, p]
            t = th[i, p]
            x = dm[i, p]
            c = r * (q * Theta[i, p] + t * Phi[i, p]) * uf[i, p]
            dC[i, p] = c
            bext = 1.0 if i == 0 else be[i - 1, p]
            A1[p] += x * r * bext * q * ThetaD[i, p]
            A2[p] += x * x * t * q * rthn[p]
            B[p] += x * c
            C[p] += c
        if detect:
            for p in range(P):
                dB[i, p] = s * rthn[p] * (ph[i + 1, p] * ThetaD[i + 1, p] + th[i, p] * PhiD[i, p])
        if not detect:
            ak = aph[i]
            rk = arn[i]
            for p in range(P):
                c = dC[i, p]
                vp[p] += c * c * (cg[p] * ak)
                vr[p] += c * c * (rn2[p] * rk)
            if i > 0:
                bk = bph[i - 1]
                rb = brn[i - 1]
                for p in range(P):
                    cc = dC[i, p] * dC[i - 1, p]
                    vp2[p] += cc * (cg[p] * bk)
                    vr2[p] += cc * (rn2[p] * rb)
    rate, chisq, unc = S[_RC], S[_RX], S[_RU]
    for p in range(P):
        rc = 1.0 / C[p]
        A = 2 * A1[p] + A2[p]
        rate[p] = B[p] * rc
        chisq[p] = (A - B[p] * B[p] * rc) * rsc[p]
        unc[p] = np.sqrt(scale[p] * rc)
        A1[p] = A * rsc[p]  # A / scale: the size of the sums, for the clearance margin
        C[p] = rc
        if not detect:
            vp[p] = (vp[p] + 2 * vp2[p]) * (rc * rc)
            vr[p] = (vr[p] + 2 * vr2[p]) * (rc * rc)
    if detect:
        _screen(n, W, S, one_ok, two_ok, t1, t2)


@njit(cache=True, error_model="numpy")
def _screen(n, W, S, one_ok, two_ok, t1, t2):
    """Chi-square improvements of leaving out one difference (D1) or two adjacent ones, as
    stcal fills them for differences already left out (improvement 0; a pair with one of its
    differences out counts as the other alone), their NaN-propagating maxima where allowed,
    and whether the pixel is clear (see the module docstring)."""
    th, ph, be, uf, dC, dB, K, R, D1 = W[_TH], W[_PH], W[_BE], W[_UF], W[_DC], W[_DB], W[_K], W[_R], W[_D1]
    rthn, rc, rate, rsc = S[_RTHN], S[_C], S[_RC], S[_RSC]
    b1, b2, nuse = S[_BEST1], S[_BEST2], S[_NUSE]
    P = K.shape[1]
    for p in range(P):
        b1[p] = -np.inf
        b2[p] = -np.inf
        nuse[p] = 0.0
    for i in range(n):
        o = one_ok[i]
        for p in range(P):
            c = dC[i, p]
            k = th[i, p] * ph[i + 1, p] * rthn[p] * uf[i, p] - c * c * rc[p]
            res = dB[i, p] - rate[p] * c
            K[i, p] = k
            R[i, p] = res
            v = res * res / k * rsc[p]
            if uf[i, p] == 0:
                v = 0.0
            D1[i, p] = v
            nuse[p] += uf[i, p]
            v *= o
            if v > b1[p] or v != v:
                b1[p] = v
    for i in range(n - 1):
        o = two_ok[i]
        for p in range(P):
            k12 = -be[i, p] * th[i, p] * ph[i + 2, p] * rthn[p] - dC[i, p] * dC[i + 1, p] * rc[p]
            k11 = K[i, p]
            k22 = K[i + 1, p]
            r1 = R[i, p]
            r2 = R[i + 1, p]
            v = (r1 * r1 * k22 - 2 * r1 * r2 * k12 + r2 * r2 * k11) / (k11 * k22 - k12 * k12) * rsc[p]
            if uf[i + 1, p] == 0:
                v = D1[i, p]
            if uf[i, p] == 0:
                v = D1[i + 1, p]
            v *= o
            if v > b2[p] or v != v:
                b2[p] = v
    clear, size = S[_CLEAR], S[_A1]
    for p in range(P):
        m = MARGIN * (1.0 + abs(size[p]))
        ok = b1[p] < t1 - m and b2[p] < t2 - m and nuse[p] >= 3 and math.isfinite(size[p])
        clear[p] = 1.0 if ok else 0.0
