"""NIRSpec: its detectors and the Bright Object Time Series kind (``nirspec_tso``).

``nirspec_tso``
    NIRSpec Bright Object Time Series, detectors NRS1/NRS2, subarray SUB2048 (32 x 2048 in
    DMS orientation, SUBSTRT1 = 1, SUBSTRT2 = 963 (NRS1) / 1055 (NRS2): the G395H values of
    the NIRSpec subarray definitions), NRSRAPID, NOUTPUTS = 1, a curved spectral trace and a
    transit across the integrations, split into exposure segments (``-seg001`` ...). Other
    sizes are ``GENERIC`` cuts centred on SUB2048's rows.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from . import kinds
from .geometry import FULL, column_position, columns

NIRSPEC = kinds.Instrument(
    name="NIRSPEC",
    detectors={"NRS1": kinds.DetectorSpec(2, 1, code=1), "NRS2": kinds.DetectorSpec(-2, -1, code=2)},
    readpatterns={"NRSRAPID": (1, 0), "NRS": (4, 0)},
    dark_readpatt="NRSRAPID",
    dark_model="DarkNirspecModel",
)

#: SUB2048 SUBSTRT2 (1-based) per detector, G395H (NIRSpec subarray definitions)
SUB2048_YSTART = {"NRS1": 963, "NRS2": 1055}


class NirspecBots(kinds.Kind):
    """NIRSpec BOTS: a curved trace of a transiting star's spectrum on SUB2048."""

    name = "nirspec_tso"
    instrument = NIRSPEC
    exp_type = "NRS_BRIGHTOBJ"
    detectors = ("NRS1", "NRS2")
    default_detectors = ("NRS1", "NRS2")
    size = (32, FULL)
    readpatt = "NRSRAPID"
    tso = True
    observation = 1
    visit_group = 4
    target = "SIM-TRANSIT-1"
    physics = {"one_over_f_rms": 4.0, "dark_rate": 0.006, "bias_level": 13000.0, "gain": 1.0,
               "readnoise": 13.0, "peak_well_fraction": 0.6, "background": 0.0, "transit_depth": 0.01}
    scene_physics = {
        "trace_y0": None,              # trace centre row (subarray, 0-based); None: centre
        "trace_curvature": 2.0,        # pixels of trace bending across the detector
        "trace_sigma": 0.9,            # pixels, Gaussian spatial profile
    }

    def subarray(self, detector, ny, nx):
        base = SUB2048_YSTART[detector]
        ystart = base + (32 - ny) // 2 if ny <= 32 else max(1, base + 16 - ny // 2)
        ystart = min(ystart, FULL - ny + 1)
        name = "SUB2048" if (ny, nx) == (32, FULL) else "GENERIC"
        return name, 1, ystart

    def noutputs(self, ny, nx):
        return 4 if (ny, nx) == (FULL, FULL) else 1

    def source(self, det, geom, phys, rng, peak):
        ny = geom.ny
        X = columns(geom)
        u = column_position(geom)
        a1 = rng.uniform(-0.5, 0.5)
        a2 = rng.uniform(0.6, 1.0)
        bend = a1 * u + a2 * (u ** 2 - 1.0 / 3.0)
        bend *= float(phys["trace_curvature"]) / max(np.ptp(bend), 1e-9)
        y0 = phys["trace_y0"]
        y0 = (ny - 1) / 2.0 if y0 is None else float(y0)
        yc = y0 + bend
        sig = float(phys["trace_sigma"])
        edges = np.arange(ny + 1, dtype=np.float64) - 0.5
        cdf = 0.5 * (1.0 + erf((edges[:, None] - yc[None, :]) / (math.sqrt(2.0) * sig)))
        prof = np.diff(cdf, axis=0)
        # smooth spectrum: a throughput bump times a power law, with gentle ripples
        lam0, lam1 = (2.87, 3.72) if det.name == "NRS1" else (3.82, 5.18)
        lam = lam0 + (lam1 - lam0) * X / (FULL - 1)
        spec = (lam / 4.0) ** -2.0 * np.exp(-0.5 * ((lam - 3.9) / 1.1) ** 2)
        spec *= 1.0 + 0.05 * np.sin(2 * np.pi * X / 517.0 + rng.uniform(0, 2 * np.pi))
        src = prof * spec[None, :]
        src *= peak / src.max()
        return src

    def keywords(self, geom):
        return {"FILTER": "F290LP", "GRATING": "G395H", "FXD_SLIT": "S1600A1",
                "APERNAME": "NRS_S1600A1_SLIT"}


#: the kind, registered in the package's ``__init__``
BOTS = NirspecBots()
