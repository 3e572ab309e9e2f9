"""numba kernel behind the one pass's fused elementwise steps (private; arrays and scalars only).

group_scale, superbias, linearity (classic polynomial) and dark_current each change every
sample on its own; run one after the other they read and write the whole chunk once each.
:func:`_scale_bias_poly_dark_kernel` applies any consecutive run of them in one pass over
the chunk, each in the float32 / float64 arithmetic, and order, of its own step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .linearity import _horner


@njit(cache=True, parallel=True)
def _scale_bias_poly_dark_kernel(sci, gdq, scale, bias, coeffs, dark, do_scale, do_bias, do_poly, do_dark, sat):
    """In place, per sample and in this order (each only when its ``do_*`` is set):

    * group_scale: ``d * scale`` (float32 scalar);
    * superbias: ``d - bias[y, x]`` (float32 (ny, nx));
    * linearity: groups not flagged ``sat`` in ``gdq`` become the polynomial of themselves
      (float32 ``coeffs`` (ncoeffs, ny, nx), stcal's Horner order: ``linearity._horner``);
    * dark_current: ``float32(d - dark[g, y, x])`` (``dark`` float32, or float64 as numpy's
      ``sci -= dark`` promotes it).

    sci float32 (nints, ngroups, ny, nx); gdq uint8, same shape. (integration, row) pairs in
    parallel: a row pass's chunks hold a single new row at times (a full 2048-column TSO
    segment of 155 integrations), which rows alone would leave to one thread.
    """
    nints, ng, ny, nx = sci.shape
    for k in prange(nints * ny):
        i = k // ny
        y = k - i * ny
        for g in range(ng):
            for x in range(nx):
                d = sci[i, g, y, x]
                if do_scale:
                    d = d * scale
                if do_bias:
                    d = d - bias[y, x]
                if do_poly and not (gdq[i, g, y, x] & sat):
                    d = _horner(coeffs, y, x, d)
                if do_dark:
                    d = np.float32(d - dark[g, y, x])
                sci[i, g, y, x] = d
