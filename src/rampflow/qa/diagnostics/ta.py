"""Target-acquisition quicklook: the last group of each TA exposure with the frame centre and
the brightest pixel marked."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter

from ... import io
from ...io.custom import read_groups
from ...plotting import figure, message, robust_limits, save

#: target-acquisition exposure types (NIRCam/NIRISS/MIRI TACQ, TACONFIRM; NIRSpec WATA/MSATA)
TA_EXP_TYPE = re.compile(r"(TACQ|TACONFIRM|WATA|MSATA)$", re.IGNORECASE)


def is_target_acquisition(exp_type: str) -> bool:
    """Whether an EXP_TYPE is a target-acquisition one (see :data:`TA_EXP_TYPE`)."""
    return bool(TA_EXP_TYPE.search(str(exp_type).strip()))


def _ta_frames(uncal_paths):
    """(file name, EXP_TYPE, last group, last - first group) of the last integration of each
    target-acquisition exposure among ``uncal_paths``."""
    found = []
    for p in uncal_paths:
        with io.open_ramp(p) as rf:
            if not is_target_acquisition(rf.meta.exp_type):
                continue
            nints, ng = rf.shape[:2]
            sci, _ = read_groups(rf, [0, ng - 1], slice(nints - 1, nints))
            found.append((Path(p).name, rf.meta.exp_type, sci[0, 1], sci[0, 1] - sci[0, 0]))
    return found


def plot_ta_quicklook(uncal_paths, out_png, *, figsize=(12, 7), max_panels: int = 6) -> Path:
    """Last group of the last integration of each target-acquisition exposure (EXP_TYPE
    ending in TACQ, TACONFIRM, WATA or MSATA) among ``uncal_paths``, with the frame centre
    (+) and the brightest pixel of last - first group (x) marked; other exposures are ignored."""
    found = _ta_frames(uncal_paths)
    fig = figure(figsize)
    if not found:
        message(fig.subplots(), "no target-acquisition exposures among the inputs")
        return save(fig, out_png)
    shown = found[:max_panels]
    ncol = min(3, len(shown))
    nrow = int(np.ceil(len(shown) / ncol))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, (name, exp_type, last, diff) in zip(axes, shown):
        ny, nx = last.shape
        lo, hi = robust_limits(last, 1, 99.5)
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
    return save(fig, out_png)
