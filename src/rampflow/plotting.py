"""Shared matplotlib helpers for every plot rampflow writes (diagnostics, light curves, QA).

Figures are built with the object-oriented API (``matplotlib.figure.Figure``, no pyplot state),
so plotting works headless and in parallel jobs; PNGs are written atomically at a fixed DPI.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .io import atomic_path

log = logging.getLogger(__name__)

#: dots per inch of every PNG (figure size in inches x DPI = pixel size)
DPI = 100


def figure(figsize=(8.0, 4.5)) -> Figure:
    """A new figure of ``figsize`` inches with constrained layout."""
    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def save(fig: Figure, out_png) -> Path:
    """Write ``fig`` as a PNG at ``out_png`` atomically (never a partial file)."""
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    log.info("wrote %s", out_png)
    return Path(out_png)


def message(ax, text: str) -> None:
    """Write ``text`` in the middle of an empty panel (e.g. "no jumps flagged")."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def robust_limits(img, lo: float = 1.0, hi: float = 99.0) -> tuple[float, float]:
    """Display limits of an image: its ``lo`` and ``hi`` percentiles of finite values."""
    v = np.asarray(img)[np.isfinite(img)]
    if v.size == 0:
        return -1.0, 1.0
    a, b = np.percentile(v, [lo, hi])
    if a == b:
        a, b = a - 1, b + 1
    return float(a), float(b)
