"""One simulated exposure segment: its uncal file, its truth file and (optionally) its references.

:func:`simulate_exposure` ties the pieces together: the kind's geometry and scene, the
detector model, the transit, the per-integration ramps, the uncal keywords and tables. The
same (seed, detector) always gives the same detector and reference files, and the noise of an
integration depends only on (seed, detector, integration number), so science arrays are
byte-identical for a seed whatever the segmentation.

Truth files (``{stem}_truth.fits``, read with :func:`read_truth`):

* primary header: KIND, DETECTOR, SEED, EXSEGNUM, INTSTART, INTEND and the transit parameters
  TDEPTH (fractional), TT0 (BJD_TDB as MJD), TDUR (days), TINGRESS (fraction of TDUR), plus
  every physics parameter as ``SIM <NAME>`` (HIERARCH) cards;
* images: RATE (ny, nx) source + background rate out of transit [DN/s], SOURCE (source only),
  DARKRATE [DN/s], RATEINTS (nints, ny, nx) per-integration source + background rate,
  SPECLC (nints, nx) relative flux of each column;
* tables: LIGHTCURVE (integration_number, int_mid_MJD_UTC, int_mid_BJD_TDB, white_flux
  relative to out-of-transit, source_rate [DN/s summed over the subarray]); JUMPS
  (integration 0-based in the file, int_number 1-based in the exposure, group 0-based first
  affected group, frame, y, x 0-based subarray pixel, amplitude linear DN); EVENTS (the
  snowballs and showers of :mod:`.large_events`: integration, int_number, kind, group, frame,
  centre y, x (0-based, fractional), core_radius, radius [pixels], amplitude [linear DN]);
  DEAD (y, x); HOT (y, x, dark_rate).
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.time import Time

from ..io import simfiles
from ..meta import ExposureMeta
from . import kinds, large_events
from .detector import STREAM_INTEGRATION, DetectorModel, make_detector, rng, simulate_integration, subarray_props
from .geometry import Geometry, cut, geometry
from .references import write_references
from .scene import scene, transit_shape
from .timing import group_table, int_times, int_times_table

log = logging.getLogger(__name__)

_JUMP_DTYPE = [("integration", "i4"), ("int_number", "i4"), ("group", "i4"), ("frame", "i4"),
               ("y", "i4"), ("x", "i4"), ("amplitude", "f8")]


@dataclass
class SimulatedExposure:
    """What :func:`simulate_exposure` wrote."""

    uncal: Path
    refs: dict
    truth: Path
    meta: ExposureMeta


@dataclass
class _Transit:
    """The transit of one exposure: mid-time and duration (BJD_TDB as MJD, days), ingress
    fraction, and the relative flux of every column in every integration of the segment."""

    t0: float
    duration: float
    ingress: float
    speclc: np.ndarray           # (nseg_ints, nx)


def segment_bounds(nints: int, segment: int, nsegments: int, ints_per_segment: int | None):
    """(INTSTART, INTEND), 1-based inclusive, of one segment of an ``nints`` exposure."""
    if nsegments < 1 or not 1 <= segment <= nsegments:
        raise ValueError(f"segment {segment} is not within 1..{nsegments}")
    ips = int(ints_per_segment) if ints_per_segment else -(-int(nints) // int(nsegments))
    start = (segment - 1) * ips + 1
    end = min(segment * ips, int(nints))
    if start > end:
        raise ValueError(f"segment {segment} of {nsegments} has no integrations "
                         f"(nints={nints}, ints_per_segment={ips})")
    return start, end


def _transit(geom: Geometry, phys: dict, times: dict, depth: np.ndarray, sl: slice) -> _Transit:
    bjd_mid_all = times["mid_bjd"]
    span = bjd_mid_all[-1] - bjd_mid_all[0] + geom.nframes_total * geom.tframe / 86400.0
    t0 = float(phys["transit_t0"]) if phys["transit_t0"] is not None else 0.5 * (bjd_mid_all[0] + bjd_mid_all[-1])
    tdur = (float(phys["transit_duration"]) / 24.0 if phys["transit_duration"] is not None
            else 0.4 * span)
    ingress = float(phys["transit_ingress"])
    shape_t = transit_shape(bjd_mid_all[sl], t0, tdur, ingress)       # (nseg_ints,)
    speclc = 1.0 - shape_t[:, None] * depth[None, :]                  # (nseg_ints, nx)
    return _Transit(t0, tdur, ingress, speclc)


def simulate_exposure(outdir, *, kind: str = "nirspec_tso", detector: str = "NRS1", segment: int = 1,
                      nsegments: int = 1, nints: int = 8, ngroups: int = 10, size=None, seed: int = 0,
                      program: str = "demo-tso", ints_per_segment: int | None = None,
                      refdir=None, write_refs: bool = True, refs: dict | None = None,
                      _detector_model: DetectorModel | None = None, **physics_overrides) -> SimulatedExposure:
    """Simulate one exposure segment: ``{stem}_uncal.fits``, ``{stem}_truth.fits`` and references.

    kind       : a registered kind (:func:`rampflow.simulate.kinds.names`)
    nints      : integrations of the whole exposure (NINTS); this segment holds integrations
                 INTSTART..INTEND, ``ints_per_segment`` each (default ceil(nints / nsegments))
    size       : [ny, nx] in DMS orientation, or None for the kind's default
    refdir     : where reference files go (default ``outdir/references``); with
                 ``write_refs=False`` the paths in ``refs`` are returned instead
    physics_overrides : physics parameters (:data:`rampflow.simulate.PHYSICS_DEFAULTS`)
    """
    spec = kinds.get(kind)
    detector = kinds.check_detector(kind, detector)
    phys = kinds.resolve_physics(kind, physics_overrides)
    geom = geometry(kind, detector, size, ngroups, phys["readpatt"], phys)
    intstart, intend = segment_bounds(nints, segment, nsegments, ints_per_segment)
    nseg_ints = intend - intstart + 1
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = spec.stem(detector, segment, nsegments)

    det = _detector_model if _detector_model is not None else make_detector(kind, detector, phys, seed)
    if write_refs:
        refs = write_references(det, geom, phys, Path(refdir) if refdir else outdir / "references")
    elif refs is None:
        raise ValueError("write_refs=False needs the existing reference paths in refs=")
    refs = {k: Path(v) for k, v in refs.items()}

    sub = subarray_props(det, geom)
    src, depth = scene(kind, det, geom, phys, seed)
    background = spec.background_rate(geom, phys) * ~sub.insensitive
    times = int_times(geom, phys, int(nints))
    sl = slice(intstart - 1, intend)
    transit = _transit(geom, phys, times, depth, sl)

    # big-endian, as FITS stores it: writing then needs one copy (BZERO) instead of two
    data = np.empty((nseg_ints, geom.ngroups, geom.ny, geom.nx), dtype=">u2")
    jumps_rows = []
    events_rows = []
    full_well_dn = float(np.nanmax(sub.lfw))
    rateints = np.empty((nseg_ints, geom.ny, geom.nx), dtype=np.float32)
    zeroframe = np.empty((nseg_ints, geom.ny, geom.nx), dtype=np.uint16) if phys["zeroframe"] else None
    log.info("simulating %s: %d integrations x %d groups x %d x %d", stem, nseg_ints, geom.ngroups,
             geom.ny, geom.nx)
    code = spec.instrument.detectors[detector].code
    for j in range(nseg_ints):
        intnum = intstart + j
        photo = src * transit.speclc[j][None, :] + background
        rateints[j] = photo
        rate = photo + sub.dark
        extra = spec.extra_rate(det, geom, sub, phys, intnum)
        if extra is not None:
            rate = rate + extra
        effects = spec.integration_effects(det, geom, sub, phys, seed, rate, intnum)
        events = large_events.draw_events(rng(seed, code, large_events.STREAM_EVENTS, intnum), geom, phys)
        deposits = [d for d in large_events.deposits(events, geom, full_well_dn) if not sub.insensitive[d[2], d[3]]]
        jumps = simulate_integration(rng(seed, code, STREAM_INTEGRATION, intnum), geom, sub,
                                     rate, phys, data[j],
                                     None if zeroframe is None else zeroframe[j], effects=effects,
                                     extra_jumps=deposits)
        jumps_rows.extend((j, intnum, g, k, y, x, a) for g, k, y, x, a in jumps)
        events_rows.extend((j, intnum) + tuple(e) for e in events)
        if nseg_ints >= 20 and (j + 1) % max(1, nseg_ints // 10) == 0:
            log.info("  %s: %d/%d integrations", stem, j + 1, nseg_ints)

    keywords = uncal_keywords(spec, geom, phys, program, int(nints), intstart, intend, segment,
                              nsegments, times)
    keywords["ZEROFRAM"] = zeroframe is not None
    extensions = spec.extra_extensions(det, geom, phys, seed, nseg_ints, intstart)
    uncal = simfiles.write_uncal(outdir / f"{stem}_uncal.fits", data, keywords,
                                 int_times_table(times, intstart, intend),
                                 group_table(geom, times, intstart, intend), zeroframe=zeroframe,
                                 **extensions)
    truth_path = write_truth(outdir / f"{stem}_truth.fits", kind, seed, phys, geom, det, sub, src,
                             background, rateints, transit, times, intstart, intend, segment, jumps_rows,
                             events_rows)
    meta = ExposureMeta.from_headers(dict(keywords), {}, filename=str(uncal), shape=data.shape)
    return SimulatedExposure(uncal=uncal, refs=refs, truth=truth_path, meta=meta)


def uncal_keywords(spec: kinds.Kind, geom: Geometry, phys, program, nints, intstart, intend, segment,
                   nsegments, times) -> dict:
    """Primary-header keywords of one segment's uncal file (the kind adds its instrument's)."""
    start = Time(times["start"][0], format="mjd", scale="utc")
    end_mjd = times["end"][-1]
    date_obs, time_obs = start.isot.split("T")
    obs = f"{spec.observation:03d}"
    kw = {
        "TELESCOP": "JWST", "ORIGIN": "rampflow",
        "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "TIMESYS": "UTC",
        "TITLE": str(program), "PI_NAME": "Simulated", "CATEGORY": "GO",
        "PROGRAM": f"{kinds.PROGRAM:05d}", "OBSERVTN": obs, "VISIT": "001",
        "VISITGRP": f"{spec.visit_group:02d}",
        "SEQ_ID": "1", "ACT_ID": "01", "EXPOSURE": "00001",
        "OBS_ID": f"V{kinds.PROGRAM:05d}{obs}001P0000000{spec.visit_group:02d}101",
        "VISIT_ID": f"{kinds.PROGRAM:05d}{obs}001",
        "DATE-OBS": date_obs, "TIME-OBS": time_obs[:12],
        "DATE-BEG": start.isot,
        "DATE-END": Time(end_mjd, format="mjd", scale="utc").isot,
        "TSOVISIT": bool(spec.tso),
        "TARGNAME": spec.target, "TARGPROP": spec.target,
        "TARG_RA": float(phys["target_ra"]), "TARG_DEC": float(phys["target_dec"]),
        "SRCTYPE": "POINT",
        "INSTRUME": geom.instrument, "DETECTOR": geom.detector,
        "EXP_TYPE": spec.exp_type, "READPATT": geom.readpatt, "NOUTPUTS": geom.noutputs,
        "NINTS": int(nints), "NGROUPS": geom.ngroups, "NFRAMES": geom.nframes,
        "GROUPGAP": geom.groupgap, "FRMDIVSR": geom.nframes, "NRSTSTRT": 1, "NRESETS": 1,
        "TSAMPLE": 10.0, "TFRAME": geom.tframe, "TGROUP": round(geom.tgroup, 5),
        "EFFINTTM": round(geom.tgroup * (geom.ngroups - 1) if geom.ngroups > 1 else geom.tgroup, 5),
        "EXPSTART": float(times["start"][0]), "EXPMID": float(0.5 * (times["start"][0] + end_mjd)),
        "EXPEND": float(end_mjd),
        "MJD-BEG": float(times["start"][0]), "MJD-AVG": float(0.5 * (times["start"][0] + end_mjd)),
        "MJD-END": float(end_mjd),
        "BSTRTIME": float(times["start_bjd"][0]), "BENDTIME": float(times["end_bjd"][-1]),
        "BMIDTIME": float(0.5 * (times["start_bjd"][0] + times["end_bjd"][-1])),
        "INTSTART": int(intstart), "INTEND": int(intend),
        "ZEROFRAM": False,
        "SUBARRAY": geom.subarray, "SUBSTRT1": geom.xstart, "SUBSTRT2": geom.ystart,
        "SUBSIZE1": geom.nx, "SUBSIZE2": geom.ny, "FASTAXIS": geom.fastaxis, "SLOWAXIS": geom.slowaxis,
    }
    kw["EFFEXPTM"] = round(kw["EFFINTTM"] * nints, 5)
    kw["DURATION"] = round((end_mjd - times["start"][0]) * 86400.0, 3)
    if spec.tso or nsegments > 1:
        kw["EXSEGNUM"] = int(segment)
        kw["EXSEGTOT"] = int(nsegments)
    kw.update(spec.keywords(geom))
    kw.update(spec.physics_keywords(phys))
    return kw


def write_truth(path, kind, seed, phys, geom: Geometry, det: DetectorModel, sub, src, background,
                rateints, transit: _Transit, times, intstart, intend, segment, jumps_rows,
                events_rows=()) -> Path:
    """Write ``{stem}_truth.fits`` (see the module docstring for its content)."""
    sl = slice(intstart - 1, intend)
    speclc = transit.speclc
    y_dead, x_dead = np.nonzero(cut(geom, det.dead))
    hot = cut(geom, det.hot)
    y_hot, x_hot = np.nonzero(hot)
    colsum = src.sum(axis=0)
    white_src = colsum.sum()
    source_rate = (colsum[None, :] * speclc).sum(axis=1)
    # 1 - flux-weighted depth: exactly 1 out of transit
    white = (1.0 - (colsum[None, :] * (1.0 - speclc)).sum(axis=1) / white_src if white_src > 0
             else np.ones(len(speclc)))
    lc = Table({
        "integration_number": np.arange(intstart, intend + 1, dtype=np.int32),
        "int_mid_MJD_UTC": times["mid"][sl], "int_mid_BJD_TDB": times["mid_bjd"][sl],
        "white_flux": white, "source_rate": source_rate,
    })
    jr = np.array(jumps_rows, dtype=_JUMP_DTYPE) if jumps_rows else np.zeros(0, dtype=_JUMP_DTYPE)
    ev_dtype = large_events.EVENT_DTYPE
    ev = np.array(list(events_rows), dtype=ev_dtype) if len(events_rows) else np.zeros(0, dtype=ev_dtype)
    header = {
        "KIND": kind, "DETECTOR": geom.detector, "SEED": int(seed), "EXSEGNUM": int(segment),
        "INTSTART": int(intstart), "INTEND": int(intend),
        "NGROUPS": geom.ngroups, "NFRAMES": geom.nframes, "GROUPGAP": geom.groupgap,
        "TFRAME": geom.tframe, "SUBARRAY": geom.subarray,
        "TDEPTH": (float(phys["transit_depth"]), "transit depth (fractional)"),
        "TT0": (float(transit.t0), "transit mid-time, BJD_TDB - 2400000.5"),
        "TDUR": (float(transit.duration), "transit duration T14 [days]"),
        "TINGRESS": (float(transit.ingress), "ingress duration / T14"),
        "DSLOPE": (float(phys["depth_slope"]), "depth(x)=TDEPTH*(1+DSLOPE*u)"),
        "BUNIT": "DN/s",
    }
    for k, v in sorted(phys.items()):
        header[f"SIM {k.upper()}"] = v if not isinstance(v, bool) else bool(v)
    images = {
        "RATE": (src + background).astype(np.float32),
        "SOURCE": src.astype(np.float32),
        "DARKRATE": sub.dark.astype(np.float32),
        "RATEINTS": rateints,
        "SPECLC": speclc.astype(np.float32),
    }
    tables = {
        "LIGHTCURVE": lc,
        "JUMPS": Table(jr),
        "EVENTS": Table(ev),
        "DEAD": Table({"y": y_dead.astype(np.int32), "x": x_dead.astype(np.int32)}),
        "HOT": Table({"y": y_hot.astype(np.int32), "x": x_hot.astype(np.int32),
                      "dark_rate": sub.dark[hot].astype(np.float64)}),
    }
    return simfiles.write_truth(path, header, images, tables)


def read_truth(path) -> dict:
    """Read a ``_truth.fits`` file: see the module docstring for its content.

    Adds ``"transit"``: depth, t0, duration, ingress and depth_slope from the header.
    """
    truth = simfiles.read_truth(path)
    h = truth["header"]
    truth["transit"] = {"depth": h.get("TDEPTH"), "t0": h.get("TT0"), "duration": h.get("TDUR"),
                        "ingress": h.get("TINGRESS"), "depth_slope": h.get("DSLOPE")}
    return truth
