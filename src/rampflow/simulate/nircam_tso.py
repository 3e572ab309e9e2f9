"""NIRCam time series: grism (``nircam_grism_tso``) and weak-lens imaging (``nircam_imaging_tso``).

Both reuse :data:`.nircam.NIRCAM` (its detectors' FASTAXIS = +-1: a fast-read line is a
DMS *row*, so 1/f noise makes row stripes, and 4 outputs split a row into 512-column strips).

``nircam_grism_tso``
    Long-wave grism time series (EXP_TYPE NRC_TSGRISM, GRISMR), detector NRCALONG (or
    NRCBLONG), RAPID. Subarrays SUBGRISM64 / SUBGRISM128 / SUBGRISM256 (ny = 64 / 128 / 256,
    the full 2048 columns, SUBSTRT1 = SUBSTRT2 = 1, so the 4 side reference columns each end
    and the bottom 4 reference rows are read), through 4 outputs (default) or 1
    (``noutputs: 1``); other sizes are GENERIC cuts from the same corner. TFRAME follows
    from the outputs: (2048 / NOUTPUTS + 12) x (ny + 1) x 10 us (SUBGRISM256: 1.34669 s with
    4 outputs, 5.29 s with 1). The spectrum disperses along rows (x) with the trace ~34 rows
    above the subarray's first row (ASSUMED, the DHS-free grism TSO field point places it
    near there in every SUBGRISM), a slight tilt (``grism_tilt`` pixels across the detector)
    and a Gaussian profile of sigma ``grism_sigma``. The filter sets the illuminated columns
    (ASSUMED from the published wavelength ranges and the GRISMR dispersion of ~1 nm/pixel):
    F322W2 2.4-4.0 um over columns ~30-1750, F444W 3.9-5.0 um over columns ~750-1830.

``nircam_imaging_tso``
    Short-wave imaging time series (EXP_TYPE NRC_TSIMAGE) through a weak lens (PUPIL WLP8,
    FILTER F210M), detector NRCA3 by default, SUB64P (64 x 64, corner, one output) by default:
    a defocused point source -- a uniform annulus (radii ``wl_inner``..``wl_outer`` pixels)
    softened by a Gaussian of ``wl_soft`` pixels -- near the subarray centre. WLP8's real
    defocused image is larger than SUB64P; its size is scaled down so the pupil image and a
    background annulus fit (a "SUB64P-like" scene, as the task asks).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from . import kinds
from .geometry import FULL, columns
from .nircam import NIRCAM

#: SUBGRISM subarray names by number of rows
GRISM_SUBARRAYS = {64: "SUBGRISM64", 128: "SUBGRISM128", 256: "SUBGRISM256"}
#: row of the grism trace above the subarray's first row (ASSUMED)
GRISM_TRACE_ROW = 34.0
#: illuminated detector columns (first, last) of each long-wave filter with GRISMR (ASSUMED)
GRISM_COLUMNS = {"F322W2": (30, 1750), "F444W": (750, 1830)}
#: wavelength range [um] over those columns
GRISM_WAVELENGTHS = {"F322W2": (2.4, 4.0), "F444W": (3.9, 5.0)}


class NircamGrismTso(kinds.Kind):
    """NIRCam long-wave grism time series on a SUBGRISM subarray (trace along rows)."""

    name = "nircam_grism_tso"
    instrument = NIRCAM
    exp_type = "NRC_TSGRISM"
    detectors = ("NRCALONG", "NRCBLONG")
    default_detectors = ("NRCALONG",)
    size = (64, FULL)
    readpatt = "RAPID"
    tso = True
    observation = 4
    visit_group = 3
    target = "SIM-TRANSIT-GRISM"
    physics = {"one_over_f_rms": 5.0, "dark_rate": 0.01, "bias_level": 12500.0, "gain": 1.82,
               "readnoise": 9.0, "peak_well_fraction": 0.6, "background": 0.3, "transit_depth": 0.01}
    scene_physics = {
        "noutputs": None,              # NIRCam grism TSO: 1 or 4 outputs (None: 4)
        "grism_filter": "F322W2",      # F322W2 or F444W
        "grism_sigma": 1.1,            # pixels, Gaussian spatial profile
        "grism_tilt": 1.5,             # pixels of trace tilt across the detector
    }

    def subarray(self, detector, ny, nx):
        name = GRISM_SUBARRAYS.get(ny, "GENERIC") if nx == FULL else "GENERIC"
        return name, 1, 1

    def noutputs(self, ny, nx):
        return 4 if nx == FULL else 1

    def outputs(self, ny, nx, phys):
        n = phys.get("noutputs")
        if n is None:
            return self.noutputs(ny, nx)
        if int(n) not in (1, 4):
            raise ValueError(f"inputs.simulate.noutputs: NIRCam reads through 1 or 4 outputs, got {n}")
        if int(n) == 4 and nx != FULL:
            raise ValueError(f"inputs.simulate.noutputs: 4 outputs need the full 2048 columns, got nx={nx}")
        return int(n)

    def default_gain(self, detector):
        return 1.82

    def _filter(self, phys) -> str:
        f = str(phys.get("grism_filter") or "F322W2").upper()
        if f not in GRISM_COLUMNS:
            raise ValueError(f"inputs.simulate.grism_filter: {f!r} is not one of {sorted(GRISM_COLUMNS)}")
        return f

    def source(self, det, geom, phys, rng, peak):
        filt = self._filter(phys)
        X = columns(geom).astype(np.float64)
        x0, x1 = GRISM_COLUMNS[filt]
        l0, l1 = GRISM_WAVELENGTHS[filt]
        lam = l0 + (l1 - l0) * (X - x0) / (x1 - x0)
        # filter throughput: a flat top with 60-column edges; a stellar power law with ripples
        edge = np.clip(np.minimum(X - x0, x1 - X) / 60.0, 0.0, 1.0)
        spec = edge * lam ** -2.0 * (1.0 + 0.05 * np.sin(2 * np.pi * X / 233.0 + rng.uniform(0, 2 * np.pi)))
        yc = GRISM_TRACE_ROW + float(phys["grism_tilt"]) * (X / (FULL - 1) - 0.5)
        yc = np.minimum(yc, geom.ny - 3.0)
        sig = float(phys["grism_sigma"])
        edges = np.arange(geom.ny + 1, dtype=np.float64) - 0.5
        cdf = 0.5 * (1.0 + erf((edges[:, None] - yc[None, :]) / (np.sqrt(2.0) * sig)))
        src = np.diff(cdf, axis=0) * spec[None, :]
        det.extra["grism_trace"] = yc
        if src.max() <= 0:
            raise ValueError(f"nircam_grism_tso: no {filt} light falls on columns "
                             f"{int(X[0])}..{int(X[-1])} (illuminated: {x0}..{x1})")
        return src * (peak / src.max())

    def physics_keywords(self, phys):
        return {"FILTER": self._filter(phys)}

    def keywords(self, geom):
        return {"MODULE": geom.detector[3], "CHANNEL": "LONG", "FILTER": "F322W2", "PUPIL": "GRISMR",
                "APERNAME": f"{geom.detector}_{geom.subarray if geom.subarray != 'GENERIC' else 'SUBGRISM64'}"}


class NircamImagingTso(kinds.Kind):
    """NIRCam short-wave imaging time series: a weak-lens-defocused star on SUB64P."""

    name = "nircam_imaging_tso"
    instrument = NIRCAM
    exp_type = "NRC_TSIMAGE"
    detectors = tuple(NIRCAM.detectors)
    default_detectors = ("NRCA3",)
    size = (64, 64)
    readpatt = "RAPID"
    tso = True
    observation = 4
    visit_group = 3
    target = "SIM-TRANSIT-GRISM"
    physics = {"one_over_f_rms": 4.0, "dark_rate": 0.005, "bias_level": 12500.0, "gain": None,
               "readnoise": 10.0, "peak_well_fraction": 0.5, "background": 0.2, "transit_depth": 0.01}
    scene_physics = {
        "wl_inner": 5.0,               # pixels, inner radius of the defocused pupil image
        "wl_outer": 13.0,              # pixels, outer radius
        "wl_soft": 1.0,                # pixels, Gaussian softening of the edges
    }

    def subarray(self, detector, ny, nx):
        return {(64, 64): "SUB64P", (160, 160): "SUB160P", (400, 400): "SUB400P"}.get((ny, nx), "GENERIC"), 1, 1

    def noutputs(self, ny, nx):
        return 4 if nx == FULL else 1

    def default_gain(self, detector):
        return 1.82 if detector.endswith("LONG") else 2.05

    def source(self, det, geom, phys, rng, peak):
        yc, xc = (geom.ny - 1) / 2.0 + 0.3, (geom.nx - 1) / 2.0 - 0.2
        r_in, r_out, soft = float(phys["wl_inner"]), float(phys["wl_outer"]), max(float(phys["wl_soft"]), 1e-3)
        # 4 x 4 sub-sampled radius so the annulus edges are smooth
        sub = (np.arange(4) + 0.5) / 4.0 - 0.5
        y = (np.arange(geom.ny)[:, None] + sub[None, :]).ravel()
        x = (np.arange(geom.nx)[:, None] + sub[None, :]).ravel()
        r = np.hypot(y[:, None] - yc, x[None, :] - xc)
        ring = 0.25 * (erf((r - r_in) / soft) + 1.0) * (erf((r_out - r) / soft) + 1.0)
        src = ring.reshape(geom.ny, 4, geom.nx, 4).mean(axis=(1, 3))
        det.extra["weak_lens"] = (yc, xc, r_in, r_out)
        return src * (peak / src.max())

    def keywords(self, geom):
        longwave = geom.detector.endswith("LONG")
        return {"MODULE": geom.detector[3], "CHANNEL": "LONG" if longwave else "SHORT",
                "FILTER": "F444W" if longwave else "F210M", "PUPIL": "CLEAR" if longwave else "WLP8",
                "APERNAME": f"{geom.detector}_{geom.subarray if geom.subarray != 'GENERIC' else 'SUB64P'}"}


#: the kinds, registered in the package's ``__init__``
GRISM_TSO = NircamGrismTso()
IMAGING_TSO = NircamImagingTso()
