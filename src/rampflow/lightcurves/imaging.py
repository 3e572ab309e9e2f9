"""Imaging: circular-aperture photometry of the brightest source (or a given position) with an annulus background.

:class:`ApertureExtraction` sets up the source position, aperture weights, annulus and profile
from the median frame, then measures each segment's (nints, ny, nx) arrays on a cut-out.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import uniform_filter

from .. import dq as dqflags
from .config import LightCurveError
from .stats import median_var_factor, quiet

__all__ = ["aperture_weights", "find_source", "aperture_photometry", "ApertureExtraction"]


def aperture_weights(shape, center, radius: float, subsample: int = 5) -> np.ndarray:
    """(ny, nx) fraction of each pixel inside the circle of ``radius`` about ``center`` (y, x).

    Pixel (y, x) covers y-0.5..y+0.5; fractions from ``subsample`` x ``subsample`` points.
    """
    ny, nx = shape
    cy, cx = float(center[0]), float(center[1])
    s = int(subsample)
    off = (np.arange(s) + 0.5) / s - 0.5
    # (pixel - centre) first, then the sub-pixel offset: mirror-symmetric in floating point
    yy = (np.arange(ny) - cy)[:, None, None, None] + off[None, None, :, None]
    xx = (np.arange(nx) - cx)[None, :, None, None] + off[None, None, None, :]
    inside = (yy ** 2 + xx ** 2) <= float(radius) ** 2 * (1 + 1e-12)
    return inside.mean(axis=(2, 3))


def _bilinear(a: np.ndarray, y: float, x: float) -> float:
    """Bilinear interpolation of ``a`` at (y, x); NaN outside or next to a NaN."""
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    if y0 < 0 or x0 < 0 or y0 >= a.shape[0] or x0 >= a.shape[1]:
        return float("nan")
    fy, fx = y - y0, x - x0
    y1, x1 = min(y0 + 1, a.shape[0] - 1), min(x0 + 1, a.shape[1] - 1)
    return float((1 - fy) * ((1 - fx) * a[y0, x0] + fx * a[y0, x1]) + fy * ((1 - fx) * a[y1, x0] + fx * a[y1, x1]))


def _radius(shape, center) -> np.ndarray:
    ny, nx = shape
    return np.hypot(np.arange(ny)[:, None] - float(center[0]), np.arange(nx)[None, :] - float(center[1]))


def find_source(frame: np.ndarray, *, position=None, radius: float = 5.0, margin: int = 2):
    """Centre (y, x) of the brightest source in a (ny, nx) frame, or of ``position`` ([x, y]).

    The peak of a 3x3 box-smoothed, background-subtracted frame (NaN as background), refined
    by 3 flux-weighted centroids within ``radius``.
    """
    f = np.array(frame, dtype=np.float64)
    with quiet():
        med = np.nanmedian(f)
    med = 0.0 if not np.isfinite(med) else float(med)
    f = np.where(np.isfinite(f), f - med, 0.0)
    ny, nx = f.shape
    if position is not None:
        cy, cx = float(position[1]), float(position[0])
        if not (0 <= cy < ny and 0 <= cx < nx):
            raise LightCurveError(f"lightcurves.source_position: {position} is outside the {nx} x {ny} frame")
    else:
        sm = uniform_filter(f, size=3, mode="constant")
        m = min(int(margin), max(0, min(ny, nx) // 2 - 1))
        if m:
            sm[:m] = -np.inf
            sm[-m:] = -np.inf
            sm[:, :m] = -np.inf
            sm[:, -m:] = -np.inf
        cy, cx = (float(v) for v in np.unravel_index(int(np.argmax(sm)), sm.shape))
    for _ in range(3):
        w = np.clip(f, 0, None) * (_radius(f.shape, (cy, cx)) <= radius)
        tot = w.sum()
        if tot <= 0:
            break
        cy = float((w * np.arange(ny)[:, None]).sum() / tot)
        cx = float((w * np.arange(nx)[None, :]).sum() / tot)
    return cy, cx


def _filled_profile(profile: np.ndarray, weights: np.ndarray, ap: np.ndarray) -> np.ndarray:
    """The profile with its unknown values inside the aperture filled: the point-symmetric pixel
    about the aperture centre (bilinear), else the mean of the known ones at the same radius
    (0.5-pixel bins)."""
    p = profile
    pf = p.copy()
    yy, xx = np.indices(p.shape)
    centre = ((weights * yy).sum() / weights.sum(), (weights * xx).sum() / weights.sum())
    rbin = np.floor(2 * _radius(p.shape, centre)).astype(int)
    for y, x in zip(*np.nonzero(ap & ~np.isfinite(p))):
        v = _bilinear(p, 2 * centre[0] - y, 2 * centre[1] - x)
        if not np.isfinite(v):
            same = (rbin == rbin[y, x]) & np.isfinite(p)
            v = p[same].mean() if same.any() else 0.0
        pf[y, x] = v
    return pf


def _good_fraction(profile, weights, ap, good) -> float:
    """f_good: the share of the aperture's profile-weighted flux that falls on good pixels."""
    p = np.array(profile, dtype=np.float64)
    tot = np.nansum(weights * np.clip(p, 0, None))
    if not np.all(np.isfinite(p[ap])):
        p = _filled_profile(p, weights, ap)
        tot = np.sum(weights * np.clip(p, 0, None))
    return float(np.sum(np.where(good, weights * np.clip(p, 0, None), 0.0)) / tot) if tot > 0 else 0.0


def aperture_photometry(sci, err, bad: np.ndarray, weights: np.ndarray, annulus: np.ndarray,
                        profile: np.ndarray | None, max_bad_fraction: float = 0.5) -> dict:
    """Aperture sums of every integration with consistent bad-pixel handling.

    sci, err : (nints, ny, nx); bad : (ny, nx) pixels to replace in every integration;
    weights : (ny, nx) aperture fractions; annulus : (ny, nx) bool background pixels;
    profile : (ny, nx) median image minus background (NaN where unknown).

    background b = median of the good annulus pixels; flux = sum_good w (sci - b) / f_good
    with f_good = sum_good w P / sum w P (1 without flagged aperture pixels).
    Returns dict: flux, var, bkg, bkg_var (nints,), f_good, n_replaced, valid (bool).
    """
    ap = weights > 0
    good = ap & ~bad
    flagged = ap & bad
    n_rep = int(flagged.sum())
    bgood = annulus & ~bad
    nb = int(bgood.sum())
    s = np.asarray(sci, dtype=np.float64)
    e2 = np.asarray(err, dtype=np.float64) ** 2
    if nb:
        with quiet():
            bkg = np.nanmedian(np.where(bgood[None], s, np.nan), axis=(1, 2))
            bvar = float(median_var_factor(np.array(nb))) * np.nanmean(
                np.where(bgood[None], e2, np.nan), axis=(1, 2)) / nb
    else:
        bkg = np.zeros(s.shape[0])
        bvar = np.zeros(s.shape[0])
    fg = _good_fraction(profile, weights, ap, good) if n_rep else 1.0
    valid = good.any() and fg >= 1.0 - float(max_bad_fraction) and fg > 0
    wg = np.where(good, weights, 0.0)
    d = s - bkg[:, None, None]
    num = np.einsum("ijk,jk->i", np.where(good[None], d, 0.0), wg)
    var = np.einsum("ijk,jk->i", np.where(good[None], e2, 0.0), wg ** 2)
    flux = num / fg if valid else np.full(s.shape[0], np.nan)
    var = (var / fg ** 2 + (wg.sum() / fg) ** 2 * bvar) if valid else np.full(s.shape[0], np.nan)
    return {"flux": flux, "var": var, "bkg": bkg, "bkg_var": bvar, "f_good": fg, "n_replaced": n_rep,
            "valid": bool(valid)}


class ApertureExtraction:
    """Imaging: source position, aperture weights, annulus and profile from the median frame;
    then :meth:`measure` on each segment's (nints, ny, nx) arrays (a cut-out around the source).

    Arguments as :class:`rampflow.lightcurves.extraction.BoxExtraction`; ``info`` receives the
    source position and the aperture radii.
    """

    def __init__(self, cfg, med, bad, good_frac, info):
        ny, nx = med.shape
        r_ap = float(cfg["aperture_radius"])
        r_in, r_out = (float(v) for v in cfg["annulus"])
        self.pos = pos = find_source(med, position=cfg["source_position"], radius=r_ap)
        half = int(math.ceil(max(r_out, r_ap))) + 2
        self.y0, y1 = max(0, int(pos[0]) - half), min(ny, int(pos[0]) + half + 2)
        self.x0, x1 = max(0, int(pos[1]) - half), min(nx, int(pos[1]) + half + 2)
        self.cut = (slice(None), slice(self.y0, y1), slice(self.x0, x1))
        shape = (y1 - self.y0, x1 - self.x0)
        cpos = (pos[0] - self.y0, pos[1] - self.x0)
        self.weights = aperture_weights(shape, cpos, r_ap)
        rr = _radius(shape, cpos)
        self.annulus = (rr >= r_in) & (rr < r_out)
        with quiet():
            mcut = np.where(good_frac[self.cut[1:]] >= 0.5, med[self.cut[1:]], np.nan)
            bmed = np.nanmedian(np.where(self.annulus, mcut, np.nan))
        self.profile = mcut - (bmed if np.isfinite(bmed) else 0.0)
        self.bad = bad[self.cut[1:]]
        self.max_bad = float(cfg["max_bad_fraction"])
        self.bins = []
        self.info = info
        info.update(source_x=float(pos[1]), source_y=float(pos[0]), aperture_radius=r_ap, annulus=[r_in, r_out])

    def measure(self, sci, err, dq) -> dict:
        """Per integration: ``flux``/``var``, ``bkg``, ``sat_ap`` (saturated fraction of the
        aperture) and the source centroid ``cen`` (y), ``off`` (x) and RMS radius ``width``."""
        s, e, d = sci[self.cut], err[self.cut], dq[self.cut]
        n = s.shape[0]
        ph = aperture_photometry(s, e, self.bad, self.weights, self.annulus, self.profile,
                                 max_bad_fraction=self.max_bad)
        if not ph["valid"]:
            raise LightCurveError(f"the aperture at x={self.pos[1]:.1f}, y={self.pos[0]:.1f} has too many flagged "
                                  f"pixels (f_good={ph['f_good']:.2f}); set lightcurves.source_position or "
                                  "lightcurves.max_bad_fraction")
        ap = self.weights > 0
        out = {"flux": ph["flux"], "var": ph["var"], "bkg": ph["bkg"],
               "sat_ap": (((d & np.uint32(dqflags.SATURATED)) != 0) & ap[None]).reshape(n, -1).sum(axis=1)
               / max(1, int(ap.sum()))}
        dd = np.where(self.bad[None], 0.0, np.clip(np.asarray(s, np.float64) - ph["bkg"][:, None, None], 0, None))
        w = dd * self.weights[None]
        tot = w.sum(axis=(1, 2))
        yy = np.arange(s.shape[1])[:, None] + self.y0
        xx = np.arange(s.shape[2])[None, :] + self.x0
        with np.errstate(all="ignore"):
            cy = (w * yy[None]).sum(axis=(1, 2)) / tot
            cx = (w * xx[None]).sum(axis=(1, 2)) / tot
            r2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
            out["width"] = np.sqrt((w * r2).sum(axis=(1, 2)) / tot)
        out["cen"], out["off"] = cy, cx
        self.info["n_replaced_aperture"] = int(ph["n_replaced"])
        return out
