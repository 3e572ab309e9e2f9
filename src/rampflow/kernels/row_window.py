"""numba kernel of the row stream's window (private; arrays and scalars only)."""

from __future__ import annotations

from numba import njit, prange


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
