"""Per-integration metrics: jump counts from the jump ramps (or the rateints DQ), and the metrics table."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import dq as dqflags
from .. import io, names

log = logging.getLogger(__name__)

__all__ = ["jump_counts", "jump_columns", "metrics_table"]


def jump_counts(path, chunk_mb: float = 256.0) -> Table:
    """Per-integration JUMP_DET counts of a ramp product (``{stem}_jump.fits``), read in chunks.

    Returns a Table: ``int_number`` (1-based, exposure numbering), ``jump_groups`` (groups
    flagged JUMP_DET, all pixels), ``jump_pixels`` (pixels with at least one flagged group).
    """
    jbit = np.uint8(dqflags.JUMP_DET)
    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        rows = max(1, int(chunk_mb * 1e6 // max(1, ngroups * nx * 5)))
        groups = np.zeros(nints, dtype=np.int64)
        pixels = np.zeros(nints, dtype=np.int64)
        for i in range(nints):
            for r0 in range(0, ny, rows):
                _, gdq = rf.read(slice(i, i + 1), slice(r0, min(ny, r0 + rows)))
                j = (gdq & jbit) != 0
                groups[i] += int(j.sum())
                pixels[i] += int(j.any(axis=1).sum())
        it = rf.int_times
        start = int(rf.primary_header.get("INTSTART", 1) or 1)
        nums = np.arange(start, start + nints)
        if it is not None and "integration_number" in it.colnames and len(it) == nints:
            nums = np.asarray(it["integration_number"], dtype=np.int64)
    log.info("%s: %d jump-flagged groups in %d integrations", Path(path).name, int(groups.sum()), nints)
    return Table({"int_number": nums, "jump_groups": groups, "jump_pixels": pixels})


def jump_columns(jump_files, segs, segment, int_number, chunk_mb, det, jump_dq=None):
    """Per-integration jump counts of the stitched series: ``(jump_groups, jump_pixels)``, (n,) float.

    From the jump ramps where given (matched to the segments ``segs`` by stem); else (no jump
    files, e.g. compute.fuse without keeping them) ``jump_pixels`` comes from JUMP_DET in the
    integrations' DQ (``jump_dq``, the same count: ramp_fit flags an integration's pixel when
    any of its groups is a jump) and ``jump_groups`` is NaN. ``segment``, ``int_number``: (n,)
    of the stitched series.
    """
    n = len(segment)
    groups, pixels = np.full(n, np.nan), np.full(n, np.nan)
    if not jump_files:
        if jump_dq is not None:
            pixels = np.asarray(jump_dq, dtype=np.float64).copy()
        return groups, pixels
    by_stem = {names.product_stem(p): p for p in jump_files}
    where = {(int(s), int(k)): i for i, (s, k) in enumerate(zip(segment, int_number))}
    for seg in segs:
        jp = by_stem.get(seg.stem)
        if jp is None:
            log.warning("%s: no jump file for %s; its jump counts are left empty", det, seg.stem)
            continue
        jt = jump_counts(jp, chunk_mb=chunk_mb)
        for num, g, p in zip(jt["int_number"], jt["jump_groups"], jt["jump_pixels"]):
            i = where.get((int(seg.segment), int(num)))
            if i is not None:
                groups[i], pixels[i] = g, p
    return groups, pixels


def metrics_table(table: Table, cat: dict, mode: str, jumps) -> Table:
    """Fill ``table`` (with the time columns, segment and int_number) with the metrics of the
    stitched series ``cat``: jump counts (``jumps``: the pair of :func:`jump_columns`),
    saturated fractions, background, and the trace (spectroscopy) or source (imaging) position
    and width."""
    table["jump_groups"], table["jump_pixels"] = jumps
    table["saturated_frac"] = cat["sat"]
    table["saturated_frac_aperture"] = cat["sat_ap"]
    table["background"] = cat["bkg"]
    table["background"].unit = "DN/s"
    cols = (("trace_center", "cen"), ("trace_offset", "off"), ("trace_width", "width")) if mode == "spectroscopy" \
        else (("centroid_x", "off"), ("centroid_y", "cen"), ("width", "width"))
    if mode == "spectroscopy" and "xshift" in cat:
        cols = cols + (("trace_xshift", "xshift"),)
    for name, key in cols:
        table[name] = cat[key]
        table[name].unit = "pix"
    return table
