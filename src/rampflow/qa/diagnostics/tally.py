"""DQ tally of a chain of ramp products: PIXELDQ counts per mnemonic and GROUPDQ flags added by
each step (a CSV table and a bar chart)."""

from __future__ import annotations

import csv
import logging

import numpy as np

from ... import dq as dqflags
from ... import io
from ...io.custom import read_groupdq
from ...plotting import figure, message, save
from .common import DEFAULT_CHUNK_MB, int_chunks

log = logging.getLogger(__name__)

_FIELDS = ["array", "step", "flag", "bit", "count", "percent", "added"]


def dq_tally(step_paths, out_csv, out_png=None, *, chunk_mb: float = DEFAULT_CHUNK_MB, figsize=(11, 5)):
    """Count DQ flags of a chain of ramp products.

    step_paths : ordered mapping step name -> ramp product path (the order the steps ran)
    Writes ``out_csv`` with one row per (array, step, flag): ``array`` PIXELDQ (per pixel) or
    GROUPDQ (per group), ``count``, ``percent`` of pixels / groups, ``added`` (count minus the
    previous step's count). Only flags set somewhere appear. With ``out_png``, bar charts:
    PIXELDQ percent per mnemonic after the last step, and GROUPDQ flags added per step.
    Returns the rows as a list of dicts.
    """
    step_paths = dict(step_paths)
    rows = []
    prev_pix = {n: 0 for n in dqflags.FLAGS}
    prev_grp = {n: 0 for n in dqflags.GROUP_FLAGS}
    for step, path in step_paths.items():
        pix, grp, npix, ngrp = _count_flags(path, chunk_mb)
        for array, counts, prev, total in (("PIXELDQ", pix, prev_pix, npix), ("GROUPDQ", grp, prev_grp, ngrp)):
            for n, c in counts.items():
                if c or prev.get(n):
                    rows.append({"array": array, "step": step, "flag": n, "bit": dqflags.FLAGS[n].bit_length() - 1,
                                 "count": c, "percent": 100.0 * c / total, "added": c - prev.get(n, 0)})
        prev_pix.update(pix)
        prev_grp.update(grp)
    with io.atomic_path(out_csv) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({**r, "percent": f"{r['percent']:.6g}"})
    log.info("wrote %s (%d rows)", out_csv, len(rows))
    if out_png is not None:
        _plot_dq_tally(rows, list(step_paths), out_png, figsize)
    return rows


def _count_flags(path, chunk_mb):
    """({PIXELDQ flag: pixels}, {GROUPDQ flag: groups}, pixels, groups) of one ramp product."""
    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        pdq = rf.pixeldq()
        pix = {n: int(np.count_nonzero(pdq & np.uint32(b))) for n, b in dqflags.FLAGS.items() if b}
        grp = {n: 0 for n, b in dqflags.GROUP_FLAGS.items() if b}
        for ints in int_chunks(rf, chunk_mb, None):
            g = read_groupdq(rf, ints)
            for n, b in dqflags.GROUP_FLAGS.items():
                if b:
                    grp[n] += int(np.count_nonzero(g & np.uint8(b)))
    return pix, grp, ny * nx, nints * ngroups * ny * nx


def _plot_dq_tally(rows, steps, out_png, figsize):
    fig = figure(figsize)
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
        message(ax1, "no PIXELDQ flags set")
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
        message(ax2, "no GROUPDQ flags added")
    ax2.set_ylabel("groups flagged by the step (count)")
    ax2.set_title("GROUPDQ flags added per step", fontsize=9)
    return save(fig, out_png)
