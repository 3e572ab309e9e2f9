"""numba kernels behind :mod:`rampflow.steps.ipc` (private; arrays and scalars only).

Each kernel convolves the science region of every plane (group) of ``planes`` float32
(nplanes, ny_full, nx_full) in place with the IPC deconvolution kernel, as jwst's
``ipc_convolve`` does, term for term in float32 and in the same order: the output starts at
0, the product of each kernel element (row-major, the middle one skipped) with the shifted
science region (zero outside it: reference pixels and the frame edge contribute nothing) is
added, then the middle element's product last. Reference pixels are left unchanged.
The science region is rows ``yoff .. yoff+ny-1`` and columns ``xoff .. xoff+nx-1``.
Planes run in parallel; each copies its science region to scratch first.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _add_term(acc, src, sy, off, k, kernel, j, i, ky0, kx0, per_pixel):
    """``acc[x] += weight * src[sy, x + off]`` for every x of the row (the weight times 0 where
    the source falls outside the science region, as jwst's zero border gives)."""
    ny, nx = src.shape
    zero = np.float32(0.0)
    lo = max(0, -off)
    hi = min(nx, nx - off)
    if not 0 <= sy < ny:
        lo = hi = nx
    if per_pixel:
        row = kernel[j, i, ky0, kx0:kx0 + nx]
        for x in range(lo):
            acc[x] += row[x] * zero
        for x in range(lo, hi):
            acc[x] += row[x] * src[sy, x + off]
        for x in range(max(lo, hi), nx):
            acc[x] += row[x] * zero
    else:
        kz = k * zero
        for x in range(lo):
            acc[x] += kz
        for x in range(lo, hi):
            acc[x] += k * src[sy, x + off]
        for x in range(max(lo, hi), nx):
            acc[x] += kz


@njit(cache=True)
def _convolve_plane(plane, src, acc, kernel, yoff, xoff, per_pixel):
    """One plane. 2-D kernel (ky, kx), stored as (ky, kx, 1, 1): term (j, i) at science pixel
    (y, x) is ``kernel[j, i] * src[y + ky-1-j - ky//2, x + kx-1-i - kx//2]``, the middle term
    ``kernel[ky//2, kx//2] * src[y, x]`` last. Per-pixel (4-D) kernel: the weights of (y, x)
    are ``kernel[:, :, yoff + y, xoff + x]``. Terms are added in jwst's order per pixel, a
    row at a time."""
    ny, nx = src.shape
    for y in range(ny):
        for x in range(nx):
            src[y, x] = plane[yoff + y, xoff + x]
    ky, kx = kernel.shape[0], kernel.shape[1]
    mj = ky // 2
    mi = kx // 2
    for y in range(ny):
        acc[:] = np.float32(0.0)
        ky0 = yoff + y if per_pixel else 0
        kx0 = xoff if per_pixel else 0
        for j in range(ky):
            sy = y + ky - 1 - j - mj
            for i in range(kx):
                if i == mi and j == mj:
                    continue
                _add_term(acc, src, sy, kx - 1 - i - mi, kernel[j, i, 0, 0], kernel, j, i, ky0, kx0, per_pixel)
        _add_term(acc, src, y, 0, kernel[mj, mi, 0, 0], kernel, mj, mi, ky0, kx0, per_pixel)
        for x in range(nx):
            plane[yoff + y, xoff + x] = acc[x]


@njit(cache=True, parallel=True)
def _convolve_planes_kernel(planes, kernel4, yoff, xoff, ny, nx, per_pixel):
    for p in prange(planes.shape[0]):
        src = np.empty((ny, nx), dtype=np.float32)
        acc = np.empty(nx, dtype=np.float32)
        _convolve_plane(planes[p], src, acc, kernel4, yoff, xoff, per_pixel)


def convolve_planes(planes, kernel, yoff: int, xoff: int, ny: int, nx: int) -> None:
    """Convolve each plane of ``planes`` (nplanes, ny_full, nx_full) in place (see the module
    docstring); ``kernel`` 2-D (ky, kx) or 4-D (ky, kx, ny_full, nx_full), float32."""
    per_pixel = kernel.ndim == 4
    k4 = kernel if per_pixel else kernel.reshape(kernel.shape + (1, 1))
    _convolve_planes_kernel(planes, k4, yoff, xoff, ny, nx, per_pixel)
