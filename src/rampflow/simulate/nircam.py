"""NIRCam: its detectors and the imaging kind (``nircam_image``).

``nircam_image``
    NIRCam imaging, full frame (2048 x 2048, 4 outputs of 512 columns) by default, Gaussian
    point sources; smaller sizes are corner subarrays (SUB64P/SUB160P/SUB400P for those
    sizes, ``GENERIC`` otherwise) with SUBSTRT1 = SUBSTRT2 = 1 and one output (four when
    they span the full width). Besides the detector's eight references it writes an imaging
    FLAT (:mod:`.flats`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from . import kinds
from .geometry import FULL, NREF


def _det(fast: int, slow: int, code: int) -> kinds.DetectorSpec:
    return kinds.DetectorSpec(fast, slow, code=code)


NIRCAM = kinds.Instrument(
    name="NIRCAM",
    detectors={
        "NRCA1": _det(-1, 2, 3), "NRCA2": _det(1, -2, 4), "NRCA3": _det(-1, 2, 5),
        "NRCA4": _det(1, -2, 6), "NRCALONG": _det(-1, 2, 7),
        "NRCB1": _det(1, -2, 8), "NRCB2": _det(-1, 2, 9), "NRCB3": _det(1, -2, 10),
        "NRCB4": _det(-1, 2, 11), "NRCBLONG": _det(1, -2, 12),
    },
    readpatterns={"RAPID": (1, 0), "BRIGHT1": (1, 1), "BRIGHT2": (2, 0), "SHALLOW2": (2, 3),
                  "SHALLOW4": (4, 1), "MEDIUM2": (2, 8), "MEDIUM8": (8, 2), "DEEP2": (2, 18),
                  "DEEP8": (8, 12)},
    dark_readpatt="RAPID",
)

#: corner subarrays of the imaging mode, by (ny, nx)
_SUBARRAYS = {(64, 64): "SUB64P", (160, 160): "SUB160P", (400, 400): "SUB400P"}


class NircamImage(kinds.Kind):
    """NIRCam imaging: a field of Gaussian point sources, the target near the centre."""

    name = "nircam_image"
    instrument = NIRCAM
    exp_type = "NRC_IMAGE"
    detectors = tuple(NIRCAM.detectors)
    default_detectors = ("NRCA1",)
    size = (FULL, FULL)
    readpatt = "RAPID"
    tso = False
    observation = 2
    visit_group = 2
    target = "SIM-FIELD-1"
    physics = {"one_over_f_rms": 3.0, "dark_rate": 0.003, "bias_level": 12500.0, "gain": None,
               "readnoise": 8.0, "peak_well_fraction": 3.0, "background": 0.2, "transit_depth": 0.0}
    scene_physics = {
        "n_stars": 40,                 # point sources per full frame (at least 3)
        "psf_sigma": None,             # Gaussian PSF sigma in pixels (None: SW 1.0, LW 1.6)
    }

    def subarray(self, detector, ny, nx):
        return _SUBARRAYS.get((ny, nx), "GENERIC"), 1, 1

    def noutputs(self, ny, nx):
        return 4 if nx == FULL else 1

    def default_gain(self, detector):
        return 1.82 if detector.endswith("LONG") else 2.05

    def extra_references(self, det, geom, phys, refdir):
        """The imaging FLAT (:mod:`.flats`), for the filter of :meth:`keywords`."""
        from .flats import write_flat

        return {"flat": write_flat(det, NIRCAM, phys, refdir, filt=self.keywords(geom)["FILTER"])}

    def source(self, det, geom, phys, rng, peak):
        ny, nx = geom.ny, geom.nx
        sigma = phys["psf_sigma"]
        if sigma is None:
            sigma = 1.6 if det.name.endswith("LONG") else 1.0
        sigma = float(sigma)
        nstars = max(3, int(round(int(phys["n_stars"]) * ny * nx / FULL ** 2)))
        margin = NREF + 2
        ys = rng.uniform(margin, max(margin + 1, ny - margin), nstars)
        xs = rng.uniform(margin, max(margin + 1, nx - margin), nstars)
        ys[0], xs[0] = (ny - 1) / 2.0 + 0.2, (nx - 1) / 2.0 - 0.3      # the target, near centre
        central = erf(0.5 / (math.sqrt(2) * sigma)) ** 2                # flux fraction, peak pixel
        fluxes = peak / central * np.exp(rng.uniform(math.log(1e-3), math.log(0.5), nstars))
        fluxes[0] = peak / central
        src = np.zeros((ny, nx))
        half = int(math.ceil(6 * sigma))
        s2 = math.sqrt(2.0) * sigma
        for y, x, f in zip(ys, xs, fluxes):
            iy0, iy1 = max(0, int(y) - half), min(ny, int(y) + half + 2)
            ix0, ix1 = max(0, int(x) - half), min(nx, int(x) + half + 2)
            ey = np.arange(iy0, iy1 + 1) - 0.5
            ex = np.arange(ix0, ix1 + 1) - 0.5
            py = np.diff(0.5 * erf((ey - y) / s2))
            px = np.diff(0.5 * erf((ex - x) / s2))
            src[iy0:iy1, ix0:ix1] += f * py[:, None] * px[None, :]
        det.extra["stars"] = (ys, xs, fluxes)
        return src

    def keywords(self, geom):
        longwave = geom.detector.endswith("LONG")
        return {"MODULE": geom.detector[3], "CHANNEL": "LONG" if longwave else "SHORT",
                "FILTER": "F444W" if longwave else "F150W", "PUPIL": "CLEAR",
                "APERNAME": f"{geom.detector}_{'FULL' if geom.subarray == 'FULL' else geom.subarray}"}


#: the kind, registered in the package's ``__init__``
IMAGE = NircamImage()
