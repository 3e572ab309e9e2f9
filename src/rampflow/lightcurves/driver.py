"""The driver: one detector's rateints segments -> stitched white-light, spectroscopic and metrics tables.

Two passes over the segments (kept in memory while they fit in 512 MB): pass 1 makes the
median frame and the union of flagged pixels, pass 2 extracts every integration
(:class:`~rampflow.lightcurves.extraction.BoxExtraction` for spectroscopy,
:class:`~rampflow.lightcurves.imaging.ApertureExtraction` for imaging).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import dq as dqflags
from .. import modes
from .config import LightCurveError, check_config, dq_mask, is_imaging
from .extraction import BoxExtraction
from .imaging import ApertureExtraction
from .metrics import jump_columns, metrics_table
from .normalise import normalise, oot_mask
from .segments import Products, arrays, segment_info
from .stats import nanmedian, quiet
from .tables import jsonable
from .times import stitch_order, time_scale
from .trace import dispersion_axis

log = logging.getLogger(__name__)

__all__ = ["LightCurves", "extract_lightcurves", "median_frame"]


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
    median: np.ndarray | None = None      # the median frame measured on (dispersion along x)


def median_frame(products: Products, segs, transpose, mask_bits, max_mb):
    """Median frame (NaN where flagged) from frames spread over all segments, union bad mask,
    per-pixel good fraction and, per segment path, the saturated fraction (``sat``) and
    JUMP_DET pixel count (``jump_dq``) of each integration."""
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
        sci, err, dq = arrays(products.get(seg.path), transpose)
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
    with quiet():
        med = nanmedian(np.concatenate(samples, axis=0), axis=0)
    return med, bad, ngood / max(nall, 1), sat


def _load_segments(paths):
    """Read the segments of one detector and put them in time order.

    Returns ``(store, segs, seg_times, detector, scale)``."""
    if not paths:
        raise LightCurveError("no rateints products given")
    store = Products(paths)
    segs = [segment_info(p, store.get(p)) for p in paths]
    dets = sorted({s.detector for s in segs})
    if len(dets) > 1:
        raise LightCurveError(f"products of several detectors given ({dets}); light curves are per detector")
    det = dets[0]
    scale, seg_times = time_scale(segs)
    order = sorted(range(len(segs)), key=lambda i: (float(np.min(seg_times[i])), segs[i].segment))
    if [segs[i].segment for i in order] != sorted(s.segment for s in segs):
        log.warning("segment numbers are not in time order: %s", [segs[i].segment for i in order])
    segs, seg_times = [segs[i] for i in order], [seg_times[i] for i in order]
    log.info("%s: %d segments (%s), %d integrations, times %s", det, len(segs),
             ", ".join(str(s.segment) for s in segs), sum(s.nints for s in segs), scale)
    return store, segs, seg_times, det, scale


def _measure_segments(store, segs, seg_times, transpose, sat, ext) -> dict:
    """Pass 2: measure every segment with ``ext``; the per-integration columns of the stitched
    series, in time order."""
    rec = defaultdict(list)
    for k, (seg, times) in enumerate(zip(segs, seg_times)):
        sci, err, dq = arrays(store.get(seg.path), transpose)
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
    return {k: v[perm] for k, v in cat.items()}


def _time_columns(t: Table, cat, hours, scale):
    t["integration"] = np.arange(len(hours))
    t["time"] = cat["time"]
    t["time"].unit = "d"
    t["time"].description = f"integration mid-time, {scale} (JD - 2400000.5)"
    t["time_hours"] = hours
    t["time_hours"].unit = "h"
    t["time_hours"].description = "hours since the first integration's mid-time"


def _white_table(cat, hours, scale, meta, nflux, nerr, err_raw) -> Table:
    white = Table(meta=jsonable(meta))
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
    return white


def _spectroscopic_table(cat, hours, scale, det, mode, bins, oot, axis="x", bin_orders=None) -> Table:
    """Per-bin light curves; ``axis`` the dispersion axis of the detector frame: bins (and
    ``columns``) are detector columns for x, detector rows for y (MIRI LRS); ``bin_orders`` the
    spectral order of each bin (SOSS)."""
    bin_orders = list(bin_orders or [1] * len(bins))
    spec = Table(meta={"detector": det, "time_scale": scale, "time_format": "mjd", "mode": mode,
                       "bins": [list(b) for b in bins], "bin_axis": axis, "bin_orders": [int(o) for o in bin_orders],
                       "note": "" if bins else "imaging: no spectroscopic light curves"})
    unit = "detector rows" if axis == "y" else "columns"
    multi = len(set(bin_orders)) > 1  # name the order only where bins come from several (SOSS)
    _time_columns(spec, cat, hours, scale)
    if bins:
        fnorm, enorm, bnorm = normalise(cat["spec_flux"], np.sqrt(cat["spec_var"]), oot)
        spec.meta["normalisation"] = [float(v) for v in np.atleast_1d(bnorm)]
        for j, (a, b) in enumerate(bins):
            spec[f"flux_{j:03d}"] = fnorm[:, j]
            where = f"{unit} {a}..{b - 1}"
            spec[f"flux_{j:03d}"].description = f"order {bin_orders[j]}, {where}" if multi else where
            spec[f"err_{j:03d}"] = enorm[:, j]
    return spec


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
    [DN/s/pixel], and trace_center, trace_offset, trace_width, trace_xshift [pixels]
    (spectroscopy: mean trace row, flux-weighted offset from the fitted trace, RMS spatial
    width, shift of order 1's spectrum along the dispersion against the median frame's) or centroid_x,
    centroid_y, width [pixels] (imaging).
    """
    cfg = check_config(config)
    store, segs, seg_times, det, scale = _load_segments([str(p) for p in products])
    exp_type = segs[0].exp_type
    mode = cfg["mode"] if cfg["mode"] != "auto" else ("imaging" if is_imaging(exp_type) else "spectroscopy")
    axis = dispersion_axis(cfg["dispersion_axis"], exp_type)
    transpose = mode == "spectroscopy" and axis == "y"
    mask_bits = dq_mask(cfg["dq_flags"])

    med, bad, good_frac, sat = median_frame(store, segs, transpose, mask_bits, float(cfg["median_max_mb"]))
    info = {"detector": det, "mode": mode, "exp_type": exp_type, "time_scale": scale,
            "dispersion_axis": axis if mode == "spectroscopy" else None,
            "products": [Path(s.path).name for s in segs], "segments": [int(s.segment) for s in segs],
            "dq_flags": int(mask_bits), "n_flagged_pixels": int(bad.sum())}
    geom = modes.from_header(segs[0].primary, (med.shape[1], med.shape[0]) if transpose else med.shape,
                             imaging=mode == "imaging", dispersion=cfg["dispersion_axis"])
    info.update(fast_axis=geom.fast_axis, stripes=geom.stripes, noutputs=geom.noutputs)
    if mode == "spectroscopy":
        ext = BoxExtraction(cfg, med, bad, good_frac, info, geom=geom)
    else:
        ext = ApertureExtraction(cfg, med, bad, good_frac, info)
    cat = _measure_segments(store, segs, seg_times, transpose, sat, ext)

    oot = oot_mask(cat["time"].size, oot=cfg["oot"], oot_first=cfg["oot_first"], times=cat["time"],
                   transit=cfg["transit"])
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

    white = _white_table(cat, hours, scale, meta, nflux, nerr, err_raw)
    spec = _spectroscopic_table(cat, hours, scale, det, mode, ext.bins, oot, axis, getattr(ext, "bin_orders", None))
    metrics = Table(meta={"detector": det, "time_scale": scale, "mode": mode,
                          "dispersion_axis": axis if mode == "spectroscopy" else None})
    _time_columns(metrics, cat, hours, scale)
    metrics.add_column(white["segment"], name="segment", index=1)
    metrics.add_column(white["int_number"], name="int_number", index=2)
    jumps = jump_columns(jump_files, segs, cat["segment"], cat["int_number"], chunk_mb, det, cat["jump_dq"])
    metrics_table(metrics, cat, mode, jumps)
    return LightCurves(detector=det, mode=mode, white=white, spectroscopic=spec, metrics=metrics,
                       info=jsonable(meta), median=med)
