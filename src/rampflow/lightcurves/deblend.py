"""Order 1's trace where order 2 overlaps it (NIRISS SOSS): a two-order profile fit per column.

Where order 2 runs within ``2 * window`` rows of order 1 (SOSS SUBSTRIP256's blue end of order 2
crossing order 1's red end), a flux-weighted centroid over order 1's window takes in order 2's
light and is pulled towards it (by up to ~2.6 pixels on the simulator's SUBSTRIP256). There,
:func:`deblend_order1` fits each column of the median frame's signal (:func:`.trace.trace_signal`)
with two copies of one spatial profile::

    d(y) = a1 P(y - y1) + a2 P(y - y2)

``P`` is order 1's own profile measured on the clean columns (those with order 2's trace
farther than ``2 * window`` rows): the signal of each clean column divided by its sum within
``window`` rows, against the offset from order 1's fitted trace, median in 0.2-pixel bins.
Both orders pass through the same optics and slit-less mask, so order 2 is taken to have the
same profile (ASSUMED; true of the simulator). For given centres the amplitudes are a linear
least-squares fit; the centres come from a grid search (order 1 within 3 pixels of its first
fit, order 2 anywhere between order 1 and ``2 * window`` rows beyond, on the side where order 2
lies) refined by :func:`scipy.optimize.least_squares`. Columns where the two centres come out
closer than ``min_separation`` rows (the two copies cannot be told apart) are left out of the
trace polynomial, which is then refitted (:func:`.trace.fit_centroids`) through the clean
columns' centroids and the deblended ones.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from .trace import fit_centroids, trace_signal

__all__ = ["deblend_order1", "profile_template"]

#: bin width [pixels] of the empirical profile
BIN = 0.2


def profile_template(d: np.ndarray, center: np.ndarray, clean: np.ndarray, window: int):
    """Order 1's spatial profile from the ``clean`` columns of the signal ``d`` (ny, nx):
    ``(grid, values)`` with values normalised to unit sum over the pixels within ``window``
    rows of the centre; None when no clean column holds light."""
    ny, nx = d.shape
    cols = np.flatnonzero(clean)
    if cols.size == 0:
        return None
    y = np.arange(ny)[:, None]
    dy = y - center[None, cols]
    near = np.abs(dy) <= window
    tot = np.where(near, d[:, cols], 0.0).sum(axis=0)
    ok = tot > 0
    if not ok.any():
        return None
    reach = window + 2
    sel = (np.abs(dy) <= reach) & ok[None, :]
    vals = (d[:, cols] / np.where(ok, tot, 1.0)[None, :])[sel]
    offs = dy[sel]
    edges = np.arange(-reach, reach + BIN, BIN)
    idx = np.digitize(offs, edges) - 1
    grid = 0.5 * (edges[:-1] + edges[1:])
    prof = np.full(grid.size, np.nan)
    for k in np.unique(idx[(idx >= 0) & (idx < grid.size)]):
        prof[k] = np.median(vals[idx == k])
    good = np.isfinite(prof)
    if good.sum() < 3:
        return None
    prof = np.interp(grid, grid[good], prof[good])
    return grid, np.clip(prof, 0.0, None)


def _two_profiles(template, rows, y1, y2):
    grid, prof = template
    p1 = np.interp(rows - y1, grid, prof, left=0.0, right=0.0)
    p2 = np.interp(rows - y2, grid, prof, left=0.0, right=0.0)
    return np.stack([p1, p2], axis=-1)


def _residual(params, template, rows, data):
    a = _two_profiles(template, rows, params[0], params[1])
    coef, *_ = np.linalg.lstsq(a, data, rcond=None)
    return a @ coef - data


def _grid_costs(template, data, rows, y1s, y2s):
    """(n1, n2) residual sum of squares of the best amplitudes for every (y1, y2) pair."""
    grid, prof = template
    p1 = np.interp(rows[None, :] - y1s[:, None], grid, prof, left=0.0, right=0.0)
    p2 = np.interp(rows[None, :] - y2s[:, None], grid, prof, left=0.0, right=0.0)
    s11, s22, s12 = (p1 * p1).sum(1)[:, None], (p2 * p2).sum(1)[None, :], p1 @ p2.T
    b1, b2 = (p1 @ data)[:, None], (p2 @ data)[None, :]
    det = s11 * s22 - s12 ** 2
    with np.errstate(all="ignore"):
        a1 = (s22 * b1 - s12 * b2) / det
        a2 = (s11 * b2 - s12 * b1) / det
        cost = data @ data - (a1 * b1 + a2 * b2)
    return np.where(np.isfinite(cost) & (det > 1e-12), cost, np.inf)


def _fit_column(template, data, rows, c1, side, window):
    """Best (y1, y2) for one column's signal ``data`` at ``rows``."""
    y1s = c1 + np.arange(-3.0, 3.01, 0.5)
    y2s = c1 + side * np.arange(1.0, 2 * window + 0.01, 0.5)
    cost = _grid_costs(template, data, rows, y1s, y2s)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    lo = np.array([c1 - 3.5, min(c1, c1 + side * 2 * window)])
    hi = np.array([c1 + 3.5, max(c1, c1 + side * 2 * window)])
    start = np.clip([y1s[i], y2s[j]], lo + 1e-6, hi - 1e-6)
    fit = least_squares(_residual, start, bounds=(lo, hi), args=(template, rows, data))
    coef, *_ = np.linalg.lstsq(_two_profiles(template, rows, fit.x[0], fit.x[1]), data, rcond=None)
    return float(fit.x[0]), float(fit.x[1]), float(coef[1])


def deblend_order1(med: np.ndarray, first: dict, second_center: np.ndarray, *,
                   window: int, fit_order: int, smooth: int = 9, min_separation: float = 4.0) -> dict:
    """Order 1's trace refitted with the overlapped columns deblended (module docstring).

    med : (ny, nx) median frame; first : :func:`.trace.fit_trace`'s result for order 1;
    second_center : (nx,) order 2's trace (its polynomial over every column).
    Returns a :func:`.trace.fit_centroids` result (``first`` unchanged when there is no
    overlapped column or no clean column to take the profile from), plus ``deblended``
    (nx,) bool: the columns whose centroid came from the two-order fit, and, when it ran,
    ``order2_centroids`` (nx,) (order 2's centre from the same fit, NaN elsewhere) and
    ``order2_flux`` (nx,) (its amplitude; order 2's trace takes them there, where order 1's
    blanked box hides its light, :func:`.orders.find_orders`).
    """
    f = np.array(med, dtype=np.float64)
    ny, nx = f.shape
    c1 = np.asarray(first["center"], np.float64)
    sep = np.asarray(second_center, np.float64) - c1
    # every column where order 2's trace (fitted, or extrapolated beyond the columns it was
    # found on: near the overlap order 1's blanked box hides it) comes within 2 windows
    near = np.abs(sep) <= 2 * window
    used = np.asarray(first["used"], bool)
    out = dict(first, deblended=np.zeros(nx, bool))
    if not near.any():
        return out
    d = trace_signal(f, smooth)
    template = profile_template(d, c1, used & ~near, window)
    if template is None:
        return out
    side = 1.0 if np.median(sep[near]) > 0 else -1.0
    cen = np.array(first["centroids"], dtype=np.float64)
    tot = np.array(first["flux"], dtype=np.float64)
    ok = used & ~near
    done = np.zeros(nx, bool)
    cen2, flux2 = np.full(nx, np.nan), np.zeros(nx)
    for x in np.flatnonzero(near):
        lo = int(max(0, np.floor(min(c1[x], c1[x] + side * 2 * window) - window)))
        hi = int(min(ny, np.ceil(max(c1[x], c1[x] + side * 2 * window) + window) + 1))
        rows = np.arange(lo, hi, dtype=np.float64)
        data = d[lo:hi, x]
        if not np.any(data > 0):
            continue
        y1, y2, a2 = _fit_column(template, data, rows, c1[x], side, window)
        if abs(y2 - y1) >= min_separation:
            cen[x] = y1
            ok[x] = done[x] = True
            if a2 > 0:
                cen2[x], flux2[x] = y2, a2
    res = fit_centroids(cen, tot, ok, order=int(first["order"]), ny=ny)
    res["deblended"] = done & res["used"]
    res["order2_centroids"], res["order2_flux"] = cen2, flux2
    return res
