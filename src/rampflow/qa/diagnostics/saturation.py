"""Saturation diagnostic: saturated fraction per integration and an example partially
saturated ramp with the threshold of the SATURATION reference used."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import dq as dqflags
from ... import io
from ...io.custom import read_groupdq, read_pixel_ramp
from ...plotting import figure, message, save
from ...references import load_reference
from .common import DEFAULT_CHUNK_MB, group_times, int_chunks

_N_CANDIDATES = 50


def _saturated_fractions(rf, chunk_mb):
    """Per integration: fraction of pixels saturated in any group, fraction of groups saturated;
    and up to 50 candidate example pixels (distance of the first saturated group to the middle
    of the ramp, integration, y, x, first saturated group), nearest the middle first."""
    sat = np.uint8(dqflags.SATURATED)
    nints, ngroups = rf.shape[:2]
    frac_pix = np.zeros(nints)
    frac_grp = np.zeros(nints)
    cands = []
    for ints in int_chunks(rf, chunk_mb, None):
        s = (read_groupdq(rf, ints) & sat) != 0
        frac_pix[ints] = s.any(axis=1).mean(axis=(1, 2))
        frac_grp[ints] = s.mean(axis=(1, 2, 3))
        partial = s[:, -1] & ~s[:, 0]
        if partial.any():
            first = np.argmax(s, axis=1)
            dist = np.abs(first - (ngroups - 1) / 2.0)
            idx = np.argwhere(partial)
            order = np.argsort(dist[partial], kind="stable")[:_N_CANDIDATES]
            for i, y, x in idx[order]:
                cands.append((float(dist[i, y, x]), ints.start + int(i), int(y), int(x), int(first[i, y, x])))
            cands = sorted(cands)[:_N_CANDIDATES]
    return frac_pix, frac_grp, cands


def _example_ramp(rf, cands, thresh):
    """The example among ``cands``: the first that crossed its own threshold (not flagged by
    growth from a neighbour), else the first. Returns (candidate, (values, flags)) or (None, None)."""
    best, ramp = None, None
    for c in cands:
        r = read_pixel_ramp(rf, c[1], c[2], c[3])
        if best is None:
            best, ramp = c, r
        if thresh is None or r[0][c[4]] >= thresh[c[2], c[3]]:
            best, ramp = c, r
            break
    return best, ramp


def plot_saturation(sat_path, out_png, *, threshold_path=None, chunk_mb: float = DEFAULT_CHUNK_MB,
                    figsize=(11, 4.5)) -> Path:
    """Saturated fraction per integration, and an example partially saturated ramp.

    sat_path       : the saturation step's product (raw DN ramps, GROUPDQ SATURATED bits)
    threshold_path : the SATURATION reference used (drawn as the threshold line), or None
    The example is the pixel whose saturation starts closest to the middle of the ramp.
    """
    with io.open_ramp(sat_path) as rf:
        nints, ngroups = rf.shape[:2]
        meta = rf.meta
        frac_pix, frac_grp, cands = _saturated_fractions(rf, chunk_mb)
        thresh = None
        if cands and threshold_path:
            thresh = load_reference("saturation", threshold_path, meta)["SCI"]
        best, ramp = _example_ramp(rf, cands, thresh)
    thr = None if best is None or thresh is None else float(thresh[best[2], best[3]])
    fig = figure(figsize)
    ax1, ax2 = fig.subplots(1, 2)
    n = np.arange(1, nints + 1)
    ax1.plot(n, 100 * frac_pix, "o-", ms=3, label="pixels saturated in any group")
    ax1.plot(n, 100 * frac_grp, "s--", ms=3, label="groups saturated")
    ax1.set_xlabel("integration number")
    ax1.set_ylabel("saturated fraction (%)")
    ax1.set_title(Path(sat_path).name, fontsize=8)
    ax1.legend(fontsize=8)
    if ramp is None:
        message(ax2, "no partially saturated ramp")
    else:
        t = group_times(meta, ngroups)
        values, flags = ramp
        s = (flags & np.uint8(dqflags.SATURATED)) != 0
        ax2.plot(t[~s], values[~s], "o-", color="tab:blue", label="unsaturated groups")
        ax2.plot(t[s], values[s], "x", color="tab:red", ms=8, label="SATURATED groups")
        if thr is not None and np.isfinite(thr):
            ax2.axhline(thr, color="k", ls="--", lw=1, label=f"threshold {thr:.0f} DN")
        ax2.set_title(f"integration {best[1] + 1}, pixel (x={best[3]}, y={best[2]})", fontsize=9)
        ax2.legend(fontsize=8)
    ax2.set_xlabel("time since start of integration (s)")
    ax2.set_ylabel("signal (DN)")
    return save(fig, out_png)
