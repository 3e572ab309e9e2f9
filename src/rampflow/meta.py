"""Exposure metadata read from JWST headers (no FITS I/O here; see rampflow.io)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def _get(header, key, default=None, required=False, where="header"):
    if key in header and header[key] is not None:
        return header[key]
    if required:
        raise KeyError(f"{where}: required keyword {key!r} is missing")
    return default


class HeaderError(KeyError):
    """A required keyword is missing or has an impossible value; the message names the file
    and the keyword (a KeyError, as a missing keyword always was)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


#: the readout timing keywords every ramp must carry: keyword -> (type, smallest allowed value)
TIMING_KEYWORDS = {"NGROUPS": (int, 1), "NFRAMES": (int, 1), "GROUPGAP": (int, 0),
                   "TFRAME": (float, None), "TGROUP": (float, None)}


def _timing_keywords(get, where: str) -> dict:
    """NGROUPS, NFRAMES, TFRAME, TGROUP (required, > 0) and GROUPGAP (0 if absent, >= 0) from
    ``get(key)``; HeaderError naming ``where`` and the keyword otherwise. jwst reads these
    from the header and never guesses them: a frame time is what turns DN into DN/s."""
    out = {}
    for key, (kind, least) in TIMING_KEYWORDS.items():
        value = get(key, 0 if key == "GROUPGAP" else None)
        if value is None:
            raise HeaderError(f"{where}: required timing keyword {key} is missing from the header")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise HeaderError(f"{where}: timing keyword {key} = {value!r} is not a number") from None
        if not math.isfinite(number) or (kind is int and number != int(number)):
            what = "an integer" if kind is int else "a finite number"
            raise HeaderError(f"{where}: timing keyword {key} = {value!r} is not {what}")
        if (not number > 0) if least is None else (not number >= least):
            need = "> 0" if least is None else f">= {least}"
            raise HeaderError(f"{where}: timing keyword {key} = {value!r} is invalid; it must be {need}")
        out[key] = kind(number)
    return out


def _flag(value) -> bool:
    """A FITS logical (True / False, or 'T' / 'F' text) as a bool."""
    if isinstance(value, str):
        return value.strip().upper() in ("T", "TRUE", "1")
    return bool(value)


@dataclass(frozen=True)
class ExposureMeta:
    """What steps need to know about an exposure, from its primary and SCI headers.

    Subarray corners are 1-based as in the headers (SUBSTRT1 = first column,
    SUBSTRT2 = first row, in DMS/science orientation).
    """

    filename: str
    instrument: str
    detector: str
    exp_type: str
    subarray: str
    substrt1: int
    substrt2: int
    subsize1: int
    subsize2: int
    nints: int
    ngroups: int
    nframes: int
    groupgap: int
    frmdivsr: int
    tframe: float
    tgroup: float
    readpatt: str
    fastaxis: int
    slowaxis: int
    noutputs: int
    date_obs: str
    time_obs: str
    zeroframe: bool = False
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.nints, self.ngroups, self.subsize2, self.subsize1)

    @property
    def crds_parameters(self) -> dict:
        """Header parameters CRDS matches on (dotted datamodel names, as crds expects)."""
        return {
            "META.INSTRUMENT.NAME": self.instrument,
            "META.INSTRUMENT.DETECTOR": self.detector,
            "META.EXPOSURE.TYPE": self.exp_type,
            "META.EXPOSURE.READPATT": self.readpatt,
            "META.SUBARRAY.NAME": self.subarray,
            "META.OBSERVATION.DATE": self.date_obs,
            "META.OBSERVATION.TIME": self.time_obs,
            "META.INSTRUMENT.FILTER": self.extra.get("FILTER", "N/A"),
            "META.INSTRUMENT.GRATING": self.extra.get("GRATING", "N/A"),
            "META.INSTRUMENT.PUPIL": self.extra.get("PUPIL", "N/A"),
            "META.INSTRUMENT.CHANNEL": self.extra.get("CHANNEL", "N/A"),
            "META.SUBARRAY.XSTART": self.substrt1,
            "META.SUBARRAY.YSTART": self.substrt2,
            "META.SUBARRAY.XSIZE": self.subsize1,
            "META.SUBARRAY.YSIZE": self.subsize2,
            "META.EXPOSURE.NGROUPS": self.ngroups,
            "META.EXPOSURE.NINTS": self.nints,
            "META.EXPOSURE.NFRAMES": self.nframes,
            "META.EXPOSURE.GROUPGAP": self.groupgap,
            "META.VISIT.TSOVISIT": _flag(self.extra.get("TSOVISIT", False)),
        }

    @classmethod
    def from_headers(cls, primary, sci=None, filename: str = "<memory>", shape=None) -> ExposureMeta:
        """Build from the primary header (and SCI header); ``shape`` (4-D) fills gaps.

        Raises KeyError naming the file and keyword when a required keyword is missing, and
        :class:`HeaderError` (a KeyError) naming the file and keyword when a timing keyword
        (NGROUPS, NFRAMES, TFRAME, TGROUP) is missing or not positive, or GROUPGAP is negative.
        """
        sci = sci if sci is not None else {}
        w = filename

        def g(key, default=None, required=False):
            if key in primary and primary[key] is not None:
                return primary[key]
            if key in sci and sci[key] is not None:
                return sci[key]
            if required:
                raise KeyError(f"{w}: required keyword {key!r} is missing")
            return default

        nints = g("NINTS", shape[0] if shape else None, required=shape is None)
        timing = _timing_keywords(g, w)
        subsize1 = g("SUBSIZE1", shape[3] if shape else 2048)
        subsize2 = g("SUBSIZE2", shape[2] if shape else 2048)
        extra = {k: primary[k] for k in ("FILTER", "GRATING", "PUPIL", "CHANNEL", "TARGNAME",
                                         "PROGRAM", "OBS_ID", "EXPSTART", "EXPMID", "EXPEND", "EFFINTTM",
                                         "TSOVISIT", "INTSTART", "INTEND", "EXSEGNUM", "EXSEGTOT",
                                         "NSAMPLES", "PWCPOS")
                 if k in primary}
        return cls(
            filename=str(filename),
            instrument=str(g("INSTRUME", required=True)).upper(),
            detector=str(g("DETECTOR", required=True)).upper(),
            exp_type=str(g("EXP_TYPE", "UNKNOWN")).upper(),
            subarray=str(g("SUBARRAY", "FULL")).upper(),
            substrt1=int(g("SUBSTRT1", 1)),
            substrt2=int(g("SUBSTRT2", 1)),
            subsize1=int(subsize1),
            subsize2=int(subsize2),
            nints=int(nints),
            ngroups=timing["NGROUPS"],
            nframes=timing["NFRAMES"],
            groupgap=timing["GROUPGAP"],
            frmdivsr=int(g("FRMDIVSR", timing["NFRAMES"])),
            tframe=timing["TFRAME"],
            tgroup=timing["TGROUP"],
            readpatt=str(g("READPATT", "NISRAPID")).upper(),
            fastaxis=int(g("FASTAXIS", 1)),
            slowaxis=int(g("SLOWAXIS", 2)),
            noutputs=int(g("NOUTPUTS", 4 if int(subsize1) == 2048 and int(subsize2) == 2048 else 1)),
            date_obs=str(g("DATE-OBS", "2022-07-01")),
            time_obs=str(g("TIME-OBS", "00:00:00")),
            zeroframe=bool(g("ZEROFRAM", False)),
            extra=extra,
        )
