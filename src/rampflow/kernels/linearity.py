"""numba kernel behind :mod:`rampflow.steps.linearity` (private; arrays and scalars only)."""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True)
def _horner_kernel(data, gdq, coeffs, sat):
    """In place: every group not flagged ``sat`` becomes the polynomial of itself.

    data float32 (nints, ngroups, ny, nx); gdq uint8, same shape; coeffs float32
    (ncoeffs, ny, nx), ncoeffs >= 2. float32 arithmetic in stcal's order:
    ``r = c[n-1]*d; for j = n-2..1: r = (r + c[j]) * d; r += c[0]``.
    """
    nints, ng, ny, nx = data.shape
    nc = coeffs.shape[0]
    for y in prange(ny):
        for i in range(nints):
            for g in range(ng):
                for x in range(nx):
                    if gdq[i, g, y, x] & sat:
                        continue
                    d = data[i, g, y, x]
                    r = coeffs[nc - 1, y, x] * d
                    for j in range(nc - 2, 0, -1):
                        r = r + coeffs[j, y, x]
                        r = r * d
                    r = r + coeffs[0, y, x]
                    data[i, g, y, x] = r
