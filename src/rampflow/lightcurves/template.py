"""Scaled background templates (NIRISS SOSS's zodiacal light).

The SOSS background is not flat: the zodiacal light dispersed by GR700XD steps up sharply
along the dispersion where the pick-off mirror's edge cuts it. STScI ships its shape as the
BKG reference (stdatamodels ``SossBkgModel``, (ntemplates, 256, 2048) on SUBSTRIP256); the
simulator's CRDS cache holds one for its SOSS exposures. rampflow scales it per integration
to the background pixels (:func:`template_scale`: the median of ``sci / template`` over them,
as jwst's ``background_sub_soss`` matches a template to the data) and then takes the usual
per-column median of what is left (the 1/f column stripes of a detector read along y, and the
template's imperfections), so background = ``scale * template + column term``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import LightCurveError
from .stats import quiet

__all__ = ["load_template", "template_scale"]


def load_template(path, geom, shape) -> np.ndarray:
    """The template (float64 (ny, nx)) cut to the exposure's frame.

    ``path``: a FITS file whose SCI (else primary) array is (ny, nx) or (n, ny, nx) (the first
    template is used), of the frame's shape, or a larger subarray / full frame placed by its
    SUBSTRT1/SUBSTRT2 keywords (default 1) and cut by the exposure's ``geom.origin``. A
    template that does not cover the frame, or has non-positive values there, is a
    LightCurveError naming the file.
    """
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise LightCurveError(f"lightcurves.background_template: {path} does not exist")
    with fits.open(path) as hdul:
        hdu = hdul["SCI"] if "SCI" in hdul else hdul[0]
        data = np.asarray(hdu.data, dtype=np.float64)
        prim = hdul[0].header
        x0 = int(hdu.header.get("SUBSTRT1", prim.get("SUBSTRT1", 1)) or 1)
        y0 = int(hdu.header.get("SUBSTRT2", prim.get("SUBSTRT2", 1)) or 1)
    if data.ndim == 3:
        data = data[0]
    if data.ndim != 2:
        raise LightCurveError(f"lightcurves.background_template: {path} holds a {data.ndim}-D array, need 2-D or 3-D")
    ny, nx = shape
    if data.shape != (ny, nx):
        if geom is None:
            raise LightCurveError(f"lightcurves.background_template: {path} is {data.shape}, the frame {shape}")
        ox, oy = geom.origin[0] - x0, geom.origin[1] - y0
        if ox < 0 or oy < 0 or oy + ny > data.shape[0] or ox + nx > data.shape[1]:
            raise LightCurveError(f"lightcurves.background_template: {path} ({data.shape} from SUBSTRT "
                                  f"{x0},{y0}) does not cover the frame {shape} at {geom.origin}")
        data = data[oy:oy + ny, ox:ox + nx]
    if not (np.all(np.isfinite(data)) and np.all(data > 0)):
        raise LightCurveError(f"lightcurves.background_template: {path} has non-finite or non-positive values "
                              "over the frame")
    return data


def template_scale(sci: np.ndarray, template: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per-integration scale (nints,) of ``template`` to ``sci`` (nints, ny, nx): the median of
    ``sci / template`` over the ``region`` (ny, nx) pixels (0 where none is finite)."""
    ratio = np.where(region[None], sci / template[None], np.nan)
    with np.errstate(all="ignore"), quiet():
        s = np.nanmedian(ratio.reshape(sci.shape[0], -1), axis=1)
    return np.where(np.isfinite(s), s, 0.0)
