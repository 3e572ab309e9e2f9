"""Normalisation: which integrations are out of transit, and division by their median."""

from __future__ import annotations

import logging

import numpy as np

from .config import LightCurveError
from .stats import quiet
from .transit import transit_parameters, trapezoid

log = logging.getLogger(__name__)

__all__ = ["oot_mask", "normalise"]


def oot_mask(n: int, *, oot=None, oot_first=None, times=None, transit=None) -> np.ndarray:
    """(n,) bool: the integrations that define the out-of-transit level.

    ``oot`` (list of ``[start, stop)`` 0-based integration ranges of the stitched series), else
    the first ``oot_first`` integrations, else (with ``transit`` and ``times``) the
    integrations outside the transit window, else all integrations.
    """
    m = np.zeros(n, dtype=bool)
    if oot:
        for i, r in enumerate(oot):
            if len(r) != 2 or int(r[0]) >= int(r[1]):
                raise LightCurveError(f"lightcurves.oot[{i}]: {r} is not a [start, stop) range")
            m[max(0, int(r[0])):max(0, min(n, int(r[1])))] = True
        if not m.any():
            raise LightCurveError(f"lightcurves.oot: {oot} selects none of the {n} integrations")
        return m
    if oot_first:
        k = int(oot_first)
        if k < 1:
            raise LightCurveError(f"lightcurves.oot_first: must be >= 1, got {oot_first}")
        m[:k] = True
        return m
    if transit and times is not None:
        p = transit_parameters(transit, times)
        m = trapezoid(times, p["t0"], p["duration"], p["ingress"]) == 0
        if m.any():
            return m
        log.warning("lightcurves.transit: every integration is inside the transit window; "
                    "normalising by the median of all integrations")
    return np.ones(n, dtype=bool)


def normalise(flux: np.ndarray, err: np.ndarray, mask: np.ndarray):
    """Divide flux and err (n, ...) by the median of ``flux[mask]`` (per column for 2-D).

    Returns ``(flux / norm, err / norm, norm)``; the normaliser's own uncertainty is not propagated.
    """
    with quiet(), np.errstate(all="ignore"):
        norm = np.nanmedian(np.asarray(flux)[mask], axis=0)
        return flux / norm, err / norm, norm
