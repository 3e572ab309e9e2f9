"""Checks of the chunks handed to the ramp fit (:mod:`.ramp_fit`) and the kernel's work split."""

from __future__ import annotations

import numpy as np


def _check_chunk(sci, gdq, pdq, setup, rows):
    if not isinstance(sci, np.ndarray) or sci.dtype != np.dtype(np.float32) or sci.ndim != 4:
        raise ValueError(f"ramp_fit: sci must be a native float32 (nints, ngroups, nrows, nx) array, "
                         f"got {getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    if not isinstance(gdq, np.ndarray) or gdq.dtype != np.dtype(np.uint8) or gdq.shape != sci.shape:
        raise ValueError(f"ramp_fit: gdq must be uint8 with shape {sci.shape}, got "
                         f"{getattr(gdq, 'dtype', type(gdq))} {getattr(gdq, 'shape', '')}")
    nints, ngroups, nrows, nx = sci.shape
    if not isinstance(pdq, np.ndarray) or pdq.dtype != np.dtype(np.uint32) or pdq.shape != (nrows, nx):
        raise ValueError(f"ramp_fit: pdq must be uint32 with shape {(nrows, nx)}, got "
                         f"{getattr(pdq, 'dtype', type(pdq))} {getattr(pdq, 'shape', '')}")
    if (nints, ngroups, nx) != (setup.nints, setup.ngroups, setup.nx):
        raise ValueError(f"ramp_fit: sci shape {sci.shape} does not match the exposure "
                         f"(nints={setup.nints}, ngroups={setup.ngroups}, nx={setup.nx})")
    start, stop, step = rows.indices(setup.ny)
    if step != 1 or stop - start != nrows:
        raise ValueError(f"ramp_fit: rows {rows} (of {setup.ny}) does not hold the chunk's {nrows} rows")
    return slice(start, stop)


def _tile_width(ngroups: int, nx: int) -> int:
    """Columns per parallel work item: a slab of ~200 kB (float32 + uint8 per group) stays in
    a core's L2 cache while each group's run of the cube read into it is long (>= 64 pixels)."""
    nx = max(int(nx), 1)
    width = max(64, 200_000 // (5 * max(int(ngroups), 1)))
    ntiles = -(-nx // width)                     # ceil
    even = -(-nx // ntiles)                      # equal tiles ...
    return min(nx, (even + 15) // 16 * 16)       # ... in whole cache lines


#: bytes of flagged ramps (float32 + uint8 groups) each work item of the OLS_C kernel keeps
#: from its first read of the cube, so that the fit needs no second read
SIDE_BYTES = 2_000_000


def _side_ramps(ngroups: int, tile: int) -> int:
    """Flagged ramps a work item of the OLS_C kernel keeps aside: SIDE_BYTES worth, at least
    one per column (results do not depend on it; integrations beyond it are read twice)."""
    return max(int(tile), SIDE_BYTES // (5 * max(int(ngroups), 1)))


def _zf_arg(zeroframe, shape):
    nints, _, nrows, nx = shape
    if zeroframe is None:
        return np.zeros((1, 1, 1), dtype=np.float32), False
    zf = np.asarray(zeroframe)
    if zf.dtype != np.dtype(np.float32) or zf.shape != (nints, nrows, nx):
        raise ValueError(f"ramp_fit: zeroframe must be float32 with shape {(nints, nrows, nx)}, "
                         f"got {zf.dtype} {zf.shape}")
    return np.ascontiguousarray(zf), True
