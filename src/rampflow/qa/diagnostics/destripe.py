"""1/f destriping diagnostic: group-difference images before / after destriping and the
median of the background pixels of each fast-read line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import io
from ...custom.destripe import fast_axis_index, line_medians
from ...io.custom import read_groups, read_mask_product
from ...plotting import figure, robust_limits, save


def _group_difference(path, integration=0, groups=(0, 1)):
    """(G[g1] - G[g0] of one integration (the only group when there is one), meta, PIXELDQ)."""
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
    fig = figure(figsize)
    axes = fig.subplots(3, 1)
    lo, hi = robust_limits(before)
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
    return save(fig, out_png)
