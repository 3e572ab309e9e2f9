"""Spectroscopic geometry: dispersion axis, trace centre per column, extraction box, background region, column bins.

Every function here works on frames with the dispersion along x (columns); a product that
disperses along y (MIRI LRS) is transposed on reading (:func:`rampflow.lightcurves.segments.arrays`)
as :func:`dispersion_axis` says. Later modes (NIRISS SOSS orders, NIRCam grism) extend this module.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.polynomial import Polynomial
from scipy.ndimage import median_filter

from .config import LightCurveError
from .stats import quiet

log = logging.getLogger(__name__)

__all__ = ["dispersion_axis", "fit_trace", "box_indices", "background_mask", "column_bins", "order_bins"]


def dispersion_axis(setting: str, exp_type: str) -> str:
    """``"x"`` or ``"y"``: the configured ``dispersion_axis``, or for ``auto`` y for MIRI LRS
    and x otherwise."""
    if setting != "auto":
        return setting
    return "y" if str(exp_type).startswith("MIR_LRS") else "x"


def trace_signal(f: np.ndarray, smooth: int) -> np.ndarray:
    """(ny, nx) signal above each column's median, NaN as 0, smoothed along x with a
    ``smooth``-column running median, clipped at 0 (what :func:`fit_trace` centroids)."""
    nx = f.shape[1]
    with np.errstate(all="ignore"), quiet():
        bkg = np.nanmedian(np.where(np.isfinite(f), f, np.nan), axis=0)
    d = f - np.where(np.isfinite(bkg), bkg, 0.0)[None, :]
    d = np.where(np.isfinite(d), d, 0.0)
    if smooth and smooth > 1 and nx >= smooth:
        d = median_filter(d, size=(1, int(smooth)), mode="nearest")
    return np.clip(d, 0.0, None)


def _column_centroids(f: np.ndarray, window: int, smooth: int):
    """Per-column flux-weighted centroid (nx,) and flux (nx,) of a (ny, nx) frame, see :func:`fit_trace`."""
    ny, nx = f.shape
    d = trace_signal(f, smooth)
    peak = np.argmax(d, axis=0)
    y = np.arange(ny)[:, None]
    w = np.where(np.abs(y - peak[None, :]) <= max(1, int(window)), d, 0.0)
    tot = w.sum(axis=0)
    with np.errstate(all="ignore"):
        cen = (w * y).sum(axis=0) / tot
    return cen, tot


def fit_trace(frame: np.ndarray, *, order: int = 2, window: int = 4, columns=None,
              smooth: int = 9, nsigma: float = 4.0) -> dict:
    """Trace centre per column of a (ny, nx) median frame (dispersion along x).

    Per column: background = median of the column; ``d`` = frame - background, smoothed with a
    ``smooth``-column running median along x (fills flagged NaN pixels, suppresses hot
    pixels); centroid = sum(y d) / sum(d) over the rows within ``window`` of the column's
    peak, d clipped at 0. A polynomial of ``order`` in x is fitted to the centroids of the
    columns with at least 2 % of the 95th-percentile column flux (weights: column flux;
    3 rounds of ``nsigma`` clipping on the MAD). Returns ``{"center": (nx,) float64,
    "centroids": (nx,), "used": (nx,) bool, "coef": [...], "domain": [x0, x1], "order": n}``.
    """
    f = np.array(frame, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"frame: need a (ny, nx) array, got shape {f.shape}")
    ny, nx = f.shape
    cen, tot = _column_centroids(f, window, smooth)
    used = np.isfinite(cen) & (tot > 0)
    if columns is not None:
        sel = np.zeros(nx, bool)
        sel[max(0, int(columns[0])):min(nx, int(columns[1]))] = True
        used &= sel
    if used.any():
        used &= tot >= 0.02 * np.percentile(tot[used], 95)
    return fit_centroids(cen, tot, used, order=order, ny=ny, nsigma=nsigma)


def fit_centroids(cen: np.ndarray, tot: np.ndarray, used: np.ndarray, *, order: int, ny: int,
                  nsigma: float = 4.0) -> dict:
    """The polynomial trace of :func:`fit_trace` through per-column centroids ``cen`` (nx,)
    weighted by the column fluxes ``tot`` over the ``used`` columns (3 rounds of ``nsigma``
    MAD clipping); the same result dict."""
    nx = cen.size
    x = np.arange(nx)
    order = int(order)
    result = {"centroids": cen, "used": used, "order": order, "flux": tot}
    if used.sum() <= order + 1:
        c = float(np.median(cen[used])) if used.any() else (ny - 1) / 2.0
        log.warning("trace: only %d usable columns; using a constant trace centre at row %.2f",
                    int(used.sum()), c)
        result.update(center=np.full(nx, c), coef=[c], domain=[0.0, float(max(nx - 1, 1))], order=0)
        return result
    keep = used.copy()
    for _ in range(3):
        p = Polynomial.fit(x[keep], cen[keep], order, w=np.sqrt(tot[keep]), domain=[0, max(nx - 1, 1)])
        res = cen - p(x)
        mad = 1.4826 * np.median(np.abs(res[keep] - np.median(res[keep])))
        new = used & (np.abs(res) <= nsigma * max(mad, 1e-3))
        if new.sum() <= order + 1 or np.array_equal(new, keep):
            break
        keep = new
    p = Polynomial.fit(x[keep], cen[keep], order, w=np.sqrt(tot[keep]), domain=[0, max(nx - 1, 1)])
    result.update(center=np.clip(p(x), 0, ny - 1), coef=[float(c) for c in p.coef],
                  domain=[float(v) for v in p.domain], used=keep)
    return result


def box_indices(center: np.ndarray, ny: int, halfwidth: int):
    """Rows of the extraction box: ``(rows (2h+1, nx) int, inside (2h+1, nx) bool)``.

    Box rows of column x are ``round(center[x]) + k`` for ``k = -h..h``; ``inside`` is False
    where that row falls off the frame (those rows are not part of the box).
    """
    rc = np.rint(np.asarray(center, dtype=np.float64)).astype(np.int64)
    k = np.arange(-int(halfwidth), int(halfwidth) + 1)[:, None]
    rows = rc[None, :] + k
    inside = (rows >= 0) & (rows < ny)
    return np.clip(rows, 0, ny - 1), inside


def background_mask(center: np.ndarray, ny: int, halfwidth: int, gap: int, width=None) -> np.ndarray:
    """(ny, nx) bool: background pixels, more than ``halfwidth + gap`` rows from round(center)."""
    rc = np.rint(np.asarray(center, dtype=np.float64)).astype(np.int64)
    dist = np.abs(np.arange(ny)[:, None] - rc[None, :])
    m = dist > int(halfwidth) + int(gap)
    if width is not None:
        m &= dist <= int(halfwidth) + int(gap) + int(width)
    return m


def column_bins(nx: int, *, bin_width=64, bins=None, columns=None) -> list[tuple[int, int]]:
    """Spectroscopic bins as half-open column ranges.

    ``bins`` (list of [x0, x1)) wins; otherwise consecutive ``bin_width`` columns over
    ``columns`` ([x0, x1), default all), the last bin possibly narrower.
    """
    if bins:
        out = []
        for i, b in enumerate(bins):
            if len(b) != 2 or not 0 <= int(b[0]) < int(b[1]) <= nx:
                raise LightCurveError(f"lightcurves.bins[{i}]: {b} is not a [x0, x1) range within 0..{nx}")
            out.append((int(b[0]), int(b[1])))
        return out
    x0, x1 = (0, nx) if columns is None else (max(0, int(columns[0])), min(nx, int(columns[1])))
    w = int(bin_width)
    if w < 1:
        raise LightCurveError(f"lightcurves.bin_width: must be >= 1, got {bin_width}")
    return [(a, min(a + w, x1)) for a in range(x0, x1, w)]


def order_bins(columns: np.ndarray, bin_width: int) -> list[tuple[int, int]]:
    """Bins of ``bin_width`` columns over the run of True in ``columns`` (nx,) bool, each bin
    kept when at least half of its columns are True (an order extracted on part of the frame)."""
    idx = np.flatnonzero(np.asarray(columns, dtype=bool))
    if idx.size == 0:
        return []
    w = max(1, int(bin_width))
    out = []
    for a in range(int(idx.min()), int(idx.max()) + 1, w):
        b = min(a + w, int(idx.max()) + 1)
        if columns[a:b].sum() * 2 >= (b - a):
            out.append((a, b))
    return out
