"""numba kernel of clean_flicker_noise's median fit: masked medians of image lines."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _masked_line_medians_kernel(image, mask, along_x, starts, stops, out):
    """Median of the masked-in pixels of every line of ``image``, per segment of the line.

    image  : float32 or float64 (ny, nx)
    mask   : bool (ny, nx), True = pixel used
    along_x: True -> a line is a row (median along x, one value per row);
             False -> a line is a column (median along y, one value per column)
    starts, stops : int64 (nseg,) segment bounds along the line (jwst's channels)
    out    : (nseg, nlines) of image's dtype, filled; 0 where a segment has no usable pixel (as jwst's
             ``np.ma.median(...).filled(0)``). An even count gives the float32 mean of the two
             middle values, ``(a + b) / 2`` in that dtype, as numpy.ma.median computes it.
    """
    ny, nx = image.shape
    nlines = ny if along_x else nx
    nseg = starts.size
    for line in prange(nlines):
        buf = np.empty(nx if along_x else ny, dtype=image.dtype)
        for s in range(nseg):
            n = 0
            for k in range(starts[s], stops[s]):
                if along_x:
                    if mask[line, k]:
                        buf[n] = image[line, k]
                        n += 1
                elif mask[k, line]:
                    buf[n] = image[k, line]
                    n += 1
            if n == 0:
                out[s, line] = 0.0
                continue
            vals = np.sort(buf[:n])
            h = n // 2
            if n % 2 == 1:
                out[s, line] = vals[h]
            else:
                out[s, line] = (vals[h - 1] + vals[h]) / np.float32(2.0)
