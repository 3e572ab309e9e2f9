"""numba kernels behind :mod:`rampflow.steps.charge_migration` (private; arrays and scalars only).

jwst flags, for every group whose value exceeds ``signal_threshold`` and whose GROUPDQ is not
exactly DO_NOT_USE, that group and every later group of the pixel and of its four nearest
neighbours (CHARGELOSS | DO_NOT_USE). The exceedances are found on the input GROUPDQ (jwst
finds them with one ``np.where`` before flagging anything), so the result is, per pixel, the
flag from ``min(first exceedance over the pixel and its 4 neighbours)`` on. That form needs no
writes to neighbouring rows, so rows run in parallel without races.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True)
def _first_exceedance_kernel(data, gdq, threshold, dnu, first):
    """``first[y, x]`` = first group g with ``data[g, y, x] > threshold`` (float32 compare, as
    numpy 2 compares a float32 array with a Python float) and ``gdq[g, y, x] != dnu``; ngroups
    where none. data float32 (ngroups, ny, nx), gdq uint8 same shape, first int64 (ny, nx)."""
    ng, ny, nx = data.shape
    for y in prange(ny):
        for x in range(nx):
            f = ng
            for g in range(ng):
                if data[g, y, x] > threshold and gdq[g, y, x] != dnu:
                    f = g
                    break
            first[y, x] = f


@njit(cache=True, parallel=True)
def _flag_from_kernel(gdq, first, flag):
    """``gdq[g, y, x] |= flag`` for g >= the smallest ``first`` of (y, x) and its 4 neighbours."""
    ng, ny, nx = gdq.shape
    for y in prange(ny):
        for x in range(nx):
            s = first[y, x]
            if y > 0 and first[y - 1, x] < s:
                s = first[y - 1, x]
            if y < ny - 1 and first[y + 1, x] < s:
                s = first[y + 1, x]
            if x > 0 and first[y, x - 1] < s:
                s = first[y, x - 1]
            if x < nx - 1 and first[y, x + 1] < s:
                s = first[y, x + 1]
            for g in range(s, ng):
                gdq[g, y, x] |= flag


def flag_integration(data, gdq, threshold, dnu, flag, first):
    """One integration in place (see the module docstring); ``first`` is int64 (ny, nx) scratch."""
    _first_exceedance_kernel(data, gdq, threshold, dnu, first)
    _flag_from_kernel(gdq, first, flag)
