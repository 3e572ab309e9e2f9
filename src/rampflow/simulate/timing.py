"""When every integration and group of a simulated exposure was read: UTC and BJD_TDB.

:func:`int_times` gives start/mid/end of every integration of the whole exposure (one reset
at the start and one between integrations); :func:`int_times_table` and :func:`group_table`
turn them into the INT_TIMES and GROUP tables of one segment's uncal file.
"""

from __future__ import annotations

import math

import erfa
import numpy as np
from astropy.time import Time

from ..io import simfiles
from .geometry import Geometry


def int_times(geom: Geometry, phys: dict, nints_total: int) -> dict:
    """MJD_UTC and BJD_TDB (as MJD) start/mid/end of every integration of the exposure.

    Keys ``start, mid, end`` (UTC) and ``start_bjd, mid_bjd, end_bjd``, each (nints_total,).
    """
    t0 = Time(str(phys["start_time"]), format="isot", scale="utc")
    period = (geom.nframes_total + 1) * geom.tframe        # one reset between integrations
    length = geom.nframes_total * geom.tframe
    i = np.arange(nints_total, dtype=np.float64)
    start = t0.mjd + (geom.tframe + i * period) / 86400.0   # NRSTSTRT = 1 reset at start
    end = start + length / 86400.0
    mid = 0.5 * (start + end)
    out = {"start": start, "mid": mid, "end": end}
    bjd = bjd_tdb(np.concatenate([start, mid, end]), phys).reshape(3, nints_total)
    out.update(start_bjd=bjd[0], mid_bjd=bjd[1], end_bjd=bjd[2])
    return out


def bjd_tdb(mjd_utc: np.ndarray, phys: dict) -> np.ndarray:
    """BJD_TDB (as MJD) of UTC times seen from the geocentre (JWST's ~5 s offset ignored).

    UTC -> TAI -> TT (leap seconds) -> TDB (erfa.dtdb at the geocentre), plus the Roemer
    delay n . r_earth / c with the Earth's barycentric position from erfa.epv00 (the same
    "builtin" ephemeris astropy uses), n the unit vector to (target_ra, target_dec).
    """
    mjd = np.atleast_1d(np.asarray(mjd_utc, dtype=np.float64))
    tai1, tai2 = erfa.utctai(2400000.5, mjd)
    tt1, tt2 = erfa.taitt(tai1, tai2)
    dtdb = erfa.dtdb(tt1, tt2, 0.0, 0.0, 0.0, 0.0)
    tdb2 = tt2 + dtdb / 86400.0
    _, pvb = erfa.epv00(tt1, tdb2)
    ra = math.radians(float(phys["target_ra"]))
    dec = math.radians(float(phys["target_dec"]))
    n = np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    au_s = 149597870700.0 / 299792458.0        # light time for 1 au [s]
    roemer = (pvb["p"] @ n) * au_s
    return (tt1 - 2400000.5) + tdb2 + roemer / 86400.0


def int_times_table(times: dict, intstart: int, intend: int) -> np.ndarray:
    """The INT_TIMES rows of integrations ``intstart..intend`` (1-based, inclusive)."""
    sl = slice(intstart - 1, intend)
    it = np.zeros(intend - intstart + 1, dtype=simfiles.int_times_dtype())
    it["integration_number"] = np.arange(intstart, intend + 1)
    for col, key in (("int_start_MJD_UTC", "start"), ("int_mid_MJD_UTC", "mid"), ("int_end_MJD_UTC", "end"),
                     ("int_start_BJD_TDB", "start_bjd"), ("int_mid_BJD_TDB", "mid_bjd"),
                     ("int_end_BJD_TDB", "end_bjd")):
        it[col] = times[key][sl]
    return it


def group_table(geom: Geometry, times: dict, intstart: int, intend: int) -> np.ndarray:
    """The GROUP table rows (one per integration and group) of integrations ``intstart..intend``."""
    n = (intend - intstart + 1) * geom.ngroups
    tab = np.zeros(n, dtype=simfiles.group_dtype())
    ints = np.repeat(np.arange(intstart, intend + 1), geom.ngroups)
    groups = np.tile(np.arange(1, geom.ngroups + 1), intend - intstart + 1)
    # end of group g: last frame of the group, read at (frame index + 1) * tframe after start
    last_frame = (groups - 1) * (geom.nframes + geom.groupgap) + geom.nframes
    start = times["start"][ints - 1]
    end_mjd = start + last_frame * geom.tframe / 86400.0
    tab["integration_number"] = ints
    tab["group_number"] = groups
    ms = end_mjd * 86400000.0
    tab["end_day"] = (np.floor(end_mjd) - 51544).astype(np.int16)          # days since 2000-01-01
    tab["end_milliseconds"] = np.floor(ms - np.floor(end_mjd) * 86400000.0).astype(np.int32)
    tab["end_submilliseconds"] = 0
    iso = Time(end_mjd, format="mjd", scale="utc").isot
    tab["group_end_time"] = np.array([s[:26] for s in np.atleast_1d(iso)], dtype="S26")
    tab["number_of_columns"] = geom.nx
    tab["number_of_rows"] = geom.ny
    tab["number_of_gaps"] = 0
    tab["completion_code_number"] = 0
    tab["completion_code_text"] = b"COMPLETE"
    tab["bary_end_time"] = end_mjd + (times["start_bjd"][ints - 1] - start)
    tab["helio_end_time"] = tab["bary_end_time"]
    return tab
