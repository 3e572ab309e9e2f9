"""MIRI EMI correction, the 'sequential' algorithm of jwst 3.0's ``emicorr`` step
(``jwst.emicorr.emicorr._run_sequential_algorithm``, translated by STScI from the IDL
``fix_miri_emi.pro``); used by :mod:`rampflow.steps.emicorr` for ``algorithm: sequential`` and
for ``onthefly_corr_freq`` (a correction with no reference waveform).

For one frequency, over the whole exposure:

1. each integration's ramps lose a crude line (slope fitted to groups 2..N-1, as float32) and a
   self-superbias (median of groups 2..N-1; minimum with 2 groups or fewer); the four
   amplifiers of each column group are averaged, columns 1 and 2 of each amplifier replaced by
   the mean of columns 0 and 3, and each group's median removed;
2. every pixel gets its read time (10 us clocks, counted from the exposure's first pixel: rows
   ``rowclocks`` apart, frames ``(1024 - ny) * 7`` clocks more, integrations ``frameclocks`` more
   with FASTR1 / SLOWR1) and so its phase in the wave;
3. the phased amplitude ``pa``: the sigma-clipped mean of the cleaned values in each of
   ``nbins`` phase bins (period / 2 by default, at most 500), over the first
   ``nints_to_phase`` integrations (by default enough for ``use_n_cycles`` periods), less its
   median;
4. with a reference waveform: the waveform's circular shift that best correlates with ``pa``,
   scaled to ``pa``'s amplitude (``scale_reference``); without one: ``pa`` itself;
5. that look-up table, at each pixel's phase, is subtracted from all four amplifiers.

Identical arithmetic to jwst's (float32 where jwst keeps the input's float32, float64
elsewhere), except that the phase bins are filled by one sort instead of one scan of the
whole cube per bin (same members, same order).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from astropy.stats import sigma_clipped_stats

log = logging.getLogger(__name__)

#: jwst's clock counts per subarray for a correction with no reference (``subarray_clocks``)
SUBARRAY_CLOCKS = {
    "SLITLESSPRISM": (28, 15904), "MASKLYOT": (90, 32400), "SUB64": (28, 8512), "SUB128": (44, 11904),
    "MASK1140": (82, 23968), "MASK1550": (82, 23968), "MASK1065": (82, 23968), "FULL_FAST": (271, 277504),
    "FULL_SLOW": (2333, 2388992), "BRIGHTSKY": (162, 86528), "SUB256": (96, 29952),
}


def onthefly_clocks(subarray: str, readpatt: str) -> tuple[int, int] | None:
    """(rowclocks, frameclocks) of a subarray for a correction with no reference (FULL as
    FULL_FAST / FULL_SLOW by read pattern), or None when jwst has none."""
    name = subarray
    if name == "FULL":
        if "FAST" in readpatt.upper():
            name += "_FAST"
        elif "SLOW" in readpatt.upper():
            name += "_SLOW"
    return SUBARRAY_CLOCKS.get(name)


def sloper(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (slope, intercept) per pixel of a stack (ngroups, ny, nx), x = 0, 1, ..."""
    n = data.shape[0]
    t = np.arange(n) * 1.0
    sxy = np.zeros(data.shape[1:])
    sy = np.zeros(data.shape[1:])
    sx = sxx = 0.0
    for g in range(n):
        sxy = sxy + t[g] * data[g]
        sx = sx + t[g]
        sy = sy + data[g]
        sxx = sxx + t[g] ** 2
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    intercept = (sxx * sy - sx * sxy) / (n * sxx - sx * sx)
    return slope, intercept


def minmed(data: np.ndarray) -> np.ndarray:
    """Median image of a stack (minimum with 2 images or fewer), NaN ignored."""
    return np.nanmin(data, axis=0) if data.shape[0] <= 2 else np.nanmedian(data, axis=0)


def rebin(arr: np.ndarray, size: float) -> np.ndarray:
    """Nearest-lower-neighbour resampling of a 1-D array to ``size`` samples (IDL ``congrid``
    without interpolation; a fractional size gives ceil(size) samples, as jwst's ``rebin``)."""
    coords = np.mgrid[slice(0, arr.shape[0], float(arr.shape[0]) / size)]
    return arr[coords.astype("i")]


def _cleaned_and_phases(data, nsamples, rowclocks, frameclocks_r1, period, colstop):
    """(dd_all float64 (nints, ngroups, ny, nx4): the cleaned, amplifier-averaged data;
    phaseall float64 same shape: each value's phase in the wave)."""
    nints, ngroups, ny, nx = data.shape
    nx4 = nx // 4
    dd_all = np.zeros((nints, ngroups, ny, nx4))
    phaseall = np.zeros((nints, ngroups, ny, nx4))
    extra = (1024.0 - ny) * (4 + 3.0)
    frame = ny * rowclocks + extra
    start = 0.0
    cols = np.arange(nx4, dtype=np.uint64) * np.uint64(nsamples)
    for i in range(nints):
        d = data[i].copy()
        s0, _ = sloper(d[1:ngroups - 1])
        for g in range(ngroups):
            d[g] = data[i, g] - s0 * g
        m0 = minmed(d[1:ngroups - 1])
        for g in range(ngroups):
            d[g] = d[g] - m0
            dd = (d[g, :, 0:nx:4] + d[g, :, 1:nx:4] + d[g, :, 2:nx:4] + d[g, :, 3:nx:4]) / 4.0
            dd[:, 1] = (dd[:, 0] + dd[:, 3]) / 2
            dd[:, 2] = (dd[:, 0] + dd[:, 3]) / 2
            dd_all[i, g] = dd - np.median(dd)
        rows = start + np.arange(ngroups)[:, None] * frame + np.arange(ny)[None, :] * float(rowclocks)
        times = (cols[None, None, :] + rows[:, :, None]).astype(np.uint64)
        if colstop == 258:  # jwst pushes a last reference column out (by 3 + 2**32 clocks)
            times[:, :, nx4 - 1] += np.uint64(3 + 2**32)
        ph = times / period
        phaseall[i] = ph - ph.astype(np.uint64)
        start += ngroups * frame + frameclocks_r1
    return dd_all, phaseall


def phased_amplitude(dd: np.ndarray, phase: np.ndarray, nbins: int) -> np.ndarray:
    """Sigma-clipped mean of ``dd`` in each phase bin ``(nb/nbins, (nb+1)/nbins]``, less the
    median over bins (float64 (nbins,))."""
    edges = np.array([nb / nbins for nb in range(nbins + 1)])
    flat_phase = phase.ravel()
    flat = dd.ravel()
    bins = np.searchsorted(edges, flat_phase, side="left") - 1  # edges[b] < phase <= edges[b + 1]
    keep = (bins >= 0) & (bins < nbins)
    order = np.argsort(bins[keep], kind="stable")
    values = flat[keep][order]
    counts = np.bincount(bins[keep], minlength=nbins)
    pa = np.arange(nbins, dtype=float)
    start = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for nb in range(nbins):
            pa[nb] = sigma_clipped_stats(values[start:start + counts[nb]])[0]
            start += counts[nb]
    return pa - np.median(pa)


def correct_frequency_sequential(data: np.ndarray, frequency: float, refwave: np.ndarray | None, *, nsamples: int,
                                 rowclocks: int, frameclocks: int, readpatt: str, xsize: int, xstart: int,
                                 nints_to_phase: int | None, nbins: int | None, scale_reference: bool,
                                 use_n_cycles: int | None) -> tuple[np.ndarray, int]:
    """Fit and subtract one EMI frequency from ``data`` (float32 (nints, ngroups, ny, nx)) in
    place with jwst's sequential algorithm. Returns (the look-up table subtracted, the
    ``nints_to_phase`` in force afterwards: jwst carries it to the next frequency)."""
    nints, ngroups, ny, nx = data.shape
    if nx % 4:
        raise ValueError(f"emicorr: the number of columns ({nx}) is not a multiple of 4 (MIRI's four amplifiers)")
    period = (1.0 / frequency) / 10.0e-6
    if nints_to_phase is None and use_n_cycles is None:
        nints_to_phase = nints
    elif nints_to_phase is None:
        nints_to_phase = int(np.ceil((use_n_cycles * period) / (frameclocks * ngroups)))
    elif use_n_cycles == 3:
        nints_to_phase = min(nints_to_phase, nints)
    r1 = frameclocks if readpatt.upper() in ("FASTR1", "SLOWR1") else 0
    colstop = int(xsize / 4 + xstart - 1)
    dd_all, phaseall = _cleaned_and_phases(data, nsamples, rowclocks, r1, period, colstop)
    nb = int(period / 2.0) if nbins is None else int(nbins)
    if nb > 501:
        nb = 500
    pa = phased_amplitude(dd_all[:nints_to_phase], phaseall[:nints_to_phase], nb)
    lut = rebin(pa, period)
    if refwave is not None:
        refwave = np.asarray(refwave)
        rebinned = rebin(pa, refwave.size)
        cc = np.zeros(refwave.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i in range(refwave.size):
                cc[i] = np.corrcoef(np.roll(refwave, i), rebinned)[0, 1]
        lut_ref = rebin(np.roll(refwave, int(np.argmax(cc))), period)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m, _ = np.polyfit(lut_ref, lut, 1)
        lut = lut_ref * m if scale_reference else lut_ref
    noise = lut[(phaseall * period).astype(int)]
    noise[~np.isfinite(noise)] = 0.0
    for k in range(4):
        data[..., k::4] -= noise
    log.info("emicorr (sequential): %.6g Hz, %d bins, %d integrations phased", frequency, nb, nints_to_phase)
    return lut, nints_to_phase


__all__ = ["SUBARRAY_CLOCKS", "onthefly_clocks", "sloper", "minmed", "rebin", "phased_amplitude",
           "correct_frequency_sequential"]
