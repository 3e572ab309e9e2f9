"""The fast LIKELY fit (rampflow.kernels.likely_fast) against the exact port of stcal's
(rampflow.kernels.likely._fit_block, which the parity tests hold to stcal's own numbers):
the same rate, chi square, uncertainty and variances to rounding; the closed-form
chi-square improvements of leaving out one difference or two adjacent ones equal to the
exact port's ``chisq - chi1`` / ``chisq - chi2``; and a pixel screened clear is one where
stcal's search leaves every difference in (so the jump flags stay stcal's exactly)."""

import numpy as np
import pytest

from rampflow.kernels import likely as K
from rampflow.kernels import likely_fast as F
from rampflow.kernels import likely_median as M
from rampflow.steps import ramp_fit_likely as lk

T1, T2 = lk.THRESHOLD_ONE_OMIT, lk.THRESHOLD_TWO_OMIT


def block(ngroups, nframes, seed):
    """A 64-pixel block of difference ramps (DN/s): rates 0-300 DN/s, read noise 5-20 DN,
    gain 1-3; a jump in a fifth of the pixels, two adjacent differences in some, saturation
    (the last differences unused) in others, a few pixels down to two usable differences."""
    rng = np.random.default_rng(seed)
    cov = lk.covariance(lk.read_pattern(ngroups, nframes, 0, 10.0))
    coef, one_ok, two_ok = lk._coefficients(cov)
    n, P = ngroups - 1, K.BLOCK
    rate = rng.uniform(0, 300, P)
    gain = rng.uniform(1, 3, P)
    rn = rng.uniform(5, 20, P)
    dt = cov.delta_t[:, None]
    sig = np.sqrt(rate * gain * dt) / gain / dt + rn * np.sqrt(2) / dt
    d = rate + rng.normal(0, 1, (n, P)) * sig
    jump = rng.random(P) < 0.2
    where = rng.integers(0, n, P)
    d[where[jump], np.flatnonzero(jump)] += rng.uniform(5, 50, jump.sum()) * sig[0, jump]
    use = np.ones((n, P), np.uint8)
    sat = rng.random(P) < 0.2
    for p in np.flatnonzero(sat):
        use[rng.integers(1, n):, p] = 0
    use[2:, :2] = 0  # two pixels with two usable differences
    crg = np.maximum(np.median(d, axis=0), 0)
    return d, use, crg, gain, rn, coef, one_ok, two_ok, jump & ~sat


def exact(d, use, crg, gain, rn, coef, detect):
    n, P = d.shape
    W = np.zeros((K.NSCRATCH, n + 2, P))
    S = np.zeros((K.NS, P))
    K._fit_block(d, use.copy(), n, crg, gain, rn, coef[1], coef[2], coef[3], coef[4], W, S, detect)
    return W, S


def fast(d, use, crg, gain, rn, coef, one_ok, two_ok, detect):
    n, P = d.shape
    W = np.zeros((F.NFAST, n + 2, P))
    S = np.zeros((F.NFS, P))
    F._fast_fit(d, use.copy(), n, crg, gain, rn, coef[1], coef[2], coef[3], coef[4], W, S, detect, one_ok,
                two_ok, T1, T2)
    return W, S


def improvements(W, S, use, n):
    """The closed-form chi-square improvements from the screening's K_ii (W[_K]), residuals
    r_i (W[_R]) and the fit's covariance scale: r_i**2 / K_ii for one difference, the 2 x 2
    form for two adjacent ones, filled as stcal fills them for differences already out."""
    k, r, scale = W[F._K, :n], W[F._R, :n], S[F._SCALE]
    u = use.astype(bool)
    th, ph, be, rthn, rc = W[F._TH], W[F._PH], W[F._BE], S[F._RTHN], S[F._C]
    dC = W[F._DC, :n]
    with np.errstate(all="ignore"):
        one = np.where(u, r * r / k / scale, 0.0)
        k12 = -be[:n - 1] * th[:n - 1] * ph[2:n + 1] * rthn - dC[:-1] * dC[1:] * rc
        k11, k22, r1, r2 = k[:-1], k[1:], r[:-1], r[1:]
        two = (r1 * r1 * k22 - 2 * r1 * r2 * k12 + r2 * r2 * k11) / (k11 * k22 - k12 * k12) / scale
    two = np.where(~u[1:], one[:-1], two)
    two = np.where(~u[:-1], one[1:], two)
    return one, two


@pytest.mark.parametrize("ngroups,nframes,seed", [(5, 1, 1), (20, 1, 2), (70, 1, 3), (12, 4, 4)])
def test_fast_fit_is_the_exact_fit(ngroups, nframes, seed):
    d, use, crg, gain, rn, coef, one_ok, two_ok, _ = block(ngroups, nframes, seed)
    _, Se = exact(d, use, crg, gain, rn, coef, False)
    _, Sf = fast(d, use, crg, gain, rn, coef, one_ok, two_ok, False)
    for ke, kf in ((K._RC, F._RC), (K._RX, F._RX), (K._RU, F._RU), (K._RP, F._RP), (K._RR, F._RR)):
        np.testing.assert_allclose(Sf[kf], Se[ke], rtol=1e-10, atol=1e-9)
    assert np.ptp(Se[K._RC]) > 100  # teeth: a spread of rates


@pytest.mark.parametrize("ngroups,nframes,seed", [(5, 1, 5), (20, 1, 6), (70, 1, 7), (12, 4, 8)])
def test_screening_matches_the_exact_search(ngroups, nframes, seed):
    d, use, crg, gain, rn, coef, one_ok, two_ok, jump = block(ngroups, nframes, seed)
    n = d.shape[0]
    We, Se = exact(d, use, crg, gain, rn, coef, True)
    Wf, Sf = fast(d, use, crg, gain, rn, coef, one_ok, two_ok, True)
    np.testing.assert_allclose(Sf[F._RC], Se[K._RC], rtol=1e-10, atol=1e-9)
    # exact improvements as stcal's mask_jumps forms them (fill_masked_reads included)
    d1 = Se[K._RX] - We[K._CHI1, :n]
    d2 = Se[K._RX] - We[K._CHI2, :n - 1]
    best1 = np.max(d1 * one_ok[:, None], axis=0)
    best2 = np.max(d2 * two_ok[:n - 1, None], axis=0)
    clear = Sf[F._CLEAR] == 1.0
    size = 1 + np.abs(Sf[F._A1])
    ok = np.isfinite(best1) & np.isfinite(best2) & (use.sum(axis=0) >= 3)
    f1, f2 = improvements(Wf, Sf, use, n)
    np.testing.assert_allclose(np.max(f1 * one_ok[:, None], axis=0)[ok], best1[ok], rtol=1e-6, atol=0)
    np.testing.assert_allclose(np.max(f2 * two_ok[:n - 1, None], axis=0)[ok], best2[ok], rtol=1e-6,
                               atol=1e-9 * size[ok].max())
    # a clear pixel is one where stcal's search drops nothing
    assert np.all(best1[clear] < T1) and np.all(best2[clear] < T2)
    # teeth: most pixels are clear, the jumps are not, nor the pixels with two differences
    assert clear.mean() > 0.5
    assert not clear[jump & (np.maximum(best1, best2) > 2 * T2)].any()
    assert (jump & (best1 > T1)).any()
    assert not clear[:2].any()


@pytest.mark.parametrize("n", [4, 5, 19, 69, 70])
def test_median_guess_is_numpys_median(n):
    """The bracketed median guess against np.median (clipped at 0), on ramps where the
    bracket holds the middle ranks and on those where it cannot: heavy outliers, ties,
    constant ramps, skewed data, NaN and inf."""
    rng = np.random.default_rng(n)
    P = K.BLOCK
    d = rng.normal(50, 10, (n, P))
    d[:, 1] = 7.0  # constant
    d[:, 2] = np.round(d[:, 2])  # ties
    d[:, 3] = rng.exponential(30, n) - 5  # skewed
    d[: n // 2 + 1, 4] += 1e6  # half the values far out: the bracket misses the median
    d[0, 5] = np.nan
    d[1, 6] = np.inf
    d[:, 7] = -d[:, 7]  # negative median: clipped to 0
    d[rng.integers(0, n, 10), 8 + np.arange(10)] += 5e3  # one jump each
    d = np.ascontiguousarray(d)
    crg = np.full(P, -1.0)
    t = [np.empty(n) for _ in range(3)]
    M._median_guess(d, n, crg, *t, np.empty(P), np.empty(P))
    with np.errstate(invalid="ignore"):
        med = np.median(d, axis=0)
        expect = med * (med > 0)
    np.testing.assert_array_equal(crg, expect)
    assert np.isnan(crg[5]) and crg[6] > 0 and crg[7] == 0
