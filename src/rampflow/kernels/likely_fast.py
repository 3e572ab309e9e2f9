"""The fast LIKELY fit behind :mod:`.likely` (private; arrays and scalars only).

:func:`_fast_fit` solves the same tridiagonal likelihood fit as :func:`.likely._fit_block`
(stcal's ``fit_ramps``: the ``theta`` / ``phi`` recursions, ``Theta`` / ``Phi``, C', B', A, B,
C; Brandt 2024, paper I eqs. 38-75) in fewer passes and with multiplications by reciprocals
(``1 / scale``, ``1 / theta_n``, ``1 / C``) where stcal divides: the same quantities to a few
units in the last place, not to the last bit. stcal divides the covariance by the n-th root
of its determinant (an extra theta recursion with a power every ten steps); the fast fit
divides it by its mean diagonal instead, computed from the pattern's mean coefficients: rate,
weights, chi square and variances do not depend on the scale (it cancels), and this one keeps
theta / phi as far from overflow. It serves

* the jump search's screening: with ``detect`` it also forms, for every difference and every
  pair of adjacent differences, the quantities of the chi-square improvement of leaving it
  out, in closed form (``r_i**2 / K_ii`` and the 2 x 2 analogue, with
  ``r = Sigma^-1 (d - rate)`` and ``K = Sigma^-1 - Sigma^-1 1 1^T Sigma^-1 / C``: paper II's
  quantities without its cancelling sums), and marks a pixel *clear* when every improvement
  is below its threshold by a margin far above the rounding of either computation (tested
  without dividing: ``r**2 < T * scale * K_ii``, so only where ``K_ii > 0``; the 2 x 2 form
  with its determinant), and it keeps at least three usable differences. A clear pixel
  leaves every difference in, exactly as stcal decides; every other pixel is searched with
  the exact port (``likely._mask_jumps``), so the jump flags are stcal's to the last decision;
* the final ("debiasing") fit: rate, chi square, uncertainty and the Poisson / read-noise
  variances, whose sums are accumulated in the same pass as C.

Every loop over the block's pixels writes one to three arrays, so that LLVM vectorises each
(with more, the run-time checks that the arrays do not overlap exceed its limit and the
loop stays scalar).

Arrays: d float64 (n, P) differences, use uint8 (n, P); W (NFAST, n + 2, P) and S (NFS, P)
scratch with the pixel the last, contiguous axis (SIMD over the block).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# planes of W (NFAST, n + 2, P)
_AL, _BE, _BE2, _DM, _UF, _TH, _PH, _THE, _THED, _PHI, _PHID, _DC, _DB, _K, _R = range(15)
NFAST = 15
# rows of S (NFS, P)
(_SCALE, _RSC, _CG, _RN2, _RTHN, _A1, _A2, _B, _C, _RC, _RX, _RU, _RP, _RR, _VP2, _VR2, _U1, _U2,
 _NUSE, _CLEAR) = range(20)
NFS = 20
#: a clear pixel's improvements stay this far below their thresholds, relative to
#: 1 + A / scale (the size of the sums whose rounding the chi squares carry: about 1e-15 of it)
MARGIN = 1e-7


@njit(cache=True, error_model="numpy")
def _fast_fit(d, use, n, crg, gain, rn, aph, arn, bph, brn, W, S, detect, one_ok, two_ok, t1, t2, chisq=True):
    """Fit a block (see the module docstring). S[_RC] rate, S[_RX] chi square, S[_RU]
    uncertainty; without ``detect`` S[_RP] / S[_RR] the variances; with ``detect``
    S[_CLEAR] 1.0 for a clear pixel (W[_K], W[_R]: the diagonal of K and the residuals r).
    ``chisq=False`` (final fit only): S[_RX] is not computed (nor Theta_D and A, which only
    chi square needs; the other results are the same)."""
    need_a = detect or chisq
    P = d.shape[1]
    al, be, be2, dm, uf, th, ph = W[_AL], W[_BE], W[_BE2], W[_DM], W[_UF], W[_TH], W[_PH]
    Theta, ThetaD, Phi, PhiD = W[_THE], W[_THED], W[_PHI], W[_PHID]
    scale, rsc, cg, rn2 = S[_SCALE], S[_RSC], S[_CG], S[_RN2]
    # the covariance divided by its mean diagonal (stcal divides by the n-th root of its
    # determinant: any scale gives the same rate, weights and chi square up to rounding; this
    # one keeps theta / phi far from overflow without stcal's extra recursion and its powers)
    maph = 0.0
    marn = 0.0
    for k in range(n):
        maph += aph[k]
        marn += arn[k]
    maph /= n
    marn /= n
    a0 = aph[0]
    r0 = arn[0]
    for p in range(P):
        r2 = rn[p] * rn[p]
        c = crg[p] / gain[p]
        rn2[p] = r2
        cg[p] = c
        s = c * maph + r2 * marn
        scale[p] = s
        rs = 1.0 / s
        rsc[p] = rs
        u = np.float64(use[0, p])
        uf[0, p] = u
        x = d[0, p] * u
        dm[0, p] = x
        a = (c * a0 + r2 * r0) * rs
        al[0, p] = a
        th[0, p] = 1.0
        th[1, p] = a
        Theta[0, p] = -1.0
        ThetaD[0, p] = 0.0
        ThetaD[1, p] = -x
    # scaled, masked covariance; theta, Theta, ThetaD forward (eqs. 38-48), in one pass
    # (theta_1 = alpha_0 set above; the step i = 1 has no beta_{i-2} term)
    for i in range(1, n):
        s = -1.0 if i % 2 == 0 else 1.0
        ak = aph[i]
        rk = arn[i]
        bk = bph[i - 1]
        rb = brn[i - 1]
        for p in range(P):
            u = np.float64(use[i, p])
            uf[i, p] = u
            al[i, p] = (cg[p] * ak + rn2[p] * rk) * rsc[p]
        for p in range(P):
            b = (cg[p] * bk + rn2[p] * rb) * rsc[p] * uf[i, p] * uf[i - 1, p]
            be[i - 1, p] = b
            be2[i - 1, p] = b * b
        if i >= 2:
            for p in range(P):
                th[i, p] = al[i - 1, p] * th[i - 1, p] - be2[i - 2, p] * th[i - 2, p]
        if need_a:
            for p in range(P):
                x = d[i, p] * uf[i, p]
                dm[i, p] = x
                t = th[i, p]
                b = be[i - 1, p]
                Theta[i, p] = Theta[i - 1, p] * b + s * t
                ThetaD[i + 1, p] = b * ThetaD[i, p] + s * x * t
        else:
            for p in range(P):
                dm[i, p] = d[i, p] * uf[i, p]
                Theta[i, p] = Theta[i - 1, p] * be[i - 1, p] + s * th[i, p]
    if n >= 2:
        for p in range(P):
            th[n, p] = al[n - 1, p] * th[n - 1, p] - be2[n - 2, p] * th[n - 2, p]
    # phi, Phi, PhiD backward
    for p in range(P):
        ph[n, p] = 1.0
        ph[n - 1, p] = al[n - 1, p]
        Phi[n - 1, p] = 0.0
        PhiD[n - 1, p] = 0.0
    for i in range(n - 2, -1, -1):
        s1 = -1.0 if (i + 1) % 2 == 0 else 1.0
        for p in range(P):
            ph[i, p] = al[i, p] * ph[i + 1, p] - be2[i, p] * ph[i + 2, p]
        for p in range(P):
            b = be[i, p]
            Phi[i, p] = Phi[i + 1, p] * b + s1 * b * ph[i + 2, p]
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
            dC[i, p] = s * rthn[p] * (ph[i + 1, p] * Theta[i, p] + th[i, p] * Phi[i, p]) * uf[i, p]
        for p in range(P):
            c = dC[i, p]
            B[p] += dm[i, p] * c
            C[p] += c
        if need_a:
            for p in range(P):
                r = s * rthn[p]
                q = ph[i + 1, p]
                x = dm[i, p]
                bext = 1.0 if i == 0 else be[i - 1, p]
                A1[p] += x * r * bext * q * ThetaD[i, p]
                A2[p] += x * x * th[i, p] * q * rthn[p]
        if detect:
            for p in range(P):
                dB[i, p] = s * rthn[p] * (ph[i + 1, p] * ThetaD[i + 1, p] + th[i, p] * PhiD[i, p])
        else:
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
    """Whether each pixel is clear (see the module docstring), without forming the
    improvements: for the diagonal k = K_ii > 0 and the residual r = r_i, ``r**2 / k / scale
    < T`` is tested as ``r**2 < T * scale * k`` (the 2 x 2 analogue with its determinant),
    and a pixel is clear only if every test passes, where allowed or not (a difference
    already left out has improvement 0; a pair with one of its differences out counts as
    the other alone, as stcal fills them). W[_K] / W[_R] keep K_ii and r_i."""
    th, ph, be, uf, dC, dB, K, R = W[_TH], W[_PH], W[_BE], W[_UF], W[_DC], W[_DB], W[_K], W[_R]
    rthn, rc, rate, scale, size = S[_RTHN], S[_C], S[_RC], S[_SCALE], S[_A1]
    U1, U2, bad, nuse = S[_U1], S[_U2], S[_CLEAR], S[_NUSE]
    P = K.shape[1]
    for p in range(P):
        m = MARGIN * (1.0 + abs(size[p]))
        U1[p] = (t1 - m) * scale[p]
        U2[p] = (t2 - m) * scale[p]
        bad[p] = 0.0
        nuse[p] = 0.0
    for i in range(n):
        o1 = one_ok[i]
        for p in range(P):
            c = dC[i, p]
            u = uf[i, p]
            K[i, p] = th[i, p] * ph[i + 1, p] * rthn[p] * u - c * c * rc[p]
            R[i, p] = dB[i, p] - rate[p] * c
            nuse[p] += u
        for p in range(P):
            k = K[i, p]
            res = R[i, p]
            ok = (uf[i, p] == 0.0) | ((k > 0) & (res * res * o1 < U1[p] * k))
            bad[p] += 0.0 if ok else 1.0
    for i in range(1, n):
        o2 = two_ok[i - 1]
        for p in range(P):
            k = K[i, p]
            res = R[i, p]
            k11 = K[i - 1, p]
            r1 = R[i - 1, p]
            u1 = uf[i - 1, p] != 0.0
            used = uf[i, p] != 0.0
            k12 = -be[i - 1, p] * th[i - 1, p] * ph[i + 1, p] * rthn[p] - dC[i - 1, p] * dC[i, p] * rc[p]
            den = k11 * k - k12 * k12
            num = r1 * r1 * k - 2 * r1 * res * k12 + res * res * k11
            u2p = U2[p]
            both = u1 & used & (den > 0) & (num * o2 < u2p * den)
            first = u1 & (~used) & (k11 > 0) & (r1 * r1 * o2 < u2p * k11)
            second = (~u1) & used & (k > 0) & (res * res * o2 < u2p * k)
            ok = both | first | second | ((~u1) & (~used))
            bad[p] += 0.0 if ok else 1.0
    for p in range(P):
        s = scale[p]
        ok = (bad[p] == 0.0 and nuse[p] >= 3 and math.isfinite(size[p]) and 0.0 < s < np.inf
              and t1 - MARGIN * (1.0 + abs(size[p])) > 0 and t2 - MARGIN * (1.0 + abs(size[p])) > 0)
        bad[p] = 1.0 if ok else 0.0
