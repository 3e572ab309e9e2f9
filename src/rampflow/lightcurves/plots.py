"""Light-curve plots: white light, spectroscopic bins, per-integration metrics, the transit check.

Figures come from :mod:`rampflow.plotting` (matplotlib is imported with it, at import time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from ..plotting import figure, message, save
from .stats import quiet
from .transit import trapezoid

__all__ = ["bin_series", "plot_whitelight", "plot_spectroscopic", "plot_metrics", "plot_transit"]


def bin_series(x, y, e, nbin: int):
    """Means of consecutive groups of ``nbin`` points: (x, y, error of the mean)."""
    x, y, e = (np.asarray(a, dtype=np.float64) for a in (x, y, e))
    n = x.size // nbin if nbin > 1 else x.size
    if nbin <= 1 or n < 1:
        return x, y, e
    sl = slice(0, n * nbin)
    xb = x[sl].reshape(n, nbin).mean(axis=1)
    with quiet():
        yb = np.nanmean(y[sl].reshape(n, nbin), axis=1)
        cnt = np.sum(np.isfinite(y[sl].reshape(n, nbin)), axis=1)
        eb = np.sqrt(np.nansum(e[sl].reshape(n, nbin) ** 2, axis=1)) / np.maximum(cnt, 1)
    return xb, yb, eb


def _auto_bin(n: int, plot_bin) -> int:
    if plot_bin:
        return max(1, int(plot_bin))
    return max(1, int(round(n / 40.0)))


def plot_whitelight(white: Table, path, *, plot_bin=None, fit: dict | None = None) -> Path:
    """Normalised white-light flux against hours since the first mid-time (unbinned and binned)."""
    fig = figure((8.0, 4.5))
    ax = fig.add_subplot()
    x = np.asarray(white["time_hours"])
    y = np.asarray(white["flux"])
    e = np.asarray(white["flux_err"])
    ax.errorbar(x, y, yerr=e, fmt=".", ms=3, color="0.6", ecolor="0.85", lw=0.5, label="per integration")
    nb = _auto_bin(len(white), plot_bin)
    if nb > 1:
        xb, yb, eb = bin_series(x, y, e, nb)
        ax.errorbar(xb, yb, yerr=eb, fmt="o", ms=4, color="C0", label=f"binned x{nb}")
    if fit is not None:
        ax.plot(x, fit["model"], "-", color="C3", lw=1.2, label="trapezoid fit")
    scale = white.meta.get("time_scale", "BJD_TDB")
    t_first = white.meta.get("time_first")
    ax.set_xlabel(f"time since first integration [h] ({scale} {t_first:.5f})" if t_first else "time [h]")
    ax.set_ylabel("normalised flux (out-of-transit median = 1)")
    ax.set_title(f"{white.meta.get('detector', '')}: white light curve")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return save(fig, path)


def plot_spectroscopic(spec: Table, path, *, plot_bin=None, offset: float | None = None) -> Path:
    """Spectroscopic light curves, offset vertically per bin, against hours since the first mid-time."""
    bins = spec.meta.get("bins") or []
    fig = figure((8.0, max(4.5, 0.35 * len(bins) + 2)))
    ax = fig.add_subplot()
    x = np.asarray(spec["time_hours"])
    nb = _auto_bin(len(spec), plot_bin)
    if not bins:
        ax.text(0.5, 0.5, spec.meta.get("note") or "no spectroscopic bins", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return save(fig, path)
    if offset is None:
        with quiet():
            sc = [np.nanstd(np.asarray(spec[f"flux_{j:03d}"])) for j in range(len(bins))]
        offset = max(5 * float(np.nanmedian(sc)) if np.isfinite(np.nanmedian(sc)) else 0.01, 1e-4)
    for j, (a, b) in enumerate(bins):
        y = np.asarray(spec[f"flux_{j:03d}"]) - j * offset
        e = np.asarray(spec[f"err_{j:03d}"])
        ax.plot(x, y, ".", ms=2, color="0.7")
        xb, yb, _ = bin_series(x, y, e, nb)
        ax.plot(xb, yb, "-", lw=1, color=f"C{j % 10}")
        ax.text(x[-1], 1 - j * offset, f" {a}-{b - 1}", fontsize="x-small", va="center")
    ax.set_xlabel(f"time since first integration [h] ({spec.meta.get('time_scale', '')})")
    ax.set_ylabel(f"normalised flux, offset by {offset:.3g} per bin")
    along = "detector-row" if spec.meta.get("bin_axis") == "y" else "column"
    ax.set_title(f"{spec.meta.get('detector', '')}: spectroscopic light curves ({along} bins)")
    ax.grid(alpha=0.3)
    return save(fig, path)


def plot_metrics(metrics: Table, path) -> Path:
    """Per-integration metrics (jumps, saturation, background, trace position/width, and the
    spectrum's shift along the dispersion) in panels."""
    x = np.asarray(metrics["time_hours"])
    if metrics.meta.get("mode") == "imaging":
        panels = [("jump_pixels", "jump pixels [count]"), ("saturated_frac", "saturated fraction"),
                  ("background", "background [DN/s/pixel]"), ("centroid_x", "centroid x [pixel]"),
                  ("centroid_y", "centroid y [pixel]"), ("width", "RMS radius [pixel]")]
    else:
        # the trace centre is a row for x-dispersed modes, a column for y-dispersed (MIRI LRS)
        across = "column" if metrics.meta.get("dispersion_axis") == "y" else "row"
        panels = [("jump_pixels", "jump pixels [count]"), ("saturated_frac", "saturated fraction"),
                  ("background", "background [DN/s/pixel]"), ("trace_center", f"trace centre [{across}]"),
                  ("trace_width", "trace RMS width [pixel]")]
        if "trace_xshift" in metrics.colnames:
            panels.append(("trace_xshift", "shift along dispersion [pixel]"))
    fig = figure((8.0, 1.6 * len(panels) + 1))
    axes = fig.subplots(len(panels), 1, sharex=True)
    for ax, (col, label) in zip(np.atleast_1d(axes), panels):
        y = np.asarray(metrics[col], dtype=float)
        if np.all(~np.isfinite(y)):
            ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes, fontsize="small")
        else:
            ax.plot(x, y, ".-", ms=3, lw=0.6)
        ax.set_ylabel(label, fontsize="small")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[-1].set_xlabel(f"time since first integration [h] ({metrics.meta.get('time_scale', '')})")
    fig.suptitle(f"{metrics.meta.get('detector', '')}: per-integration metrics")
    return save(fig, path)


def _plot_not_fitted(white: Table, result: dict, path, plot_bin) -> Path:
    """The white light curve and a panel with the reason the transit was not fitted."""
    x = np.asarray(white["time_hours"])
    y = np.asarray(white["flux"])
    e = np.asarray(white["flux_err"])
    fig = figure((8.0, 6.0))
    ax, axm = fig.subplots(2, 1, height_ratios=[3, 1])
    ax.plot(x, y, ".", ms=3, color="0.6", label="per integration")
    nb = _auto_bin(len(white), plot_bin)
    if nb > 1:
        xb, yb, eb = bin_series(x, y, e, nb)
        ax.errorbar(xb, yb, yerr=eb, fmt="o", ms=4, color="C0", label=f"binned x{nb}")
    ax.set_ylabel("normalised flux")
    ax.set_xlabel(f"time since first integration [h] ({white.meta.get('time_scale', '')})")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(f"{result.get('detector', '')}: transit check: NOT FITTED")
    message(axm, result.get("warning") or "transit not fitted")
    return save(fig, path)


def plot_transit(white: Table, result: dict, path, *, plot_bin=None) -> Path:
    """White light curve with the fitted trapezoid model and the residuals; where the transit
    was not fitted (``result["fitted"]`` False), the light curve and the reason."""
    if result.get("fitted") is False:
        return _plot_not_fitted(white, result, path, plot_bin)
    t = np.asarray(white["time"], dtype=np.float64)
    s = trapezoid(t, result["t0"], result["duration_hours"] / 24.0, result["ingress_hours"] / 24.0)
    tt = (t - result["t0"]) / result["baseline_time_scale"]
    base = sum(c * tt ** k for k, c in enumerate(result["baseline"]))
    model = base - result["depth"] * result["baseline"][0] * s
    x = np.asarray(white["time_hours"])
    y = np.asarray(white["flux"])
    e = np.asarray(white["flux_err"])
    fig = figure((8.0, 6.0))
    ax, axr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    nb = _auto_bin(len(white), plot_bin)
    ax.plot(x, y, ".", ms=3, color="0.6", label="per integration")
    if nb > 1:
        xb, yb, eb = bin_series(x, y, e, nb)
        ax.errorbar(xb, yb, yerr=eb, fmt="o", ms=4, color="C0", label=f"binned x{nb}")
    ax.plot(x, model, "-", color="C3",
            label=f"depth {result['depth_ppm']:.0f} ± {result['depth_err_ppm']:.0f} ppm")
    ax.set_ylabel("normalised flux")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(f"{result.get('detector', '')}: transit check (trapezoid, fixed shape)")
    axr.plot(x, (y - model) * 1e6, ".", ms=3, color="0.4")
    axr.axhline(0, color="C3", lw=0.8)
    axr.set_ylabel("residual [ppm]")
    axr.set_xlabel(f"time since first integration [h] ({white.meta.get('time_scale', '')})")
    axr.grid(alpha=0.3)
    return save(fig, path)
