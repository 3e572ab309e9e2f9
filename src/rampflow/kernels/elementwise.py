"""numba kernel behind the one pass's fused elementwise steps (private; arrays and scalars only).

group_scale, superbias, linearity (classic polynomial) and dark_current each change every
sample on its own; run one after the other they read and write the whole chunk once each.
:func:`_scale_bias_poly_dark_kernel` applies any consecutive run of them in one pass over
the chunk, each in the float32 / float64 arithmetic, and order, of its own step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _scale_bias_poly_dark_kernel(sci, y0s, gdq, y0q, ny, scale, bias, coeffs, dark, do_scale, do_bias, do_poly,
                                 do_dark, sat):
    """In place, per sample and in this order (each only when its ``do_*`` is set):

    * group_scale: ``d * scale`` (float32 scalar);
    * superbias: ``d - bias[y, x]`` (float32 (ny, nx));
    * linearity: groups not flagged ``sat`` in ``gdq`` become the polynomial of themselves
      (float32 ``coeffs`` (ncoeffs, ny, nx), stcal's Horner order: ``linearity._horner``);
    * dark_current: ``float32(d - dark[g, y, x])`` (``dark`` float32, or float64 as numpy's
      ``sci -= dark`` promotes it).

    ``sci`` float32 and ``gdq`` uint8 (nints, ngroups, nrows, nx): the chunk is their rows
    ``y0s`` / ``y0q`` on, ``ny`` of them (a row window whole, C-contiguous, see
    :func:`.row_window.window_rows`; ``gdq`` is read only with ``do_poly``). (integration,
    row) pairs in parallel: a row pass's chunks hold a single new row at times (a full
    2048-column TSO segment of 155 integrations), which rows alone would leave to one thread.

    Each operation is a loop over the row's pixels, the polynomial one coefficient at a time
    over the row into a scratch row (the per-pixel Horner loop does not vectorise): the same
    float32 operations in the same order per sample, so the same values.
    """
    nints, ng = sci.shape[0], sci.shape[1]
    nx = sci.shape[3]
    nc = coeffs.shape[0]
    for k in prange(nints * ny):
        i = k // ny
        y = k - i * ny
        r = np.empty(nx, dtype=np.float32)
        for g in range(ng):
            d = sci[i, g, y0s + y]
            if do_scale:
                for x in range(nx):
                    d[x] = d[x] * scale
            if do_bias:
                b = bias[y]
                for x in range(nx):
                    d[x] = d[x] - b[x]
            if do_poly:
                q = gdq[i, g, y0q + y]
                c = coeffs[nc - 1, y]
                for x in range(nx):
                    r[x] = c[x] * d[x]
                for j in range(nc - 2, 0, -1):
                    c = coeffs[j, y]
                    for x in range(nx):
                        r[x] = (r[x] + c[x]) * d[x]
                c = coeffs[0, y]
                for x in range(nx):
                    v = r[x] + c[x]
                    d[x] = d[x] if q[x] & sat else v
            if do_dark:
                dk = dark[g, y]
                for x in range(nx):
                    d[x] = np.float32(d[x] - dk[x])


def apply_elementwise(sci, gdq=None, *, scale=None, bias=None, poly=None, dark=None, sat=2):
    """:func:`_scale_bias_poly_dark_kernel` on ``sci`` (float32 (nints, ngroups, ny, nx), rows of
    a window or not: see :func:`.row_window.window_rows`) with the operations whose operand
    is given (``scale`` a float32 scalar; ``bias`` (ny, nx); ``poly`` (ncoeffs, ny, nx),
    which needs ``gdq``; ``dark`` (ngroups, ny, nx)), in that order; ``sat`` the SATURATED bit."""
    from .row_window import window_rows

    if poly is not None and gdq is None:
        raise ValueError("apply_elementwise: the polynomial needs GROUPDQ")
    wsci, y0s = window_rows(sci)
    wgdq, y0q = window_rows(gdq) if gdq is not None else (np.zeros((1, 1, 1, 1), np.uint8), 0)
    _scale_bias_poly_dark_kernel(
        wsci, y0s, wgdq, y0q, sci.shape[2],
        np.float32(1.0) if scale is None else np.float32(scale),
        np.zeros((1, 1), np.float32) if bias is None else bias,
        np.zeros((2, 1, 1), np.float32) if poly is None else poly,
        np.zeros((1, 1, 1), np.float32) if dark is None else dark,
        scale is not None, bias is not None, poly is not None, dark is not None, np.uint8(sat))
