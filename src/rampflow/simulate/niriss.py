"""NIRISS: its detector and the Single Object Slitless Spectroscopy kind (``niriss_soss``).

``niriss_soss``
    NIRISS SOSS (GR700XD, CLEAR), detector NIS, NISRAPID, one output, a transit. Subarrays
    SUBSTRIP256 (256 x 2048, SUBSTRT2 = 1793) and SUBSTRIP96 (96 x 2048, SUBSTRT2 = 1803,
    i.e. 10 rows into SUBSTRIP256 as jwst's ``background_sub_soss.SUBSTRIP96_ROWSTART``);
    other sizes are ``GENERIC`` cuts of SUBSTRIP256's rows starting at column 1 (narrower
    cuts keep the real trace positions of the columns they hold).

Readout: NIRISS reads along DMS y (FASTAXIS = -2, SLOWAXIS = -1, as real NIS headers and
jwst's clean_flicker_noise test models say), so a fast-read line is a *column* and 1/f noise
makes column stripes; TFRAME of SUBSTRIP256 is (256 + 12) x 2049 x 10 us = 5.491 s
(5.49132 s in real headers), of SUBSTRIP96 2.213 s.

Scene (positions in SUBSTRIP256 rows; ASSUMED shapes that follow the published SOSS
layout to within ~10 pixels, not CRDS's PASTASOSS reference traces, which are not available
offline; the simulator ships its own PASTASOSS reference describing these traces at the
exposure's PWCPOS, :mod:`.niriss_pastasoss`): three curved orders with the GR700XD's broad,
two-horned spatial profile (two Gaussians of sigma ``soss_sigma`` at +-``soss_horn`` pixels)

* order 1, every column, ``y1 = 85 - 55 s + 20 s**2`` with ``s = X / 2047`` (X the detector
  column): a ~35-pixel bend, entirely inside SUBSTRIP96's rows;
* order 2, columns 0..1750, ``y2 = 88 + 60 t + 80 t**2`` with ``t = X / 1750``, 0.35 x order
  1's brightness: it overlaps order 1 at the red (low-X) end and separates towards the blue;
* order 3, columns 700..1750, ``y3 = 150 + 75 t + 30 t**2``, 0.05 x order 1.

Background: zodiacal light as the SOSS template looks -- a level that steps up by 40 % at
column :data:`ZODI_STEP_X` (the pick-off-mirror edge that makes the real template's
discontinuity) and rises gently with row -- scaled to ``background`` DN/s at its median; the
template itself (normalised to median 1, on SUBSTRIP256) is written as the mode's BKG
reference (stdatamodels ``SossBkgModel``, shape (1, 256, 2048), as jwst's background step
reads it), so the light curves can scale it.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from ..io import simfiles
from . import kinds
from .geometry import FULL, columns

NIRISS = kinds.Instrument(
    name="NIRISS",
    detectors={"NIS": kinds.DetectorSpec(-2, -1, code=21)},
    readpatterns={"NISRAPID": (1, 0), "NIS": (4, 0)},
    dark_readpatt="NISRAPID",
)

#: 1-based SUBSTRT2 of the SOSS strips (SUBSTRT1 = 1, SUBSIZE1 = 2048)
STRIP_YSTART = {256: 1793, 96: 1803}
#: detector column of the zodiacal template's step (the real template's discontinuity is near here)
ZODI_STEP_X = 700
#: pupil-wheel position (deg) written as PWCPOS (a real one, 0.03 deg off the commanded 245.76)
PWCPOS = 245.79
#: (first column, last column, relative brightness) of orders 1, 2, 3
ORDERS = {1: (0, 2047, 1.0), 2: (0, 1750, 0.35), 3: (700, 1750, 0.05)}


def order_center(order: int, X) -> np.ndarray:
    """Centre row (SUBSTRIP256 coordinates, 0-based) of spectral ``order`` at detector columns ``X``."""
    X = np.asarray(X, dtype=np.float64)
    if order == 1:
        s = X / 2047.0
        return 85.0 - 55.0 * s + 20.0 * s ** 2
    t = X / 1750.0
    if order == 2:
        return 88.0 + 60.0 * t + 80.0 * t ** 2
    if order == 3:
        return 150.0 + 75.0 * t + 30.0 * t ** 2
    raise ValueError(f"NIRISS SOSS has orders 1-3, not {order}")


def _row_offset(geom) -> float:
    """Row of the exposure's first row in SUBSTRIP256 coordinates."""
    return float(geom.ystart - STRIP_YSTART[256])


def zodi_template(geom) -> np.ndarray:
    """(ny, nx) zodiacal background shape of the exposure's rows and columns, median 1 over SUBSTRIP256."""
    X = columns(geom)
    Y = np.arange(geom.ny) + _row_offset(geom)
    shape = np.where(X >= ZODI_STEP_X, 1.4, 1.0)[None, :] * (1.0 + 0.1 * Y / 255.0)[:, None]
    return shape / (1.4 * 1.05)     # ~median 1 over the full strip (2/3 of it past the step)


class NirissSoss(kinds.Kind):
    """NIRISS SOSS: three curved, overlapping orders of a transiting star on SUBSTRIP256/96."""

    name = "niriss_soss"
    instrument = NIRISS
    exp_type = "NIS_SOSS"
    detectors = ("NIS",)
    default_detectors = ("NIS",)
    size = (256, FULL)
    readpatt = "NISRAPID"
    tso = True
    observation = 3
    visit_group = 2
    target = "SIM-TRANSIT-SOSS"
    physics = {"one_over_f_rms": 6.0, "dark_rate": 0.02, "bias_level": 12000.0, "gain": 1.61,
               "readnoise": 14.0, "peak_well_fraction": 0.5, "background": 1.0, "transit_depth": 0.01}
    scene_physics = {
        "soss_sigma": 2.5,             # pixels, each horn of the two-horned SOSS profile
        "soss_horn": 4.0,              # pixels, horn offset from the order's centre
    }

    def subarray(self, detector, ny, nx):
        if ny in STRIP_YSTART:
            ystart = STRIP_YSTART[ny]
        else:
            ystart = min(STRIP_YSTART[256], FULL - ny + 1)
        name = {256: "SUBSTRIP256", 96: "SUBSTRIP96"}.get(ny, "GENERIC") if nx == FULL else "GENERIC"
        return name, 1, ystart

    def noutputs(self, ny, nx):
        return 4 if (ny, nx) == (FULL, FULL) else 1

    def background_rate(self, geom, phys):
        return float(phys["background"]) * zodi_template(geom)

    def source(self, det, geom, phys, rng, peak):
        X = columns(geom)
        Y = np.arange(geom.ny, dtype=np.float64) + _row_offset(geom)
        sig, horn = float(phys["soss_sigma"]), float(phys["soss_horn"])
        lam = 0.85 + (2.8 - 0.85) * (1.0 - X / 2047.0)         # order-1 wavelength [um], red at X = 0
        spec = lam ** -2.0 * (1.0 + 0.04 * np.sin(2 * np.pi * X / 311.0 + rng.uniform(0, 2 * np.pi)))
        src = np.zeros((geom.ny, geom.nx))
        for order, (x0, x1, bright) in ORDERS.items():
            on = (X >= x0) & (X <= x1)
            if not on.any():
                continue
            yc = order_center(order, X)
            d = Y[:, None] - yc[None, :]
            prof = np.exp(-0.5 * ((d - horn) / sig) ** 2) + np.exp(-0.5 * ((d + horn) / sig) ** 2)
            prof /= 2.0 * np.sqrt(2 * np.pi) * sig
            taper = np.clip(np.minimum(X - x0, x1 - X) / 40.0, 0.0, 1.0) if order > 1 else np.ones(X.size)
            src += bright * prof * (spec * taper * on)[None, :]
        det.extra["soss_orders"] = {o: order_center(o, X) - _row_offset(geom) for o in ORDERS}
        return src * (peak / src.max())

    def keywords(self, geom):
        return {"FILTER": "CLEAR", "PUPIL": "GR700XD", "PWCPOS": PWCPOS,
                "APERNAME": f"NIS_{geom.subarray}" if geom.subarray != "GENERIC" else "NIS_SUBSTRIP256"}

    def extra_references(self, det, geom, phys, refdir):
        """The BKG reference (the zodiacal template on SUBSTRIP256, (1, 256, 2048), median 1) and
        the PASTASOSS reference of the simulated traces (:mod:`.niriss_pastasoss`)."""
        from .niriss_pastasoss import write_pastasoss

        strip = _strip_geometry(geom)
        tmpl = zodi_template(strip).astype(np.float32)[None]
        kw = {"TELESCOP": "JWST", "INSTRUME": "NIRISS", "DETECTOR": det.name, "EXP_TYPE": "NIS_SOSS",
              "P_EXP_TY": "NIS_SOSS|", "FILTER": "CLEAR", "PUPIL": "GR700XD",
              "SUBARRAY": "SUBSTRIP256", "SUBSTRT1": 1, "SUBSTRT2": STRIP_YSTART[256], "SUBSIZE1": FULL,
              "SUBSIZE2": 256, "REFTYPE": "BKG", "AUTHOR": "rampflow simulate", "PEDIGREE": "SIMULATION",
              "USEAFTER": str(phys["useafter"]), "ORIGIN": "rampflow",
              "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
              "DESCRIP": "Simulated SOSS zodiacal background template (median 1)"}
        path = Path(refdir) / "jwst_niriss_bkg_nis-substrip256.fits"
        simfiles.write_reference(path, "bkg", {"SCI": tmpl}, kw)
        pasta = write_pastasoss(Path(refdir) / "jwst_niriss_pastasoss_nis.asdf", PWCPOS, str(phys["useafter"]))
        return {"bkg": path, "pastasoss": pasta}


def _strip_geometry(geom):
    """``geom`` widened to the whole SUBSTRIP256 (for the background template)."""
    from dataclasses import replace

    return replace(geom, subarray="SUBSTRIP256", xstart=1, ystart=STRIP_YSTART[256], nx=FULL, ny=256)


#: the kind, registered in the package's ``__init__``
SOSS = NirissSoss()
