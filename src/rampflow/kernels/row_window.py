"""numba kernel of the row stream's window, and the lookup that lets kernels see the window
whole (private; arrays and scalars only).

A row pass hands its steps rows of a larger C-contiguous window (``win[:, :, a:b]``): a
view numba types with a generic layout ('A'), whose innermost stride it does not know, so
loops over a row's pixels do not vectorise (saturation's first pass ran 6x slower on such
views than on contiguous arrays). :func:`window_rows` finds the window and the view's first
row, so a kernel can take the window itself (C layout) and the rows to work on.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def window_rows(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``(base, y0)`` with ``a`` = ``base[..., y0:y0 + a.shape[-2], :]`` and ``base`` C-contiguous:
    ``a`` itself and 0 when it is C-contiguous; the array ``a`` views when ``a`` is a run of
    its rows (same leading dimensions, every column); else ``a`` and 0 (the kernel then runs
    on the view's generic layout: the same values, slower)."""
    if a.flags.c_contiguous:
        return a, 0
    b = a.base
    if (isinstance(b, np.ndarray) and b.flags.c_contiguous and b.dtype == a.dtype and b.ndim == a.ndim >= 2
            and b.shape[:-2] == a.shape[:-2] and b.shape[-1] == a.shape[-1] and b.strides == a.strides):
        off = a.__array_interface__["data"][0] - b.__array_interface__["data"][0]
        step = b.strides[-2]
        if off >= 0 and off % step == 0 and off // step + a.shape[-2] <= b.shape[-2]:
            return b, off // step
    return a, 0


@njit(cache=True, parallel=True, nogil=True)
def _shift_rows(a, by, n):
    """In place: rows [by, by + n) of every (integration, group) plane of ``a`` (nints,
    ngroups, nrows, nx) move to [0, n) (``by`` > 0: each row is copied before it is
    overwritten). Planes in parallel."""
    nints, ngroups, _, nx = a.shape
    for p in prange(nints * ngroups):
        i = p // ngroups
        g = p - i * ngroups
        for r in range(n):
            for x in range(nx):
                a[i, g, r, x] = a[i, g, by + r, x]


@njit(cache=True, parallel=True, nogil=True)
def _copy_rows(dst, y0d, src, y0s, n):
    """Rows ``[y0s, y0s + n)`` of ``src`` into rows ``[y0d, y0d + n)`` of ``dst`` (both (nints,
    ngroups, any rows, nx)), cast to ``dst``'s type as numpy's unsafe casting does (the row
    stream's uint16 copies of raw counts, which float32 holds exactly). (integration, group)
    planes in parallel: numpy copies on one thread, and a row of a TSO segment is 100 MB."""
    ni, ng = dst.shape[0], dst.shape[1]
    nx = dst.shape[3]
    for p in prange(ni * ng):
        i = p // ng
        g = p - i * ng
        for r in range(n):
            d = dst[i, g, y0d + r]
            s = src[i, g, y0s + r]
            for x in range(nx):
                d[x] = s[x]
