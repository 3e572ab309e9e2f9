"""numba kernels behind :mod:`rampflow.steps.saturation` (private; arrays and scalars only).

``data`` is float32 and ``gdq`` uint8, modified in place; 2-D arrays are (ny, nx). The kernels
over a whole chunk take ``data`` / ``gdq`` as rows ``[y0, y0 + ny)`` of (nints, ngroups,
nrows, nx) arrays: a row stream's window, found by :func:`.row_window.window_rows`, so that
numba sees C-contiguous rows (on the window's row views their loops did not vectorise).
Comparisons are done in the precision numpy uses in ``stcal.saturation.flag_saturated_pixels``
(float32 or float64, noted per kernel) so the flags are bit-identical.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _forward_kernel(data, y0d, gdq, y0q, ny, thresh, sat, low, keep, k0):
    """First pass: SATURATED from the first group at or above ``thresh`` on; ``low`` where <= 0.
    Every integration of the chunk (rows ``y0d`` / ``y0q`` on of ``data`` / ``gdq``, ``ny``
    of them) in one call, parallel over (integration, row). ``keep`` (uint8 (nints, ngroups,
    nk, nx)) receives the SATURATED bits just set for the chunk's rows ``k0 .. k0 + nk - 1``
    (nk = 0: none), the state the growth of the next chunk needs from them.

    float32 comparisons (``plane >= sat_thresh``, ``plane <= 0``).
    """
    ni, ng = data.shape[0], data.shape[1]
    nx = data.shape[3]
    nk = keep.shape[2]
    for k in prange(ni * ny):
        i = k // ny
        y = k % ny
        t = thresh[y]
        prev = np.zeros(nx, dtype=np.bool_)
        kept = y >= k0 and y < k0 + nk
        for g in range(ng):
            drow = data[i, g, y0d + y]
            qrow = gdq[i, g, y0q + y]
            for x in range(nx):
                d = drow[x]
                if d >= t[x]:
                    prev[x] = True
                f = qrow[x]
                if prev[x]:
                    f |= sat
                if d <= 0:
                    f |= low
                qrow[x] = f
            if kept:
                krow = keep[i, g, y - k0]
                for x in range(nx):
                    krow[x] = qrow[x] & sat


@njit(cache=True, parallel=True)
def _dilate_or_kernel(src, srcbit, dst, setbit, n, tmp):
    """``dst[y, x] |= setbit`` wherever a pixel of ``src`` with ``srcbit`` set lies within the
    (2n+1) x (2n+1) box centred on (y, x), truncated at the array edges (this is stcal's
    ``_adjacent_pixels`` / a binary dilation with a square structuring element).

    Separable: a row pass into ``tmp`` (uint8, (ny, nx)), then a column pass. ``src`` may be
    ``dst``: the row pass finishes reading ``src`` before anything is written.
    """
    ny, nx = src.shape
    for y in prange(ny):
        for x in range(nx):
            lo = max(0, x - n)
            hi = min(nx, x + n + 1)
            hit = 0
            for xx in range(lo, hi):
                if src[y, xx] & srcbit:
                    hit = 1
                    break
            tmp[y, x] = hit
    for y in prange(ny):
        lo = max(0, y - n)
        hi = min(ny, y + n + 1)
        for x in range(nx):
            for yy in range(lo, hi):
                if tmp[yy, x]:
                    dst[y, x] |= setbit
                    break


@njit(cache=True, parallel=True)
def _dilate_groups_kernel(gdq, y0, ny, bit, n, above, na):
    """:func:`_dilate_or_kernel` of ``gdq`` onto itself (``src`` = ``dst``, ``srcbit`` = ``setbit``
    = ``bit``) for every group plane of a chunk (rows ``[y0, y0 + ny)`` of ``gdq``, uint8 (nints,
    ngroups, nrows, nx)) in one call, parallel over planes: one parallel region per chunk, not
    per group (a chunk of a few rows gives a group plane too little work to share between
    threads). Rows without the bit (most of them) are skipped in both passes.
    ``above[:, :, :na]`` (uint8 (nints, ngroups, >= na, nx)): the ``na`` rows directly above
    the chunk, in order, as sources of the growth only (their ``bit`` spreads into the chunk;
    they are not changed); na = 0: the chunk's first row is the top edge."""
    ni, ng = gdq.shape[0], gdq.shape[1]
    nx = gdq.shape[3]
    nv = na + ny  # rows seen: those above, then the chunk's
    bit8 = np.uint8(bit)
    for k in prange(ni * ng):
        i = k // ng
        g = k % ng
        tmp = np.empty((nv, nx), dtype=np.uint8)  # the row pass: bit8 where a pixel within n columns has it
        hit = np.empty(nx, dtype=np.uint8)
        rowany = np.zeros(nv, dtype=np.bool_)
        for v in range(nv):
            row = above[i, g, v] if v < na else gdq[i, g, y0 + v - na]
            acc = np.uint8(0)
            for x in range(nx):  # an OR over the row, no early exit: it vectorises
                acc |= row[x]
            rowany[v] = (acc & bit8) != 0
            if not rowany[v]:
                continue
            t = tmp[v]
            for x in range(nx):
                t[x] = row[x] & bit8
            for d in range(1, n + 1):  # shifted ORs of the row's bits (the box's columns)
                for x in range(nx - d):
                    t[x] |= row[x + d] & bit8
                for x in range(d, nx):
                    t[x] |= row[x - d] & bit8
        for y in range(ny):
            v = na + y
            lo = max(0, v - n)
            hi = min(nv, v + n + 1)
            near = False
            for vv in range(lo, hi):
                near |= rowany[vv]
            if not near:
                continue
            hit[:] = 0
            for vv in range(lo, hi):  # the column pass, over the rows that have the bit
                if rowany[vv]:
                    t = tmp[vv]
                    for x in range(nx):
                        hit[x] |= t[x]
            row = gdq[i, g, y0 + y]
            for x in range(nx):
                row[x] |= hit[x]


@njit(cache=True, parallel=True)
def _partial_sat_kernel(plane, thisdq, nextdq, thresh, nsc, dilution, sat, dnu, out):
    """Second (backward) pass for one group: ``out = dnu`` where the group, diluted by frame
    averaging, already reaches the threshold, is not yet SATURATED/DO_NOT_USE, and the next
    group is SATURATED. float64 comparison: ``plane >= sat_thresh * dilution`` with the
    dilution 1 on NO_SAT_CHECK pixels, as numpy promotes it."""
    ny, nx = plane.shape
    for y in prange(ny):
        for x in range(nx):
            df = 1.0 if nsc[y, x] else dilution
            flag = 0
            if (np.float64(plane[y, x]) >= np.float64(thresh[y, x]) * df
                    and (thisdq[y, x] & (sat | dnu)) == 0
                    and (nextdq[y, x] & sat) != 0):
                flag = dnu
            out[y, x] = flag


@njit(cache=True, parallel=True)
def _group2_kernel(data, y0d, gdq, y0q, ny, thresh, bias, mean0, last2, nframes1, sat, dnu):
    """Third pass: flag group index 1 DO_NOT_USE where it holds a jump big enough to be a
    saturating event in its last frame, the first group did not predict saturation by the
    third group, and the third group is SATURATED while the second is not. Every integration
    of the chunk (nints, ngroups, ny, nx) in one call, parallel over (integration, row).

    Precision as in numpy: ``scigp1 = d0 - b`` float32; ``scigp1 / mean0 * last2 + b <
    thresh`` float64; ``d1 - d0 > (thresh - d0) / nframes1`` float32.
    """
    ni = data.shape[0]
    nx = data.shape[3]
    nf = np.float32(nframes1)
    for k in prange(ni * ny):
        i = k // ny
        y = k % ny
        yd = y0d + y
        yq = y0q + y
        for x in range(nx):
            d0 = data[i, 0, yd, x]
            d1 = data[i, 1, yd, x]
            t = thresh[y, x]
            b = bias[y, x]
            scigp1 = np.float32(d0 - b)
            m = (np.float64(scigp1) / mean0) * last2 + np.float64(b) < np.float64(t)
            if not m:
                continue
            scigp2 = np.float32(d1 - d0)
            if not (scigp2 > np.float32(np.float32(t - d0) / nf)):
                continue
            if (gdq[i, 2, yq, x] & sat) != 0 and (gdq[i, 1, yq, x] & sat) == 0:
                gdq[i, 1, yq, x] |= dnu
