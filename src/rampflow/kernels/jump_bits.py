"""numba helpers of jump's large-event pre-pass (:mod:`rampflow.steps.jump_stream`): what it
keeps of each row chunk's GROUPDQ -- the packed bits of one flag, the count and flat indices of
the groups with a flag, the group planes with a flag in every pixel -- in one read of the chunk
each, parallel over integrations and groups; and, for the snowball search
(:mod:`rampflow.steps.jump_events`), the largest region box of each group plane (private;
arrays and scalars only).

``gdq`` is uint8 (nints, ngroups, nrow, nx), rows ``r0 .. r0 + nrow - 1`` of an exposure of
``ny`` rows. Packed bits are numpy's ``packbits(..., axis=-1)`` (big-endian bit order: pixel
``8 b`` is the most significant bit of byte ``b``, the last byte padded with zeros).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _pack_flag_kernel(gdq, flag, out, r0):
    """``out[i, g, r0 + y] = packbits((gdq[i, g, y] & flag) != 0)`` for every integration i,
    group g and row y of the chunk; ``out`` uint8 (nints, ngroups, >= r0 + nrow, ceil(nx / 8))."""
    nints, ngroups, nrow, nx = gdq.shape
    nbx = out.shape[3]
    for ig in prange(nints * ngroups):
        i = ig // ngroups
        g = ig % ngroups
        for y in range(nrow):
            for b in range(nbx):
                v = 0
                for k in range(8):
                    x = 8 * b + k
                    if x < nx and (gdq[i, g, y, x] & flag) != 0:
                        v |= 128 >> k
                out[i, g, r0 + y, b] = v


@njit(cache=True, parallel=True)
def _count_flags_kernel(gdq, count_flag, all_flag, counts, all_planes):
    """``counts[i]`` = groups of integration i with ``count_flag`` (any pixel, any row);
    ``all_planes[i, g]`` set to False where a pixel of plane (i, g) lacks ``all_flag``
    (left as it was otherwise: AND-ed over chunks)."""
    nints, ngroups, nrow, nx = gdq.shape
    for i in prange(nints):
        c = 0
        for g in range(ngroups):
            every = True
            for y in range(nrow):
                for x in range(nx):
                    v = gdq[i, g, y, x]
                    if (v & count_flag) != 0:
                        c += 1
                    if (v & all_flag) == 0:
                        every = False
            if not every:
                all_planes[i, g] = False
        counts[i] = c


@njit(cache=True, parallel=True)
def _flag_indices_kernel(gdq, flag, r0, ny, ints, offsets, out):
    """Flat indices into (ngroups, ny, nx) of the groups of integration ``ints[t]`` with
    ``flag``, in C order (as ``np.nonzero``), into ``out[offsets[t]:offsets[t + 1]]``."""
    _, ngroups, nrow, nx = gdq.shape
    for t in prange(ints.shape[0]):
        i = ints[t]
        k = offsets[t]
        for g in range(ngroups):
            for y in range(nrow):
                base = (g * ny + r0 + y) * nx
                for x in range(nx):
                    if (gdq[i, g, y, x] & flag) != 0:
                        out[k] = base + x
                        k += 1


@njit(cache=True)
def _max_box_area_kernel(cube, words, flag, out):
    """``out[g]`` = the largest bounding-box area (rows x columns) of the 8-connected regions
    of pixels with ``flag`` in plane g of ``cube`` (uint8 (ngroups, ny, nx)); 0 for none.
    Union-find over the plane (path halving), each root carrying its region's box.
    ``words``: ``cube``'s first ``8 * (nx // 8)`` columns of each row as uint64 (ngroups, ny,
    nx // 8), eight pixels a word: a word with the flag in none of its bytes is skipped whole
    (the planes are mostly unflagged). Serial: with the skip an integration's planes take a
    few milliseconds."""
    ngroups, ny, nx = cube.shape
    nw = words.shape[2]
    nblk = (nx + 7) // 8
    wmask = np.uint64(flag) * np.uint64(0x0101010101010101)
    parent = np.empty(ny * nx, dtype=np.int32)  # these written and read for flagged pixels only
    y0 = np.empty(ny * nx, dtype=np.int32)
    y1 = np.empty(ny * nx, dtype=np.int32)
    x0 = np.empty(ny * nx, dtype=np.int32)
    x1 = np.empty(ny * nx, dtype=np.int32)
    for g in range(ngroups):
        for y in range(ny):
            for b in range(nblk):
                if b < nw and (words[g, y, b] & wmask) == 0:
                    continue
                for x in range(8 * b, min(nx, 8 * b + 8)):
                    if (cube[g, y, x] & flag) == 0:  # unflagged: parent[k] never read
                        continue
                    k = y * nx + x
                    parent[k] = k
                    y0[k] = y
                    y1[k] = y
                    x0[k] = x
                    x1[k] = x
                    for d in range(4):  # the neighbours already visited: left, up-left, up, up-right
                        yy = y if d == 0 else y - 1
                        xx = x - 1 if d < 2 else (x if d == 2 else x + 1)
                        if yy < 0 or xx < 0 or xx >= nx:
                            continue
                        if (cube[g, yy, xx] & flag) == 0:
                            continue
                        n = yy * nx + xx
                        a = k
                        while parent[a] != a:
                            parent[a] = parent[parent[a]]
                            a = parent[a]
                        c = n
                        while parent[c] != c:
                            parent[c] = parent[parent[c]]
                            c = parent[c]
                        if a != c:
                            r, o = (a, c) if a < c else (c, a)
                            parent[o] = r
                            y0[r] = min(y0[r], y0[o])
                            y1[r] = max(y1[r], y1[o])
                            x0[r] = min(x0[r], x0[o])
                            x1[r] = max(x1[r], x1[o])
        best = 0
        for y in range(ny):
            for b in range(nblk):
                if b < nw and (words[g, y, b] & wmask) == 0:
                    continue
                for x in range(8 * b, min(nx, 8 * b + 8)):
                    k = y * nx + x
                    if (cube[g, y, x] & flag) != 0 and parent[k] == k:
                        best = max(best, (y1[k] - y0[k] + 1) * (x1[k] - x0[k] + 1))
        out[g] = best


@njit(cache=True)
def _or_indices_kernel(gdq_i, flat, value, r0, ny):
    """``gdq_i[g, y - r0, x] |= value`` for each flat index ``flat[k]`` = (g * ny + y) * nx +
    x (into (ngroups, ny, nx)) whose row y falls in the chunk ``gdq_i`` (uint8 (ngroups, nrow,
    nx), exposure rows ``r0 .. r0 + nrow - 1``). Serial: one integration's indices, which are
    few (they are kept as indices only while sparser than packed bits)."""
    ngroups, nrow, nx = gdq_i.shape
    for k in range(flat.shape[0]):
        f = np.int64(flat[k])
        gy = f // nx
        y = gy % ny - r0
        if 0 <= y < nrow:
            gdq_i[gy // ny, y, f % nx] |= value


@njit(cache=True, parallel=True)
def _or_packed_kernel(gdq_i, packed, value, r0):
    """``gdq_i[g, y, x] |= value`` where bit x of ``packed[g, r0 + y]`` is set (``gdq_i`` uint8
    (ngroups, nrow, nx), ``packed`` uint8 (ngroups, >= r0 + nrow, ceil(nx / 8)), numpy's bit
    order)."""
    ngroups, nrow, nx = gdq_i.shape
    for g in prange(ngroups):
        for y in range(nrow):
            for x in range(nx):
                if (packed[g, r0 + y, x >> 3] >> (7 - (x & 7))) & 1:
                    gdq_i[g, y, x] |= value


@njit(cache=True, parallel=True)
def _row_count_nonzero_kernel(gdq, words, r, counts):
    """``counts[i]`` = the nonzero values of row ``r`` of integration i of ``gdq`` (uint8
    (nints, ngroups, nrow, nx)); ``words``: the same array's first ``8 * (nx // 8)`` columns
    as uint64 (nints, ngroups, nrow, nx // 8), eight values a word, a zero word skipped whole."""
    nints, ngroups, _, nx = gdq.shape
    nw = words.shape[3]
    for i in prange(nints):
        c = 0
        for g in range(ngroups):
            for b in range((nx + 7) // 8):
                if b < nw and words[i, g, r, b] == 0:
                    continue
                for x in range(8 * b, min(nx, 8 * b + 8)):
                    if gdq[i, g, r, x] != 0:
                        c += 1
        counts[i] = c


@njit(cache=True, parallel=True)
def _row_nonzero_kernel(gdq, words, r, offsets, idx, val):
    """The nonzero values of row ``r`` of ``gdq`` (uint8 (nints, ngroups, nrow, nx); ``words``
    as for :func:`_row_count_nonzero_kernel`) and their flat indices (i * ngroups + g) * nx +
    x, integration i's at ``offsets[i]:offsets[i + 1]`` (from the counts of that kernel)."""
    nints, ngroups, _, nx = gdq.shape
    nw = words.shape[3]
    for i in prange(nints):
        k = offsets[i]
        for g in range(ngroups):
            for b in range((nx + 7) // 8):
                if b < nw and words[i, g, r, b] == 0:
                    continue
                for x in range(8 * b, min(nx, 8 * b + 8)):
                    v = gdq[i, g, r, x]
                    if v != 0:
                        idx[k] = (i * ngroups + g) * nx + x
                        val[k] = v
                        k += 1


@njit(cache=True, parallel=True)
def _row_scatter_kernel(gdq, r, offsets, idx, val):
    """Row ``r`` of ``gdq`` set to zero but for the values ``val`` at the flat indices ``idx``
    (what :func:`_row_nonzero_kernel` took)."""
    nints, ngroups, _, nx = gdq.shape
    for i in prange(nints):
        for g in range(ngroups):
            for x in range(nx):
                gdq[i, g, r, x] = 0
        for k in range(offsets[i], offsets[i + 1]):
            f = np.int64(idx[k])
            gdq[i, (f // nx) % ngroups, r, f % nx] = val[k]
