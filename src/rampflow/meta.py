"""Exposure metadata read from JWST headers (no FITS I/O here; see rampflow.io)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _get(header, key, default=None, required=False, where="header"):
    if key in header and header[key] is not None:
        return header[key]
    if required:
        raise KeyError(f"{where}: required keyword {key!r} is missing")
    return default


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
        }

    @classmethod
    def from_headers(cls, primary, sci=None, filename: str = "<memory>", shape=None) -> ExposureMeta:
        """Build from the primary header (and SCI header); ``shape`` (4-D) fills gaps.

        Raises KeyError naming the file and keyword when a required keyword is missing.
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
        ngroups = g("NGROUPS", shape[1] if shape else None, required=shape is None)
        subsize1 = g("SUBSIZE1", shape[3] if shape else 2048)
        subsize2 = g("SUBSIZE2", shape[2] if shape else 2048)
        extra = {k: primary[k] for k in ("FILTER", "GRATING", "PUPIL", "CHANNEL", "TARGNAME",
                                         "PROGRAM", "OBS_ID", "EXPSTART", "EXPMID", "EXPEND", "EFFINTTM",
                                         "TSOVISIT", "INTSTART", "INTEND", "EXSEGNUM", "EXSEGTOT")
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
            ngroups=int(ngroups),
            nframes=int(g("NFRAMES", 1)),
            groupgap=int(g("GROUPGAP", 0)),
            frmdivsr=int(g("FRMDIVSR", g("NFRAMES", 1))),
            tframe=float(g("TFRAME", 10.73677)),
            tgroup=float(g("TGROUP", 10.73677)),
            readpatt=str(g("READPATT", "NISRAPID")).upper(),
            fastaxis=int(g("FASTAXIS", 1)),
            slowaxis=int(g("SLOWAXIS", 2)),
            noutputs=int(g("NOUTPUTS", 4 if int(subsize1) == 2048 and int(subsize2) == 2048 else 1)),
            date_obs=str(g("DATE-OBS", "2022-07-01")),
            time_obs=str(g("TIME-OBS", "00:00:00")),
            zeroframe=bool(g("ZEROFRAM", False)),
            extra=extra,
        )
