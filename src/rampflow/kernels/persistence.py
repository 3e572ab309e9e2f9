"""numba kernel behind :mod:`rampflow.steps.persistence` (private; arrays and scalars only).

jwst's ``DataSet.process_persistence_flagging`` works plane by plane on whole frames; every
operation is per pixel, so here each pixel runs through the groups of the chunk's
integrations on its own, in parallel over rows, with the same float64 comparisons in the same
order. ``window`` float64 (ny, nx) is the persistence array (epoch seconds at which the
pixel's window ends, 0 = no window), carried from chunk to chunk and from exposure to
exposure.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _flag_kernel(sci, gdq, window, times, ends, sat_bit, flag, use_dn, dn_threshold):
    """sci float32 / gdq uint8 (nints, ngroups, ny, nx); times, ends float64 (nints, ngroups):
    each group's time and the end of a window opened there (time + persistence_time).

    Per group, as jwst: (1) a window that ended before the group's time is closed; (2) while
    exactly one SATURATED group of the integration has been seen (from the first one until a
    second), the window is (re)opened; (3) with ``use_dn``, a value above
    ``dn_threshold`` (float32 compare) opens one where none is open; (4) a window ending after
    ``ends`` (opened in the "future": backwards flagging) is reset; (5) the group is flagged
    while a window is open."""
    nints, ng, ny, nx = gdq.shape
    for y in prange(ny):
        for x in range(nx):
            w = window[y, x]
            for i in range(nints):
                nsat = 0
                for g in range(ng):
                    t = times[i, g]
                    end = ends[i, g]
                    if w < t:
                        w = 0.0
                    f = gdq[i, g, y, x]
                    if f & sat_bit:
                        nsat += 1
                    if nsat == 1:  # jwst: sat_array == 1, i.e. until a second SATURATED group
                        w = end
                    if use_dn and sci[i, g, y, x] > dn_threshold and not w > 0.0:
                        w = end
                    if w != 0.0 and w - end > 0.0:
                        w = 0.0
                    if w > 0.0:
                        gdq[i, g, y, x] = f | flag
            window[y, x] = w


def flag_chunk(sci, gdq, window, times, ends, sat_bit, flag, dn_threshold) -> None:
    """Flag a chunk of integrations in place; ``dn_threshold`` None: no DN windows."""
    use_dn = dn_threshold is not None
    thr = np.float32(0.0 if dn_threshold is None else dn_threshold)
    _flag_kernel(sci, gdq, window, np.ascontiguousarray(times, np.float64), np.ascontiguousarray(ends, np.float64),
                 np.uint8(sat_bit), np.uint8(flag), use_dn, thr)
