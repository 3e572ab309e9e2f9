"""Linearity diagnostic: last-pair / first-pair group-difference ratio against signal, before
and after the linearity step (a linear ramp of constant flux has ratio 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm

from ... import dq as dqflags
from ... import io
from ...io.custom import read_groups
from ...plotting import figure, message, save
from .common import BAD_GROUP, DEFAULT_CHUNK_MB, int_chunks


def linearity_ratio_sample(path, *, max_points: int = 200_000, min_diff: float = 20.0, seed: int = 0,
                           chunk_mb: float = DEFAULT_CHUNK_MB):
    """Sample of (signal in last group, last-pair / first-pair difference ratio) of a ramp.

    For every pixel of every integration: first = G1 - G0, last = G[n-1] - G[n-2], signal =
    G[n-1] (DN). Pixels are kept when first > ``min_diff`` DN, none of the four groups has
    DO_NOT_USE / SATURATED, and the pixel is not a reference / do-not-use pixel; then a random
    subset (probability max_points / all pixels, seeded) is returned as two float32 arrays.
    Needs at least 3 groups (returns empty arrays otherwise).
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        if ngroups < 3:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        pdq = rf.pixeldq()
        okpix = (pdq & np.uint32(dqflags.REFERENCE_PIXEL | dqflags.DO_NOT_USE)) == 0
        p = min(1.0, max_points / float(nints * ny * nx))
        for ints in int_chunks(rf, chunk_mb, 4):
            sci, gdq = read_groups(rf, [0, 1, ngroups - 2, ngroups - 1], ints)
            first = sci[:, 1] - sci[:, 0]
            last = sci[:, 3] - sci[:, 2]
            flagged = ((gdq & BAD_GROUP) != 0).any(axis=1)
            keep = okpix[None] & ~flagged & (first > min_diff) & np.isfinite(first) & np.isfinite(last)
            if p < 1:
                keep &= rng.random(keep.shape) < p
            xs.append(sci[:, 3][keep])
            ys.append((last[keep] / first[keep]).astype(np.float32))
    return np.concatenate(xs), np.concatenate(ys)


def plot_linearity_ratio(before_path, after_path, out_png, *, max_points: int = 200_000, min_diff: float = 20.0,
                         seed: int = 0, chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(11, 4.5),
                         labels=("before linearity", "after linearity")) -> Path:
    """Density of last-pair / first-pair difference ratio vs signal in the last group, before
    and after the linearity correction, with the ideal ratio 1 and the binned median."""
    fig = figure(figsize)
    axes = fig.subplots(1, 2, sharey=True)
    samples = [linearity_ratio_sample(p, max_points=max_points, min_diff=min_diff, seed=seed, chunk_mb=chunk_mb)
               for p in (before_path, after_path)]
    allr = np.concatenate([s[1] for s in samples]) if samples else np.zeros(0)
    lo, hi = 0.5, 1.5
    if allr.size:
        a, b = np.percentile(allr, [1, 99])
        lo, hi = max(0.5, min(a, 0.95)), min(1.5, max(b, 1.05))
    for ax, (x, r), label, path in zip(axes, samples, labels, (before_path, after_path)):
        ax.set_title(f"{label}: {Path(path).name}", fontsize=8)
        if x.size == 0:
            message(ax, "no usable pixels (needs >= 3 groups and signal)")
            continue
        _ratio_panel(fig, ax, x, r, (lo, hi))
    axes[0].set_ylabel("(last-pair diff) / (first-pair diff)")
    axes[0].set_ylim(lo, hi)
    return save(fig, out_png)


def _ratio_panel(fig, ax, x, r, ylim) -> None:
    """2-D histogram of ratio ``r`` against signal ``x``, its binned median and the line ratio = 1."""
    xr = (float(np.min(x)), float(np.max(x)) if np.max(x) > np.min(x) else float(np.min(x)) + 1)
    h = ax.hist2d(x, r, bins=[120, 120], range=[xr, ylim], norm=LogNorm(), cmap="viridis")
    fig.colorbar(h[3], ax=ax, label="pixels per bin")
    edges = np.linspace(xr[0], xr[1], 25)
    idx = np.digitize(x, edges)
    cen, med = [], []
    for k in range(1, edges.size):
        sel = idx == k
        if sel.sum() >= 20:
            cen.append(0.5 * (edges[k - 1] + edges[k]))
            med.append(np.median(r[sel]))
    ax.plot(cen, med, color="tab:red", lw=1.5, label="binned median")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="ratio = 1 (linear)")
    ax.set_xlabel("signal in last group (DN)")
    ax.legend(loc="lower left", fontsize=8)
