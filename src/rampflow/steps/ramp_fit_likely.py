"""Ramp fitting with jwst's ``algorithm='LIKELY'``: stcal 1.20's likelihood fit, natively in numba.

The likelihood ramp fit of Brandt (2024, PASP 136, 045004; jump detection in its companion
paper II), as ``stcal.ramp_fitting.likely_fit.likely_ramp_fit`` implements it and jwst 3.0's
``RampFitStep`` calls it. Used by :mod:`rampflow.steps.ramp_fit` when ``algorithm`` is
'LIKELY' (or when the exposure has explicit read times, jwst's automatic switch); pure
functions::

    setup = prepare_likely(meta, readnoise_ref, gain_ref, **params)   # once per exposure
    res = fit_ramps_likely(sci, gdq, pdq, setup, rows)                # per row chunk
    res.rate["SCI"], res.rateints["ERR"], ..., res.chisq

Algorithm, per pixel and integration (stcal 1.20):

* Read pattern: the read times of each resultant (group), ``(1..NFRAMES + k (NFRAMES +
  GROUPGAP)) TFRAME`` for group k, or the exposure's explicit read times. From them, once
  per exposure (:func:`covariance`): each resultant's mean time, its variance-weighted mean
  time tau and number of reads (paper I eqs. 4, 11), the time between resultant means
  ``delta_t``, and the coefficients of the tridiagonal covariance of the differences (eqs.
  28-29). With a ZEROFRAME and NFRAMES >= 2, the zero frame becomes a resultant of its own
  and group 0 loses its first read (``(NFRAMES data_0 - zf) / (NFRAMES - 1)``).
* Differences ``(data_{k+1} - data_k) / delta_t`` (DN/s); a difference is used when both
  its groups have GROUPDQ 0 (any flag -- DO_NOT_USE, SATURATED, an earlier JUMP_DET --
  excludes it; groups outside [firstgroup, lastgroup] are DO_NOT_USE as jwst sets them).
* Read noise ``READNOISE / sqrt(2)`` (per read, DN; no gain scaling, no NFRAMES), gain in
  e-/DN: covariance ``alpha_k = rate / gain * alpha_ph_k + rn**2 * alpha_rn_k`` (and beta).
* Jump detection (``mask_jumps``): the count rate guess is the median of all the
  differences (clipped at 0); fit, and compute the chi-square improvement from leaving out
  each difference, or (where the resultant between them has more than one read) each pair
  of adjacent differences; leave out the best if it improves chi square by more than
  20.25 (one) or 23.8 (two; the thresholds stcal uses when jwst gives none), penalising
  each by its threshold; repeat (at most one per difference) while more than three
  differences remain. Each difference left out flags JUMP_DET on the group that ends it.
* Final fit ("debiasing"): the covariance is rebuilt with the rate from the jump search
  (clipped at 0) plus the average dark current, and the ramp fitted again: SCI the
  rate, ERR ``sqrt(1 / C)``, VAR_POISSON / VAR_RNOISE the weights' photon / read-noise
  variances, and chi square.
* Integration DQ: PIXELDQ | DO_NOT_USE if every group is DO_NOT_USE or SATURATED |
  SATURATED / JUMP_DET if any group has it (stcal's ``dq_compress_sect``).
* Exposure (nints > 1): the NaN-median of the integrations' rates, then twice a weighted
  mean with weights ``1 / (VAR_POISSON * median / rate + VAR_RNOISE)``, variances the
  weighted sums, ERR their root; chi square the sum over integrations; DQ the OR of the
  integrations' without DO_NOT_USE unless every integration has it. With one integration
  the exposure arrays are the integration's.

Fewer than 4 groups: jwst switches to OLS_C (the caller, :class:`RampFit`, does).
Numerics: float64 as numpy promotes stcal's arrays, float32 on output; the exposure
combination in float32 as numpy does it. The jump search decides with stcal's formulas in
stcal's order wherever a decision is close (the jump flags are stcal's exactly); the fits
themselves are computed with reciprocals and fewer passes (see :mod:`rampflow.kernels.likely`),
so SCI, ERR and the variances agree with stcal's to rounding, not always bit for bit.

As jwst writes them (deliberately not "fixed"): a ramp with no usable difference (e.g. a
pixel saturated from group 1 on) gets SCI = VAR_* = NaN and ERR = inf, flagged DO_NOT_USE
only when every group is DO_NOT_USE / SATURATED (else SATURATED); LIKELY ignores
suppress_one_group, NO_GAIN_VALUE handling and CHARGELOSS (stcal does not apply them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: stcal's LIKELY_MIN_NGROUPS: fewer groups and jwst fits with OLS_C
LIKELY_MIN_NGROUPS = 4
#: chi-square improvement to leave out one difference / two adjacent ones (stcal's defaults
#: when no rejection threshold is given, as in jwst 3.0)
THRESHOLD_ONE_OMIT = 20.25
THRESHOLD_TWO_OMIT = 23.8


@dataclass(frozen=True)
class Covariance:
    """Per-exposure read-pattern quantities (stcal's ``Covar``), float64.

    mean_t, tau, nreads : (npts,) per resultant; delta_t, alpha_ph, alpha_rn : (npts - 1,)
    per difference; beta_ph, beta_rn : (npts - 2,) between adjacent differences.
    """

    mean_t: np.ndarray
    tau: np.ndarray
    nreads: np.ndarray
    delta_t: np.ndarray
    alpha_ph: np.ndarray
    alpha_rn: np.ndarray
    beta_ph: np.ndarray
    beta_rn: np.ndarray


def read_pattern(ngroups: int, nframes: int, groupgap: int, frame_time: float, read_times=None) -> list:
    """Read times of each group (list of float64 arrays): ``read_times`` if given (jwst's
    ``meta.exposure.read_times``), else evenly spaced frames (stcal's ``get_readtimes``)."""
    if read_times is not None and len(read_times) > 0:
        if len(read_times) != ngroups:
            raise ValueError(f"ramp_fit: read_times has {len(read_times)} groups, the exposure {ngroups}")
        return [np.atleast_1d(np.asarray(t, dtype=np.float64)) for t in read_times]
    tot = nframes + groupgap
    reads = np.arange(1, nframes + 1)
    return [(reads + k * tot) * frame_time for k in range(ngroups)]


def covariance(readtimes) -> Covariance:
    """stcal's ``Covar``: means and taus (paper I eqs. 4, 11) and the alpha / beta
    coefficients (eqs. 28, 29) of a read pattern (list of per-resultant read times)."""
    mean_t, tau, nreads = [], [], []
    for times in readtimes:
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        mean_t.append(np.mean(times))
        length = len(times)
        nreads.append(length)
        k = np.arange(1, length + 1)
        weight = (2 * length + 1) - (2 * k)
        tau.append(np.sum(weight * times) / length**2)
    mean_t, tau, n = np.array(mean_t), np.array(tau), np.array(nreads)
    if len(mean_t) < 2:
        raise ValueError("ramp_fit LIKELY: a read pattern needs at least two resultants")
    dt = mean_t[1:] - mean_t[:-1]
    if np.any(dt <= 0):
        raise ValueError(f"ramp_fit LIKELY: resultant times must increase, got means {mean_t}")
    return Covariance(
        mean_t=mean_t, tau=tau, nreads=n, delta_t=dt,
        alpha_rn=(1 / n[:-1] + 1 / n[1:]) / dt**2,
        beta_rn=-1 / (n[1:-1] * dt[1:] * dt[:-1]),
        alpha_ph=(tau[:-1] + tau[1:] - 2 * mean_t[:-1]) / dt**2,
        beta_ph=(mean_t[1:-1] - tau[1:-1]) / (dt[1:] * dt[:-1]),
    )


@dataclass
class LikelySetup:
    """Everything per exposure the LIKELY fit needs.

    gain float32, readnoise float64 (per read, DN: READNOISE / sqrt(2)), dark float32
    (ny, nx); firstgroup / lastgroup : groups outside are DO_NOT_USE; covar : for the
    pattern without the zero frame, covar_zf : with it (None when the zero frame cannot be
    used: NFRAMES < 2).
    """

    nints: int
    ngroups: int
    ny: int
    nx: int
    nframes: int
    gain: np.ndarray
    readnoise: np.ndarray
    dark: np.ndarray
    firstgroup: int
    lastgroup: int
    covar: Covariance
    covar_zf: Covariance | None
    threshold_one: float = THRESHOLD_ONE_OMIT
    threshold_two: float = THRESHOLD_TWO_OMIT


@dataclass
class LikelyResult:
    """One row chunk: rate / rateints dicts (SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE) as
    OLS_C's, plus chisq float32 (nrows, nx) and chisq_ints (nints, nrows, nx)."""

    rate: dict
    rateints: dict
    chisq: np.ndarray
    chisq_ints: np.ndarray
    opt: None = None


def prepare_likely(meta, readnoise: np.ndarray, gain: np.ndarray, *, average_dark_current, firstgroup: int,
                   lastgroup: int, read_times=None) -> LikelySetup:
    """Per-exposure setup from validated inputs (see :func:`rampflow.steps.ramp_fit.prepare_ramp_fit`,
    which calls this): readnoise / gain float32 (ny, nx) in DN and e-/DN, dark float32 (ny, nx)."""
    ngroups = int(meta.ngroups)
    if ngroups < LIKELY_MIN_NGROUPS:
        raise ValueError(f"ramp_fit LIKELY needs at least {LIKELY_MIN_NGROUPS} groups, the exposure has {ngroups}")
    nframes = int(meta.nframes)
    rt = read_pattern(ngroups, nframes, int(meta.groupgap), float(meta.tframe), read_times)
    covar = covariance(rt)
    covar_zf = None
    if len(rt[0]) >= 2:
        rz = [np.array([rt[0][0]]), rt[0][1:], *rt[1:]]
        covar_zf = covariance(rz)
    return LikelySetup(
        nints=int(meta.nints), ngroups=ngroups, ny=int(meta.subsize2), nx=int(meta.subsize1),
        nframes=nframes, gain=gain, readnoise=readnoise.astype(np.float64) / np.sqrt(2),
        dark=dark_array(average_dark_current, readnoise.shape), firstgroup=int(firstgroup),
        lastgroup=int(lastgroup), covar=covar, covar_zf=covar_zf)


def dark_array(dark, shape) -> np.ndarray:
    if dark is None:
        return np.zeros(shape, np.float32)
    d = np.asarray(dark, dtype=np.float32)
    if d.ndim == 0:
        d = np.full(shape, d, np.float32)
    if d.shape != tuple(shape):
        raise ValueError(f"ramp_fit: average_dark_current has shape {d.shape}, expected {tuple(shape)}")
    return d


def _coefficients(cov: Covariance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(cov.delta_t)
    coef = np.zeros((5, n), np.float64)
    coef[0], coef[1], coef[2] = cov.delta_t, cov.alpha_ph, cov.alpha_rn
    coef[3, :n - 1], coef[4, :n - 1] = cov.beta_ph, cov.beta_rn
    one_ok = (cov.nreads[1:] * cov.nreads[:-1] >= 1).astype(np.float64)
    one_ok[0] = one_ok[-1] = 1.0
    two_ok = np.zeros(n, np.float64)
    two_ok[:n - 1] = cov.nreads[1:-1] > 1
    return coef, one_ok, two_ok


def fit_ramps_likely(sci: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, setup: LikelySetup, rows: slice, *,
                     zeroframe: np.ndarray | None = None, average_dark_current: np.ndarray | None = None,
                     chisq: bool = True) -> LikelyResult:
    """Fit one chunk of rows (every integration) with LIKELY.

    sci float32 (nints, ngroups, nrows, nx) DN; gdq uint8 (same); pdq uint32 (nrows, nx);
    rows : the chunk's rows in the exposure; zeroframe float32 (nints, nrows, nx) or None
    (used, as stcal does, when NFRAMES >= 2); average_dark_current (nrows, nx), default
    the setup's. Inputs are not modified (the jump flags LIKELY sets show in the DQ).
    ``chisq=False``: the result's chisq / chisq_ints are None (jwst writes chi square only
    with save_opt) and the final fit skips what only they need; the other arrays are the same.
    """
    nints, ngroups, nrows, nx = sci.shape
    if (nints, ngroups, nx) != (setup.nints, setup.ngroups, setup.nx):
        raise ValueError(f"ramp_fit LIKELY: sci shape {sci.shape} does not match the exposure "
                         f"(nints={setup.nints}, ngroups={setup.ngroups}, nx={setup.nx})")
    if sci.dtype != np.float32 or gdq.dtype != np.uint8 or gdq.shape != sci.shape:
        raise ValueError(f"ramp_fit LIKELY: sci must be float32 and gdq uint8 of one shape, got "
                         f"{sci.dtype} {sci.shape} and {gdq.dtype} {gdq.shape}")
    if pdq.dtype != np.uint32 or pdq.shape != (nrows, nx):
        raise ValueError(f"ramp_fit LIKELY: pdq must be uint32 {(nrows, nx)}, got {pdq.dtype} {pdq.shape}")
    use_zf = zeroframe is not None and setup.covar_zf is not None
    if zeroframe is not None and not use_zf:
        log.warning("ramp_fit LIKELY: zero frame present but the first group has < 2 reads; it is ignored")
    if use_zf:
        zf = np.ascontiguousarray(zeroframe, dtype=np.float32)
        if zf.shape != (nints, nrows, nx):
            raise ValueError(f"ramp_fit LIKELY: zeroframe must have shape {(nints, nrows, nx)}, got {zf.shape}")
    else:
        zf = np.zeros((1, 1, 1), np.float32)
    coef, one_ok, two_ok = _coefficients(setup.covar_zf if use_zf else setup.covar)
    dark = setup.dark[rows] if average_dark_current is None else dark_array(average_dark_current, (nrows, nx))
    f32 = {k: np.empty((nints, nrows, nx), np.float32) for k in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE")}
    chi = (np.empty if chisq else np.zeros)((nints, nrows, nx), np.float32)
    dq = np.empty((nints, nrows, nx), np.uint32)
    import numba

    from ..kernels.likely import _likely_kernel

    _likely_kernel(sci, gdq, np.ascontiguousarray(pdq), np.ascontiguousarray(setup.gain[rows]),
                   np.ascontiguousarray(setup.readnoise[rows]), np.ascontiguousarray(dark), zf, use_zf,
                   setup.nframes, setup.firstgroup, setup.lastgroup, coef, one_ok, two_ok,
                   setup.threshold_one, setup.threshold_two, numba.get_num_threads(), chisq,
                   f32["SCI"], f32["ERR"], f32["VAR_POISSON"], f32["VAR_RNOISE"], chi, dq)
    ints = {"SCI": f32["SCI"], "ERR": f32["ERR"], "DQ": dq, "VAR_POISSON": f32["VAR_POISSON"],
            "VAR_RNOISE": f32["VAR_RNOISE"]}
    if nints == 1:
        rate = {k: v[0].copy() for k, v in ints.items()}
        if not chisq:
            return LikelyResult(rate=rate, rateints=ints, chisq=None, chisq_ints=None)
        return LikelyResult(rate=rate, rateints=ints, chisq=chi[0].copy(), chisq_ints=chi)
    rate = {k: np.empty((nrows, nx), np.uint32 if k == "DQ" else np.float32) for k in ints}
    chi_rate = np.empty((nrows, nx), np.float32)
    from ..kernels.likely_combine import _combine_kernel

    _combine_kernel(ints["SCI"], ints["ERR"], ints["VAR_POISSON"], ints["VAR_RNOISE"], chi, dq,
                    rate["SCI"], rate["ERR"], rate["VAR_POISSON"], rate["VAR_RNOISE"], chi_rate, rate["DQ"])
    if not chisq:  # the combination summed the zeros the fit left in chi
        return LikelyResult(rate=rate, rateints=ints, chisq=None, chisq_ints=None)
    return LikelyResult(rate=rate, rateints=ints, chisq=chi_rate, chisq_ints=chi)
