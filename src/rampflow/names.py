"""JWST exposure names: the one place that turns names into parts and parts into paths.

A JWST exposure file name is::

    jw<program 5><observation 3><visit 3>_<visit group 2><parallel 1><activity 2>_<exposure 5>
      [-seg<segment 3>]_<detector>[_<suffix>].fits

e.g. ``jw01366003001_04101_00001-seg001_nrs1_rateints.fits``. rampflow calls the name without
``_<suffix>.fits`` the exposure's *stem* (``jw01366003001_04101_00001-seg001_nrs1``); every
product of an exposure is ``<stem>_<suffix>.fits``.

Names that do not follow JWST's pattern (a user's own files) still work where only the stem,
detector and suffix are needed: :func:`product_stem` strips a known suffix, and the detector is
the stem's last ``_`` token.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

#: the JWST exposure file-name pattern (case-insensitive)
_FILENAME = re.compile(
    r"^(?P<visit>jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit_number>\d{3}))"
    r"_(?P<visit_group>\d{2})(?P<parallel>\d)(?P<activity>\d{2})"
    r"_(?P<exposure>\d{5})(?:-seg(?P<segment>\d{3}))?"
    r"_(?P<detector>[a-z0-9]+?)(?:_(?P<suffix>[a-z0-9_]+))?\.fits$",
    re.IGNORECASE,
)
_SEGMENT = re.compile(r"-seg(\d+)")

#: product suffixes rampflow writes or reads (the jwst pipeline's in-pipeline suffixes plus
#: rampflow's own); :func:`product_stem` strips the longest one that matches
SUFFIXES = (
    "uncal", "group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity",
    "dark_current", "destripe", "destripe_mask", "jump", "ramp", "rate", "rateints", "fitopt", "likely_chisq",
    "gain_scale", "gain_scaleints", "calints", "truth", "persistence", "persistence_array",
)
#: products that are not FITS files: suffix -> file extension (persistence's array is jwst's ASDF)
EXTENSIONS = {"persistence_array": ".asdf"}


@dataclass(frozen=True)
class ExposureName:
    """The parts of a JWST exposure file name (integers as in the name; ``segment`` 0 when
    the exposure is not segmented; ``detector`` and ``suffix`` lower case)."""

    program: int
    observation: int
    visit_number: int
    visit_group: int
    parallel: int
    activity: int
    exposure: int
    segment: int
    detector: str
    suffix: str = ""

    @property
    def visit(self) -> str:
        """``jw<program><observation><visit>``, e.g. ``jw01366003001``."""
        return f"jw{self.program:05d}{self.observation:03d}{self.visit_number:03d}"

    @property
    def stem(self) -> str:
        """The exposure name without suffix, e.g. ``jw01366003001_04101_00001-seg001_nrs1``."""
        seg = f"-seg{self.segment:03d}" if self.segment else ""
        return (f"{self.visit}_{self.visit_group:02d}{self.parallel:01d}{self.activity:02d}"
                f"_{self.exposure:05d}{seg}_{self.detector}")

    @property
    def filename(self) -> str:
        """``<stem>_<suffix>.fits`` (``<stem>.fits`` without a suffix)."""
        return product_name(self.stem, self.suffix) if self.suffix else f"{self.stem}.fits"

    def as_dict(self) -> dict:
        """The parts plus ``visit`` and ``stem``, as plain values."""
        return {"visit": self.visit, "program": self.program, "observation": self.observation,
                "visit_number": self.visit_number, "visit_group": self.visit_group,
                "parallel": self.parallel, "activity": self.activity, "exposure": self.exposure,
                "segment": self.segment, "detector": self.detector, "suffix": self.suffix,
                "stem": self.stem}


def parse(filename) -> ExposureName | None:
    """The parts of a JWST exposure file name (a path's directory is ignored), or ``None``
    when the name does not follow JWST's pattern.

    >>> parse("jw01366003001_04101_00001-seg002_nrs1_uncal.fits").segment
    2
    """
    m = _FILENAME.match(os.path.basename(str(filename)))
    if not m:
        return None
    d = m.groupdict()
    return ExposureName(
        program=int(d["program"]), observation=int(d["observation"]),
        visit_number=int(d["visit_number"]), visit_group=int(d["visit_group"]),
        parallel=int(d["parallel"]), activity=int(d["activity"]), exposure=int(d["exposure"]),
        segment=int(d["segment"]) if d["segment"] else 0, detector=d["detector"].lower(),
        suffix=(d["suffix"] or "").lower(),
    )


def make_stem(*, program: int, observation: int, visit_number: int = 1, visit_group: int = 4,
              parallel: int = 1, activity: int = 1, exposure: int = 1, segment: int = 0,
              detector: str) -> str:
    """The stem of an exposure from its parts (``segment`` 0: not segmented)."""
    return ExposureName(program, observation, visit_number, visit_group, parallel, activity,
                        exposure, segment, str(detector).lower()).stem


def product_stem(path) -> str:
    """Exposure stem of a product file name (``..._nrs1_rateints.fits`` -> ``..._nrs1``).

    A JWST name is parsed; any other name loses its longest known suffix (else its last
    ``_`` token) and its ``.fits`` / ``.fits.gz`` extension.
    """
    name = Path(str(path)).name
    for ext in (".fits.gz", ".fits"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    for suf in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith("_" + suf):
            return name[: -len(suf) - 1]
    return name.rsplit("_", 1)[0] if "_" in name else name


def stem_detector(stem: str) -> str:
    """Detector (lower case) of a stem: its last ``_`` token (``..._nrs1`` -> ``nrs1``)."""
    return str(stem).rsplit("_", 1)[-1].lower()


def stem_segment(stem: str) -> int | None:
    """Segment number from ``-segNNN`` in a stem, or ``None`` when it is not segmented."""
    m = _SEGMENT.search(str(stem))
    return int(m.group(1)) if m else None


def product_name(stem: str, suffix: str) -> str:
    """``<stem>_<suffix>.fits`` (``.asdf`` etc. for the suffixes of :data:`EXTENSIONS`)."""
    return f"{stem}_{suffix}{EXTENSIONS.get(suffix, '.fits')}"


def product_path(folder, stem: str, suffix: str) -> str:
    """``<folder>/<stem>_<suffix>.fits`` (see :func:`product_name`) as a string (Snakemake
    patterns keep ``{stem}``)."""
    return f"{folder}/{product_name(stem, suffix)}"


def uncal_name(stem: str) -> str:
    """``<stem>_uncal.fits``."""
    return product_name(stem, "uncal")


def stem_of_uncal(filename) -> str | None:
    """The stem of an ``*_uncal.fits`` file name, or ``None`` for any other name."""
    name = Path(str(filename)).name
    return name[: -len("_uncal.fits")] if name.endswith("_uncal.fits") else None


def detectors_of(stems) -> list[str]:
    """Sorted detectors (lower case) of exposure stems."""
    return sorted({stem_detector(s) for s in stems})


def stems_of_detector(stems, detector: str) -> list[str]:
    """The stems of one detector (all its segments and exposures), in the given order."""
    return [s for s in stems if stem_detector(s) == str(detector).lower()]
