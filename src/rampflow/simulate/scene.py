"""What the detector sees: the kind's source, its per-column transit depth, and the transit.

The source itself comes from the kind (:meth:`~.kinds.Kind.source`); here it is scaled so
the brightest pixel reaches ``peak_well_fraction`` of the full well at the last frame, and
reference and dead pixels are darkened. The transit is a trapezoid in BJD_TDB evaluated at each
integration's mid time (constant within an integration), with depth
``transit_depth * (1 + depth_slope * u)`` across the columns.
"""

from __future__ import annotations

import numpy as np

from . import kinds
from .detector import STREAM_SCENE, DetectorModel, rng
from .geometry import Geometry, column_position, cut


def transit_model(t, t0: float, duration: float, depth: float, ingress: float = 0.15) -> np.ndarray:
    """Trapezoid transit: relative flux at times ``t`` (same unit as ``t0`` and ``duration``).

    1 outside ``|t - t0| > duration / 2``, ``1 - depth`` inside ``|t - t0| < duration / 2 - tau``
    with ``tau = ingress * duration``, linear in between.
    """
    return 1.0 - depth * transit_shape(np.asarray(t, dtype=float), t0, duration, ingress)


def transit_shape(t, t0, duration, ingress):
    """Fraction of the full depth at times ``t``: 0 out of transit, 1 at the bottom."""
    half = 0.5 * duration
    tau = max(ingress * duration, 1e-12)
    d = np.abs(t - t0)
    return np.clip((half - d) / tau, 0.0, 1.0)


def scene(kind: str, det: DetectorModel, geom: Geometry, phys: dict, seed: int):
    """Source rate (ny, nx) [DN/s] out of transit, and per-column transit depth (nx,)."""
    spec = kinds.get(kind)
    gen = rng(seed, spec.instrument.detectors[det.name].code, STREAM_SCENE)
    u = column_position(geom)
    t_last = geom.nframes_total * geom.tframe
    lfw = float(np.median(cut(geom, det.full_well_linear)))
    peak = float(phys["peak_well_fraction"]) * lfw / t_last      # DN/s at the brightest pixel
    depth = float(phys["transit_depth"]) * (1.0 + float(phys["depth_slope"]) * u)
    src = spec.source(det, geom, phys, gen, peak)
    light = ~(cut(geom, det.refpix) | cut(geom, det.dead))
    src *= light
    return src, depth
