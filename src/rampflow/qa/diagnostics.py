"""Per-step diagnostic plots (PNG, matplotlib Agg) and tables for JWST ramp products.

Every function takes file paths, reads the ramps chunk by chunk through :mod:`rampflow.io`
(memory stays bounded: chunks of integrations of about ``chunk_mb`` MB, and only the groups
needed), samples pixels for density plots, and writes a PNG of a fixed pixel size
(``figsize`` x ``DPI``) atomically. Axes carry labels with units.

* :func:`plot_linearity_ratio` -- last-pair / first-pair group difference vs signal, before
  and after the linearity step (a linear ramp has ratio 1);
* :func:`dq_tally` -- PIXELDQ counts per mnemonic and GROUPDQ flags added per step (CSV + bars);
* :func:`plot_saturation` -- saturated fraction per integration and an example ramp;
* :func:`plot_jump_counts`, :func:`plot_jump_ramps` -- jumps per integration, example ramps;
* :func:`plot_destripe` -- group-difference images before / after 1/f destriping, line medians;
* :func:`plot_refpix` -- odd / even column means of the reference pixels before / after refpix;
* :func:`plot_ta_quicklook` -- last group of target-acquisition exposures, frame centre marked.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import numpy as np

from .. import dq as dqflags

log = logging.getLogger(__name__)

DPI = 100
DEFAULT_CHUNK_MB = 256
#: target-acquisition exposure types (NIRCam/NIRISS/MIRI TACQ, TACONFIRM; NIRSpec WATA/MSATA)
TA_EXP_TYPE = re.compile(r"(TACQ|TACONFIRM|WATA|MSATA)$", re.IGNORECASE)
_BAD_GROUP = dqflags.DO_NOT_USE | dqflags.SATURATED


# --------------------------------------------------------------------------- helpers

def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def _save(fig, out_png) -> Path:
    from ..io import atomic_path

    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    log.info("wrote %s", out_png)
    return Path(out_png)


def _message(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _int_chunks(rf, chunk_mb: float, ngroups_read: int | None = None):
    """Slices of integrations whose read (``ngroups_read`` groups, float32 + uint8) fits chunk_mb."""
    nints, ngroups, ny, nx = rf.shape
    ng = ngroups if ngroups_read is None else ngroups_read
    per_int = max(1, ng * ny * nx * 5)
    n = max(1, int(float(chunk_mb) * 2**20 // per_int))
    return [slice(i, min(nints, i + n)) for i in range(0, nints, n)]


def _robust_limits(img, lo=1.0, hi=99.0):
    v = np.asarray(img)[np.isfinite(img)]
    if v.size == 0:
        return -1.0, 1.0
    a, b = np.percentile(v, [lo, hi])
    if a == b:
        a, b = a - 1, b + 1
    return float(a), float(b)


def _group_times(meta, ngroups):
    """Time (s) at the end of each group from the start of the integration."""
    tg = float(meta.tgroup) if meta.tgroup else 1.0
    return (np.arange(ngroups) + 1.0) * tg


# --------------------------------------------------------------------------- linearity

def linearity_ratio_sample(path, *, max_points: int = 200_000, min_diff: float = 20.0, seed: int = 0,
                           chunk_mb: float = DEFAULT_CHUNK_MB):
    """Sample of (signal in last group, last-pair / first-pair difference ratio) of a ramp.

    For every pixel of every integration: first = G1 - G0, last = G[n-1] - G[n-2], signal =
    G[n-1] (DN). Pixels are kept when first > ``min_diff`` DN, none of the four groups has
    DO_NOT_USE / SATURATED, and the pixel is not a reference / do-not-use pixel; then a random
    subset (probability max_points / all pixels, seeded) is returned as two float32 arrays.
    Needs at least 3 groups (returns empty arrays otherwise).
    """
    from .. import io
    from ..io.custom import read_groups

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        if ngroups < 3:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        pdq = rf.pixeldq()
        okpix = (pdq & np.uint32(dqflags.REFERENCE_PIXEL | dqflags.DO_NOT_USE)) == 0
        p = min(1.0, max_points / float(nints * ny * nx))
        for ints in _int_chunks(rf, chunk_mb, 4):
            sci, gdq = read_groups(rf, [0, 1, ngroups - 2, ngroups - 1], ints)
            first = sci[:, 1] - sci[:, 0]
            last = sci[:, 3] - sci[:, 2]
            flagged = ((gdq & _BAD_GROUP) != 0).any(axis=1)
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
    from matplotlib.colors import LogNorm

    fig = _figure(figsize)
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
            _message(ax, "no usable pixels (needs >= 3 groups and signal)")
            continue
        xr = (float(np.min(x)), float(np.max(x)) if np.max(x) > np.min(x) else float(np.min(x)) + 1)
        h = ax.hist2d(x, r, bins=[120, 120], range=[xr, (lo, hi)], norm=LogNorm(), cmap="viridis")
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
    axes[0].set_ylabel("(last-pair diff) / (first-pair diff)")
    axes[0].set_ylim(lo, hi)
    return _save(fig, out_png)


# --------------------------------------------------------------------------- DQ tally

def dq_tally(step_paths, out_csv, out_png=None, *, chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(11, 5)):
    """Count DQ flags of a chain of ramp products.

    step_paths : ordered mapping step name -> ramp product path (the order the steps ran)
    Writes ``out_csv`` with one row per (array, step, flag): ``array`` PIXELDQ (per pixel) or
    GROUPDQ (per group), ``count``, ``percent`` of pixels / groups, ``added`` (count minus the
    previous step's count). Only flags set somewhere appear. With ``out_png``, bar charts:
    PIXELDQ percent per mnemonic after the last step, and GROUPDQ flags added per step.
    Returns the rows as a list of dicts.
    """
    from .. import io
    from ..io.custom import read_groupdq

    step_paths = dict(step_paths)
    rows = []
    prev_pix = {n: 0 for n in dqflags.FLAGS}
    prev_grp = {n: 0 for n in dqflags.GROUP_FLAGS}
    for step, path in step_paths.items():
        with io.open_ramp(path) as rf:
            nints, ngroups, ny, nx = rf.shape
            pdq = rf.pixeldq()
            pix = {n: int(np.count_nonzero(pdq & np.uint32(b))) for n, b in dqflags.FLAGS.items() if b}
            grp = {n: 0 for n, b in dqflags.GROUP_FLAGS.items() if b}
            for ints in _int_chunks(rf, chunk_mb, None):
                g = read_groupdq(rf, ints)
                for n, b in dqflags.GROUP_FLAGS.items():
                    if b:
                        grp[n] += int(np.count_nonzero(g & np.uint8(b)))
        npix, ngrp = ny * nx, nints * ngroups * ny * nx
        for n, c in pix.items():
            if c or prev_pix.get(n):
                rows.append({"array": "PIXELDQ", "step": step, "flag": n, "bit": dqflags.FLAGS[n].bit_length() - 1,
                             "count": c, "percent": 100.0 * c / npix, "added": c - prev_pix.get(n, 0)})
        for n, c in grp.items():
            if c or prev_grp.get(n):
                rows.append({"array": "GROUPDQ", "step": step, "flag": n, "bit": dqflags.FLAGS[n].bit_length() - 1,
                             "count": c, "percent": 100.0 * c / ngrp, "added": c - prev_grp.get(n, 0)})
        prev_pix.update(pix)
        prev_grp.update(grp)
    from ..io import atomic_path

    fields = ["array", "step", "flag", "bit", "count", "percent", "added"]
    with atomic_path(out_csv) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                w.writerow({**r, "percent": f"{r['percent']:.6g}"})
    log.info("wrote %s (%d rows)", out_csv, len(rows))
    if out_png is not None:
        _plot_dq_tally(rows, list(step_paths), out_png, figsize)
    return rows


def _plot_dq_tally(rows, steps, out_png, figsize):
    fig = _figure(figsize)
    ax1, ax2 = fig.subplots(1, 2)
    last = steps[-1] if steps else None
    pix = [r for r in rows if r["array"] == "PIXELDQ" and r["step"] == last and r["count"] > 0]
    if pix:
        names = [r["flag"] for r in pix]
        ax1.barh(names, [r["percent"] for r in pix], color="tab:blue")
        for k, r in enumerate(pix):
            ax1.text(r["percent"], k, f" {r['count']}", va="center", fontsize=7)
        ax1.set_xscale("log")
        ax1.invert_yaxis()
    else:
        _message(ax1, "no PIXELDQ flags set")
    ax1.set_xlabel("pixels flagged (% of frame)")
    ax1.set_title(f"PIXELDQ after {last}", fontsize=9)
    grp = [r for r in rows if r["array"] == "GROUPDQ"]
    flags = sorted({r["flag"] for r in grp if r["added"] != 0}, key=lambda n: dqflags.FLAGS[n])
    if flags:
        width = 0.8 / len(flags)
        x = np.arange(len(steps))
        for k, fl in enumerate(flags):
            vals = [sum(r["added"] for r in grp if r["step"] == s and r["flag"] == fl) for s in steps]
            ax2.bar(x + (k - (len(flags) - 1) / 2) * width, vals, width, label=fl)
        ax2.set_xticks(x, steps, rotation=30, ha="right", fontsize=8)
        ax2.legend(fontsize=8)
        ax2.axhline(0, color="k", lw=0.5)
    else:
        _message(ax2, "no GROUPDQ flags added")
    ax2.set_ylabel("groups flagged by the step (count)")
    ax2.set_title("GROUPDQ flags added per step", fontsize=9)
    return _save(fig, out_png)


# --------------------------------------------------------------------------- saturation

def plot_saturation(sat_path, out_png, *, threshold_path=None, chunk_mb: float = DEFAULT_CHUNK_MB,
                    figsize=(11, 4.5)) -> Path:
    """Saturated fraction per integration, and an example partially saturated ramp.

    sat_path       : the saturation step's product (raw DN ramps, GROUPDQ SATURATED bits)
    threshold_path : the SATURATION reference used (drawn as the threshold line), or None
    The example is the pixel whose saturation starts closest to the middle of the ramp.
    """
    from .. import io
    from ..io.custom import read_groupdq, read_pixel_ramp

    sat = np.uint8(dqflags.SATURATED)
    n_candidates = 50
    with io.open_ramp(sat_path) as rf:
        nints, ngroups, ny, nx = rf.shape
        meta = rf.meta
        frac_pix = np.zeros(nints)
        frac_grp = np.zeros(nints)
        cands = []  # (distance to middle, int, y, x, first saturated group)
        for ints in _int_chunks(rf, chunk_mb, None):
            g = read_groupdq(rf, ints)
            s = (g & sat) != 0
            frac_pix[ints] = s.any(axis=1).mean(axis=(1, 2))
            frac_grp[ints] = s.mean(axis=(1, 2, 3))
            partial = s[:, -1] & ~s[:, 0]
            if partial.any():
                first = np.argmax(s, axis=1)
                dist = np.abs(first - (ngroups - 1) / 2.0)
                idx = np.argwhere(partial)
                order = np.argsort(dist[partial], kind="stable")[:n_candidates]
                for i, y, x in idx[order]:
                    cands.append((float(dist[i, y, x]), ints.start + int(i), int(y), int(x), int(first[i, y, x])))
                cands = sorted(cands)[:n_candidates]
        thresh = None
        if cands and threshold_path:
            from ..references import load_reference

            thresh = load_reference("saturation", threshold_path, meta)["SCI"]
        best, ramp = None, None
        for c in cands:
            r = read_pixel_ramp(rf, c[1], c[2], c[3])
            if best is None:
                best, ramp = c, r
            # prefer a pixel that crossed its own threshold (not flagged by growth from a neighbour)
            if thresh is None or r[0][c[4]] >= thresh[c[2], c[3]]:
                best, ramp = c, r
                break
    thr = None if best is None or thresh is None else float(thresh[best[2], best[3]])
    fig = _figure(figsize)
    ax1, ax2 = fig.subplots(1, 2)
    n = np.arange(1, nints + 1)
    ax1.plot(n, 100 * frac_pix, "o-", ms=3, label="pixels saturated in any group")
    ax1.plot(n, 100 * frac_grp, "s--", ms=3, label="groups saturated")
    ax1.set_xlabel("integration number")
    ax1.set_ylabel("saturated fraction (%)")
    ax1.set_title(Path(sat_path).name, fontsize=8)
    ax1.legend(fontsize=8)
    if ramp is None:
        _message(ax2, "no partially saturated ramp")
    else:
        t = _group_times(meta, ngroups)
        values, flags = ramp
        s = (flags & sat) != 0
        ax2.plot(t[~s], values[~s], "o-", color="tab:blue", label="unsaturated groups")
        ax2.plot(t[s], values[s], "x", color="tab:red", ms=8, label="SATURATED groups")
        if thr is not None and np.isfinite(thr):
            ax2.axhline(thr, color="k", ls="--", lw=1, label=f"threshold {thr:.0f} DN")
        ax2.set_title(f"integration {best[1] + 1}, pixel (x={best[3]}, y={best[2]})", fontsize=9)
        ax2.legend(fontsize=8)
    ax2.set_xlabel("time since start of integration (s)")
    ax2.set_ylabel("signal (DN)")
    return _save(fig, out_png)


# --------------------------------------------------------------------------- jumps

def jump_counts(jump_path, *, chunk_mb: float = DEFAULT_CHUNK_MB):
    """Per integration: groups flagged JUMP_DET and pixels with at least one (int64 arrays)."""
    from .. import io
    from ..io.custom import read_groupdq

    jb = np.uint8(dqflags.JUMP_DET)
    with io.open_ramp(jump_path) as rf:
        nints = rf.shape[0]
        ngrp = np.zeros(nints, np.int64)
        npix = np.zeros(nints, np.int64)
        for ints in _int_chunks(rf, chunk_mb, None):
            j = (read_groupdq(rf, ints) & jb) != 0
            ngrp[ints] = j.sum(axis=(1, 2, 3))
            npix[ints] = j.any(axis=1).sum(axis=(1, 2))
    return ngrp, npix


def plot_jump_counts(jump_path, out_png, *, chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(9, 4.5)) -> Path:
    """Jump flags per integration (groups flagged, pixels with a jump)."""
    ngrp, npix = jump_counts(jump_path, chunk_mb=chunk_mb)
    fig = _figure(figsize)
    ax = fig.subplots()
    n = np.arange(1, ngrp.size + 1)
    ax.plot(n, ngrp, "o-", ms=3, label="groups flagged JUMP_DET")
    ax.plot(n, npix, "s--", ms=3, label="pixels with >= 1 jump")
    ax.set_xlabel("integration number")
    ax.set_ylabel("count")
    ax.set_title(f"{Path(jump_path).name}: {int(ngrp.sum())} jump flags in total", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, out_png)


def _segments(flags):
    """Group indices of ramp segments between jumps (a JUMP_DET group starts a segment);
    DO_NOT_USE / SATURATED groups are left out."""
    segs, cur = [], []
    for g, f in enumerate(flags):
        if f & dqflags.JUMP_DET and cur:
            segs.append(cur)
            cur = []
        if f & _BAD_GROUP:
            continue
        cur.append(g)
    if cur:
        segs.append(cur)
    return segs


def plot_jump_ramps(jump_path, out_png, *, rateints_path=None, n_examples: int = 9, seed: int = 0,
                    chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(11, 9)) -> Path:
    """A grid of example ramps with jumps: groups, the JUMP_DET groups, and the fitted line.

    The examples are a seeded random choice among pixels with a jump. The line has the
    slope of ``rateints_path`` SCI (DN/s) for that integration and pixel when given, else
    the median first difference of unflagged groups divided by the group time; it is drawn
    through each segment between jumps (the ramp fit fits segments with a common slope).
    """
    from .. import io
    from ..io.custom import read_groupdq, read_pixel_ramp

    rng = np.random.default_rng(seed)
    jb = np.uint8(dqflags.JUMP_DET)
    chosen = []  # reservoir of (int, y, x)
    seen = 0
    with io.open_ramp(jump_path) as rf:
        meta = rf.meta
        ngroups = rf.shape[1]
        for ints in _int_chunks(rf, chunk_mb, None):
            j = ((read_groupdq(rf, ints) & jb) != 0).any(axis=1)
            idx = np.argwhere(j)
            for i, y, x in idx:
                seen += 1
                if len(chosen) < n_examples:
                    chosen.append((ints.start + int(i), int(y), int(x)))
                else:
                    k = int(rng.integers(0, seen))
                    if k < n_examples:
                        chosen[k] = (ints.start + int(i), int(y), int(x))
        ramps = [read_pixel_ramp(rf, i, y, x) for i, y, x in chosen]
    slopes = [None] * len(chosen)
    if rateints_path is not None and Path(rateints_path).is_file() and chosen:
        from ..io import read_image_product

        sci = read_image_product(rateints_path)["SCI"]
        if sci.ndim == 2:
            sci = sci[None]
        slopes = [float(sci[i, y, x]) if i < sci.shape[0] else None for i, y, x in chosen]
    t = _group_times(meta, ngroups)
    fig = _figure(figsize)
    ncol = 3
    nrow = max(1, int(np.ceil(max(1, len(chosen)) / ncol)))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    if not chosen:
        _message(axes[0], "no jumps flagged")
    for k, ax in enumerate(axes):
        if k >= len(chosen):
            if k > 0:
                ax.set_axis_off()
            continue
        (i, y, x), (v, f), slope = chosen[k], ramps[k], slopes[k]
        jump = (f & jb) != 0
        bad = (f & _BAD_GROUP) != 0
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
        if k % ncol == 0:
            ax.set_ylabel("signal (DN)", fontsize=8)
        if k >= len(chosen) - ncol:
            ax.set_xlabel("time in integration (s)", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    return _save(fig, out_png)


# --------------------------------------------------------------------------- 1/f destriping

def _group_difference(path, integration=0, groups=(0, 1)):
    from .. import io
    from ..io.custom import read_groups

    with io.open_ramp(path) as rf:
        ng = rf.shape[1]
        meta, pdq = rf.meta, rf.pixeldq()
        if ng < 2:
            sci, _ = read_groups(rf, [0], slice(integration, integration + 1))
            return sci[0, 0], meta, pdq
        g0, g1 = groups
        sci, _ = read_groups(rf, [g0, g1], slice(integration, integration + 1))
        return sci[0, 1] - sci[0, 0], meta, pdq


def plot_destripe(before_path, after_path, out_png, *, mask_path=None, integration: int = 0,
                  figsize=(11, 8)) -> Path:
    """Group-difference image (G2 - G1 of one integration) before and after destriping, and
    the median of the background pixels of each fast-read line (the 1/f profile)."""
    from ..custom.destripe import fast_axis_index, line_medians
    from ..io.custom import read_mask_product

    before, meta, pdq = _group_difference(before_path, integration)
    after, _, _ = _group_difference(after_path, integration)
    fa = fast_axis_index(meta.fastaxis, meta.slowaxis)
    if mask_path:
        use, _, _ = read_mask_product(mask_path)
        use = use & (pdq == 0)
    else:
        use = pdq == 0
    lm_b = line_medians(before, use, fa, min_pixels=1)[0]
    lm_a = line_medians(after, use, fa, min_pixels=1)[0]
    fig = _figure(figsize)
    axes = fig.subplots(3, 1)
    lo, hi = _robust_limits(before)
    for ax, img, title in ((axes[0], before, "before destriping"), (axes[1], after, "after destriping")):
        im = ax.imshow(img, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="gray", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="group 2 - group 1 (DN)")
        ax.set_title(f"{title}: integration {integration + 1}", fontsize=9)
        ax.set_xlabel("x (column, pixels)")
        ax.set_ylabel("y (row, pixels)")
    lines = np.arange(lm_b.size)
    axes[2].plot(lines, lm_b, color="grey", lw=0.8, label=f"before (std {np.nanstd(lm_b):.2f} DN)")
    axes[2].plot(lines, lm_a, color="tab:blue", lw=0.8, label=f"after (std {np.nanstd(lm_a):.2f} DN)")
    axes[2].set_xlabel(("column x" if fa == 0 else "row y") + " (fast-read line index, pixels)")
    axes[2].set_ylabel("line median (DN)")
    axes[2].legend(fontsize=8)
    axes[2].set_title("median of background pixels along each fast-read line", fontsize=9)
    return _save(fig, out_png)


# --------------------------------------------------------------------------- refpix

def refpix_means(path, *, chunk_mb: float = DEFAULT_CHUNK_MB):
    """Mean per group of the reference pixels, split by amplifier and by even / odd position
    along the fast axis (the detector "columns"), averaged over integrations.

    The reference lines are the fast-read lines that are mostly REFERENCE_PIXEL (top /
    bottom rows of the detector); without them all reference pixels are used, and without
    any reference pixel all pixels. Returns (means float64 (ngroups, namps, 2) [even, odd],
    description of the pixels used).
    """
    from .. import io
    from ..custom.destripe import amplifier_edges, fast_axis_index

    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        meta = rf.meta
        pdq = rf.pixeldq()
        fa = fast_axis_index(meta.fastaxis, meta.slowaxis)
        ref = (pdq & np.uint32(dqflags.REFERENCE_PIXEL)) != 0
        frac = ref.mean(axis=0 if fa == 0 else 1)  # per fast-read line
        lines = frac > 0.5
        if lines.any():
            sel = ref & (lines[None, :] if fa == 0 else lines[:, None])
            what = "reference rows (detector frame)"
        elif ref.any():
            sel, what = ref, "reference pixels"
        else:
            sel, what = np.ones((ny, nx), bool), "all pixels (no reference pixels)"
        start = meta.substrt2 if fa == 0 else meta.substrt1
        n_fast = ny if fa == 0 else nx
        edges = amplifier_edges(n_fast, start, meta.noutputs, True)
        pos = np.arange(n_fast)
        amp = np.searchsorted(edges, pos, side="right") - 1
        det = pos + start - 1  # detector column along the fast axis, in readout order
        if int(meta.fastaxis) < 0:
            det = 2047 - det
        parity = det % 2
        j = np.broadcast_to((amp * 2 + parity)[:, None] if fa == 0 else (amp * 2 + parity)[None, :], (ny, nx))
        labels = j[sel]
        nb = (edges.size - 1) * 2
        counts = np.bincount(labels, minlength=nb).astype(np.float64)
        sums = np.zeros((ngroups, nb))
        for ints in _int_chunks(rf, chunk_mb, None):
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
    fig = _figure(figsize)
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
    return _save(fig, out_png)


# --------------------------------------------------------------------------- TA quicklook

def is_target_acquisition(exp_type: str) -> bool:
    return bool(TA_EXP_TYPE.search(str(exp_type).strip()))


def plot_ta_quicklook(uncal_paths, out_png, *, figsize=(12, 7), max_panels: int = 6) -> Path:
    """Last group of the last integration of each target-acquisition exposure (EXP_TYPE
    ending in TACQ, TACONFIRM, WATA or MSATA) among ``uncal_paths``, with the frame centre
    (+) and the brightest pixel of last - first group (x) marked; other exposures are ignored."""
    from .. import io
    from ..io.custom import read_groups
    from scipy.ndimage import median_filter

    found = []
    for p in uncal_paths:
        with io.open_ramp(p) as rf:
            if not is_target_acquisition(rf.meta.exp_type):
                continue
            nints, ng = rf.shape[:2]
            sci, _ = read_groups(rf, [0, ng - 1], slice(nints - 1, nints))
            found.append((Path(p).name, rf.meta.exp_type, sci[0, 1], sci[0, 1] - sci[0, 0]))
    fig = _figure(figsize)
    if not found:
        _message(fig.subplots(), "no target-acquisition exposures among the inputs")
        return _save(fig, out_png)
    shown = found[:max_panels]
    ncol = min(3, len(shown))
    nrow = int(np.ceil(len(shown) / ncol))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, (name, exp_type, last, diff) in zip(axes, shown):
        ny, nx = last.shape
        lo, hi = _robust_limits(last, 1, 99.5)
        im = ax.imshow(last, origin="lower", cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        fig.colorbar(im, ax=ax, label="last group (DN)", shrink=0.8)
        cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
        ax.plot([cx], [cy], "+", color="cyan", ms=14, mew=2, label="frame centre")
        sm = median_filter(np.nan_to_num(diff), size=3)
        py, px = np.unravel_index(int(np.argmax(sm)), sm.shape)
        ax.plot([px], [py], "x", color="lime", ms=10, mew=2, label="peak")
        ax.set_title(f"{name}\n{exp_type}: peak - centre = ({px - cx:+.1f}, {py - cy:+.1f}) px", fontsize=7)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
        ax.legend(fontsize=6, loc="upper right")
    for ax in axes[len(shown):]:
        ax.set_axis_off()
    if len(found) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(found)} TA exposures", fontsize=9)
    return _save(fig, out_png)


# --------------------------------------------------------------------------- workflow wiring

def diagnostic_settings(config: dict) -> dict:
    """Diagnostics settings from the workflow config (``qa.diagnostics``: a bool or a mapping
    with ``enabled`` (true), ``sample_points`` (200000), ``jump_examples`` (9)), plus ``ta``:
    whether the target-acquisition quicklook applies (local inputs, or MAST with include_ta)."""
    cfg = (config.get("qa") or {}).get("diagnostics", True)
    if isinstance(cfg, bool) or cfg is None:
        cfg = {"enabled": bool(cfg) if cfg is not None else True}
    unknown = set(cfg) - {"enabled", "sample_points", "jump_examples"}
    if unknown:
        raise ValueError(f"qa.diagnostics: unknown key(s) {sorted(unknown)}; known: enabled, sample_points, "
                         "jump_examples")
    inputs = config.get("inputs") or {}
    source = inputs.get("source", "simulate")
    ta = source == "local" or (source == "mast" and bool((inputs.get("mast") or {}).get("include_ta")))
    return {"enabled": bool(cfg.get("enabled", True)), "sample_points": int(cfg.get("sample_points", 200000)),
            "jump_examples": int(cfg.get("jump_examples", 9)), "ta": ta}


def diagnostic_names(ramp_chain, produced=None) -> list[str]:
    """Per-exposure diagnostic file names (``{stem}_<name>``) for the configured ramp steps.

    ``produced``: the ramp steps whose products are written (default: all of ``ramp_chain``;
    fewer with ``compute.fuse`` and ``compute.keep``). A diagnostic needing a product that is
    not written is left out.
    """
    chain = list(ramp_chain)
    have = set(chain if produced is None else produced)

    def with_input(step):  # the step's product and the one it read (the uncal file is always there)
        i = chain.index(step)
        return step in have and (i == 0 or chain[i - 1] in have)

    names = []
    if "linearity" in chain and with_input("linearity"):
        names.append("linearity_ratio.png")
    if chain and have >= set(chain):
        names += ["dq_tally.csv", "dq_tally.png"]
    if "saturation" in have:
        names.append("saturation.png")
    if "jump" in have:
        names += ["jump_counts.png", "jump_ramps.png"]
    if "destripe" in chain and with_input("destripe"):
        names.append("destripe.png")
    if "refpix" in chain and with_input("refpix"):
        names.append("refpix.png")
    return names


def diagnostic_targets(settings: dict, ramp_chain, stems, folder: str, produced=None) -> list[str]:
    """Every diagnostic file of a program under ``folder`` (``stems``: the exposure names, or a
    callable returning them, called only when diagnostics are enabled)."""
    if not settings["enabled"]:
        return []
    stems = stems() if callable(stems) else stems
    out = [f"{folder}/{s}_{n}" for s in stems for n in diagnostic_names(ramp_chain, produced)]
    if settings["ta"]:
        out.append(f"{folder}/ta_quicklook.png")
    return out
