"""numba helper of :mod:`.jump`: the first differences of a block of pixels, pixel-major
(private; arrays and scalars only).

A pixel's groups are a whole plane apart in the (nints, ngroups, ny, nx) chunk, so its
differences are first formed row by row (contiguous runs of ``wn`` pixels of plane (i, g),
vectorisable), for ``IBLOCK`` integrations at a time into a small scratch ``cur``, and then
written to the pixel-major buffer ``buf[w, j]`` ``IBLOCK`` values per pixel at a time (one
cache line instead of one value per pixel and plane).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: integrations whose differences are transposed together
IBLOCK = 16


@njit(cache=True)
def _gather_block(sci, gdq, gain, y, x0, wn, si, sk, badbits, jump, buf, prev, cur, injump):
    """First differences (electrons) of pixels x0 .. x0 + wn - 1 of row y, all integrations:
    ``buf[w, i * si + (g - 1) * sk] = e(i, g) - e(i, g - 1)`` with ``e = float32(DN * gain)``
    and NaN where the group is SATURATED or DO_NOT_USE (``badbits``). ``prev`` (nints, >= wn)
    and ``cur`` (IBLOCK, >= wn) are float32 scratch. Sets ``injump[w]`` where a group of
    pixel w has ``jump``; returns (groups with ``jump``, groups with ``jump`` and a bad bit).
    """
    nints, ngroups = sci.shape[0], sci.shape[1]
    nan32 = np.float32(np.nan)
    nprim = 0
    nclean = 0
    gr = gain[y, x0:x0 + wn]
    for g in range(ngroups):
        for i0 in range(0, nints, IBLOCK):
            ni = min(IBLOCK, nints - i0)
            for ii in range(ni):
                i = i0 + ii
                srow = sci[i, g, y, x0:x0 + wn]
                frow = gdq[i, g, y, x0:x0 + wn]
                prow = prev[i]
                crow = cur[ii]
                anyj = 0
                for w in range(wn):
                    f = frow[w]
                    v = srow[w] * gr[w]
                    v = nan32 if f & badbits else v
                    crow[w] = v - prow[w]
                    prow[w] = v
                    anyj |= f & jump
                if anyj:
                    for w in range(wn):
                        f = frow[w]
                        if f & jump:
                            nprim += 1
                            injump[w] = 1
                            if f & badbits:
                                nclean += 1
            if g > 0:
                j0 = i0 * si + (g - 1) * sk
                for w in range(wn):
                    for ii in range(ni):
                        buf[w, j0 + ii * si] = cur[ii, w]
    return nprim, nclean
