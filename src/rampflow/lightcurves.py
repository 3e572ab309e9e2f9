"""Per-integration light curves from Stage 1 ``rateints`` products.

For one detector, the rateints (or gain_scaleints) of all its exposure segments are stitched
in time order using their INT_TIMES tables, and light curves are extracted from the
(nints, ny, nx) float32 DN/s cubes:

Spectroscopy (NIRSpec BOTS, NIRCam grism TSO, NIRISS SOSS first order; MIRI LRS, which
disperses along y, is transposed first: ``dispersion_axis`` auto / x / y)
    * a median frame is made from (up to ``median_max_mb`` of) integrations spread over all
      segments, DQ-flagged pixels excluded;
    * the trace centre of every column is the flux-weighted centroid (within ``trace_window``
      rows of the column's peak, after a 9-column running median along the dispersion) of the
      background-subtracted median frame, and a polynomial of order ``trace_order`` in the
      column number is fitted to those centroids (weights: the column flux; 3 rounds of 4-sigma
      clipping);
    * the extraction box of a column holds the rows ``round(c(x)) - box_halfwidth ..
      round(c(x)) + box_halfwidth``;
    * the background of a column in an integration is the median of that column's good pixels
      more than ``box_halfwidth + bkg_gap`` rows from the rounded centre (and, with
      ``bkg_width``, at most ``bkg_width`` rows beyond the gap);
    * DQ-flagged pixels (``dq_flags``, default DO_NOT_USE) and non-finite values are replaced in
      **every** integration wherever they are flagged in **any** integration (so every
      integration sums the same pixels and fluxes are comparable): the replacement is the
      median spatial profile scaled to the column's good-pixel flux, so a column's flux is
      ``sum(good pixels - background) / f_good`` with ``f_good`` the fraction of the median
      profile (background-subtracted, clipped at 0, normalised to a unit sum over the box) that
      falls on good pixels. Profile values at pixels good in fewer than half of the integrations
      are interpolated along the dispersion direction at the same offset from the trace. A
      column whose ``f_good`` is below ``1 - max_bad_fraction`` (or whose profile is not
      positive) is left out of every integration;
    * variances: ``sum(ERR**2 over good pixels) / f_good**2`` plus the background term
      ``(n_good / f_good)**2 * var(median)``, with ``var(median) = (pi / 2) * mean(ERR**2) / n``
      for the ``n`` background pixels (the mean for n <= 2). Covariances between columns (1/f
      noise) are not included.
    * white light: the sum of the valid columns (``columns: [x0, x1]`` restricts the range);
      spectroscopic light curves: sums over column bins (``bin_width`` columns, or explicit
      ``bins: [[x0, x1], ...]``; half-open column ranges).

Imaging (EXP_TYPE NRC_IMAGE, NRC_TSIMAGE, NIS_IMAGE, MIR_IMAGE, ... or ``mode: imaging``)
    Circular-aperture photometry of the brightest source of the median frame (or
    ``source_position: [x, y]``, 0-based pixels): aperture radius ``aperture_radius`` (pixel
    fractions inside the circle from 5 x 5 sub-sampling), background the median of the good
    pixels of the annulus ``annulus: [r_in, r_out]``; flagged pixels are handled as above with
    the median image as the profile (unknown profile values: the point-symmetric pixel about
    the aperture centre, else the mean at the same radius).

Memory: segments are read whole (one at a time; kept between the two passes while they fit
in 512 MB), the median frame uses at most ``median_max_mb`` of frames.

Light curves are normalised by the median of the out-of-transit integrations: ``oot`` (list
of ``[start, stop)`` 0-based integration indices of the stitched series), else the first
``oot_first`` integrations, else (with ``transit`` configured) the integrations outside the
transit window, else all integrations. Errors are divided by the same number (the
uncertainty of the normaliser itself is not propagated).

Times are the INT_TIMES mid-times ``int_mid_BJD_TDB`` (as in JWST products: BJD_TDB - 2400000.5);
where that column is absent or zero in any segment, ``int_mid_MJD_UTC`` is used for every
segment and a warning is logged.

The per-integration metrics table holds jump counts (from ``{stem}_jump.fits`` GROUPDQ, when
given; else the pixel count from JUMP_DET in the rateints DQ), saturated fractions (SATURATED in the rateints DQ), the background level and the trace
centroid and width (spectroscopy) or source centroid and RMS radius (imaging).

:func:`fit_transit` fits a trapezoid (known t0, duration, ingress) depth and a polynomial
baseline by linear least squares to a normalised light curve.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from . import dq as dqflags
from . import io

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULTS", "LightCurveError", "LightCurves", "check_config", "extract_lightcurves", "write_lightcurves",
    "integration_mid_times", "stitch_order", "product_stem", "stem_detector", "stem_segment",
    "fit_trace", "box_indices", "extract_box", "aperture_weights", "aperture_photometry",
    "normalise", "oot_mask", "column_bins", "nanmedian", "jump_counts", "trapezoid", "fit_transit",
    "transit_check", "transit_parameters", "workflow_targets", "detectors_of", "stems_of_detector",
    "plot_whitelight", "plot_spectroscopic", "plot_metrics", "plot_transit", "bin_series", "is_imaging",
    "write_json", "read_table", "background_mask", "column_background", "box_profile", "find_source",
    "RULE_FILES", "TRANSIT_FILES",
]

#: the ``lightcurves`` config keys and their defaults
DEFAULTS: dict = {
    "mode": "auto",             # auto | spectroscopy | imaging
    "dispersion_axis": "auto",  # auto | x | y   (auto: y for MIRI LRS, x otherwise)
    "box_halfwidth": 4,         # rows each side of the trace centre row
    "bkg_gap": 2,               # rows between the box and the background region
    "bkg_width": None,          # rows of background beyond the gap (None: all the rest)
    "background": True,         # subtract the per-column background
    "trace_order": 2,           # polynomial order of the trace centre
    "trace_window": None,       # rows each side of the peak for the centroid (None: box_halfwidth)
    "columns": None,            # [x0, x1): columns of the white light curve (None: all)
    "bin_width": 64,            # columns per spectroscopic bin
    "bins": None,               # explicit [[x0, x1), ...] bins (beat bin_width)
    "dq_flags": ["DO_NOT_USE"],  # DQ mnemonics (or an int mask) of pixels to replace
    "max_bad_fraction": 0.5,    # leave out columns with more of the profile flagged
    "oot": None,                # [[start, stop), ...] out-of-transit integration ranges
    "oot_first": None,          # or: the first N integrations are out of transit
    "plot_bin": None,           # integrations per bin in the plots (None: ~40 bins)
    "transit": None,            # {t0 [BJD_TDB], duration [h], ingress [h], period [d], baseline_order}
    "aperture_radius": 6.0,     # imaging: aperture radius [pixels]
    "annulus": [12.0, 20.0],    # imaging: background annulus radii [pixels]
    "source_position": None,    # imaging: [x, y] 0-based, None: brightest source
    "median_max_mb": 256,       # memory for the frames of the median frame
}

#: EXP_TYPEs that are imaging (aperture photometry) rather than spectroscopy
IMAGING_EXP_TYPES = frozenset({
    "NRC_IMAGE", "NRC_TSIMAGE", "NRC_TACQ", "NRC_TACONFIRM", "NRC_FOCUS", "NRC_CORON",
    "NIS_IMAGE", "NIS_TACQ", "NIS_TACONFIRM", "NIS_AMI", "NIS_FOCUS",
    "MIR_IMAGE", "MIR_TACQ", "MIR_CORONCAL", "MIR_4QPM", "MIR_LYOT",
    "NRS_TACQ", "NRS_TACONFIRM", "NRS_CONFIRM", "NRS_FOCUS", "NRS_IMAGE", "NRS_WATA", "NRS_MSATA",
    "FGS_IMAGE", "FGS_FOCUS",
})

#: file-name suffixes of products (longest first so gain_scaleints beats rateints)
_SUFFIXES = ("gain_scaleints", "gain_scale", "rateints", "calints", "rate", "jump", "ramp",
             "uncal", "fitopt", "dark_current", "linearity", "refpix", "superbias",
             "saturation", "dq_init", "group_scale", "destripe", "truth")
_BJD, _MJD = "int_mid_BJD_TDB", "int_mid_MJD_UTC"


class LightCurveError(ValueError):
    """Light curves cannot be made from these inputs; the message names the file or key."""


# --------------------------------------------------------------------------- names

def product_stem(path) -> str:
    """Exposure stem of a product file name (``..._nrs1_rateints.fits`` -> ``..._nrs1``)."""
    name = Path(path).name
    for ext in (".fits.gz", ".fits"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    for suf in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith("_" + suf):
            return name[: -len(suf) - 1]
    return name.rsplit("_", 1)[0] if "_" in name else name


def stem_detector(stem: str) -> str:
    """Detector (lower case) from a stem: its last ``_`` token (``..._nrs1`` -> ``nrs1``)."""
    return str(stem).rsplit("_", 1)[-1].lower()


def stem_segment(stem: str) -> int | None:
    """Segment number from ``-segNNN`` in a stem, or None."""
    m = re.search(r"-seg(\d+)", str(stem))
    return int(m.group(1)) if m else None


def is_imaging(exp_type: str) -> bool:
    """True for EXP_TYPEs measured by aperture photometry (imaging, TA, coronagraphy)."""
    e = str(exp_type or "").upper()
    return e in IMAGING_EXP_TYPES or e.endswith("_IMAGE") or e.endswith("TACQ")


def _dq_mask(flags) -> int:
    if flags is None:
        return 0
    if isinstance(flags, (int, np.integer)):
        return int(flags)
    if isinstance(flags, str):
        return dqflags.encode(flags)
    value = 0
    for f in flags:
        value |= int(f) if isinstance(f, (int, np.integer)) else dqflags.encode(f)
    return value


def check_config(config: dict | None) -> dict:
    """The ``lightcurves`` config section with defaults filled; LightCurveError names a bad key."""
    return _config(config)


def _check_transit(transit) -> None:
    if not isinstance(transit, dict):
        raise LightCurveError(f"lightcurves.transit: need a mapping, got {transit!r}")
    for key in ("t0", "duration"):
        if transit.get(key) is None:
            raise LightCurveError(f"lightcurves.transit.{key}: required")
    unknown = set(transit) - {"t0", "duration", "ingress", "period", "baseline_order"}
    if unknown:
        raise LightCurveError(f"lightcurves.transit: unknown keys {sorted(unknown)}; "
                              "known: t0, duration, ingress, period, baseline_order")
    try:
        dur, ing = float(transit["duration"]), float(transit.get("ingress") or 0.0)
        float(transit["t0"])
        int(transit.get("baseline_order", 1))
    except (TypeError, ValueError) as exc:
        raise LightCurveError(f"lightcurves.transit: {exc}") from None
    if dur <= 0 or not 0 <= ing <= dur / 2:
        raise LightCurveError(f"lightcurves.transit: need duration > 0 and 0 <= ingress <= duration/2 "
                              f"(hours), got duration={transit['duration']}, ingress={transit.get('ingress')}")


def _config(config: dict | None) -> dict:
    cfg = dict(DEFAULTS)
    for key, value in (config or {}).items():
        if key not in DEFAULTS:
            raise LightCurveError(f"lightcurves.{key}: unknown key; known keys: {', '.join(DEFAULTS)}")
        cfg[key] = value
    if int(cfg["box_halfwidth"]) < 0:
        raise LightCurveError(f"lightcurves.box_halfwidth: must be >= 0, got {cfg['box_halfwidth']}")
    if int(cfg["bkg_gap"]) < 0:
        raise LightCurveError(f"lightcurves.bkg_gap: must be >= 0, got {cfg['bkg_gap']}")
    if cfg["mode"] not in ("auto", "spectroscopy", "imaging"):
        raise LightCurveError(f"lightcurves.mode: {cfg['mode']!r} is not auto, spectroscopy or imaging")
    if cfg["dispersion_axis"] not in ("auto", "x", "y"):
        raise LightCurveError(f"lightcurves.dispersion_axis: {cfg['dispersion_axis']!r} is not auto, x or y")
    try:
        _dq_mask(cfg["dq_flags"])
    except ValueError as exc:
        raise LightCurveError(f"lightcurves.dq_flags: {exc}") from None
    ann = cfg["annulus"]
    if ann is None or len(ann) != 2 or not 0 <= float(ann[0]) < float(ann[1]):
        raise LightCurveError(f"lightcurves.annulus: need [r_in, r_out] with 0 <= r_in < r_out, got {ann}")
    if float(cfg["aperture_radius"]) <= 0:
        raise LightCurveError(f"lightcurves.aperture_radius: must be > 0, got {cfg['aperture_radius']}")
    if cfg["transit"]:
        _check_transit(cfg["transit"])
    if cfg["oot"] is not None and cfg["oot_first"] is not None:
        raise LightCurveError("lightcurves.oot and lightcurves.oot_first: give one of them, not both")
    if cfg["bins"] is None and int(cfg["bin_width"]) < 1:
        raise LightCurveError(f"lightcurves.bin_width: must be >= 1, got {cfg['bin_width']}")
    return cfg


# --------------------------------------------------------------------------- workflow helpers

#: files the ``lightcurves`` rule writes per detector ({detector}_<name>)
RULE_FILES = ("whitelight.ecsv", "whitelight.csv", "whitelight.png", "spectroscopic.ecsv",
              "spectroscopic.png", "metrics.csv", "metrics.png")
#: files the ``lightcurve_transit`` rule writes per detector when a transit is configured
TRANSIT_FILES = ("transit.json", "transit.png")


def detectors_of(stems) -> list[str]:
    """Sorted detectors (lower case) of exposure stems."""
    return sorted({stem_detector(s) for s in stems})


def stems_of_detector(stems, detector: str) -> list[str]:
    """The stems of one detector (all its segments / exposures)."""
    return [s for s in stems if stem_detector(s) == str(detector).lower()]


def workflow_targets(lc_dir, steps, stems_fn, transit: bool) -> list[str]:
    """Every light-curve file of a program: ``{lc_dir}/{detector}_{name}`` for each detector of
    ``stems_fn()`` (RULE_FILES, plus TRANSIT_FILES when ``transit``); none without ramp_fit."""
    if "ramp_fit" not in steps:
        return []
    names = RULE_FILES + (TRANSIT_FILES if transit else ())
    return [f"{lc_dir}/{d}_{n}" for d in detectors_of(stems_fn()) for n in names]


# --------------------------------------------------------------------------- times

def _select_rows(int_times: Table, nints: int, intstart: int | None, source: str) -> Table:
    """The INT_TIMES rows of this file's integrations (a segment may carry the whole table)."""
    if len(int_times) == nints:
        return int_times
    if "integration_number" in int_times.colnames and intstart is not None:
        num = np.asarray(int_times["integration_number"])
        want = np.arange(intstart, intstart + nints)
        idx = [np.flatnonzero(num == n) for n in want]
        if all(len(i) for i in idx):
            return int_times[[int(i[0]) for i in idx]]
    raise LightCurveError(f"{source}: INT_TIMES has {len(int_times)} rows for {nints} integrations "
                          f"(INTSTART={intstart}) and they cannot be matched")


def _valid_times(col) -> bool:
    t = np.asarray(col, dtype=float)
    return t.size > 0 and bool(np.all(np.isfinite(t)) and np.all(t > 0))


def integration_mid_times(int_times: Table | None, *, source: str = "<INT_TIMES>") -> tuple[np.ndarray, str]:
    """Integration mid-times and their scale from an INT_TIMES table.

    Returns ``(times, scale)``: ``int_mid_BJD_TDB`` and ``"BJD_TDB"`` where that column is
    present, finite and non-zero; otherwise ``int_mid_MJD_UTC`` and ``"MJD_UTC"`` with a
    logged warning naming ``source``. Both are MJD-like (days, JD - 2400000.5). Raises
    LightCurveError when neither is usable.
    """
    if int_times is None:
        raise LightCurveError(f"{source}: no INT_TIMES table; integration times are unknown")
    cols = int_times.colnames
    if _BJD in cols and _valid_times(int_times[_BJD]):
        return np.asarray(int_times[_BJD], dtype=np.float64), "BJD_TDB"
    if _MJD in cols and _valid_times(int_times[_MJD]):
        why = "absent" if _BJD not in cols else "zero or invalid"
        log.warning("%s: %s is %s; using %s (UTC, not barycentric: times are off by up to "
                    "~8.3 min plus TDB-UTC)", source, _BJD, why, _MJD)
        return np.asarray(int_times[_MJD], dtype=np.float64), "MJD_UTC"
    raise LightCurveError(f"{source}: INT_TIMES has neither a valid {_BJD} nor {_MJD} column "
                          f"(columns: {cols})")


def stitch_order(times, segments=None, int_numbers=None) -> np.ndarray:
    """Permutation putting integrations in time order.

    ``times`` (n,) mid-times of all integrations concatenated in any segment order;
    ``segments`` / ``int_numbers`` (n,) break ties (equal times). Logs a warning when two
    integrations share a mid-time (the same integration given twice?).
    """
    t = np.asarray(times, dtype=np.float64)
    seg = np.zeros(t.size) if segments is None else np.asarray(segments, dtype=np.float64)
    num = np.arange(t.size) if int_numbers is None else np.asarray(int_numbers, dtype=np.float64)
    order = np.lexsort((num, seg, t))
    st = t[order]
    if st.size > 1 and np.any(np.diff(st) == 0):
        log.warning("%d integrations share a mid-time with another: is a segment given twice?",
                    int(np.sum(np.diff(st) == 0)))
    return order


# --------------------------------------------------------------------------- segments

@dataclass
class _Segment:
    path: str
    stem: str
    detector: str
    segment: int
    exp_type: str
    nints: int
    shape: tuple
    int_numbers: np.ndarray
    bjd: np.ndarray | None
    mjd: np.ndarray | None
    primary: object = field(repr=False, default=None)


def _read(path) -> dict:
    try:
        return io.read_image_product(path)
    except io.ProductError as exc:
        raise LightCurveError(str(exc)) from None


def _segment_info(path, prod) -> _Segment:
    prim = prod["primary"]
    if "SCI" not in prod or np.ndim(prod["SCI"]) != 3:
        shape = None if "SCI" not in prod else np.shape(prod["SCI"])
        raise LightCurveError(f"{path}: SCI must be a (nints, ny, nx) rateints cube, got shape {shape}")
    nints = int(prod["SCI"].shape[0])
    stem = product_stem(path)
    det = str(prim.get("DETECTOR") or stem_detector(stem)).lower()
    seg = prim.get("EXSEGNUM")
    seg = int(seg) if seg not in (None, "") else (stem_segment(stem) or 1)
    intstart = prim.get("INTSTART")
    intstart = int(intstart) if intstart not in (None, "") else None
    it = prod.get("INT_TIMES")
    bjd = mjd = None
    if it is not None and len(it):
        it = _select_rows(it, nints, intstart, str(path))
        if _BJD in it.colnames and _valid_times(it[_BJD]):
            bjd = np.asarray(it[_BJD], dtype=np.float64)
        if _MJD in it.colnames and _valid_times(it[_MJD]):
            mjd = np.asarray(it[_MJD], dtype=np.float64)
        nums = (np.asarray(it["integration_number"], dtype=np.int64) if "integration_number" in it.colnames
                else np.arange(intstart or 1, (intstart or 1) + nints))
    else:
        nums = np.arange(intstart or 1, (intstart or 1) + nints)
    if bjd is None and mjd is None:
        raise LightCurveError(f"{path}: no usable INT_TIMES mid-times ({_BJD} / {_MJD}); "
                              "cannot place its integrations in time")
    return _Segment(path=str(path), stem=stem, detector=det, segment=seg,
                    exp_type=str(prim.get("EXP_TYPE", "UNKNOWN")).upper(), nints=nints,
                    shape=tuple(prod["SCI"].shape), int_numbers=nums, bjd=bjd, mjd=mjd, primary=prim)


def _arrays(prod, transpose: bool):
    """SCI, ERR (float64 views as float32 -> float64 on use), DQ of a product, oriented."""
    sci = np.asarray(prod["SCI"], dtype=np.float32)
    if "ERR" in prod:
        err = np.asarray(prod["ERR"], dtype=np.float32)
    elif "VAR_POISSON" in prod and "VAR_RNOISE" in prod:
        err = np.sqrt(np.asarray(prod["VAR_POISSON"], np.float32) + np.asarray(prod["VAR_RNOISE"], np.float32))
    else:
        err = np.full(sci.shape, np.nan, dtype=np.float32)
    dq = np.asarray(prod["DQ"], dtype=np.uint32) if "DQ" in prod else np.zeros(sci.shape, np.uint32)
    if dq.ndim == 2:
        dq = np.broadcast_to(dq, sci.shape)
    if transpose:
        sci, err, dq = (np.swapaxes(a, -1, -2) for a in (sci, err, dq))
    return sci, err, dq


class _Products:
    """The segments of one detector, read once each pass (kept in memory while small)."""

    def __init__(self, paths, cache_mb: float = 512.0):
        self.paths = [str(p) for p in paths]
        self._cache: dict[str, dict] = {}
        self._budget = cache_mb * 1e6
        self._used = 0.0

    def get(self, path) -> dict:
        if path in self._cache:
            return self._cache[path]
        prod = _read(path)
        # keep what extraction needs (ERR, or the variances where ERR is absent)
        drop = ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT") if "ERR" in prod else ("VAR_FLAT",)
        prod = {k: v for k, v in prod.items() if k not in drop and not (k.endswith("_header") and k != "SCI_header")}
        size = sum(v.nbytes for v in prod.values() if isinstance(v, np.ndarray))
        if self._used + size <= self._budget:
            self._cache[path] = prod
            self._used += size
        return prod


# --------------------------------------------------------------------------- spectroscopy: trace

def nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """Median along ``axis`` ignoring NaNs (NaN where all are NaN), as ``np.nanmedian``.

    Sorts once (NaNs sort last) and averages the middle valid elements: much faster than
    ``np.nanmedian``, which goes through masked arrays for short axes.
    """
    a = np.asarray(a)
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    s = np.sort(a, axis=axis)
    n = np.sum(~np.isnan(s), axis=axis, keepdims=True)
    lo = np.maximum((n - 1) // 2, 0)
    hi = np.maximum(n // 2, 0)
    hi = np.minimum(hi, s.shape[axis] - 1)
    lo = np.minimum(lo, s.shape[axis] - 1)
    v = 0.5 * (np.take_along_axis(s, lo, axis=axis) + np.take_along_axis(s, hi, axis=axis))
    v = np.where(n > 0, v, np.nan)
    return np.squeeze(v, axis=axis)


def _interp_nans_along_x(a: np.ndarray) -> np.ndarray:
    """Fill NaNs of each row of ``a`` (k, nx) by linear interpolation along x (0 if none good)."""
    out = np.array(a, dtype=np.float64)
    x = np.arange(out.shape[-1])
    for r in range(out.shape[0]):
        bad = ~np.isfinite(out[r])
        if not bad.any():
            continue
        if bad.all():
            out[r] = 0.0
            continue
        out[r, bad] = np.interp(x[bad], x[~bad], out[r, ~bad])
    return out


def fit_trace(frame: np.ndarray, *, order: int = 2, window: int = 4, columns=None,
              smooth: int = 9, nsigma: float = 4.0) -> dict:
    """Trace centre per column of a (ny, nx) median frame (dispersion along x).

    Per column: background = median of the column; ``d`` = frame - background, smoothed with a
    ``smooth``-column running median along x (fills flagged NaN pixels, suppresses hot
    pixels); centroid = sum(y d) / sum(d) over the rows within ``window`` of the column's
    peak, d clipped at 0. A polynomial of ``order`` in x is fitted to the centroids of the
    columns with at least 2 % of the 95th-percentile column flux (weights: column flux;
    3 rounds of ``nsigma`` clipping on the MAD). Returns ``{"center": (nx,) float64,
    "centroids": (nx,), "used": (nx,) bool, "coef": [...], "domain": [x0, x1], "order": n}``.
    """
    from scipy.ndimage import median_filter

    f = np.array(frame, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"frame: need a (ny, nx) array, got shape {f.shape}")
    ny, nx = f.shape
    x = np.arange(nx)
    with np.errstate(all="ignore"), _quiet():
        bkg = np.nanmedian(np.where(np.isfinite(f), f, np.nan), axis=0)
    d = f - np.where(np.isfinite(bkg), bkg, 0.0)[None, :]
    d = np.where(np.isfinite(d), d, 0.0)
    if smooth and smooth > 1 and nx >= smooth:
        d = median_filter(d, size=(1, int(smooth)), mode="nearest")
    d = np.clip(d, 0.0, None)
    peak = np.argmax(d, axis=0)
    y = np.arange(ny)[:, None]
    w = np.where(np.abs(y - peak[None, :]) <= max(1, int(window)), d, 0.0)
    tot = w.sum(axis=0)
    with np.errstate(all="ignore"):
        cen = (w * y).sum(axis=0) / tot
    used = np.isfinite(cen) & (tot > 0)
    if columns is not None:
        sel = np.zeros(nx, bool)
        sel[max(0, int(columns[0])):min(nx, int(columns[1]))] = True
        used &= sel
    if used.any():
        used &= tot >= 0.02 * np.percentile(tot[used], 95)
    order = int(order)
    result = {"centroids": cen, "used": used, "order": order}
    if used.sum() <= order + 1:
        c = float(np.median(cen[used])) if used.any() else (ny - 1) / 2.0
        log.warning("trace: only %d usable columns; using a constant trace centre at row %.2f",
                    int(used.sum()), c)
        result.update(center=np.full(nx, c), coef=[c], domain=[0.0, float(max(nx - 1, 1))], order=0)
        return result
    from numpy.polynomial import Polynomial

    keep = used.copy()
    for _ in range(3):
        p = Polynomial.fit(x[keep], cen[keep], order, w=np.sqrt(tot[keep]), domain=[0, max(nx - 1, 1)])
        res = cen - p(x)
        mad = 1.4826 * np.median(np.abs(res[keep] - np.median(res[keep])))
        new = used & (np.abs(res) <= nsigma * max(mad, 1e-3))
        if new.sum() <= order + 1 or np.array_equal(new, keep):
            break
        keep = new
    p = Polynomial.fit(x[keep], cen[keep], order, w=np.sqrt(tot[keep]), domain=[0, max(nx - 1, 1)])
    result.update(center=np.clip(p(x), 0, ny - 1), coef=[float(c) for c in p.coef],
                  domain=[float(v) for v in p.domain], used=keep)
    return result


def box_indices(center: np.ndarray, ny: int, halfwidth: int):
    """Rows of the extraction box: ``(rows (2h+1, nx) int, inside (2h+1, nx) bool)``.

    Box rows of column x are ``round(center[x]) + k`` for ``k = -h..h``; ``inside`` is False
    where that row falls off the frame (those rows are not part of the box).
    """
    rc = np.rint(np.asarray(center, dtype=np.float64)).astype(np.int64)
    k = np.arange(-int(halfwidth), int(halfwidth) + 1)[:, None]
    rows = rc[None, :] + k
    inside = (rows >= 0) & (rows < ny)
    return np.clip(rows, 0, ny - 1), inside


def background_mask(center: np.ndarray, ny: int, halfwidth: int, gap: int, width=None) -> np.ndarray:
    """(ny, nx) bool: background pixels, more than ``halfwidth + gap`` rows from round(center)."""
    rc = np.rint(np.asarray(center, dtype=np.float64)).astype(np.int64)
    dist = np.abs(np.arange(ny)[:, None] - rc[None, :])
    m = dist > int(halfwidth) + int(gap)
    if width is not None:
        m &= dist <= int(halfwidth) + int(gap) + int(width)
    return m


def _median_var_factor(n: np.ndarray) -> np.ndarray:
    """Variance of the median of n Gaussian samples / (sigma^2 / n): 1 for n <= 2, else pi/2."""
    return np.where(n <= 2, 1.0, math.pi / 2.0)


def column_background(sci, err, bkg_good: np.ndarray):
    """Per-integration, per-column background (median) and the variance of that median.

    sci, err : (nints, ny, nx); bkg_good : (ny, nx) bool (background region minus flagged).
    Returns ``(bkg (nints, nx) float64, var (nints, nx) float64, n (nx,) int)``; columns with
    no background pixel get 0 and variance 0.
    """
    n = bkg_good.sum(axis=0)
    vals = np.where(bkg_good[None], sci, np.nan)
    with np.errstate(all="ignore"), _quiet():
        bkg = nanmedian(vals, axis=1).astype(np.float64)
        e2 = np.where(bkg_good[None], np.asarray(err, np.float64) ** 2, np.nan)
        mean_e2 = np.nanmean(e2, axis=1)
    var = _median_var_factor(n)[None, :] * mean_e2 / np.maximum(n, 1)[None, :]
    bkg = np.where(n[None, :] > 0, bkg, 0.0)
    var = np.where((n[None, :] > 0) & np.isfinite(var), var, 0.0)
    return bkg, var, n


class _quiet:
    """Silence numpy's 'All-NaN slice' / 'Mean of empty slice' RuntimeWarnings."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def box_profile(median_frame: np.ndarray, rows: np.ndarray, inside: np.ndarray,
                bkg_region: np.ndarray | None, good_frac: np.ndarray | None = None) -> np.ndarray:
    """Normalised spatial profile in box coordinates, (2h+1, nx) float64.

    ``median_frame`` (ny, nx) minus its per-column background median (over ``bkg_region``),
    NaN where ``good_frac < 0.5`` (pixel good in fewer than half of the integrations), gaps
    interpolated along x at the same offset from the trace, clipped at 0, zero outside the
    frame, divided by its column sum over the box (NaN where that sum is not positive).
    """
    m = np.array(median_frame, dtype=np.float64)
    if good_frac is not None:
        m[np.asarray(good_frac) < 0.5] = np.nan
    nx = m.shape[1]
    if bkg_region is not None and bkg_region.any():
        with _quiet():
            b = np.nanmedian(np.where(bkg_region, m, np.nan), axis=0)
        m = m - np.where(np.isfinite(b), b, 0.0)[None, :]
    cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
    p = m[rows, cols]
    p[~inside] = np.nan
    filled = _interp_nans_along_x(np.where(inside, p, np.nan))
    filled = np.where(inside, np.clip(filled, 0.0, None), 0.0)
    tot = filled.sum(axis=0)
    with np.errstate(all="ignore"):
        return np.where(tot[None, :] > 0, filled / tot[None, :], np.nan)


def extract_box(sci, err, bad: np.ndarray, rows: np.ndarray, inside: np.ndarray, profile: np.ndarray,
                bkg=None, bkg_var=None, max_bad_fraction: float = 0.5) -> dict:
    """Box extraction of every column of every integration with consistent bad-pixel handling.

    sci, err : (nints, ny, nx) float; bad : (ny, nx) bool, pixels to replace in every
    integration; rows, inside : from :func:`box_indices`; profile : (2h+1, nx) from
    :func:`box_profile`; bkg, bkg_var : (nints, nx) background per pixel and the variance of
    that estimate (None: no background).

    Column flux = ``sum_good(sci - bkg) / f_good`` with ``f_good = sum_good(profile)`` (1
    where no box pixel is flagged), i.e. flagged pixels replaced by ``profile * flux``.
    Returns dict of ``flux``, ``var`` (nints, nx) float64, ``valid`` (nx,) bool, ``f_good``
    (nx,), ``n_replaced`` (nx,) int, and ``box`` (nints, 2h+1, nx) background-subtracted box
    pixels with flagged ones replaced (for the trace metrics).
    """
    nints = sci.shape[0]
    nx = sci.shape[2]
    cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
    good = inside & ~bad[rows, cols]
    flagged = inside & ~good
    n_rep = flagged.sum(axis=0)
    with np.errstate(all="ignore"):
        fg = np.where(n_rep == 0, 1.0, np.nansum(np.where(good, profile, 0.0), axis=0))
        prof_ok = (n_rep == 0) | np.isfinite(profile).all(axis=0)
    valid = prof_ok & (fg >= 1.0 - float(max_bad_fraction)) & (fg > 0) & good.any(axis=0)
    fg = np.where(valid, fg, np.nan)
    s = np.asarray(sci[:, rows, cols], dtype=np.float64)                   # (nints, k, nx)
    e2 = np.asarray(err[:, rows, cols], dtype=np.float64) ** 2
    if bkg is not None:
        s -= np.asarray(bkg, dtype=np.float64)[:, None, :]
    s = np.where(good[None], s, 0.0)
    e2 = np.where(good[None], e2, 0.0)
    ngood = good.sum(axis=0)
    flux = s.sum(axis=1) / fg[None, :]
    var = e2.sum(axis=1) / fg[None, :] ** 2
    if bkg_var is not None:
        var += (ngood / fg)[None, :] ** 2 * np.asarray(bkg_var, dtype=np.float64)
    # flagged pixels replaced by profile * column flux, for centroid/width metrics
    rep = np.where(flagged[None], np.nan_to_num(profile)[None] * flux[:, None, :], 0.0)
    box = np.where(inside[None], s + rep, 0.0)
    flux[:, ~valid] = np.nan
    var[:, ~valid] = np.nan
    return {"flux": flux, "var": var, "valid": valid, "f_good": fg, "n_replaced": n_rep, "box": box}


def column_bins(nx: int, *, bin_width=64, bins=None, columns=None) -> list[tuple[int, int]]:
    """Spectroscopic bins as half-open column ranges.

    ``bins`` (list of [x0, x1)) wins; otherwise consecutive ``bin_width`` columns over
    ``columns`` ([x0, x1), default all), the last bin possibly narrower.
    """
    if bins:
        out = []
        for i, b in enumerate(bins):
            if len(b) != 2 or not 0 <= int(b[0]) < int(b[1]) <= nx:
                raise LightCurveError(f"lightcurves.bins[{i}]: {b} is not a [x0, x1) range within 0..{nx}")
            out.append((int(b[0]), int(b[1])))
        return out
    x0, x1 = (0, nx) if columns is None else (max(0, int(columns[0])), min(nx, int(columns[1])))
    w = int(bin_width)
    if w < 1:
        raise LightCurveError(f"lightcurves.bin_width: must be >= 1, got {bin_width}")
    return [(a, min(a + w, x1)) for a in range(x0, x1, w)]


# --------------------------------------------------------------------------- imaging

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
    from scipy.ndimage import uniform_filter

    f = np.array(frame, dtype=np.float64)
    with _quiet():
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
        with _quiet():
            bkg = np.nanmedian(np.where(bgood[None], s, np.nan), axis=(1, 2))
            bvar = float(_median_var_factor(np.array(nb))) * np.nanmean(
                np.where(bgood[None], e2, np.nan), axis=(1, 2)) / nb
    else:
        bkg = np.zeros(s.shape[0])
        bvar = np.zeros(s.shape[0])
    fg = 1.0
    if n_rep:
        p = np.array(profile, dtype=np.float64)
        tot = np.nansum(weights * np.clip(p, 0, None))
        if not np.all(np.isfinite(p[ap])):
            pf = p.copy()
            # unknown profile values: the point-symmetric pixel about the aperture centre
            # (bilinear), else the mean of the known ones at the same radius (0.5-pixel bins)
            yy, xx = np.indices(p.shape)
            centre = ((weights * yy).sum() / weights.sum(), (weights * xx).sum() / weights.sum())
            rbin = np.floor(2 * _radius(p.shape, centre)).astype(int)
            for y, x in zip(*np.nonzero(ap & ~np.isfinite(p))):
                v = _bilinear(p, 2 * centre[0] - y, 2 * centre[1] - x)
                if not np.isfinite(v):
                    same = (rbin == rbin[y, x]) & np.isfinite(p)
                    v = p[same].mean() if same.any() else 0.0
                pf[y, x] = v
            p = pf
            tot = np.sum(weights * np.clip(p, 0, None))
        fg = float(np.sum(np.where(good, weights * np.clip(p, 0, None), 0.0)) / tot) if tot > 0 else 0.0
    valid = good.any() and fg >= 1.0 - float(max_bad_fraction) and fg > 0
    wg = np.where(good, weights, 0.0)
    d = s - bkg[:, None, None]
    num = np.einsum("ijk,jk->i", np.where(good[None], d, 0.0), wg)
    var = np.einsum("ijk,jk->i", np.where(good[None], e2, 0.0), wg ** 2)
    flux = num / fg if valid else np.full(s.shape[0], np.nan)
    var = (var / fg ** 2 + (wg.sum() / fg) ** 2 * bvar) if valid else np.full(s.shape[0], np.nan)
    return {"flux": flux, "var": var, "bkg": bkg, "bkg_var": bvar, "f_good": fg, "n_replaced": n_rep,
            "valid": bool(valid)}


# --------------------------------------------------------------------------- normalisation

def trapezoid(t, t0: float, duration: float, ingress: float) -> np.ndarray:
    """Trapezoid transit shape in [0, 1]: 1 in full transit, 0 outside, linear in between.

    ``duration`` is the total (first to fourth contact) duration T14 and ``ingress`` the
    ingress (= egress) duration, in the units of ``t``; ingress 0 gives a box.
    """
    t = np.asarray(t, dtype=np.float64)
    half = 0.5 * float(duration)
    tau = float(ingress)
    if duration <= 0:
        raise ValueError(f"transit duration must be > 0, got {duration}")
    if not 0 <= tau <= half:
        raise ValueError(f"transit ingress must be within 0..duration/2, got {ingress} for duration {duration}")
    d = np.abs(t - float(t0))
    if tau == 0:
        return (d < half).astype(np.float64) + 0.5 * (d == half)
    return np.clip((half - d) / tau, 0.0, 1.0)


def transit_parameters(transit: dict, times: np.ndarray) -> dict:
    """Transit window in the time system of ``times`` (days, MJD-like): t0, duration, ingress.

    ``transit``: ``t0`` (BJD_TDB; full JD values > 2400000 are converted to JD - 2400000.5),
    ``duration`` and ``ingress`` in hours, optional ``period`` in days (the epoch nearest the
    middle of ``times`` is used).
    """
    _check_transit(transit)
    t0 = float(transit["t0"])
    if t0 > 2_400_000.0:
        t0 -= 2_400_000.5
    period = transit.get("period")
    epoch = 0
    if period:
        period = float(period)
        tm = 0.5 * (np.nanmin(times) + np.nanmax(times))
        epoch = int(round((tm - t0) / period))
        t0 += epoch * period
    dur = float(transit["duration"]) / 24.0
    ing = float(transit.get("ingress") or 0.0) / 24.0
    return {"t0": t0, "duration": dur, "ingress": ing, "period": period, "epoch": epoch,
            "baseline_order": int(transit.get("baseline_order", 1))}


def oot_mask(n: int, *, oot=None, oot_first=None, times=None, transit=None) -> np.ndarray:
    """(n,) bool: integrations that define the out-of-transit level (see module docstring)."""
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
    """Divide flux and err (n, ...) by the median of ``flux[mask]`` (per column for 2-D)."""
    with _quiet(), np.errstate(all="ignore"):
        norm = np.nanmedian(np.asarray(flux)[mask], axis=0)
        return flux / norm, err / norm, norm


# --------------------------------------------------------------------------- jumps

def jump_counts(path, chunk_mb: float = 256.0) -> Table:
    """Per-integration JUMP_DET counts of a ramp product (``{stem}_jump.fits``), read in chunks.

    Returns a Table: ``int_number`` (1-based, exposure numbering), ``jump_groups`` (groups
    flagged JUMP_DET, all pixels), ``jump_pixels`` (pixels with at least one flagged group).
    """
    jbit = np.uint8(dqflags.JUMP_DET)
    with io.open_ramp(path) as rf:
        nints, ngroups, ny, nx = rf.shape
        rows = max(1, int(chunk_mb * 1e6 // max(1, ngroups * nx * 5)))
        groups = np.zeros(nints, dtype=np.int64)
        pixels = np.zeros(nints, dtype=np.int64)
        for i in range(nints):
            for r0 in range(0, ny, rows):
                _, gdq = rf.read(slice(i, i + 1), slice(r0, min(ny, r0 + rows)))
                j = (gdq & jbit) != 0
                groups[i] += int(j.sum())
                pixels[i] += int(j.any(axis=1).sum())
        it = rf.int_times
        start = int(rf.primary_header.get("INTSTART", 1) or 1)
        nums = np.arange(start, start + nints)
        if it is not None and "integration_number" in it.colnames and len(it) == nints:
            nums = np.asarray(it["integration_number"], dtype=np.int64)
    log.info("%s: %d jump-flagged groups in %d integrations", Path(path).name, int(groups.sum()), nints)
    return Table({"int_number": nums, "jump_groups": groups, "jump_pixels": pixels})


# --------------------------------------------------------------------------- the driver

@dataclass
class LightCurves:
    """Light curves of one detector: white light, spectroscopic, per-integration metrics.

    ``white`` columns: integration (0-based stitched index), segment, int_number, time
    [d, ``meta['time_scale']``], time_hours, flux, flux_err (normalised), raw_flux,
    raw_flux_err [DN/s]. ``spectroscopic``: integration, time, time_hours and per bin k
    ``flux_k``, ``err_k`` (normalised); bins in ``meta['bins']``. ``metrics``: see
    :func:`extract_lightcurves`.
    """

    detector: str
    mode: str
    white: Table
    spectroscopic: Table
    metrics: Table
    info: dict = field(default_factory=dict)


def _median_frame(products: _Products, segs, transpose, mask_bits, max_mb):
    """Median frame (NaN where flagged) from frames spread over all segments, union bad mask,
    per-pixel good fraction and the saturated fractions per integration."""
    ny, nx = segs[0].shape[1:]
    if transpose:
        ny, nx = nx, ny
    max_frames = max(5, int(max_mb * 1e6 // (ny * nx * 4)))
    quota = max(1, -(-max_frames // len(segs)))
    samples = []
    bad = np.zeros((ny, nx), dtype=bool)
    ngood = np.zeros((ny, nx), dtype=np.int64)
    nall = 0
    sat = {}
    for k, seg in enumerate(segs):
        prod = products.get(seg.path)
        sci, err, dq = _arrays(prod, transpose)
        if sci.shape[1:] != (ny, nx):
            raise LightCurveError(f"{seg.path}: frame shape {sci.shape[1:]} differs from "
                                  f"{(ny, nx)} of {segs[0].path}")
        flag = ((dq & np.uint32(mask_bits)) != 0) | ~np.isfinite(sci) | ~np.isfinite(err)
        bad |= flag.any(axis=0)
        ngood += (~flag).sum(axis=0)
        nall += sci.shape[0]
        sat[seg.path] = {
            "sat": ((dq & np.uint32(dqflags.SATURATED)) != 0).reshape(sci.shape[0], -1).mean(axis=1),
            # JUMP_DET in an integration's DQ: some group of the pixel had a jump (ramp_fit sets it)
            "jump_dq": ((dq & np.uint32(dqflags.JUMP_DET)) != 0).reshape(sci.shape[0], -1).sum(axis=1),
        }
        pick = np.unique(np.linspace(0, sci.shape[0] - 1, min(quota, sci.shape[0])).round().astype(int))
        samples.append(np.where(flag[pick], np.nan, sci[pick]).astype(np.float32))
        log.info("pass 1 (median frame, DQ): segment %d/%d %s, %d integrations", k + 1, len(segs),
                 Path(seg.path).name, sci.shape[0])
    with _quiet():
        med = nanmedian(np.concatenate(samples, axis=0), axis=0)
    return med, bad, ngood / max(nall, 1), sat


def _time_scale(segs):
    """BJD_TDB mid-times if every segment has them, else MJD_UTC for all (with a warning)."""
    if all(s.bjd is not None for s in segs):
        return "BJD_TDB", [s.bjd for s in segs]
    missing = [Path(s.path).name for s in segs if s.bjd is None]
    for s in segs:
        if s.mjd is None:
            raise LightCurveError(f"{s.path}: {_BJD} is missing in other segments and {_MJD} here")
    log.warning("%s absent or zero in %s: using %s (UTC, not barycentric: off by up to ~8.3 min "
                "plus TDB-UTC) for all %d segments", _BJD, ", ".join(missing), _MJD, len(segs))
    return "MJD_UTC", [s.mjd for s in segs]


class _BoxExtraction:
    """Spectroscopy: trace, box, background region and profile from the median frame; then
    :meth:`measure` on each segment's (nints, ny, nx) arrays."""

    def __init__(self, cfg, med, bad, good_frac, info):
        ny, nx = med.shape
        self.hw = hw = int(cfg["box_halfwidth"])
        window = int(cfg["trace_window"] if cfg["trace_window"] is not None else max(hw, 2))
        tr = fit_trace(med, order=int(cfg["trace_order"]), window=window, columns=cfg["columns"])
        self.center = tr["center"]
        self.rows, self.inside = box_indices(self.center, ny, hw)
        self.bkg_region = background_mask(self.center, ny, hw, int(cfg["bkg_gap"]), cfg["bkg_width"])
        if cfg["background"] and not self.bkg_region.any():
            log.warning("no background pixels outside the box (ny=%d, box_halfwidth=%d, bkg_gap=%d): "
                        "no background subtraction", ny, hw, int(cfg["bkg_gap"]))
        self.use_bkg = bool(cfg["background"]) and bool(self.bkg_region.any())
        self.profile = box_profile(med, self.rows, self.inside, self.bkg_region if self.use_bkg else None, good_frac)
        self.bad = bad
        self.max_bad = float(cfg["max_bad_fraction"])
        cols = cfg["columns"]
        self.xr = (0, nx) if cols is None else (max(0, int(cols[0])), min(nx, int(cols[1])))
        if self.xr[0] >= self.xr[1]:
            raise LightCurveError(f"lightcurves.columns: {cols} selects no column of {nx}")
        self.inrange = np.zeros(nx, bool)
        self.inrange[self.xr[0]:self.xr[1]] = True
        self.bins = column_bins(nx, bin_width=cfg["bin_width"], bins=cfg["bins"], columns=cols)
        self.valid = None
        info.update(trace_coef=tr["coef"], trace_domain=tr["domain"], trace_order=tr["order"],
                    trace_mean_row=float(np.mean(self.center)), box_halfwidth=hw, bkg_gap=int(cfg["bkg_gap"]),
                    background=self.use_bkg)

    def measure(self, sci, err, dq) -> dict:
        n, _, nx = sci.shape
        bkg, bvar = (column_background(sci, err, self.bkg_region & ~self.bad)[:2] if self.use_bkg
                     else (None, None))
        ex = extract_box(sci, err, self.bad, self.rows, self.inside, self.profile, bkg, bvar,
                         max_bad_fraction=self.max_bad)
        self.valid = valid = ex["valid"]
        use = valid & self.inrange
        out = {"flux": np.nansum(ex["flux"][:, use], axis=1), "var": np.nansum(ex["var"][:, use], axis=1)}
        out["spec_flux"] = np.stack([np.nansum(ex["flux"][:, a:b][:, valid[a:b]], axis=1) for a, b in self.bins],
                                    axis=1) if self.bins else np.zeros((n, 0))
        out["spec_var"] = np.stack([np.nansum(ex["var"][:, a:b][:, valid[a:b]], axis=1) for a, b in self.bins],
                                   axis=1) if self.bins else np.zeros((n, 0))
        out["bkg"] = np.median(bkg[:, use], axis=1) if (bkg is not None and use.any()) else np.zeros(n)
        cols = np.broadcast_to(np.arange(nx)[None, :], self.rows.shape)
        sat_box = ((dq[:, self.rows, cols] & np.uint32(dqflags.SATURATED)) != 0) & self.inside[None]
        out["sat_ap"] = sat_box[:, :, use].reshape(n, -1).mean(axis=1) if use.any() else np.zeros(n)
        # trace offset / width from the (replaced) box pixels of the used columns
        c = self.center
        yoff = (np.arange(-self.hw, self.hw + 1)[:, None] + np.rint(c)[None, :] - c[None, :])[:, use]
        w = np.clip(ex["box"][:, :, use], 0, None)
        tot = w.sum(axis=(1, 2))
        with np.errstate(all="ignore"):
            off = (w * yoff[None]).sum(axis=(1, 2)) / tot
            out["width"] = np.sqrt((w * (yoff[None] - off[:, None, None]) ** 2).sum(axis=(1, 2)) / tot)
        out["off"] = off
        out["cen"] = float(np.mean(c[use])) + off if use.any() else np.full(n, np.nan)
        return out


class _ApertureExtraction:
    """Imaging: source position, aperture weights, annulus and profile from the median frame;
    then :meth:`measure` on each segment's (nints, ny, nx) arrays (a cut-out around the source)."""

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
        with _quiet():
            mcut = np.where(good_frac[self.cut[1:]] >= 0.5, med[self.cut[1:]], np.nan)
            bmed = np.nanmedian(np.where(self.annulus, mcut, np.nan))
        self.profile = mcut - (bmed if np.isfinite(bmed) else 0.0)
        self.bad = bad[self.cut[1:]]
        self.max_bad = float(cfg["max_bad_fraction"])
        self.bins = []
        self.info = info
        info.update(source_x=float(pos[1]), source_y=float(pos[0]), aperture_radius=r_ap, annulus=[r_in, r_out])

    def measure(self, sci, err, dq) -> dict:
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


def _jump_columns(jump_files, segs, segment, int_number, chunk_mb, det, jump_dq=None):
    """Per-integration jump counts of the stitched series.

    From the jump ramps where given; else (no jump files, e.g. compute.fuse without keeping
    them) ``jump_pixels`` comes from JUMP_DET in the integrations' DQ (``jump_dq``, the same
    count: ramp_fit flags an integration's pixel when any of its groups is a jump) and
    ``jump_groups`` is NaN.
    """
    n = len(segment)
    groups, pixels = np.full(n, np.nan), np.full(n, np.nan)
    if not jump_files:
        if jump_dq is not None:
            pixels = np.asarray(jump_dq, dtype=np.float64).copy()
        return groups, pixels
    by_stem = {product_stem(p): p for p in jump_files}
    where = {(int(s), int(k)): i for i, (s, k) in enumerate(zip(segment, int_number))}
    for seg in segs:
        jp = by_stem.get(seg.stem)
        if jp is None:
            log.warning("%s: no jump file for %s; its jump counts are left empty", det, seg.stem)
            continue
        jt = jump_counts(jp, chunk_mb=chunk_mb)
        for num, g, p in zip(jt["int_number"], jt["jump_groups"], jt["jump_pixels"]):
            i = where.get((int(seg.segment), int(num)))
            if i is not None:
                groups[i], pixels[i] = g, p
    return groups, pixels


def _time_columns(t: Table, cat, hours, scale):
    t["integration"] = np.arange(len(hours))
    t["time"] = cat["time"]
    t["time"].unit = "d"
    t["time"].description = f"integration mid-time, {scale} (JD - 2400000.5)"
    t["time_hours"] = hours
    t["time_hours"].unit = "h"
    t["time_hours"].description = "hours since the first integration's mid-time"


def extract_lightcurves(products, *, config: dict | None = None, jump_files=None,
                        chunk_mb: float = 256.0) -> LightCurves:
    """Stitch the rateints ``products`` of ONE detector in time and extract its light curves.

    products   : paths of ``{stem}_rateints.fits`` (or gain_scaleints), any order
    config     : the ``lightcurves`` config section (keys: :data:`DEFAULTS`)
    jump_files : paths of ``{stem}_jump.fits`` (matched to products by stem), optional
    chunk_mb   : memory budget for reading the jump ramps

    Two passes over the segments (kept in memory while they fit in 512 MB): the median frame
    and the union of flagged pixels, then the extraction. Metrics columns: integration,
    segment, int_number, time, time_hours, jump_groups, jump_pixels (NaN without jump files),
    saturated_frac (frame), saturated_frac_aperture (box / aperture), background
    [DN/s/pixel], and trace_center, trace_offset, trace_width [pixels] (spectroscopy: mean
    trace row, flux-weighted offset from the fitted trace, RMS spatial width) or centroid_x,
    centroid_y, width [pixels] (imaging).
    """
    cfg = _config(config)
    paths = [str(p) for p in products]
    if not paths:
        raise LightCurveError("no rateints products given")
    store = _Products(paths)
    segs = [_segment_info(p, store.get(p)) for p in paths]
    dets = sorted({s.detector for s in segs})
    if len(dets) > 1:
        raise LightCurveError(f"products of several detectors given ({dets}); light curves are per detector")
    det = dets[0]
    scale, seg_times = _time_scale(segs)
    order = sorted(range(len(segs)), key=lambda i: (float(np.min(seg_times[i])), segs[i].segment))
    if [segs[i].segment for i in order] != sorted(s.segment for s in segs):
        log.warning("segment numbers are not in time order: %s", [segs[i].segment for i in order])
    segs, seg_times = [segs[i] for i in order], [seg_times[i] for i in order]
    log.info("%s: %d segments (%s), %d integrations, times %s", det, len(segs),
             ", ".join(str(s.segment) for s in segs), sum(s.nints for s in segs), scale)

    exp_type = segs[0].exp_type
    mode = cfg["mode"] if cfg["mode"] != "auto" else ("imaging" if is_imaging(exp_type) else "spectroscopy")
    axis = cfg["dispersion_axis"] if cfg["dispersion_axis"] != "auto" else (
        "y" if exp_type.startswith("MIR_LRS") else "x")
    transpose = mode == "spectroscopy" and axis == "y"
    mask_bits = _dq_mask(cfg["dq_flags"])

    # pass 1: median frame, flagged pixels
    med, bad, good_frac, sat = _median_frame(store, segs, transpose, mask_bits, float(cfg["median_max_mb"]))
    info = {"detector": det, "mode": mode, "exp_type": exp_type, "time_scale": scale,
            "dispersion_axis": axis if mode == "spectroscopy" else None,
            "products": [Path(s.path).name for s in segs], "segments": [int(s.segment) for s in segs],
            "dq_flags": int(mask_bits), "n_flagged_pixels": int(bad.sum())}
    ext = (_BoxExtraction if mode == "spectroscopy" else _ApertureExtraction)(cfg, med, bad, good_frac, info)

    # pass 2: extraction
    rec = defaultdict(list)
    for k, (seg, times) in enumerate(zip(segs, seg_times)):
        sci, err, dq = _arrays(store.get(seg.path), transpose)
        rec["time"].append(times)
        rec["segment"].append(np.full(sci.shape[0], seg.segment))
        rec["int_number"].append(seg.int_numbers)
        rec["sat"].append(sat[seg.path]["sat"])
        rec["jump_dq"].append(sat[seg.path]["jump_dq"])
        for key, value in ext.measure(sci, err, dq).items():
            rec[key].append(value)
        log.info("pass 2 (extraction): segment %d/%d %s done", k + 1, len(segs), Path(seg.path).name)
    cat = {k: np.concatenate(v) for k, v in rec.items()}
    perm = stitch_order(cat["time"], cat["segment"], cat["int_number"])
    cat = {k: v[perm] for k, v in cat.items()}
    ntot = cat["time"].size

    oot = oot_mask(ntot, oot=cfg["oot"], oot_first=cfg["oot_first"], times=cat["time"], transit=cfg["transit"])
    err_raw = np.sqrt(cat["var"])
    nflux, nerr, norm = normalise(cat["flux"], err_raw, oot)
    t_first = float(cat["time"][0])
    hours = (cat["time"] - t_first) * 24.0
    meta = dict(info, time_format="mjd", time_first=t_first, normalisation=float(norm),
                oot_integrations=int(oot.sum()), oot=cfg["oot"], oot_first=cfg["oot_first"], flux_unit="DN/s")
    if mode == "spectroscopy":
        x0, x1 = ext.xr
        meta.update(columns=[x0, x1], n_columns_used=int(ext.valid[x0:x1].sum()),
                    n_columns_dropped=int((~ext.valid[x0:x1]).sum()))
        if meta["n_columns_dropped"]:
            log.warning("%s: %d columns left out of the light curves (too much of their profile flagged)",
                        det, meta["n_columns_dropped"])

    white = Table(meta=_jsonable(meta))
    _time_columns(white, cat, hours, scale)
    white.add_column(cat["segment"].astype(np.int32), name="segment", index=1)
    white.add_column(cat["int_number"].astype(np.int64), name="int_number", index=2)
    white["flux"] = nflux
    white["flux"].description = "white-light flux / out-of-transit median"
    white["flux_err"] = nerr
    white["raw_flux"] = cat["flux"]
    white["raw_flux"].unit = "DN/s"
    white["raw_flux_err"] = err_raw
    white["raw_flux_err"].unit = "DN/s"

    bins = ext.bins
    spec = Table(meta={"detector": det, "time_scale": scale, "time_format": "mjd", "mode": mode,
                       "bins": [list(b) for b in bins],
                       "note": "" if bins else "imaging: no spectroscopic light curves"})
    _time_columns(spec, cat, hours, scale)
    if bins:
        fnorm, enorm, bnorm = normalise(cat["spec_flux"], np.sqrt(cat["spec_var"]), oot)
        spec.meta["normalisation"] = [float(v) for v in np.atleast_1d(bnorm)]
        for j, (a, b) in enumerate(bins):
            spec[f"flux_{j:03d}"] = fnorm[:, j]
            spec[f"flux_{j:03d}"].description = f"columns {a}..{b - 1}"
            spec[f"err_{j:03d}"] = enorm[:, j]

    metrics = Table(meta={"detector": det, "time_scale": scale, "mode": mode})
    _time_columns(metrics, cat, hours, scale)
    metrics.add_column(white["segment"], name="segment", index=1)
    metrics.add_column(white["int_number"], name="int_number", index=2)
    metrics["jump_groups"], metrics["jump_pixels"] = _jump_columns(jump_files, segs, cat["segment"],
                                                                   cat["int_number"], chunk_mb, det,
                                                                   cat["jump_dq"])
    metrics["saturated_frac"] = cat["sat"]
    metrics["saturated_frac_aperture"] = cat["sat_ap"]
    metrics["background"] = cat["bkg"]
    metrics["background"].unit = "DN/s"
    names = (("trace_center", "cen"), ("trace_offset", "off"), ("trace_width", "width")) if mode == "spectroscopy" \
        else (("centroid_x", "off"), ("centroid_y", "cen"), ("width", "width"))
    for name, key in names:
        metrics[name] = cat[key]
        metrics[name].unit = "pix"
    return LightCurves(detector=det, mode=mode, white=white, spectroscopic=spec, metrics=metrics,
                       info=_jsonable(meta))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --------------------------------------------------------------------------- transit fit

def fit_transit(time, flux, err, *, t0: float, duration: float, ingress: float = 0.0,
                baseline_order: int = 1) -> dict:
    """Trapezoid depth and polynomial baseline by weighted linear least squares.

    Model: ``flux = B(t) - c * s(t)`` with ``s`` = :func:`trapezoid` (t0, duration, ingress in
    the units of ``time``), ``B`` a polynomial of ``baseline_order`` in ``(t - t0)``; depth
    ``= c / B(t0)`` (the fractional drop relative to the baseline at mid-transit), its error
    from the parameter covariance (first-order propagation), multiplied by
    ``sqrt(chi2 / dof)`` when that is > 1. Non-finite points are ignored.
    """
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    e = np.asarray(err, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0)
    t, f, e = t[ok], f[ok], e[ok]
    s = trapezoid(t, t0, duration, ingress)
    nb = int(baseline_order) + 1
    npar = nb + 1
    if t.size <= npar:
        raise LightCurveError(f"transit fit: {t.size} points for {npar} parameters")
    if not np.any(s > 0):
        raise LightCurveError("transit fit: no integration falls inside the transit window")
    if not np.any(s == 0):
        log.warning("transit fit: no integration is out of transit; depth and baseline are degenerate")
    scale_t = max(float(np.ptp(t)), 1e-12)
    tt = (t - t0) / scale_t
    A = np.column_stack([tt ** k for k in range(nb)] + [-s])
    Aw = A / e[:, None]
    fw = f / e
    p, *_ = np.linalg.lstsq(Aw, fw, rcond=None)
    cov = np.linalg.inv(Aw.T @ Aw)
    resid = f - A @ p
    chi2 = float(np.sum((resid / e) ** 2))
    dof = t.size - npar
    red = chi2 / dof
    base0 = p[0]                                   # baseline at t0 (tt = 0)
    c = p[-1]
    depth = c / base0
    # d(depth)/d(p0) = -c/base0^2, d/dc = 1/base0
    g = np.zeros(npar)
    g[0] = -c / base0 ** 2
    g[-1] = 1.0 / base0
    derr = float(math.sqrt(max(g @ cov @ g, 0.0)))
    scaled = red > 1.0
    if scaled:
        derr *= math.sqrt(red)
    return {"depth": float(depth), "depth_err": derr, "chi2": chi2, "dof": int(dof),
            "reduced_chi2": float(red), "error_scaled": bool(scaled),
            "baseline": [float(v) for v in p[:nb]], "baseline_time_scale": scale_t,
            "n_points": int(t.size), "n_in_transit": int(np.sum(s > 0)),
            "residual_rms": float(np.std(resid))}


def transit_check(white: Table, transit: dict, spectroscopic: Table | None = None) -> dict:
    """Fit the configured transit to a white light curve (and each spectroscopic bin).

    ``transit``: the ``lightcurves.transit`` mapping (see :func:`transit_parameters`).
    Returns a JSON-ready dict with the window used, the white-light fit (:func:`fit_transit`)
    and, per bin, depth and error.
    """
    times = np.asarray(white["time"], dtype=np.float64)
    p = transit_parameters(transit, times)
    scale = white.meta.get("time_scale", "BJD_TDB")
    if scale != "BJD_TDB":
        log.warning("transit check: light-curve times are %s, the ephemeris is BJD_TDB; "
                    "the window may be off by minutes", scale)
    fit = fit_transit(times, white["flux"], white["flux_err"], t0=p["t0"], duration=p["duration"],
                      ingress=p["ingress"], baseline_order=p["baseline_order"])
    out = {"detector": white.meta.get("detector"), "time_scale": scale,
           "t0": p["t0"], "t0_note": "JD - 2400000.5", "epoch": p["epoch"], "period_days": p["period"],
           "duration_hours": p["duration"] * 24.0, "ingress_hours": p["ingress"] * 24.0,
           "baseline_order": p["baseline_order"], **fit,
           "depth_ppm": fit["depth"] * 1e6, "depth_err_ppm": fit["depth_err"] * 1e6}
    if spectroscopic is not None and spectroscopic.meta.get("bins"):
        rows = []
        for j, (a, b) in enumerate(spectroscopic.meta["bins"]):
            try:
                r = fit_transit(spectroscopic["time"], spectroscopic[f"flux_{j:03d}"],
                                spectroscopic[f"err_{j:03d}"], t0=p["t0"], duration=p["duration"],
                                ingress=p["ingress"], baseline_order=p["baseline_order"])
                rows.append({"x_start": int(a), "x_stop": int(b), "depth": r["depth"],
                             "depth_err": r["depth_err"], "reduced_chi2": r["reduced_chi2"]})
            except (LightCurveError, np.linalg.LinAlgError) as exc:
                log.warning("transit fit of bin %d (columns %d..%d) failed: %s", j, a, b - 1, exc)
                rows.append({"x_start": int(a), "x_stop": int(b), "depth": None, "depth_err": None,
                             "reduced_chi2": None})
        out["bins"] = rows
    return _jsonable(out)


# --------------------------------------------------------------------------- output

def read_table(path) -> Table:
    """Read a light-curve table written by :func:`write_lightcurves` (ECSV, or CSV)."""
    path = str(path)
    if path.endswith(".ecsv"):
        return Table.read(path, format="ascii.ecsv")
    return Table.read(path, format="ascii.csv")


def write_json(obj, path) -> Path:
    """Write a JSON-ready dict atomically (indent 2)."""
    with io.atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(_jsonable(obj), indent=2) + "\n")
    return Path(path)


def _write_table(table: Table, path, fmt: str) -> Path:
    with io.atomic_path(path) as tmp:
        if fmt == "ecsv":
            table.write(tmp, format="ascii.ecsv", overwrite=True)
        else:
            table.to_pandas().to_csv(tmp, index=False)
    return Path(path)


def bin_series(x, y, e, nbin: int):
    """Means of consecutive groups of ``nbin`` points: (x, y, error of the mean)."""
    x, y, e = (np.asarray(a, dtype=np.float64) for a in (x, y, e))
    n = x.size // nbin if nbin > 1 else x.size
    if nbin <= 1 or n < 1:
        return x, y, e
    sl = slice(0, n * nbin)
    xb = x[sl].reshape(n, nbin).mean(axis=1)
    with _quiet():
        yb = np.nanmean(y[sl].reshape(n, nbin), axis=1)
        cnt = np.sum(np.isfinite(y[sl].reshape(n, nbin)), axis=1)
        eb = np.sqrt(np.nansum(e[sl].reshape(n, nbin) ** 2, axis=1)) / np.maximum(cnt, 1)
    return xb, yb, eb


def _auto_bin(n: int, plot_bin) -> int:
    if plot_bin:
        return max(1, int(plot_bin))
    return max(1, int(round(n / 40.0)))


def _figure(w=8.0, h=4.5):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _save(fig, path) -> Path:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)


def plot_whitelight(white: Table, path, *, plot_bin=None, fit: dict | None = None) -> Path:
    """Normalised white-light flux against hours since the first mid-time (unbinned and binned)."""
    fig = _figure()
    ax = fig.add_subplot()
    x = np.asarray(white["time_hours"])
    y = np.asarray(white["flux"])
    e = np.asarray(white["flux_err"])
    ax.errorbar(x, y, yerr=e, fmt=".", ms=3, color="0.6", ecolor="0.85", lw=0.5, label="per integration")
    nb = _auto_bin(len(white), plot_bin)
    if nb > 1:
        xb, yb, eb = bin_series(x, y, e, nb)
        ax.errorbar(xb, yb, yerr=eb, fmt="o", ms=4, color="C0", label=f"binned x{nb}")
    if fit is not None:
        ax.plot(x, fit["model"], "-", color="C3", lw=1.2, label="trapezoid fit")
    scale = white.meta.get("time_scale", "BJD_TDB")
    t_first = white.meta.get("time_first")
    ax.set_xlabel(f"time since first integration [h] ({scale} {t_first:.5f})" if t_first else "time [h]")
    ax.set_ylabel("normalised flux (out-of-transit median = 1)")
    ax.set_title(f"{white.meta.get('detector', '')}: white light curve")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_spectroscopic(spec: Table, path, *, plot_bin=None, offset: float | None = None) -> Path:
    """Spectroscopic light curves, offset vertically per bin, against hours since the first mid-time."""
    bins = spec.meta.get("bins") or []
    fig = _figure(8.0, max(4.5, 0.35 * len(bins) + 2))
    ax = fig.add_subplot()
    x = np.asarray(spec["time_hours"])
    nb = _auto_bin(len(spec), plot_bin)
    if not bins:
        ax.text(0.5, 0.5, spec.meta.get("note") or "no spectroscopic bins", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return _save(fig, path)
    if offset is None:
        with _quiet():
            sc = [np.nanstd(np.asarray(spec[f"flux_{j:03d}"])) for j in range(len(bins))]
        offset = max(5 * float(np.nanmedian(sc)) if np.isfinite(np.nanmedian(sc)) else 0.01, 1e-4)
    for j, (a, b) in enumerate(bins):
        y = np.asarray(spec[f"flux_{j:03d}"]) - j * offset
        e = np.asarray(spec[f"err_{j:03d}"])
        ax.plot(x, y, ".", ms=2, color="0.7")
        xb, yb, _ = bin_series(x, y, e, nb)
        ax.plot(xb, yb, "-", lw=1, color=f"C{j % 10}")
        ax.text(x[-1], 1 - j * offset, f" {a}-{b - 1}", fontsize="x-small", va="center")
    ax.set_xlabel(f"time since first integration [h] ({spec.meta.get('time_scale', '')})")
    ax.set_ylabel(f"normalised flux, offset by {offset:.3g} per bin")
    ax.set_title(f"{spec.meta.get('detector', '')}: spectroscopic light curves (column bins)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_metrics(metrics: Table, path) -> Path:
    """Per-integration metrics (jumps, saturation, background, trace position/width) in panels."""
    x = np.asarray(metrics["time_hours"])
    if metrics.meta.get("mode") == "imaging":
        panels = [("jump_pixels", "jump pixels [count]"), ("saturated_frac", "saturated fraction"),
                  ("background", "background [DN/s/pixel]"), ("centroid_x", "centroid x [pixel]"),
                  ("centroid_y", "centroid y [pixel]"), ("width", "RMS radius [pixel]")]
    else:
        panels = [("jump_pixels", "jump pixels [count]"), ("saturated_frac", "saturated fraction"),
                  ("background", "background [DN/s/pixel]"), ("trace_center", "trace centre [row]"),
                  ("trace_width", "trace RMS width [pixel]")]
    fig = _figure(8.0, 1.6 * len(panels) + 1)
    axes = fig.subplots(len(panels), 1, sharex=True)
    for ax, (col, label) in zip(np.atleast_1d(axes), panels):
        y = np.asarray(metrics[col], dtype=float)
        if np.all(~np.isfinite(y)):
            ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes, fontsize="small")
        else:
            ax.plot(x, y, ".-", ms=3, lw=0.6)
        ax.set_ylabel(label, fontsize="small")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[-1].set_xlabel(f"time since first integration [h] ({metrics.meta.get('time_scale', '')})")
    fig.suptitle(f"{metrics.meta.get('detector', '')}: per-integration metrics")
    return _save(fig, path)


def plot_transit(white: Table, result: dict, path, *, plot_bin=None) -> Path:
    """White light curve with the fitted trapezoid model and the residuals."""
    t = np.asarray(white["time"], dtype=np.float64)
    s = trapezoid(t, result["t0"], result["duration_hours"] / 24.0, result["ingress_hours"] / 24.0)
    tt = (t - result["t0"]) / result["baseline_time_scale"]
    base = sum(c * tt ** k for k, c in enumerate(result["baseline"]))
    model = base - result["depth"] * result["baseline"][0] * s
    x = np.asarray(white["time_hours"])
    y = np.asarray(white["flux"])
    e = np.asarray(white["flux_err"])
    fig = _figure(8.0, 6.0)
    ax, axr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    nb = _auto_bin(len(white), plot_bin)
    ax.plot(x, y, ".", ms=3, color="0.6", label="per integration")
    if nb > 1:
        xb, yb, eb = bin_series(x, y, e, nb)
        ax.errorbar(xb, yb, yerr=eb, fmt="o", ms=4, color="C0", label=f"binned x{nb}")
    ax.plot(x, model, "-", color="C3",
            label=f"depth {result['depth_ppm']:.0f} ± {result['depth_err_ppm']:.0f} ppm")
    ax.set_ylabel("normalised flux")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(f"{result.get('detector', '')}: transit check (trapezoid, fixed shape)")
    axr.plot(x, (y - model) * 1e6, ".", ms=3, color="0.4")
    axr.axhline(0, color="C3", lw=0.8)
    axr.set_ylabel("residual [ppm]")
    axr.set_xlabel(f"time since first integration [h] ({white.meta.get('time_scale', '')})")
    axr.grid(alpha=0.3)
    return _save(fig, path)


def write_lightcurves(lc: LightCurves, *, white_ecsv, white_csv=None, white_png=None, spec_ecsv=None,
                      spec_png=None, metrics_csv=None, metrics_png=None, plot_bin=None) -> list[Path]:
    """Write the tables (ECSV / CSV) and plots (PNG) of ``lc``; every file atomically."""
    out = [_write_table(lc.white, white_ecsv, "ecsv")]
    if white_csv:
        out.append(_write_table(lc.white, white_csv, "csv"))
    if white_png:
        out.append(plot_whitelight(lc.white, white_png, plot_bin=plot_bin))
    if spec_ecsv:
        out.append(_write_table(lc.spectroscopic, spec_ecsv, "ecsv"))
    if spec_png:
        out.append(plot_spectroscopic(lc.spectroscopic, spec_png, plot_bin=plot_bin))
    if metrics_csv:
        out.append(_write_table(lc.metrics, metrics_csv, "csv"))
    if metrics_png:
        out.append(plot_metrics(lc.metrics, metrics_png))
    for p in out:
        log.info("wrote %s", p)
    return out
