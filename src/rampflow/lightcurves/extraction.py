"""Spectroscopic box extraction: per-column background, spatial profile, flagged-pixel replacement, column sums.

:class:`BoxExtraction` sets up the trace, box, background region and profile of a detector from
its median frame (one order, or NIRISS SOSS's orders 1 and 2: :mod:`.orders`), then measures
each segment's (nints, ny, nx) arrays (dispersion along x).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import dq as dqflags
from .config import LightCurveError
from .orders import find_orders, source_mask
from .stats import interp_nans_along_x, median_var_factor, nanmedian, quiet
from .template import load_template, template_scale
from .trace import background_mask, column_bins, order_bins

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
    :func:`box_profile`; bkg : (nints, nx) background per column, or (nints, 2h+1, nx) per box
    pixel (a scaled template plus a column term); bkg_var : (nints, nx) the variance of the
    column's background estimate (None: no background).

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
        b = np.asarray(bkg, dtype=np.float64)
        s -= b[:, None, :] if b.ndim == 2 else b
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
    """Spectroscopy: traces, boxes, background region and profiles from the median frame; then
    :meth:`measure` on each segment's (nints, ny, nx) arrays.

    ``cfg`` the checked ``lightcurves`` config; ``med`` (ny, nx) median frame; ``bad`` (ny, nx)
    pixels flagged in any integration; ``good_frac`` (ny, nx) fraction of integrations in which
    a pixel is good; ``info`` (dict) receives the trace and box parameters; ``geom`` the
    exposure's :class:`rampflow.modes.ModeGeometry` (None: one order, NIRSpec-like), which
    gives the orders (:mod:`.orders`), the trace degree when ``trace_order`` is not set, and
    whether the background pixels exclude every order's light.

    The white light curve is order 1's; spectroscopic bins are order 1's bins, then order 2's
    (``bin_orders`` gives each bin's order).
    """

    def __init__(self, cfg, med, bad, good_frac, info, geom=None):
        ny, nx = med.shape
        self.hw = hw = int(cfg["box_halfwidth"])
        gap = int(cfg["bkg_gap"])
        window = int(cfg["trace_window"] if cfg["trace_window"] is not None else max(hw, 2))
        orders = tuple(cfg.get("orders") or (geom.orders if geom is not None else (1,)))
        fit_order = cfg["trace_order"] if cfg["trace_order"] is not None else (
            geom.trace_order if geom is not None else 2)
        multi = bool(geom is not None and geom.multi_order)
        self.traces = find_orders(med, orders, fit_order=int(fit_order), window=window, hw=hw, gap=gap,
                                  columns=cfg["columns"])
        first = self.traces[0]
        self.center, self.rows, self.inside = first.center, first.rows, first.inside
        self.bkg_region = background_mask(self.center, ny, hw, gap, cfg["bkg_width"])
        if multi or len(self.traces) > 1:
            self.bkg_region &= ~source_mask(med, self.traces, hw, gap, multi)
        if cfg["background"] and not self.bkg_region.any():
            log.warning("no background pixels outside the box (ny=%d, box_halfwidth=%d, bkg_gap=%d): "
                        "no background subtraction", ny, hw, gap)
        self.use_bkg = bool(cfg["background"]) and bool(self.bkg_region.any())
        self.template = (load_template(cfg["background_template"], geom, (ny, nx))
                         if (self.use_bkg and cfg.get("background_template")) else None)
        self.line_pixels = None
        lb = cfg.get("line_background", "auto")
        rows_are_lines = geom is not None and geom.fast_axis == "x" and geom.dispersion_axis == "x"
        if self.use_bkg and (lb is True or (lb == "auto" and rows_are_lines)):
            self.line_pixels = self.bkg_region | ~lit_columns(med, self.rows, self.inside, self.bkg_region)[None, :]
        region = self.bkg_region if self.use_bkg else None
        self.profiles = [box_profile(med, tr.rows, tr.inside, region, good_frac) for tr in self.traces]
        self.profile = self.profiles[0]
        self.bad = bad
        self._med = med
        self._ref_spec = None
        self.max_bad = float(cfg["max_bad_fraction"])
        cols = cfg["columns"]
        self.xr = (0, nx) if cols is None else (max(0, int(cols[0])), min(nx, int(cols[1])))
        if self.xr[0] >= self.xr[1]:
            raise LightCurveError(f"lightcurves.columns: {cols} selects no column of {nx}")
        self.inrange = np.zeros(nx, bool)
        self.inrange[self.xr[0]:self.xr[1]] = True
        self.bins = column_bins(nx, bin_width=cfg["bin_width"], bins=cfg["bins"], columns=cols)
        self.bin_orders = [1] * len(self.bins)
        for tr in self.traces[1:]:
            extra = order_bins(tr.columns, int(cfg["bin_width"]))
            self.bins += extra
            self.bin_orders += [tr.order] * len(extra)
        self.valid = None
        # the trace metrics (position, width) come from the columns whose box no other
        # order's light reaches (SOSS: order 2 within 2 boxes and a gap of order 1)
        self.metric_cols = np.ones(nx, bool)
        for tr in self.traces[1:]:
            self.metric_cols &= np.abs(np.rint(tr.center) - np.rint(self.center)) > 2 * hw + gap
        if not self.metric_cols.any():
            self.metric_cols[:] = True
        mc = np.flatnonzero(self.metric_cols)
        info.update(line_background=self.line_pixels is not None,
                    trace_metric_columns=[int(mc.min()), int(mc.max()) + 1, int(mc.size)])
        info.update(trace_coef=first.coef, trace_domain=first.domain, trace_order=first.fit_order,
                    trace_mean_row=float(np.mean(self.center)), box_halfwidth=hw, bkg_gap=gap,
                    background=self.use_bkg, orders=[int(t.order) for t in self.traces],
                    background_template=str(cfg.get("background_template")) if self.template is not None else None)
        for tr in self.traces[1:]:
            info[f"order{tr.order}_trace_coef"] = tr.coef
            info[f"order{tr.order}_columns"] = int(tr.columns.sum())

    def _background(self, sci, err):
        """Per integration: a function giving the background at box pixels (rows, cols) as
        (nints, 2h+1, nx), the variance (nints, nx) of its column term, and the variance
        (nints, ny) of its row (readout-line) term or None.

        background = [scale * template] + column median + [row median of the rest over the
        row's light-free pixels, where the detector's lines are rows along the dispersion]."""
        region = self.bkg_region & ~self.bad
        scale = t = None
        if self.template is not None:
            scale = template_scale(sci, self.template, region)
            t = self.template
            sci = sci - scale[:, None, None] * t[None]
        col, bvar, _ = column_background(sci, err, region)
        row = rvar = None
        if self.line_pixels is not None:
            resid = sci - col[:, None, :].astype(np.float32)
            row, rvar, _ = column_background(np.swapaxes(resid, 1, 2), np.swapaxes(err, 1, 2),
                                             (self.line_pixels & ~self.bad).T)
            del resid

        def at(rows, cols):
            b = col[:, None, :]
            if row is not None:
                b = b + row[:, rows]
            if t is not None:
                b = b + scale[:, None, None] * t[rows, cols][None]
            return b
        return at, bvar, rvar

    def measure(self, sci, err, dq) -> dict:
        """Per integration: white ``flux``/``var`` (order 1), per bin ``spec_flux``/``spec_var``,
        ``bkg``, ``sat_ap`` (saturated fraction of order 1's box) and order 1's trace ``cen``,
        ``off``, ``width``."""
        n, _, nx = sci.shape
        bkg_at, bvar, rvar = self._background(sci, err) if self.use_bkg else (None, None, None)
        spec_flux, spec_var = [], []
        for k, (tr, prof) in enumerate(zip(self.traces, self.profiles)):
            cols = np.broadcast_to(np.arange(nx)[None, :], tr.rows.shape)
            bkg = bkg_at(tr.rows, cols) if bkg_at is not None else None
            ex = extract_box(sci, err, self.bad, tr.rows, tr.inside, prof, bkg, bvar, max_bad_fraction=self.max_bad)
            valid = ex["valid"] & tr.columns
            if rvar is not None:
                ex["rows_var"] = _row_term_var(rvar, tr.rows, tr.inside, valid, ex["f_good"])
            if k == 0:
                self.valid = valid
                first = ex
            for (a, b), o in zip(self.bins, self.bin_orders):
                if o == tr.order:
                    spec_flux.append(np.nansum(ex["flux"][:, a:b][:, valid[a:b]], axis=1))
                    v = np.nansum(ex["var"][:, a:b][:, valid[a:b]], axis=1)
                    if rvar is not None:
                        v = v + ex["rows_var"](slice(a, b))
                    spec_var.append(v)
        use = self.valid & self.inrange
        out = {"flux": np.nansum(first["flux"][:, use], axis=1), "var": np.nansum(first["var"][:, use], axis=1)}
        if rvar is not None:
            cut = np.zeros(nx, bool)
            cut[self.xr[0]:self.xr[1]] = True
            out["var"] = out["var"] + first["rows_var"](cut)
        out["spec_flux"] = np.stack(spec_flux, axis=1) if spec_flux else np.zeros((n, 0))
        out["spec_var"] = np.stack(spec_var, axis=1) if spec_var else np.zeros((n, 0))
        if bkg_at is not None and use.any():
            cols = np.broadcast_to(np.arange(nx)[None, :], self.rows.shape)
            b = np.broadcast_to(bkg_at(self.rows, cols), (n,) + self.rows.shape)
            out["bkg"] = np.median(b[:, self.hw, use], axis=1)
        else:
            out["bkg"] = np.zeros(n)
        cols = np.broadcast_to(np.arange(nx)[None, :], self.rows.shape)
        sat_box = ((dq[:, self.rows, cols] & np.uint32(dqflags.SATURATED)) != 0) & self.inside[None]
        out["sat_ap"] = sat_box[:, :, use].reshape(n, -1).mean(axis=1) if use.any() else np.zeros(n)
        clear = use & self.metric_cols
        out.update(self._trace_metrics(first["box"], clear if clear.any() else use, n))
        out["xshift"] = dispersion_shift(first["flux"], self._reference_spectrum(), use)
        return out

    def _reference_spectrum(self) -> np.ndarray:
        """Order 1's spectrum (nx,) in the median frame: the box sum, background-subtracted."""
        if getattr(self, "_ref_spec", None) is None:
            nx = self.rows.shape[1]
            cols = np.broadcast_to(np.arange(nx)[None, :], self.rows.shape)
            with np.errstate(all="ignore"), quiet():
                b = nanmedian(np.where(self.bkg_region, self._med, np.nan), axis=0) if self.use_bkg else None
            m = self._med[self.rows, cols] - (np.where(np.isfinite(b), b, 0.0)[None, :] if b is not None else 0.0)
            self._ref_spec = np.nansum(np.where(self.inside, m, 0.0), axis=0)
        return self._ref_spec

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


def lit_columns(med, rows, inside, bkg_region, fraction: float = 0.01) -> np.ndarray:
    """(nx,) bool: columns whose box holds light -- box sum of the median frame minus its
    column background above ``fraction`` of the 95th percentile over columns."""
    nx = med.shape[1]
    with np.errstate(all="ignore"), quiet():
        b = nanmedian(np.where(bkg_region, med, np.nan), axis=0)
    cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
    box = np.where(inside, med[rows, cols] - np.where(np.isfinite(b), b, 0.0)[None, :], 0.0)
    flux = np.nansum(box, axis=0)
    ref = np.percentile(flux[np.isfinite(flux)], 95) if np.isfinite(flux).any() else 0.0
    return flux > fraction * max(ref, 0.0)


def _row_term_var(rvar, rows, inside, valid, f_good):
    """A function of a column selection giving the (nints,) variance that the row term adds to
    the sum of the selected valid columns: the same row median enters every column whose box
    holds that row, so its variance counts with the square of that number (columns weighted
    by 1 / f_good)."""
    def var(sel):
        use = np.zeros(valid.shape, bool)
        use[sel] = True
        use &= valid
        w = np.where(use, 1.0 / np.where(np.isfinite(f_good), f_good, 1.0), 0.0)
        counts = np.zeros(rvar.shape[1])
        np.add.at(counts, rows[inside & use[None, :]], np.broadcast_to(w[None, :], rows.shape)[inside & use[None, :]])
        return (rvar * counts[None, :] ** 2).sum(axis=1)
    return var


def dispersion_shift(flux: np.ndarray, reference: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Shift (nints,) [pixels] of each integration's spectrum along the dispersion relative to
    ``reference`` (nx,): the least-squares fit ``flux = a * ref + b * dref/dx`` over the ``use``
    columns gives ``shift = -b / a`` (first order in the shift; positive: towards higher x)."""
    ref = np.asarray(reference, dtype=np.float64)
    d = np.gradient(ref)
    ok = use & np.isfinite(ref) & np.isfinite(d)
    out = np.full(flux.shape[0], np.nan)
    if ok.sum() < 3:
        return out
    a_mat = np.vstack([ref[ok], d[ok]]).T
    f = np.asarray(flux, dtype=np.float64)[:, ok]
    good = np.isfinite(f).all(axis=1)
    if good.any():
        coef, *_ = np.linalg.lstsq(a_mat, f[good].T, rcond=None)
        out[good] = -coef[1] / coef[0]
    return out
