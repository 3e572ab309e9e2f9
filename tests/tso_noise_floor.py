"""The photon-and-read-noise floor of a time-series mode's white light, from the simulation truth.

Shared by the time-series light-curve tests (statistical and demo workflow tests). The floor
is what an ideal reduction of the simulated box (aperture) would scatter by, computed from the
truth alone, never from the products:

* per pixel, the variance of an unweighted least-squares slope over ``n`` groups of ``t_g``
  seconds (TGROUP = TFRAME x (NFRAMES + GROUPGAP) from the truth header; one frame per
  group, RAPID / NISRAPID)::

      6 (n^2 + 1) / (5 n (n^2 - 1)) * R / (g * t_g)  +  12 sigma_r^2 / (n (n^2 - 1) t_g^2)

  with ``R`` the true out-of-transit rate of the pixel (source + background + dark, DN/s),
  ``g`` the GAIN reference (e-/DN) and ``sigma_r = READNOISE / sqrt(2)`` the noise of one
  read (READNOISE is the correlated-double-sample noise, as the simulator draws it);
* summed over the pixels of the box (spectra: the fitted order-1 trace's box, every column
  with light; imaging: the aperture, each pixel's variance times its aperture weight squared),
  square-rooted and divided by the box's true source rate (the truth's SOURCE summed over the
  same pixels with the same weights).

It leaves out the noise of the background estimate, 1/f residuals and jumps: a reduction
within 1.3x of it has no noise source of its own worth the name.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import Polynomial

from rampflow import lightcurves


def slope_variance(rate, gain, readnoise, ngroups: int, tgroup: float) -> np.ndarray:
    """(ny, nx) variance [(DN/s)^2] of an unweighted least-squares slope (module docstring)."""
    n, tg = int(ngroups), float(tgroup)
    rd = np.asarray(readnoise, np.float64) / math.sqrt(2.0)
    photon = np.asarray(rate, np.float64) / (np.asarray(gain, np.float64) * tg)
    return 6 * (n ** 2 + 1) / (5 * n * (n ** 2 - 1)) * photon + 12 * rd ** 2 / (n * (n ** 2 - 1) * tg ** 2)


def box_weights(info: dict, shape, imaging: bool) -> np.ndarray:
    """(ny, nx) weight of each pixel in the extraction that ``info`` (the light curves' info)
    describes: the aperture's fractional weights, or 1 inside the order-1 box."""
    ny, nx = shape
    if imaging:
        return lightcurves.aperture_weights(shape, (info["source_y"], info["source_x"]), info["aperture_radius"])
    center = Polynomial(info["trace_coef"], domain=info["trace_domain"])(np.arange(nx))
    rows, inside = lightcurves.box_indices(center, ny, info["box_halfwidth"])
    w = np.zeros(shape)
    cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
    w[rows[inside], cols[inside]] = 1.0
    return w


def white_light_floor(truth: dict, gain, readnoise, info: dict, imaging: bool = False) -> float:
    """Relative photon + read noise floor of the white light (module docstring)."""
    hdr = truth["header"]
    source = np.asarray(truth["source"], np.float64)
    rate = np.asarray(truth["rate"], np.float64) + np.asarray(truth["darkrate"], np.float64)
    tgroup = float(hdr["TFRAME"]) * (int(hdr["NFRAMES"]) + int(hdr["GROUPGAP"]))
    var = slope_variance(rate, gain, readnoise, hdr["NGROUPS"], tgroup)
    w = box_weights(info, source.shape, imaging) * (source > 0)
    return math.sqrt((w ** 2 * var).sum()) / (w * source).sum()


def workflow_floor(out, detector: str, truth: dict, info: dict) -> float:
    """:func:`white_light_floor` of a workflow run's detector: the GAIN and READNOISE
    references from the run's CRDS cache (``out/crds``), cut to the exposure's subarray."""
    from rampflow import io
    from rampflow.references import load_reference

    with io.open_ramp(next((out / "uncal").glob(f"*seg001_{detector}_uncal.fits"))) as rf:
        meta = rf.meta
    refs = out / "crds" / "references"
    gain, rn = (np.asarray(load_reference(t, next(refs.rglob(f"*_{t}_{detector}*.fits")), meta)["SCI"], np.float64)
                for t in ("gain", "readnoise"))
    return white_light_floor(truth, gain, rn, info, imaging=info.get("mode") == "imaging")
