"""Jump diagnostics: jump flags per integration, and a grid of example ramps with their jumps
and the fitted slope drawn through each segment between jumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import dq as dqflags
from ... import io
from ...io.custom import read_groupdq, read_pixel_ramp
from ...plotting import figure, message, save
from .common import BAD_GROUP, DEFAULT_CHUNK_MB, group_times, int_chunks


def jump_counts(jump_path, *, chunk_mb: float = DEFAULT_CHUNK_MB):
    """Per integration: groups flagged JUMP_DET and pixels with at least one (int64 arrays)."""
    jb = np.uint8(dqflags.JUMP_DET)
    with io.open_ramp(jump_path) as rf:
        nints = rf.shape[0]
        ngrp = np.zeros(nints, np.int64)
        npix = np.zeros(nints, np.int64)
        for ints in int_chunks(rf, chunk_mb, None):
            j = (read_groupdq(rf, ints) & jb) != 0
            ngrp[ints] = j.sum(axis=(1, 2, 3))
            npix[ints] = j.any(axis=1).sum(axis=(1, 2))
    return ngrp, npix


def plot_jump_counts(jump_path, out_png, *, chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(9, 4.5)) -> Path:
    """Jump flags per integration (groups flagged, pixels with a jump)."""
    ngrp, npix = jump_counts(jump_path, chunk_mb=chunk_mb)
    fig = figure(figsize)
    ax = fig.subplots()
    n = np.arange(1, ngrp.size + 1)
    ax.plot(n, ngrp, "o-", ms=3, label="groups flagged JUMP_DET")
    ax.plot(n, npix, "s--", ms=3, label="pixels with >= 1 jump")
    ax.set_xlabel("integration number")
    ax.set_ylabel("count")
    ax.set_title(f"{Path(jump_path).name}: {int(ngrp.sum())} jump flags in total", fontsize=9)
    ax.legend(fontsize=8)
    return save(fig, out_png)


def _segments(flags):
    """Group indices of ramp segments between jumps (a JUMP_DET group starts a segment);
    DO_NOT_USE / SATURATED groups are left out."""
    segs, cur = [], []
    for g, f in enumerate(flags):
        if f & dqflags.JUMP_DET and cur:
            segs.append(cur)
            cur = []
        if f & BAD_GROUP:
            continue
        cur.append(g)
    if cur:
        segs.append(cur)
    return segs


def _choose_jump_pixels(rf, n_examples, rng, chunk_mb):
    """A seeded reservoir sample of up to ``n_examples`` (integration, y, x) with a jump."""
    jb = np.uint8(dqflags.JUMP_DET)
    chosen = []
    seen = 0
    for ints in int_chunks(rf, chunk_mb, None):
        j = ((read_groupdq(rf, ints) & jb) != 0).any(axis=1)
        for i, y, x in np.argwhere(j):
            seen += 1
            if len(chosen) < n_examples:
                chosen.append((ints.start + int(i), int(y), int(x)))
            else:
                k = int(rng.integers(0, seen))
                if k < n_examples:
                    chosen[k] = (ints.start + int(i), int(y), int(x))
    return chosen


def _rateints_slopes(rateints_path, chosen):
    """The rateints SCI (DN/s) of each chosen (integration, y, x), or None where not available."""
    if rateints_path is None or not Path(rateints_path).is_file() or not chosen:
        return [None] * len(chosen)
    sci = io.read_image_product(rateints_path)["SCI"]
    if sci.ndim == 2:
        sci = sci[None]
    return [float(sci[i, y, x]) if i < sci.shape[0] else None for i, y, x in chosen]


def _ramp_panel(ax, t, pixel, ramp, slope, ngroups) -> None:
    """One example ramp: its groups, the JUMP_DET groups, bad groups and the fitted line."""
    (i, y, x), (v, f) = pixel, ramp
    jump = (f & np.uint8(dqflags.JUMP_DET)) != 0
    bad = (f & BAD_GROUP) != 0
    ax.plot(t, v, "o", color="tab:blue", ms=4, label="group")
    ax.plot(t[jump], v[jump], "o", mfc="none", mec="tab:red", ms=10, mew=1.5, label="JUMP_DET")
    if bad.any():
        ax.plot(t[bad], v[bad], "x", color="grey", label="saturated / do not use")
    segs = _segments(f)
    if slope is None or not np.isfinite(slope):
        d = [v[b] - v[a] for s in segs for a, b in zip(s[:-1], s[1:]) if b == a + 1]
        slope = float(np.median(d) / (t[1] - t[0])) if d and ngroups > 1 else 0.0
        src = "median difference"
    else:
        src = "rateints"
    for n_s, s in enumerate(segs):
        ts = t[s]
        icpt = float(np.mean(v[s] - slope * ts))
        ax.plot(ts, icpt + slope * ts, "-", color="tab:orange", lw=1.2,
                label=f"fit ({src}): {slope:.3g} DN/s" if n_s == 0 else None)
    ax.set_title(f"int {i + 1}, x={x}, y={y}", fontsize=8)
    ax.tick_params(labelsize=7)


def plot_jump_ramps(jump_path, out_png, *, rateints_path=None, n_examples: int = 9, seed: int = 0,
                    chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(11, 9)) -> Path:
    """A grid of example ramps with jumps: groups, the JUMP_DET groups, and the fitted line.

    The examples are a seeded random choice among pixels with a jump. The line has the
    slope of ``rateints_path`` SCI (DN/s) for that integration and pixel when given, else
    the median first difference of unflagged groups divided by the group time; it is drawn
    through each segment between jumps (the ramp fit fits segments with a common slope).
    """
    rng = np.random.default_rng(seed)
    with io.open_ramp(jump_path) as rf:
        meta = rf.meta
        ngroups = rf.shape[1]
        chosen = _choose_jump_pixels(rf, n_examples, rng, chunk_mb)
        ramps = [read_pixel_ramp(rf, i, y, x) for i, y, x in chosen]
    slopes = _rateints_slopes(rateints_path, chosen)
    t = group_times(meta, ngroups)
    fig = figure(figsize)
    ncol = 3
    nrow = max(1, int(np.ceil(max(1, len(chosen)) / ncol)))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    if not chosen:
        message(axes[0], "no jumps flagged")
    for k, ax in enumerate(axes):
        if k >= len(chosen):
            if k > 0:
                ax.set_axis_off()
            continue
        _ramp_panel(ax, t, chosen[k], ramps[k], slopes[k], ngroups)
        if k % ncol == 0:
            ax.set_ylabel("signal (DN)", fontsize=8)
        if k >= len(chosen) - ncol:
            ax.set_xlabel("time in integration (s)", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    return save(fig, out_png)
