"""numba helpers of jump's large-event pre-pass (:mod:`rampflow.steps.jump_stream`): what it
keeps of each row chunk's GROUPDQ -- the packed bits of one flag, the count and flat indices of
the groups with a flag, the group planes with a flag in every pixel -- in one read of the chunk
each, parallel over integrations and groups (private; arrays and scalars only).

``gdq`` is uint8 (nints, ngroups, nrow, nx), rows ``r0 .. r0 + nrow - 1`` of an exposure of
``ny`` rows. Packed bits are numpy's ``packbits(..., axis=-1)`` (big-endian bit order: pixel
``8 b`` is the most significant bit of byte ``b``, the last byte padded with zeros).
"""

from __future__ import annotations

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
