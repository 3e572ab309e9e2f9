"""numba kernels behind :mod:`rampflow.steps.ipc` (private; arrays and scalars only).

Each kernel convolves the science region of every plane (group) of ``planes`` float32
(nplanes, ny_full, nx_full) in place with the IPC deconvolution kernel, as jwst's
``ipc_convolve`` does, term for term in float32 and in the same order: the output starts at
0, the product of each kernel element (row-major, the middle one skipped) with the shifted
science region (zero outside it: reference pixels and the frame edge contribute nothing) is
added, then the middle element's product last. Reference pixels are left unchanged.
The science region is rows ``yoff .. yoff+ny-1`` and columns ``xoff .. xoff+nx-1``.
``src`` is float32 (ny, nx) scratch holding the plane's science region before the update.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _copy_region(plane, src, yoff, xoff):
    ny, nx = src.shape
    for y in prange(ny):
        for x in range(nx):
            src[y, x] = plane[yoff + y, xoff + x]


@njit(cache=True, parallel=True)
def _convolve_2d_plane(plane, src, kernel, yoff, xoff):
    """2-D kernel (ky, kx): term (j, i) at science pixel (y, x) is
    ``kernel[j, i] * src[y + ky-1-j - ky//2, x + kx-1-i - kx//2]``; the middle term is
    ``kernel[ky//2, kx//2] * src[y, x]``."""
    ny, nx = src.shape
    ky, kx = kernel.shape
    mj = ky // 2
    mi = kx // 2
    for y in prange(ny):
        for x in range(nx):
            acc = np.float32(0.0)
            for j in range(ky):
                sy = y + ky - 1 - j - mj
                for i in range(kx):
                    if i == mi and j == mj:
                        continue
                    sx = x + kx - 1 - i - mi
                    t = np.float32(0.0)
                    if 0 <= sy < ny and 0 <= sx < nx:
                        t = src[sy, sx]
                    acc += kernel[j, i] * t
            acc += kernel[mj, mi] * src[y, x]
            plane[yoff + y, xoff + x] = acc


@njit(cache=True, parallel=True)
def _convolve_4d_plane(plane, src, kernel, yoff, xoff):
    """Per-pixel kernel (ky, kx, ny_full, nx_full): the weights of science pixel (y, x) are
    ``kernel[:, :, yoff + y, xoff + x]``, applied as in the 2-D case."""
    ny, nx = src.shape
    ky, kx = kernel.shape[0], kernel.shape[1]
    mj = ky // 2
    mi = kx // 2
    for y in prange(ny):
        for x in range(nx):
            acc = np.float32(0.0)
            for j in range(ky):
                sy = y + ky - 1 - j - mj
                for i in range(kx):
                    if i == mi and j == mj:
                        continue
                    sx = x + kx - 1 - i - mi
                    t = np.float32(0.0)
                    if 0 <= sy < ny and 0 <= sx < nx:
                        t = src[sy, sx]
                    acc += kernel[j, i, yoff + y, xoff + x] * t
            acc += kernel[mj, mi, yoff + y, xoff + x] * src[y, x]
            plane[yoff + y, xoff + x] = acc


def convolve_planes(planes, kernel, yoff: int, xoff: int, ny: int, nx: int, src) -> None:
    """Convolve each plane of ``planes`` (nplanes, ny_full, nx_full) in place (see the module
    docstring); ``kernel`` 2-D or 4-D float32, ``src`` float32 (ny, nx) scratch."""
    conv = _convolve_2d_plane if kernel.ndim == 2 else _convolve_4d_plane
    for p in range(planes.shape[0]):
        _copy_region(planes[p], src, yoff, xoff)
        conv(planes[p], src, kernel, yoff, xoff)
