"""numba kernel behind :mod:`rampflow.steps.linearity` (private; arrays and scalars only)."""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, inline="always")
def _horner(coeffs, y, x, d):
    """Pixel (y, x)'s polynomial of ``d``: float32 arithmetic in stcal's order,
    ``r = c[n-1]*d; for j = n-2..1: r = (r + c[j]) * d; r += c[0]``. Inlined into the
    callers' numba IR (as a call, the loops around it did not vectorise: 3x slower)."""
    nc = coeffs.shape[0]
    r = coeffs[nc - 1, y, x] * d
    for j in range(nc - 2, 0, -1):
        r = r + coeffs[j, y, x]
        r = r * d
    return r + coeffs[0, y, x]


@njit(cache=True, parallel=True)
def _horner_kernel(data, gdq, coeffs, sat):
    """In place: every group not flagged ``sat`` becomes the polynomial of itself
    (:func:`_horner`).

    data float32 (nints, ngroups, ny, nx); gdq uint8, same shape; coeffs float32
    (ncoeffs, ny, nx), ncoeffs >= 2. (integration, row) pairs in parallel (a row chunk may
    hold one row).
    """
    nints, ng, ny, nx = data.shape
    for k in prange(nints * ny):
        i = k // ny
        y = k - i * ny
        for g in range(ng):
            for x in range(nx):
                if gdq[i, g, y, x] & sat:
                    continue
                data[i, g, y, x] = _horner(coeffs, y, x, data[i, g, y, x])
