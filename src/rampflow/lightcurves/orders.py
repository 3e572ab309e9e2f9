"""Spectral orders of one exposure: each order's trace and box, and the pixels free of any order's light.

A single-trace mode (NIRSpec BOTS, NIRCam grism, MIRI LRS after transposing) has one order,
found exactly as before (:func:`rampflow.lightcurves.trace.fit_trace` on the median frame).
NIRISS SOSS on SUBSTRIP256 holds three curved orders; :func:`find_orders` finds order 1 (the
brightest trace of every column), then order 2 as the brightest trace once order 1's box and
gap are blanked out. Where order 2 comes within two centroid windows of order 1, order 1's
centroids are pulled towards it (up to ~2.6 pixels); there order 1's trace is refitted from a
two-order profile fit of each column (:mod:`.deblend`), and order 2 is found again around it.
Order 2 is extracted only on the columns where it is lit (its fitted
columns, first to last) and where its box stays clear of order 1's box and gap
(``|c2 - c1| > 2 * box_halfwidth + bkg_gap``): the overlapping columns are left to order 1.

:func:`source_mask` is every pixel an order's light may reach: the boxes plus gaps of the
extracted orders, and for a multi-order mode also every pixel of the smoothed median frame
more than 5 robust standard deviations above its column's background (order 3, the wings),
grown by 2 pixels. The background comes from the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .deblend import deblend_order1
from .stats import quiet
from .trace import box_indices, fit_centroids, fit_trace

log = logging.getLogger(__name__)

__all__ = ["OrderTrace", "find_orders", "source_mask"]


@dataclass
class OrderTrace:
    """One order: its number, trace centre (nx,), box rows and ``inside`` (2h+1, nx), the
    columns it is extracted on (nx,) bool, and the trace fit's coefficients."""

    order: int
    center: np.ndarray
    rows: np.ndarray
    inside: np.ndarray
    columns: np.ndarray
    coef: list
    domain: list
    fit_order: int


def _trace(med, order_number, fit_order, window, hw, columns=None, tr=None) -> tuple[OrderTrace, np.ndarray]:
    ny, nx = med.shape
    if tr is None:
        tr = fit_trace(med, order=fit_order, window=window, columns=columns)
    rows, inside = box_indices(tr["center"], ny, hw)
    cols = np.ones(nx, bool)
    return OrderTrace(order_number, tr["center"], rows, inside, cols, tr["coef"], tr["domain"], tr["order"]), tr["used"]


def _order2(med, first, fit_order, window, hw, gap, deblended=None):
    """Order 2 as the brightest trace once order 1's box and gap are blanked out:
    ``(OrderTrace or None, used columns, lit columns (first to last used))``.

    deblended : order 1's :func:`.deblend.deblend_order1` result, or None. With it, the
        columns whose centroid window reaches the blanked band (their centroid is truncated,
        pulled away from order 1 by up to ~7 rows) are left out, and order 2's centre from the
        two-order fit is used where that fit ran."""
    ny, nx = med.shape
    blank = np.array(med, dtype=np.float64)
    rc = np.rint(first.center).astype(int)
    blank[np.abs(np.arange(ny)[:, None] - rc[None, :]) <= hw + gap] = np.nan
    tr = None
    if deblended is not None and "order2_centroids" in deblended:
        tr = fit_trace(blank, order=fit_order, window=window)
        cen, tot = np.array(tr["centroids"], np.float64), np.array(tr["flux"], np.float64)
        tr_blank_used = np.asarray(tr["used"], bool)
        ok = tr_blank_used & (np.abs(cen - first.center) > hw + gap + window)
        c2 = np.asarray(deblended["order2_centroids"], np.float64)
        fit2 = np.isfinite(c2)
        cen[fit2], tot[fit2] = c2[fit2], np.asarray(deblended["order2_flux"], np.float64)[fit2]
        ok |= fit2
        if ok.sum() >= fit_order + 2:
            # the blanked frame's centroids were clipped by fit_trace already; the two-order
            # fit's are ~5x more precise, so clipping them together would drop the former
            tr = fit_centroids(cen, tot, ok, order=fit_order, ny=ny, nsigma=np.inf)
            truncated = np.asarray(tr_blank_used) & ~ok
            log.info("order 2: %d columns centred by the two-order fit; %d of the blanked frame's, next to "
                     "order 1's box, left out", int(fit2.sum()), int(truncated.sum()))
        else:
            tr = None
    second, used = _trace(blank, 2, fit_order, window, hw, tr=tr)
    if used.sum() < fit_order + 2:
        return None, used, None
    lit = np.zeros(nx, bool)
    idx = np.flatnonzero(used)
    lit[idx.min():idx.max() + 1] = True
    return second, used, lit


def find_orders(med: np.ndarray, orders, *, fit_order: int, window: int, hw: int, gap: int,
                columns=None) -> list[OrderTrace]:
    """The traces of ``orders`` ((1,) or (1, 2)) in a (ny, nx) median frame (dispersion along x).

    Order 1 is fitted over ``columns`` (None: all) and extracted on every column; order 2 as
    in the module docstring (left out, with a warning, where fewer than ``fit_order + 2``
    columns show it).
    """
    ny, nx = med.shape
    fit1 = fit_trace(med, order=fit_order, window=window, columns=columns)
    first, _ = _trace(med, 1, fit_order, window, hw, tr=fit1)
    out = [first]
    if 2 in tuple(orders):
        second, used, lit = _order2(med, first, fit_order, window, hw, gap)
        if second is None:
            log.warning("order 2: not found (%d columns with light); extracting order 1 only", int(used.sum()))
            return out
        fit1 = deblend_order1(med, fit1, second.center, window=window, fit_order=fit_order)
        if fit1["deblended"].any():
            log.info("order 1: trace refitted with %d columns deblended from order 2", int(fit1["deblended"].sum()))
            first, _ = _trace(med, 1, fit_order, window, hw, tr=fit1)
            out = [first]
            second, used, lit = _order2(med, first, fit_order, window, hw, gap, deblended=fit1)
            if second is None:
                log.warning("order 2: not found (%d columns with light); extracting order 1 only",
                            int(used.sum()))
                return out
        rc = np.rint(first.center).astype(int)
        idx = np.flatnonzero(used)
        clear = np.abs(np.rint(second.center) - rc) > 2 * hw + gap
        second.columns = lit & clear
        log.info("order 2: lit on columns %d..%d, extracted on %d columns clear of order 1",
                 idx.min(), idx.max(), int(second.columns.sum()))
        out.append(second)
    return out


def source_mask(med: np.ndarray, traces, hw: int, gap: int, multi_order: bool, nsigma: float = 5.0) -> np.ndarray:
    """(ny, nx) bool: pixels an order's light may reach (see the module docstring)."""
    from scipy.ndimage import binary_dilation, median_filter

    ny, nx = med.shape
    y = np.arange(ny)[:, None]
    src = np.zeros((ny, nx), bool)
    for tr in traces:
        near = np.abs(y - np.rint(tr.center)[None, :]) <= hw + gap
        src |= near & (tr.columns[None, :] if tr.order > 1 else True)
    if multi_order:
        f = np.array(med, dtype=np.float64)
        with np.errstate(all="ignore"), quiet():
            f = f - np.nanmedian(f, axis=0)[None, :]
        f = median_filter(np.where(np.isfinite(f), f, 0.0), size=3, mode="nearest")
        rest = f[~src]
        sig = 1.4826 * np.median(np.abs(rest - np.median(rest))) if rest.size else 0.0
        if sig > 0:
            src |= binary_dilation(f > nsigma * sig, structure=np.ones((5, 5), bool))
    return src
