"""Spectroscopic box extraction: per-column background, spatial profile, flagged-pixel replacement, column sums.

:class:`BoxExtraction` sets up the trace, box, background region and profile of a detector from
its median frame, then measures each segment's (nints, ny, nx) arrays (dispersion along x).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import dq as dqflags
from .config import LightCurveError
from .stats import interp_nans_along_x, median_var_factor, nanmedian, quiet
from .trace import background_mask, box_indices, column_bins, fit_trace

log = logging.getLogger(__name__)

__all__ = ["column_background", "box_profile", "extract_box", "BoxExtraction"]


def column_background(sci, err, bkg_good: np.ndarray):
    """Per-integration, per-column background (median) and the variance of that median.

    sci, err : (nints, ny, nx); bkg_good : (ny, nx) bool (background region minus flagged).
    Returns ``(bkg (nints, nx) float64, var (nints, nx) float64, n (nx,) int)``; columns with
    no background pixel get 0 and variance 0.
    """
    n = bkg_good.sum(axis=0)
    vals = np.where(bkg_good[None], sci, np.nan)
    with np.errstate(all="ignore"), quiet():
        bkg = nanmedian(vals, axis=1).astype(np.float64)
        e2 = np.where(bkg_good[None], np.asarray(err, np.float64) ** 2, np.nan)
        mean_e2 = np.nanmean(e2, axis=1)
    var = median_var_factor(n)[None, :] * mean_e2 / np.maximum(n, 1)[None, :]
    bkg = np.where(n[None, :] > 0, bkg, 0.0)
    var = np.where((n[None, :] > 0) & np.isfinite(var), var, 0.0)
    return bkg, var, n


def box_profile(median_frame: np.ndarray, rows: np.ndarray, inside: np.ndarray,
                bkg_region: np.ndarray | None, good_frac: np.ndarray | None = None) -> np.ndarray:
    """Normalised spatial profile in box coordinates, (2h+1, nx) float64.

    ``median_frame`` (ny, nx) minus its per-column background median (over ``bkg_region``),
    NaN where ``good_frac < 0.5`` (pixel good in fewer than half of the integrations), gaps
    interpolated along x at the same offset from the trace, clipped at 0, zero outside the
    frame, divided by its column sum over the box (NaN where that sum is not positive).
    """
    m = np.array(median_frame, dtype=np.float64)
    if good_frac is not None:
        m[np.asarray(good_frac) < 0.5] = np.nan
    nx = m.shape[1]
    if bkg_region is not None and bkg_region.any():
        with quiet():
            b = np.nanmedian(np.where(bkg_region, m, np.nan), axis=0)
        m = m - np.where(np.isfinite(b), b, 0.0)[None, :]
    cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
    p = m[rows, cols]
    p[~inside] = np.nan
    filled = interp_nans_along_x(np.where(inside, p, np.nan))
    filled = np.where(inside, np.clip(filled, 0.0, None), 0.0)
    tot = filled.sum(axis=0)
    with np.errstate(all="ignore"):
        return np.where(tot[None, :] > 0, filled / tot[None, :], np.nan)


def extract_box(sci, err, bad: np.ndarray, rows: np.ndarray, inside: np.ndarray, profile: np.ndarray,
                bkg=None, bkg_var=None, max_bad_fraction: float = 0.5) -> dict:
    """Box extraction of every column of every integration with consistent bad-pixel handling.

    sci, err : (nints, ny, nx) float; bad : (ny, nx) bool, pixels to replace in every
    integration; rows, inside : from :func:`box_indices`; profile : (2h+1, nx) from
    :func:`box_profile`; bkg, bkg_var : (nints, nx) background per pixel and the variance of
    that estimate (None: no background).

    Column flux = ``sum_good(sci - bkg) / f_good`` with ``f_good = sum_good(profile)`` (1
    where no box pixel is flagged), i.e. flagged pixels replaced by ``profile * flux``.
    Returns dict of ``flux``, ``var`` (nints, nx) float64, ``valid`` (nx,) bool, ``f_good``
    (nx,), ``n_replaced`` (nx,) int, and ``box`` (nints, 2h+1, nx) background-subtracted box
    pixels with flagged ones replaced (for the trace metrics).
    """
    nx = sci.shape[2]
    cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
    good = inside & ~bad[rows, cols]
    flagged = inside & ~good
    n_rep = flagged.sum(axis=0)
    with np.errstate(all="ignore"):
        fg = np.where(n_rep == 0, 1.0, np.nansum(np.where(good, profile, 0.0), axis=0))
        prof_ok = (n_rep == 0) | np.isfinite(profile).all(axis=0)
    valid = prof_ok & (fg >= 1.0 - float(max_bad_fraction)) & (fg > 0) & good.any(axis=0)
    fg = np.where(valid, fg, np.nan)
    s = np.asarray(sci[:, rows, cols], dtype=np.float64)                   # (nints, k, nx)
    e2 = np.asarray(err[:, rows, cols], dtype=np.float64) ** 2
    if bkg is not None:
        s -= np.asarray(bkg, dtype=np.float64)[:, None, :]
    s = np.where(good[None], s, 0.0)
    e2 = np.where(good[None], e2, 0.0)
    ngood = good.sum(axis=0)
    flux = s.sum(axis=1) / fg[None, :]
    var = e2.sum(axis=1) / fg[None, :] ** 2
    if bkg_var is not None:
        var += (ngood / fg)[None, :] ** 2 * np.asarray(bkg_var, dtype=np.float64)
    # flagged pixels replaced by profile * column flux, for centroid/width metrics
    rep = np.where(flagged[None], np.nan_to_num(profile)[None] * flux[:, None, :], 0.0)
    box = np.where(inside[None], s + rep, 0.0)
    flux[:, ~valid] = np.nan
    var[:, ~valid] = np.nan
    return {"flux": flux, "var": var, "valid": valid, "f_good": fg, "n_replaced": n_rep, "box": box}


class BoxExtraction:
    """Spectroscopy: trace, box, background region and profile from the median frame; then
    :meth:`measure` on each segment's (nints, ny, nx) arrays.

    ``cfg`` the checked ``lightcurves`` config; ``med`` (ny, nx) median frame; ``bad`` (ny, nx)
    pixels flagged in any integration; ``good_frac`` (ny, nx) fraction of integrations in which
    a pixel is good; ``info`` (dict) receives the trace and box parameters.
    """

    def __init__(self, cfg, med, bad, good_frac, info):
        ny, nx = med.shape
        self.hw = hw = int(cfg["box_halfwidth"])
        window = int(cfg["trace_window"] if cfg["trace_window"] is not None else max(hw, 2))
        tr = fit_trace(med, order=int(cfg["trace_order"]), window=window, columns=cfg["columns"])
        self.center = tr["center"]
        self.rows, self.inside = box_indices(self.center, ny, hw)
        self.bkg_region = background_mask(self.center, ny, hw, int(cfg["bkg_gap"]), cfg["bkg_width"])
        if cfg["background"] and not self.bkg_region.any():
            log.warning("no background pixels outside the box (ny=%d, box_halfwidth=%d, bkg_gap=%d): "
                        "no background subtraction", ny, hw, int(cfg["bkg_gap"]))
        self.use_bkg = bool(cfg["background"]) and bool(self.bkg_region.any())
        self.profile = box_profile(med, self.rows, self.inside, self.bkg_region if self.use_bkg else None, good_frac)
        self.bad = bad
        self.max_bad = float(cfg["max_bad_fraction"])
        cols = cfg["columns"]
        self.xr = (0, nx) if cols is None else (max(0, int(cols[0])), min(nx, int(cols[1])))
        if self.xr[0] >= self.xr[1]:
            raise LightCurveError(f"lightcurves.columns: {cols} selects no column of {nx}")
        self.inrange = np.zeros(nx, bool)
        self.inrange[self.xr[0]:self.xr[1]] = True
        self.bins = column_bins(nx, bin_width=cfg["bin_width"], bins=cfg["bins"], columns=cols)
        self.valid = None
        info.update(trace_coef=tr["coef"], trace_domain=tr["domain"], trace_order=tr["order"],
                    trace_mean_row=float(np.mean(self.center)), box_halfwidth=hw, bkg_gap=int(cfg["bkg_gap"]),
                    background=self.use_bkg)

    def measure(self, sci, err, dq) -> dict:
        """Per integration: white ``flux``/``var``, per bin ``spec_flux``/``spec_var``, ``bkg``,
        ``sat_ap`` (saturated fraction of the box) and the trace ``cen``, ``off``, ``width``."""
        n, _, nx = sci.shape
        bkg, bvar = (column_background(sci, err, self.bkg_region & ~self.bad)[:2] if self.use_bkg
                     else (None, None))
        ex = extract_box(sci, err, self.bad, self.rows, self.inside, self.profile, bkg, bvar,
                         max_bad_fraction=self.max_bad)
        self.valid = valid = ex["valid"]
        use = valid & self.inrange
        out = {"flux": np.nansum(ex["flux"][:, use], axis=1), "var": np.nansum(ex["var"][:, use], axis=1)}
        out["spec_flux"] = np.stack([np.nansum(ex["flux"][:, a:b][:, valid[a:b]], axis=1) for a, b in self.bins],
                                    axis=1) if self.bins else np.zeros((n, 0))
        out["spec_var"] = np.stack([np.nansum(ex["var"][:, a:b][:, valid[a:b]], axis=1) for a, b in self.bins],
                                   axis=1) if self.bins else np.zeros((n, 0))
        out["bkg"] = np.median(bkg[:, use], axis=1) if (bkg is not None and use.any()) else np.zeros(n)
        cols = np.broadcast_to(np.arange(nx)[None, :], self.rows.shape)
        sat_box = ((dq[:, self.rows, cols] & np.uint32(dqflags.SATURATED)) != 0) & self.inside[None]
        out["sat_ap"] = sat_box[:, :, use].reshape(n, -1).mean(axis=1) if use.any() else np.zeros(n)
        out.update(self._trace_metrics(ex["box"], use, n))
        return out

    def _trace_metrics(self, box, use, n) -> dict:
        """Trace offset / width from the (replaced) box pixels of the used columns."""
        c = self.center
        yoff = (np.arange(-self.hw, self.hw + 1)[:, None] + np.rint(c)[None, :] - c[None, :])[:, use]
        w = np.clip(box[:, :, use], 0, None)
        tot = w.sum(axis=(1, 2))
        out = {}
        with np.errstate(all="ignore"):
            off = (w * yoff[None]).sum(axis=(1, 2)) / tot
            out["width"] = np.sqrt((w * (yoff[None] - off[:, None, None]) ** 2).sum(axis=(1, 2)) / tot)
        out["off"] = off
        out["cen"] = float(np.mean(c[use])) + off if use.any() else np.full(n, np.nan)
        return out
