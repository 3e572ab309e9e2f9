"""The simulator's kinds of exposure and the registry that knows them.

A *kind* is one observing mode the simulator makes (``nirspec_tso``, ``nircam_image``): its
instrument and detectors, default subarray size and readout pattern, EXP_TYPE, how its
exposures are named, its physics defaults, and four hooks that place its subarray on the
detector, count its outputs, paint its scene and add its instrument's header keywords.

Each instrument module (:mod:`.nirspec`, :mod:`.nircam`) defines its :class:`Instrument` and
its :class:`Kind` subclasses and registers them with :func:`register`; the rest of the package
asks the registry (:func:`get`, :func:`names`, :func:`detectors`) and never names an
instrument. Adding an instrument or mode is one new module plus its import in the package's
``__init__``.

Physics parameters (``inputs.simulate.<key>``) are the shared ones in :data:`COMMON_PHYSICS`
plus every registered kind's :attr:`Kind.scene_physics`; :func:`resolve_physics` fills them in
for one kind and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..names import make_stem
from .large_events import PHYSICS as LARGE_EVENT_PHYSICS

#: the simulated exposures' JWST program number
PROGRAM = 9999


@dataclass(frozen=True)
class DetectorSpec:
    """How a detector is read, as its real uncal headers say, and its fixed seed key.

    ``code`` enters every random stream of the detector: it is part of the simulator's output
    and must never change once a detector is released (unique over all instruments).
    """

    fastaxis: int
    slowaxis: int
    code: int


@dataclass(frozen=True, eq=False)
class Instrument:
    """One instrument: its detectors, readout patterns and reference-file specifics."""

    name: str                               # INSTRUME
    detectors: dict                         # detector name -> DetectorSpec
    readpatterns: dict                      # READPATT -> (NFRAMES, GROUPGAP)
    dark_readpatt: str                      # READPATT of DARK references (one frame per group)
    dark_model: str = "DarkModel"           # stdatamodels class of its DARK references
    full_shape: tuple = (2048, 2048)        # full-frame (ny, nx), DMS orientation
    ref_rows: int = 4                       # reference rows at the bottom and top of the full frame
    ref_cols: int = 4                       # reference columns at the left and right
    interleaved_outputs: bool = False       # outputs take detector columns in turn (MIRI: column mod 4)
                                            # instead of contiguous strips (H2RG)


class Kind:
    """One simulated observing mode. Subclasses set the attributes and implement the hooks."""

    name: str                               # inputs.simulate.kind
    instrument: Instrument
    exp_type: str
    detectors: tuple                        # detectors this kind may simulate
    default_detectors: tuple                # used when inputs.simulate.detectors is empty
    size: tuple                             # default (ny, nx), DMS orientation
    readpatt: str                           # default readout pattern
    tso: bool                               # time series: TSOVISIT, always segment-numbered
    observation: int                        # observation number in the exposure names
    visit_group: int                        # visit group in the exposure names (activity 01)
    target: str                             # TARGNAME / TARGPROP
    physics: dict = {}                      # defaults of COMMON_PHYSICS keys left None there
    scene_physics: dict = {}                # this kind's own scene parameters and defaults

    def subarray(self, detector: str, ny: int, nx: int) -> tuple[str, int, int]:
        """SUBARRAY name and 1-based SUBSTRT1, SUBSTRT2 of a (ny, nx) cut that is not full frame."""
        raise NotImplementedError

    def noutputs(self, ny: int, nx: int) -> int:
        """NOUTPUTS of a (ny, nx) readout."""
        raise NotImplementedError

    def outputs(self, ny: int, nx: int, phys: dict) -> int:
        """NOUTPUTS of a (ny, nx) readout with the exposure's physics parameters (a kind whose
        subarrays can be read through 1 or 4 outputs reads its choice there)."""
        return self.noutputs(ny, nx)

    def background_rate(self, geom, phys: dict) -> np.ndarray:
        """(ny, nx) background [DN/s] out of transit: ``background`` everywhere by default; a
        kind with a structured sky (NIRISS SOSS's zodiacal light) paints its own."""
        return np.full((geom.ny, geom.nx), float(phys["background"]))

    def extra_references(self, det, geom, phys: dict, refdir) -> dict:
        """Reference files of this mode beyond the detector's eight (reftype -> path)."""
        return {}

    def source(self, det, geom, phys: dict, rng: np.random.Generator, peak: float) -> np.ndarray:
        """Source rate (ny, nx) [DN/s] out of transit; ``peak`` is the brightest pixel's rate."""
        raise NotImplementedError

    def keywords(self, geom) -> dict:
        """Instrument-specific primary-header keywords of the uncal file (FILTER, APERNAME, ...)."""
        raise NotImplementedError

    def frame_time(self, subarray: str, ny: int, nx: int, noutputs: int) -> float | None:
        """TFRAME [s] of a readout when the instrument has a table of them; None: the
        H2RG clocking formula of :func:`.geometry.geometry`."""
        return None

    def integration_effects(self, det, geom, sub, phys: dict, seed: int, rate, intnum: int):
        """Instrument-specific signal of integration ``intnum`` (1-based, in the exposure) that
        the shared ramp model lacks: None, or a function ``add(grp, blk)`` adding DN to the
        (ngroups, rows, nx) float64 block ``grp`` of rows ``blk`` before read noise and
        rounding (MIRI's frame anomalies, reset anomaly, RSCD, EMI)."""
        return None

    def extra_rate(self, det, geom, sub, phys: dict, intnum: int):
        """Extra Poisson rate [DN/s] (ny, nx) of integration ``intnum`` (MIRI's excess dark of
        the first integrations), or None."""
        return None

    def extra_extensions(self, det, geom, phys: dict, seed: int, nints: int, intstart: int) -> dict:
        """Extra uncal extensions of a segment (MIRI: REFOUT), attribute name -> array."""
        return {}

    def write_references(self, det, geom, phys: dict, refdir):
        """The kind's reference files (reftype -> path), or None for the NIR set of
        :func:`.references.write_references`."""
        return None

    def physics_keywords(self, phys: dict) -> dict:
        """Header keywords that follow the exposure's physics parameters (e.g. a chosen filter)."""
        return {}

    def default_gain(self, detector: str) -> float:
        """GAIN [e-/DN] when the ``gain`` physics parameter is None."""
        raise ValueError(f"inputs.simulate.gain: {self.name} needs a gain value")

    def stem(self, detector: str, segment: int, nsegments: int) -> str:
        """Exposure name of one segment; time series are always ``-segNNN``, others only when split."""
        seg = segment if (self.tso or nsegments > 1) else 0
        return make_stem(program=PROGRAM, observation=self.observation, visit_number=1,
                         visit_group=self.visit_group, parallel=1, activity=1, exposure=1,
                         segment=seg, detector=detector)

    def row(self) -> dict:
        """This kind as one row of :func:`table`."""
        return {"kind": self.name, "instrument": self.instrument.name, "exp_type": self.exp_type,
                "detectors": tuple(self.detectors), "size": tuple(self.size),
                "readpatt": self.readpatt, "tso": bool(self.tso)}


# ----------------------------------------------------------------------------------------
# registry

_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to the registry (its name must be new) and return it.

    Checks that its detectors belong to its instrument and that no detector's seed code is
    used by another detector of any registered instrument.
    """
    if kind.name in _KINDS:
        raise ValueError(f"simulator kind {kind.name!r} is already registered")
    missing = [d for d in (*kind.detectors, *kind.default_detectors) if d not in kind.instrument.detectors]
    if missing:
        raise ValueError(f"kind {kind.name}: {missing} are not {kind.instrument.name} detectors")
    if kind.readpatt not in kind.instrument.readpatterns:
        raise ValueError(f"kind {kind.name}: {kind.readpatt!r} is not a {kind.instrument.name} pattern")
    codes = {spec.code: name for name, (_, spec) in _all_detectors().items()}
    for name, spec in kind.instrument.detectors.items():
        if codes.get(spec.code, name) != name:
            raise ValueError(f"kind {kind.name}: detector {name} reuses seed code {spec.code} "
                             f"of {codes[spec.code]}")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a kind from the registry (tests register throw-away kinds)."""
    _KINDS.pop(name, None)


def names() -> tuple[str, ...]:
    """Names of the registered kinds, in registration order."""
    return tuple(_KINDS)


def get(name: str) -> Kind:
    """The registered kind ``name``; an unknown name is a ValueError naming the known ones."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"inputs.simulate.kind: {name!r} is not one of {names()}") from None


def table() -> list[dict]:
    """One row per registered kind: kind, instrument, exp_type, detectors, size, readpatt, tso."""
    return [k.row() for k in _KINDS.values()]


def check_detector(kind: str, detector: str) -> str:
    """``detector`` in upper case, if ``kind`` simulates it; else a ValueError naming its detectors."""
    spec = get(kind)
    det = str(detector).upper()
    if det not in spec.detectors:
        raise ValueError(f"inputs.simulate.detectors: {detector!r} is not a detector of {kind} "
                         f"({', '.join(spec.detectors)})")
    return det


def _all_detectors() -> dict:
    out = {}
    for kind in _KINDS.values():
        for name, spec in kind.instrument.detectors.items():
            out[name] = (kind.instrument.name, spec)
    return out


def detectors() -> dict[str, tuple[str, int, int]]:
    """Every registered detector -> (INSTRUME, FASTAXIS, SLOWAXIS)."""
    return {name: (instr, spec.fastaxis, spec.slowaxis) for name, (instr, spec) in _all_detectors().items()}


def detector_spec(detector: str) -> DetectorSpec:
    """The :class:`DetectorSpec` of a registered detector."""
    return _all_detectors()[detector][1]


def readpatterns() -> dict[str, dict]:
    """INSTRUME -> {READPATT -> (NFRAMES, GROUPGAP)} of every registered instrument."""
    return {k.instrument.name: dict(k.instrument.readpatterns) for k in _KINDS.values()}


# ----------------------------------------------------------------------------------------
# physics parameters

#: physics parameters shared by every kind; None means "the kind's default" (Kind.physics)
COMMON_PHYSICS: dict = {
    "poisson": True,               # Poisson noise on source + background + dark electrons
    "read_noise_scale": 1.0,       # multiplies the READNOISE reference (0: no read noise)
    "cr_rate": 1.6e-5,             # cosmic rays per pixel per second (~5 /cm2/s, 18 um pixels)
    "cr_min_dn": 30.0,             # cosmic-ray amplitudes: log-uniform in [min, max] linear DN
    "cr_max_dn": 3000.0,
    "one_over_f_rms": None,        # DN per read, 1/f stripes along the fast-read lines
    "odd_even_rms": 2.0,           # DN per read, per amplifier and column parity
    "amp_offset_rms": 10.0,        # DN, per amplifier and integration (bias drift)
    "dead_fraction": 1e-4,
    "hot_fraction": 2e-4,
    "hot_rate_min": 0.5,           # DN/s, log-uniform
    "hot_rate_max": 20.0,
    "dark_rate": None,             # DN/s, median of normal pixels
    "nonlinearity": 0.10,          # fractional signal deficit at full well (0: linear)
    "nonlin_cubic_fraction": 0.3,  # share of the deficit in the cubic term
    "full_well": 48000.0,          # DN (measured, above bias) at which a pixel saturates
    "sat_margin": 250.0,           # SATURATION reference = bias + full well - margin
    "bias_level": None,            # DN
    "bias_rms": 600.0,             # DN, pixel-to-pixel superbias scatter
    "gain": None,                  # e-/DN
    "readnoise": None,             # CDS DN
    "peak_well_fraction": None,    # brightest pixel at the last frame, fraction of full well
    "background": None,            # DN/s, uniform
    "transit_depth": None,         # fractional
    "transit_t0": None,            # BJD_TDB as MJD; None: middle of the exposure
    "transit_duration": None,      # hours; None: 40 % of the exposure
    "transit_ingress": 0.15,       # ingress (= egress) duration, fraction of the duration
    "depth_slope": 0.0,            # depth(x) = depth * (1 + slope * u), u in [-1, 1] across x
    "readpatt": None,              # readout pattern (sets NFRAMES, GROUPGAP)
    "zeroframe": False,            # write a ZEROFRAME extension (the first frame of each integration)
    "start_time": "2024-03-01T05:00:00",   # UTC start of the exposure
    "target_ra": 217.3267,
    "target_dec": -3.4444,
    "useafter": "2022-01-01T00:00:00",     # USEAFTER of the reference files
    **LARGE_EVENT_PHYSICS,         # snowballs and showers (rates 0: none; see .large_events)
}

_NON_NEGATIVE = ("cr_rate", "dead_fraction", "hot_fraction", "read_noise_scale", "odd_even_rms",
                 "amp_offset_rms", "one_over_f_rms", "nonlinearity", "full_well", "bias_rms", *LARGE_EVENT_PHYSICS)


def physics_defaults() -> dict:
    """Every physics parameter and its default: :data:`COMMON_PHYSICS` plus each registered
    kind's scene parameters (every kind's truth file records them all)."""
    out = dict(COMMON_PHYSICS)
    for kind in _KINDS.values():
        out.update(kind.scene_physics)
    return out


def resolve_physics(kind: str, overrides: dict) -> dict:
    """The physics parameters of one exposure of ``kind``: defaults, the kind's defaults, then
    ``overrides`` (None values ignored). Unknown keys and out-of-range values are ValueErrors
    naming the key."""
    defaults = physics_defaults()
    phys = dict(defaults)
    phys.update(get(kind).physics)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise ValueError(f"inputs.simulate.{key}: unknown simulation parameter; known: "
                             f"{', '.join(sorted(defaults))}")
        if value is not None:
            phys[key] = value
    for key in _NON_NEGATIVE:
        if phys[key] is not None and float(phys[key]) < 0:
            raise ValueError(f"inputs.simulate.{key}: must be >= 0, got {phys[key]}")
    if not 0 <= float(phys["nonlinearity"]) < 0.5:
        raise ValueError(f"inputs.simulate.nonlinearity: must be in [0, 0.5), got {phys['nonlinearity']}")
    return phys
