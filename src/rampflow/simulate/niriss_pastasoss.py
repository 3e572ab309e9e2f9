"""The PASTASOSS reference of the simulated NIRISS SOSS traces (``niriss_soss``).

jwst finds the SOSS traces from CRDS's PASTASOSS reference (stdatamodels ``PastasossModel``,
ASDF): per order, the trace (x, y) in SUBSTRIP256 rows at the commanded pupil-wheel position
``pwcpos_cmd`` (245.76 deg), rotated about a pivot point by PWCPOS - pwcpos_cmd for the
exposure, and a wavelength polynomial in (x, wheel offset). The simulator's traces are
:func:`~.niriss.order_center` at the exposure's PWCPOS (:data:`~.niriss.PWCPOS`), so its
reference stores them rotated back by -(PWCPOS - pwcpos_cmd) about the pivot: jwst (and
:mod:`rampflow.pastasoss`) turning them forward again land on the simulated traces (to ~1e-6
pixel, the re-sampling of the rotation). The layout (meta keys, one entry per order in
``traces`` and ``wavecal_models``, coefficient order C00, C10, C01, ...) is CRDS's
``jwst_niriss_pastasoss_*.asdf``'s; the numbers are the simulator's (ASSUMED shapes, see
:mod:`.niriss`). Wavelengths: order 1 runs linearly from 2.8 um at x = 0 to 0.85 um at
x = 2047 (as the simulated spectrum), order m at 1/m of order 1's at the same x.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

#: commanded pupil-wheel position (deg) and the bounds a PWCPOS must lie in, as CRDS's reference
PWCPOS_CMD = 245.76
PWCPOS_BOUNDS = (245.54, 246.04)
#: the point the traces rotate about (pixels, SUBSTRIP256 coordinates), near the real one
PIVOT = (1853.39, -0.08)


def reference_trace(order: int, pwcpos: float) -> np.ndarray:
    """(n, 2) float64 (x, y) of the simulated ``order`` at the commanded position: the trace at
    ``pwcpos`` (every column the order covers) rotated by -(pwcpos - PWCPOS_CMD) about PIVOT and
    re-sampled on those columns."""
    from ..pastasoss import rotate
    from .niriss import ORDERS, order_center

    x0, x1, _ = ORDERS[order]
    x = np.arange(x0, x1 + 1, dtype=np.float64)
    xr, yr = rotate(x, order_center(order, x), -(float(pwcpos) - PWCPOS_CMD), PIVOT)
    return np.column_stack([xr, yr])


def write_pastasoss(path, pwcpos: float, useafter: str) -> Path:
    """Write the PASTASOSS reference of the simulated traces through ``PastasossModel``."""
    from stdatamodels.jwst import datamodels

    from .niriss import ORDERS

    model = datamodels.PastasossModel()
    m = model.meta
    m.instrument.name, m.instrument.detector, m.instrument.filter = "NIRISS", "NIS", "CLEAR"
    m.instrument.pupil = "GR700XD"
    m.exposure.type = "NIS_SOSS"
    m.reftype, m.pedigree, m.author = "PASTASOSS", "SIMULATION", "rampflow simulate"
    m.useafter = str(useafter)
    m.description = "Simulated SOSS trace positions and wavelengths (rampflow simulator)"
    m.telescope = "JWST"
    m.date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    m.pwcpos_cmd = PWCPOS_CMD
    m.pwcpos_bounds = list(PWCPOS_BOUNDS)
    m.order2_separation_cutoff = [0.77, 0.95]
    m.soss_xdim, m.soss_ydim, m.subarray_ymin = 2048, 300, 1792
    m.wavemap_wlmin, m.wavemap_wlmax, m.wavemap_nwl = 0.5, 5.5, 5001
    traces, wavecal = [], []
    for order in ORDERS:
        traces.append({"spectral_order": order, "pivot_x": PIVOT[0], "pivot_y": PIVOT[1],
                       "trace": reference_trace(order, pwcpos), "oversampling": 1})
        # wavelength = (2.8 - 1.95 * x / 2047) / order, x scaled over [0, 2047], offset over [-0.25, 0.25]
        wavecal.append({"spectral_order": order, "polynomial_degree": 1,
                        "coefficients": np.array([2.8, -1.95, 0.0]) / order,
                        "coefficient_labels": "C00, C10, C01",
                        "scale_extents": np.array([[0.0, -0.25], [2047.0, 0.25]])})
    model.traces = traces
    model.wavecal_models = wavecal
    path = Path(path)
    model.meta.filename = path.name
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    model.close()
    return path
