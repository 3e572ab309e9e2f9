"""The simulator's imaging FLAT references (NIRCam imaging, MIRI imaging), as CRDS holds them:
full frame, written through ``stdatamodels``' ``FlatModel`` (SCI, DQ with its DQ_DEF, ERR).

The pixel response is a smooth illumination pattern (a few per cent across the frame) times
1 % pixel-to-pixel scatter, with what real flats carry and what the flat-dependent code must
handle: scattered pixels that are exactly 0 or NaN (0.1 % each), a NaN patch flagged
DO_NOT_USE | NO_FLAT_FIELD (rows 100-107, columns 370-377, 0-based), a patch flagged
NO_FLAT_FIELD alone (rows 120-123, columns 385-388; jwst's flat_field adds DO_NOT_USE there)
and reference pixels at 1.0 flagged REFERENCE_PIXEL. The patches lie inside a 400 x 400
corner subarray and in MIRI's imager field. MIRI's flat also flags the area left of
the imager's field (the coronagraphs and the LRS slit, columns 4-359) NON_SCIENCE |
DO_NOT_USE, as MIRI imaging flats do.

The simulated ramps carry no flat-field response (as they carry no IPC): the FLAT exercises
clean_flicker_noise's ``apply_flat_field``, ``autoparam`` and MIRI ``mask_science_regions``,
which read it; a flat-fielded rate of the simulation is not its truth.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from .. import dq as dqflags
from ..io import simfiles
from .detector import DetectorModel, rng

#: random stream of the FLAT's structure (distinct from the detector's, scene's and MIRI's)
STREAM_FLAT = 5
#: patches of the flat: (rows, columns) slices, 0-based, full frame
NAN_PATCH = (slice(100, 108), slice(370, 378))
NO_FLAT_PATCH = (slice(120, 124), slice(385, 389))
#: MIRI: columns of the full frame left of the imager's field (coronagraphs, LRS slit)
MIRI_NON_SCIENCE_COLUMNS = slice(4, 360)
#: DQ flags the flat's DQ_DEF table defines
FLAT_DQ_NAMES = ("DO_NOT_USE", "NON_SCIENCE", "NO_FLAT_FIELD", "REFERENCE_PIXEL")


def flat_arrays(det: DetectorModel, code: int, non_science_columns: slice | None = None) -> dict:
    """SCI (float32), DQ (uint32) and ERR (float32) full-frame arrays of the simulated FLAT of
    ``det`` (module docstring); ``code`` is the detector's seed key."""
    ny, nx = det.refpix.shape
    gen = rng(int(det.extra.get("seed", 0)), int(code), STREAM_FLAT)
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    u, v = x / nx - 0.5, y / ny - 0.5
    smooth = 1.0 + 0.04 * u - 0.06 * (u * u + v * v) + 0.01 * np.sin(2 * np.pi * v)
    sci = (smooth * (1.0 + 0.01 * gen.standard_normal((ny, nx)))).astype(np.float32)
    err = np.full((ny, nx), 0.005, dtype=np.float32)
    dq = np.zeros((ny, nx), dtype=np.uint32)
    n = ny * nx // 1000
    sci.flat[gen.integers(0, ny * nx, n)] = 0.0
    sci.flat[gen.integers(0, ny * nx, n)] = np.nan
    sci[NAN_PATCH] = np.nan
    dq[NAN_PATCH] |= np.uint32(dqflags.DO_NOT_USE | dqflags.FLAGS["NO_FLAT_FIELD"])
    dq[NO_FLAT_PATCH] |= np.uint32(dqflags.FLAGS["NO_FLAT_FIELD"])
    if non_science_columns is not None:
        dq[:, non_science_columns] |= np.uint32(dqflags.DO_NOT_USE | dqflags.FLAGS["NON_SCIENCE"])
    sci[det.refpix] = 1.0
    dq[det.refpix] |= np.uint32(dqflags.REFERENCE_PIXEL)
    return {"SCI": sci, "DQ": dq, "ERR": err}


def write_flat(det: DetectorModel, instrument, phys: dict, refdir, *, filt: str,
               non_science_columns: slice | None = None) -> Path:
    """Write the FLAT of ``det`` (an :class:`~.kinds.Instrument`'s detector) for filter
    ``filt`` into ``refdir``; returns its path."""
    from .references import dq_def_rows, ref_name

    layout = instrument.detectors[det.name]
    fny, fnx = det.refpix.shape
    kw = {
        "TELESCOP": "JWST", "INSTRUME": instrument.name, "DETECTOR": det.name, "FILTER": filt,
        "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": fnx, "SUBSIZE2": fny,
        "FASTAXIS": layout.fastaxis, "SLOWAXIS": layout.slowaxis, "REFTYPE": "FLAT",
        "AUTHOR": "rampflow simulate", "PEDIGREE": "SIMULATION", "USEAFTER": str(phys["useafter"]),
        "ORIGIN": "rampflow", "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "DESCRIP": f"Simulated imaging flat for {det.name}",
    }
    path = Path(refdir) / ref_name(instrument.name, "flat", det.name)
    arrays = flat_arrays(det, layout.code, non_science_columns)
    return simfiles.write_reference(path, "flat", arrays, kw, dq_def=dq_def_rows(FLAT_DQ_NAMES))
