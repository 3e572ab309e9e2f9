"""Reference-pixel diagnostic: even / odd column means of the reference pixels per amplifier
and group, before and after the refpix step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import dq as dqflags
from ... import io
from ...custom.destripe import amplifier_edges, fast_axis_index
from ...plotting import figure, save
from .common import DEFAULT_CHUNK_MB, int_chunks


def _reference_selection(pdq, fa):
    """(bool (ny, nx) pixels to average, description): the reference lines (fast-read lines
    mostly REFERENCE_PIXEL), else every reference pixel, else every pixel."""
    ref = (pdq & np.uint32(dqflags.REFERENCE_PIXEL)) != 0
    frac = ref.mean(axis=0 if fa == 0 else 1)  # per fast-read line
    lines = frac > 0.5
    if lines.any():
        return ref & (lines[None, :] if fa == 0 else lines[:, None]), "reference rows (detector frame)"
    if ref.any():
        return ref, "reference pixels"
    return np.ones(pdq.shape, bool), "all pixels (no reference pixels)"


def _amp_parity_labels(meta, fa, shape):
    """Per pixel: 2 * amplifier + parity of its detector column (along the fast axis).

    H2RG outputs are strips of 2048 / NOUTPUTS columns; MIRI's four outputs take the
    detector columns in turn (output = column mod 4)."""
    ny, nx = shape
    start = meta.substrt2 if fa == 0 else meta.substrt1
    n_fast = ny if fa == 0 else nx
    pos = np.arange(n_fast)
    if str(meta.instrument).upper() == "MIRI":
        det = pos + start - 1
        lab = (det % 4) * 2 + det % 2
        return np.broadcast_to(lab[:, None] if fa == 0 else lab[None, :], (ny, nx)), 8
    edges = amplifier_edges(n_fast, start, meta.noutputs, True)
    amp = np.searchsorted(edges, pos, side="right") - 1
    det = pos + start - 1  # detector column along the fast axis, in readout order
    if int(meta.fastaxis) < 0:
        det = 2047 - det
    parity = det % 2
    lab = amp * 2 + parity
    return np.broadcast_to(lab[:, None] if fa == 0 else lab[None, :], (ny, nx)), (edges.size - 1) * 2


def refpix_means(path, *, chunk_mb: float = DEFAULT_CHUNK_MB):
    """Mean per group of the reference pixels, split by amplifier and by even / odd position
    along the fast axis (the detector "columns"), averaged over integrations.

    The reference lines are the fast-read lines that are mostly REFERENCE_PIXEL (top /
    bottom rows of the detector); without them all reference pixels are used, and without
    any reference pixel all pixels. Returns (means float64 (ngroups, namps, 2) [even, odd],
    description of the pixels used).
    """
    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        meta = rf.meta
        fa = fast_axis_index(meta.fastaxis, meta.slowaxis)
        sel, what = _reference_selection(rf.pixeldq(), fa)
        j, nb = _amp_parity_labels(meta, fa, (ny, nx))
        labels = j[sel]
        counts = np.bincount(labels, minlength=nb).astype(np.float64)
        sums = np.zeros((ngroups, nb))
        for ints in int_chunks(rf, chunk_mb, None):
            sci, _ = rf.read(ints)
            vals = sci[:, :, sel]  # (n, ngroups, npix)
            for g in range(ngroups):
                sums[g] += np.bincount(labels, weights=vals[:, g].sum(axis=0, dtype=np.float64), minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / (counts[None] * nints)
    return means.reshape(ngroups, nb // 2, 2), what


def plot_refpix(before_path, after_path, out_png, *, chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(11, 4.5)) -> Path:
    """Odd / even column means of the reference pixels per amplifier and group, before and
    after the refpix step (after it they should be ~0 and equal)."""
    fig = figure(figsize)
    axes = fig.subplots(1, 2, sharey=False)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for ax, path, title in ((axes[0], before_path, "before refpix"), (axes[1], after_path, "after refpix")):
        means, what = refpix_means(path, chunk_mb=chunk_mb)
        g = np.arange(1, means.shape[0] + 1)
        for a in range(means.shape[1]):
            c = colors[a % len(colors)]
            ax.plot(g, means[:, a, 0], "o-", color=c, ms=3, label=f"amp {a + 1} even")
            ax.plot(g, means[:, a, 1], "s--", color=c, ms=3, label=f"amp {a + 1} odd")
        ax.set_xlabel("group number")
        ax.set_ylabel(f"mean of {what} (DN)")
        ax.set_title(f"{title}: {Path(path).name}", fontsize=8)
        ax.legend(fontsize=7, ncol=2)
    return save(fig, out_png)
