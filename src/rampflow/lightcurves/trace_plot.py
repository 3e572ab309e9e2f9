"""The trace (position) image of one detector's light curves: the median frame they were
measured on, with the fitted trace(s) and box, or the aperture and background annulus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.polynomial import Polynomial

from ..plotting import figure, message, save
from .stats import quiet

__all__ = ["plot_trace"]


def _stretch(frame: np.ndarray):
    """Display limits: the 1st and 99.5th percentiles of the finite pixels."""
    f = frame[np.isfinite(frame)]
    if f.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(f, [1.0, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _trace_lines(ax, info: dict, nx: int):
    """Order 1's fitted trace and box edges, and order 2's trace where it was extracted."""
    x = np.arange(nx)
    hw = float(info.get("box_halfwidth") or 0)
    c1 = Polynomial(info["trace_coef"], domain=info["trace_domain"])(x)
    several = len(info.get("orders") or [1]) > 1
    ax.plot(x, c1, "-", color="C3", lw=0.9, label="order 1 trace" if several else "fitted trace")
    for s in (-1, 1):
        ax.plot(x, np.rint(c1) + s * (hw + 0.5), "--", color="C3", lw=0.6,
                label=f"box (±{hw:g} rows)" if s < 0 else None)
    for key in sorted(k for k in info if k.startswith("order") and k.endswith("_trace_coef")):
        order = key[len("order"):-len("_trace_coef")]
        c = Polynomial(info[key], domain=info["trace_domain"])(x)
        ax.plot(x, c, "-", color="C1", lw=0.9, label=f"order {order} trace")


def _aperture(ax, info: dict):
    """Aperture and background annulus circles about the measured source position."""
    t = np.linspace(0, 2 * np.pi, 200)
    xc, yc = float(info["source_x"]), float(info["source_y"])
    ax.plot(xc + info["aperture_radius"] * np.cos(t), yc + info["aperture_radius"] * np.sin(t), "-", color="C3",
            lw=0.9, label=f"aperture r={info['aperture_radius']:g}")
    for k, r in enumerate(info.get("annulus") or []):
        ax.plot(xc + r * np.cos(t), yc + r * np.sin(t), "--", color="C1", lw=0.7,
                label="background annulus" if k == 0 else None)
    ax.plot([xc], [yc], "+", color="C3", ms=8)


def plot_trace(median: np.ndarray | None, info: dict, path) -> Path:
    """The median frame (as the light curves saw it: dispersion along x) with the fitted
    trace, its box and order 2's trace (spectroscopy), or the aperture and annulus (imaging)."""
    det = info.get("detector", "")
    if median is None or np.asarray(median).ndim != 2:
        fig = figure((8.0, 3.0))
        message(fig.add_subplot(), "no median frame")
        return save(fig, path)
    frame = np.asarray(median, dtype=np.float64)
    ny, nx = frame.shape
    aspect = "auto" if nx > 4 * ny else "equal"
    fig = figure((9.0, 3.2 if aspect == "auto" and ny < nx / 6 else 6.0))
    ax = fig.add_subplot()
    lo, hi = _stretch(frame)
    with quiet():
        im = ax.imshow(frame, origin="lower", cmap="magma", vmin=lo, vmax=hi, aspect=aspect,
                       interpolation="nearest")
    fig.colorbar(im, ax=ax, label="median rate [DN/s]", shrink=0.9)
    if info.get("mode") == "imaging" and "source_x" in info:
        _aperture(ax, info)
        ax.set_title(f"{det}: median frame, aperture and annulus")
    elif "trace_coef" in info:
        _trace_lines(ax, info, nx)
        along = " (transposed: dispersion along y on the detector)" if info.get("dispersion_axis") == "y" else ""
        ax.set_title(f"{det}: median frame and fitted trace{along}")
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.set_xlabel("column [pixel]")
    ax.set_ylabel("row [pixel]")
    ax.legend(loc="upper right", fontsize="x-small")
    return save(fig, path)
