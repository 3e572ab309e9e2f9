"""numba kernel of MIRI's reference-pixel correction (see rampflow.steps.refpix_miri).

Each plane (integration i, group g >= 1) is independent: the first group of the integration
is subtracted (in float64, rounded to float32, as jwst's float64 ``first_read`` array does),
the sigma-clipped means of the left and right reference columns of each amplifier (per row
parity) are taken on that difference with jwst's ``sigma_clip`` (the shared
:func:`rampflow.kernels.refpix._clipped_mean`), their average is subtracted from the
amplifier's columns, and the first group is added back (float64, rounded to float32).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .refpix import _clipped_mean

#: first right-hand reference column of the MIRI full frame (0-based); left ones are 0-3
_RIGHT = 1028


@njit(cache=True)
def _diff(sci, i, g, row, col):
    """float32(sci[i, g] - sci[i, 0]) computed in float64, as jwst's float64 first_read gives."""
    return np.float32(np.float64(sci[i, g, row, col]) - np.float64(sci[i, 0, row, col]))


@njit(cache=True, parallel=True)
def _miri_refpix_kernel(sci, good, odd_even_rows, siglimit, correct):
    """In place on ``sci`` (float32 (nints, ngroups, 1024, 1032)).

    good : bool (1024, 1032) -- PIXELDQ without DO_NOT_USE (only the reference columns are read).
    odd_even_rows : separate means for rows 0, 2, ... and 1, 3, ... (jwst's "odd" / "even").
    correct : False when some reference set has no good pixel (jwst then stops correcting,
        but still subtracts and adds back the first group, which rounds the values).
    """
    nints, ngroups, ny, nx = sci.shape
    npar = 2 if odd_even_rows else 1
    nplanes = nints * max(ngroups - 1, 0)
    for p in prange(nplanes):
        i = p // (ngroups - 1)
        g = 1 + p % (ngroups - 1)
        ref = np.zeros((4, 2), dtype=np.float64)
        if correct:
            buf = np.empty(ny, dtype=np.float32)
            w = np.empty(ny, dtype=np.float32)
            scratch = np.empty(4, dtype=np.float32)
            for a in range(4):
                for par in range(npar):
                    vals = np.zeros(2, dtype=np.float64)
                    f32s = np.zeros(2, dtype=np.bool_)
                    for side in range(2):
                        col = a if side == 0 else _RIGHT + a
                        n = 0
                        for row in range(par, ny, npar):
                            if good[row, col]:
                                buf[n] = _diff(sci, i, g, row, col)
                                n += 1
                        v, is32, _ = _clipped_mean(buf, n, siglimit, siglimit, w, scratch)
                        vals[side] = v
                        f32s[side] = is32
                    if f32s[0] and f32s[1]:  # float32 scalars: float32 sum, then * 0.5
                        ref[a, par] = np.float64(np.float32(np.float32(vals[0]) + np.float32(vals[1]))) * 0.5
                    else:
                        ref[a, par] = 0.5 * (vals[0] + vals[1])
        for row in range(ny):
            par = row % 2 if odd_even_rows else 0
            for col in range(nx):
                y = _diff(sci, i, g, row, col)
                if correct:
                    y = np.float32(np.float64(y) - ref[col % 4, par])
                sci[i, g, row, col] = np.float32(np.float64(y) + np.float64(sci[i, 0, row, col]))
