"""numba kernel behind :mod:`rampflow.custom.destripe` (private; arrays and scalars only)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _line_median_kernel(data, gdq, use, fast_axis, edges, min_pixels, subtract, medians):
    """Masked median of every fast-read line segment of every group; optionally subtract it.

    data      : float32 (ngroups, ny, nx), one integration; modified in place if ``subtract``
    gdq       : uint8 (ngroups, ny, nx); a group flagged with any bit is left out of the median
    use       : bool (ny, nx); True = background pixel that may enter the median
    fast_axis : 0 if the fast read runs along y (lines are columns), 1 if along x (rows)
    edges     : int64 (nseg + 1,), segment (amplifier) boundaries along the fast axis
    min_pixels: a segment with fewer usable pixels gets no correction (median NaN)
    subtract  : if True, subtract each segment's median from all of its pixels (NaN stay NaN)
    medians   : float32 (ngroups, nseg, nlines) output; nlines = size along the slow axis

    Parallel over (line, segment) pairs: each writes only its own pixels and medians.
    """
    ng, ny, nx = data.shape
    nlines = nx if fast_axis == 0 else ny
    nseg = edges.shape[0] - 1
    maxlen = 0
    for s in range(nseg):
        maxlen = max(maxlen, edges[s + 1] - edges[s])
    for k in prange(nlines * nseg):
        line = k // nseg
        s = k - line * nseg
        lo = edges[s]
        hi = edges[s + 1]
        buf = np.empty(max(maxlen, 1), dtype=np.float32)
        for g in range(ng):
            n = 0
            for j in range(lo, hi):
                if fast_axis == 0:
                    y = j
                    x = line
                else:
                    y = line
                    x = j
                if use[y, x] and gdq[g, y, x] == 0:
                    v = data[g, y, x]
                    if not np.isnan(v):
                        buf[n] = v
                        n += 1
            if n >= min_pixels and n > 0:
                med = np.float32(np.median(buf[:n]))
                medians[g, s, line] = med
                if subtract:
                    for j in range(lo, hi):
                        if fast_axis == 0:
                            data[g, j, line] -= med
                        else:
                            data[g, line, j] -= med
            else:
                medians[g, s, line] = np.nan


@njit(cache=True, parallel=True)
def _subtract_medians_kernel(data, y0, fast_axis, edges, medians):
    """Subtract stored line (segment) medians, as :func:`_line_median_kernel` with ``subtract``
    does, from a chunk of rows: data float32 (ngroups, nrow, nx) holds the plane rows
    ``y0 ...`` of one integration (modified in place); medians float32 (ngroups, nseg, nlines)
    measured on the whole planes (NaN = line segment left unchanged)."""
    ng, ny, nx = data.shape
    nseg = edges.shape[0] - 1
    for g in prange(ng):
        for s in range(nseg):
            if fast_axis == 0:  # lines are columns: this segment's rows inside the chunk
                lo = max(edges[s], y0)
                hi = min(edges[s + 1], y0 + ny)
                for x in range(nx):
                    med = medians[g, s, x]
                    if med != med:
                        continue
                    for y in range(lo, hi):
                        data[g, y - y0, x] -= med
            else:  # lines are rows: the chunk's own rows
                for yy in range(ny):
                    med = medians[g, s, yy + y0]
                    if med != med:
                        continue
                    for x in range(edges[s], edges[s + 1]):
                        data[g, yy, x] -= med
