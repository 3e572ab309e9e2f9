"""numba kernels behind :mod:`rampflow.steps.emicorr` (private; arrays and scalars only)."""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True)
def _phase_sums_kernel(data, pixel_ok, phase_index, all_y, all_n):
    """Sum the ramps of good pixels by EMI phase bin, as jwst's joint algorithm does.

    data : float32 (nints, ngroups, ny, nx); pixel_ok : bool (nints, ny, nx);
    phase_index : int64 (ny, nx // 4), the phase bin of each pixel of one amplifier (-1: skip,
    jwst's bad reference columns 1 and 2 of each amplifier); all_y : float64 (nints, nphases,
    ngroups) and all_n : float64 (nints, nphases), added to. The four amplifiers of a column
    group share a bin; the sums run over rows, then columns, then amplifiers, in jwst's order.
    """
    nints, ngroups, ny, nx = data.shape
    nx4 = nx // 4
    for i in prange(nints):
        for j in range(ny):
            for k in range(nx4):
                b = phase_index[j, k]
                if b < 0:
                    continue
                for amp in range(4):
                    x = k * 4 + amp
                    if pixel_ok[i, j, x]:
                        for g in range(ngroups):
                            all_y[i, b, g] += data[i, g, j, x]
                        all_n[i, b] += 1.0
