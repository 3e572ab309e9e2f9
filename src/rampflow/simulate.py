"""Synthetic JWST exposures (``_uncal`` ramps), their reference files, a CRDS cache and truth.

Two kinds of exposure are simulated, both laid out as real JWST data:

``nirspec_tso``
    NIRSpec Bright Object Time Series, detectors NRS1/NRS2, subarray SUB2048 (32 x 2048 in
    DMS orientation, SUBSTRT1 = 1, SUBSTRT2 = 963 (NRS1) / 1055 (NRS2): the G395H values of
    the NIRSpec subarray definitions), NRSRAPID, NOUTPUTS = 1, a curved spectral trace and a
    transit across the integrations, split into exposure segments (``-seg001`` ...).
``nircam_image``
    NIRCam imaging, full frame (2048 x 2048, 4 outputs of 512 columns) by default, Gaussian
    point sources; smaller sizes are corner subarrays (SUB64P/SUB160P/SUB400P for those
    sizes, ``GENERIC`` otherwise) with SUBSTRT1 = SUBSTRT2 = 1 and one output.

Signal model, per pixel and per frame ``k`` (read at ``t_k = (k + 1) * TFRAME`` after reset;
group ``g`` averages frames ``g * (NFRAMES + GROUPGAP) ... + NFRAMES - 1``)::

    L_k  = cumulative linear signal [DN] = (Poisson electrons from (source * lc + background
           + dark) * GAIN * TFRAME per frame, summed) / GAIN + cosmic-ray jumps,
           capped at the full well L_fw
    M_k  = measured (non-linear) signal: the root of  L = M + c2 M**2 + c3 M**3
    raw  = SUPERBIAS + M (frame-averaged into groups) + amplifier offset (per integration)
           + odd/even column offset (per group, amplifier, column parity)
           + 1/f stripe (per group, constant along each fast-read line)
           + read noise N(0, (READNOISE / sqrt(2))**2 / NFRAMES), rounded, clipped to 0..65535

Conventions and units:

* DN everywhere; rates in DN/s; GAIN in e-/DN; READNOISE is the CRDS (correlated double
  sample) noise in DN, so one read has READNOISE / sqrt(2).
* The LINEARITY reference holds ``COEFFS = [0, 1, c2, c3]`` per pixel and the injected
  non-linearity is the exact inverse of that polynomial (solved by Newton iterations to
  machine precision, starting from the quadratic root), so applying the reference to
  ``raw - SUPERBIAS`` recovers the linear signal to float32 precision below saturation.
  ``c2, c3 >= 0`` are set so the deficit at full well is ``nonlinearity`` (10 %).
* SATURATION (raw DN, bias included) = SUPERBIAS + M_fw - ``sat_margin``; the signal stops
  at the full well, and the A/D clips at 65535.
* DARK (subarray-sized, NFRAMES = 1, GROUPGAP = 0, NGROUPS*(NFRAMES+GROUPGAP) frames) holds
  ``dark_rate * t_k``: exactly the expectation of the injected dark signal.
* Reference pixels (4 on every full-frame edge) get no light and no dark current but all bias
  and read-out noise terms; dead pixels get no signal; hot pixels a high dark rate.
* The transit is a trapezoid in BJD_TDB evaluated at each integration's mid time (constant
  within an integration).

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
  affected group, frame, y, x 0-based subarray pixel, amplitude linear DN); DEAD (y, x);
  HOT (y, x, dark_rate).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import dq as dqflags
from .meta import ExposureMeta

log = logging.getLogger(__name__)

__all__ = [
    "SimulatedExposure", "simulate_exposure", "simulate_program", "write_crds_cache", "read_truth",
    "transit_model", "linear_to_measured", "measured_to_linear", "PHYSICS_DEFAULTS", "KINDS",
    "REFTYPES", "DETECTORS",
]

KINDS = ("nirspec_tso", "nircam_image")
#: reference types written for every detector
REFTYPES = ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain")
#: detector -> (instrument, FASTAXIS, SLOWAXIS), as in real JWST data
DETECTORS = {
    "NRS1": ("NIRSPEC", 2, 1), "NRS2": ("NIRSPEC", -2, -1),
    "NRCA1": ("NIRCAM", -1, 2), "NRCA2": ("NIRCAM", 1, -2), "NRCA3": ("NIRCAM", -1, 2),
    "NRCA4": ("NIRCAM", 1, -2), "NRCALONG": ("NIRCAM", -1, 2),
    "NRCB1": ("NIRCAM", 1, -2), "NRCB2": ("NIRCAM", -1, 2), "NRCB3": ("NIRCAM", 1, -2),
    "NRCB4": ("NIRCAM", -1, 2), "NRCBLONG": ("NIRCAM", 1, -2),
}
_DET_CODE = {name: i + 1 for i, name in enumerate(DETECTORS)}
_FULL = 2048
_NREF = 4                      # reference pixels on each full-frame edge
_ADC_MAX = 65535

#: readout patterns: name -> (NFRAMES, GROUPGAP)
READPATTERNS = {
    "NIRSPEC": {"NRSRAPID": (1, 0), "NRS": (4, 0)},
    "NIRCAM": {"RAPID": (1, 0), "BRIGHT1": (1, 1), "BRIGHT2": (2, 0), "SHALLOW2": (2, 3),
               "SHALLOW4": (4, 1), "MEDIUM2": (2, 8), "MEDIUM8": (8, 2), "DEEP2": (2, 18),
               "DEEP8": (8, 12)},
}

_KIND = {
    "nirspec_tso": dict(instrument="NIRSPEC", exp_type="NRS_BRIGHTOBJ", size=(32, _FULL),
                        readpatt="NRSRAPID", tso=True, observation="001", act="04101",
                        detectors=("NRS1", "NRS2")),
    "nircam_image": dict(instrument="NIRCAM", exp_type="NRC_IMAGE", size=(_FULL, _FULL),
                         readpatt="RAPID", tso=False, observation="002", act="02101",
                         detectors=tuple(d for d in DETECTORS if d.startswith("NRC"))),
}

#: SUB2048 SUBSTRT2 (1-based) per detector, G395H (NIRSpec subarray definitions)
_SUB2048_YSTART = {"NRS1": 963, "NRS2": 1055}

#: physics parameters (all kinds); None means "kind/detector default" (see _KIND_PHYSICS)
PHYSICS_DEFAULTS: dict = {
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
    "trace_y0": None,              # NIRSpec trace centre row (subarray, 0-based); None: centre
    "trace_curvature": 2.0,        # pixels of trace bending across the detector
    "trace_sigma": 0.9,            # pixels, Gaussian spatial profile
    "n_stars": 40,                 # NIRCam: point sources per full frame (at least 3)
    "psf_sigma": None,             # NIRCam: Gaussian PSF sigma in pixels (SW 1.0, LW 1.6)
    "readpatt": None,              # readout pattern (sets NFRAMES, GROUPGAP)
    "start_time": "2024-03-01T05:00:00",   # UTC start of the exposure
    "target_ra": 217.3267,
    "target_dec": -3.4444,
    "useafter": "2022-01-01T00:00:00",     # USEAFTER of the reference files
}

_KIND_PHYSICS = {
    "nirspec_tso": {"one_over_f_rms": 4.0, "dark_rate": 0.006, "bias_level": 13000.0,
                    "gain": 1.0, "readnoise": 13.0, "peak_well_fraction": 0.6,
                    "background": 0.0, "transit_depth": 0.01},
    "nircam_image": {"one_over_f_rms": 3.0, "dark_rate": 0.003, "bias_level": 12500.0,
                     "gain": None, "readnoise": 8.0, "peak_well_fraction": 3.0,
                     "background": 0.2, "transit_depth": 0.0},
}

#: keys of ``inputs.simulate`` that are not physics parameters
PROGRAM_KEYS = ("kind", "detectors", "segments", "nints", "ngroups", "size", "seed", "program",
                "ints_per_segment", "physics")


# ----------------------------------------------------------------------------------------
# public small helpers

def transit_model(t, t0: float, duration: float, depth: float, ingress: float = 0.15) -> np.ndarray:
    """Trapezoid transit: relative flux at times ``t`` (same unit as ``t0`` and ``duration``).

    1 outside ``|t - t0| > duration / 2``, ``1 - depth`` inside ``|t - t0| < duration / 2 - tau``
    with ``tau = ingress * duration``, linear in between.
    """
    return 1.0 - depth * _transit_shape(np.asarray(t, dtype=float), t0, duration, ingress)


def _transit_shape(t, t0, duration, ingress):
    half = 0.5 * duration
    tau = max(ingress * duration, 1e-12)
    d = np.abs(t - t0)
    return np.clip((half - d) / tau, 0.0, 1.0)


def linear_to_measured(linear: np.ndarray, c2, c3, iterations: int = 3) -> np.ndarray:
    """Invert the correction polynomial ``L = M + c2 M**2 + c3 M**3`` (c2, c3 >= 0) for M.

    Quadratic root as the start, then Newton steps; float64 in and out. Exact to ~1e-12
    relative for the coefficient ranges the simulator uses.
    """
    L = np.asarray(linear, dtype=np.float64)
    c2 = np.asarray(c2, dtype=np.float64)
    c3 = np.asarray(c3, dtype=np.float64)
    m = np.sqrt(1.0 + 4.0 * c2 * L)
    m += 1.0
    np.divide(2.0 * L, m, out=m)
    tmp = np.empty_like(m)
    for _ in range(iterations):
        # f = m (1 + m (c2 + c3 m)) - L ; f' = 1 + m (2 c2 + 3 c3 m)
        np.multiply(c3, m, out=tmp)
        tmp += c2
        tmp *= m
        tmp += 1.0
        f = tmp * m
        f -= L
        np.multiply(3.0 * c3, m, out=tmp)
        tmp += 2.0 * c2
        tmp *= m
        tmp += 1.0
        f /= tmp
        m -= f
    return m


def measured_to_linear(measured: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Apply linearity coefficients ``coeffs`` (ncoeff, ...) as jwst does: sum c_k M**k."""
    measured = np.asarray(measured, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(measured.shape, coeffs.shape[1:]), dtype=np.float64)
    for c in coeffs[::-1]:
        out *= measured
        out += c
    return out


def read_truth(path) -> dict:
    """Read a ``_truth.fits`` file: see the module docstring for its content."""
    from .io import simfiles

    truth = simfiles.read_truth(path)
    h = truth["header"]
    truth["transit"] = {"depth": h.get("TDEPTH"), "t0": h.get("TT0"), "duration": h.get("TDUR"),
                        "ingress": h.get("TINGRESS"), "depth_slope": h.get("DSLOPE")}
    return truth


# ----------------------------------------------------------------------------------------
# configuration

def _physics(kind: str, overrides: dict) -> dict:
    phys = dict(PHYSICS_DEFAULTS)
    phys.update(_KIND_PHYSICS[kind])
    for key, value in (overrides or {}).items():
        if key not in PHYSICS_DEFAULTS:
            raise ValueError(f"inputs.simulate.{key}: unknown simulation parameter; known: "
                             f"{', '.join(sorted(PHYSICS_DEFAULTS))}")
        if value is not None:
            phys[key] = value
    for key in ("cr_rate", "dead_fraction", "hot_fraction", "read_noise_scale", "odd_even_rms",
                "amp_offset_rms", "one_over_f_rms", "nonlinearity", "full_well", "bias_rms"):
        if phys[key] is not None and float(phys[key]) < 0:
            raise ValueError(f"inputs.simulate.{key}: must be >= 0, got {phys[key]}")
    if not 0 <= float(phys["nonlinearity"]) < 0.5:
        raise ValueError(f"inputs.simulate.nonlinearity: must be in [0, 0.5), got {phys['nonlinearity']}")
    return phys


def _check_kind(kind: str) -> dict:
    if kind not in _KIND:
        raise ValueError(f"inputs.simulate.kind: {kind!r} is not one of {KINDS}")
    return _KIND[kind]


def _check_detector(kind: str, detector: str) -> str:
    det = str(detector).upper()
    if det not in _KIND[kind]["detectors"]:
        raise ValueError(f"inputs.simulate.detectors: {detector!r} is not a detector of {kind} "
                         f"({', '.join(_KIND[kind]['detectors'])})")
    return det


@dataclass(frozen=True)
class _Geometry:
    """Subarray and readout of one exposure (DMS orientation; x/y starts 1-based)."""

    kind: str
    instrument: str
    detector: str
    subarray: str
    xstart: int
    ystart: int
    nx: int
    ny: int
    fastaxis: int
    slowaxis: int
    noutputs: int
    readpatt: str
    nframes: int
    groupgap: int
    ngroups: int
    tframe: float

    @property
    def tgroup(self) -> float:
        return (self.nframes + self.groupgap) * self.tframe

    @property
    def nframes_total(self) -> int:
        """Frames read from reset to the last frame of the last group."""
        return self.ngroups * (self.nframes + self.groupgap) - self.groupgap

    @property
    def frame_index(self) -> np.ndarray:
        """(ngroups, nframes) indices of the frames averaged into each group."""
        g = np.arange(self.ngroups)[:, None] * (self.nframes + self.groupgap)
        return g + np.arange(self.nframes)[None, :]

    @property
    def full_frame(self) -> bool:
        return self.nx == _FULL and self.ny == _FULL


def _geometry(kind: str, detector: str, size, ngroups: int, readpatt: str | None) -> _Geometry:
    spec = _KIND[kind]
    instrument, fast, slow = DETECTORS[detector]
    ny, nx = (int(s) for s in (size or spec["size"]))
    if not (1 <= ny <= _FULL and 8 <= nx <= _FULL):
        raise ValueError(f"inputs.simulate.size: [{ny}, {nx}] is outside 1..2048 x 8..2048")
    if int(ngroups) < 1:
        raise ValueError(f"inputs.simulate.ngroups: must be >= 1, got {ngroups}")
    readpatt = str(readpatt or spec["readpatt"]).upper()
    try:
        nframes, groupgap = READPATTERNS[instrument][readpatt]
    except KeyError:
        raise ValueError(f"inputs.simulate.readpatt: {readpatt!r} is not a {instrument} pattern "
                         f"({', '.join(READPATTERNS[instrument])})") from None
    if (ny, nx) == (_FULL, _FULL):
        name, xstart, ystart = "FULL", 1, 1
    elif kind == "nirspec_tso":
        base = _SUB2048_YSTART[detector]
        xstart = 1
        ystart = base + (32 - ny) // 2 if ny <= 32 else max(1, base + 16 - ny // 2)
        ystart = min(ystart, _FULL - ny + 1)
        name = "SUB2048" if (ny, nx) == (32, _FULL) else "GENERIC"
    else:
        xstart = ystart = 1
        name = {(64, 64): "SUB64P", (160, 160): "SUB160P", (400, 400): "SUB400P"}.get((ny, nx), "GENERIC")
    noutputs = 4 if nx == _FULL and (kind == "nircam_image" or ny == _FULL) else 1
    # detector frame: nfast pixels per line (per output), nslow lines; 10 us per pixel,
    # 12 extra pixel times per line and one extra line per frame
    nfast, nslow = (nx, ny) if abs(fast) == 1 else (ny, nx)
    tframe = round((nfast // noutputs + 12) * (nslow + 1) * 1e-5, 5)
    if name == "FULL" and noutputs == 4:
        tframe = 10.73677           # the value in real full-frame headers
    return _Geometry(kind=kind, instrument=instrument, detector=detector, subarray=name,
                     xstart=xstart, ystart=ystart, nx=nx, ny=ny, fastaxis=fast, slowaxis=slow,
                     noutputs=noutputs, readpatt=readpatt, nframes=nframes, groupgap=groupgap,
                     ngroups=int(ngroups), tframe=tframe)


def _readout_coords(geom: _Geometry):
    """Per subarray pixel: output amplifier, detector-column parity and fast-read line index.

    In the detector frame (rows = slow axis, columns = fast axis, as jwst's
    science_detector_frame_transform gives) outputs are 512-column strips, odd/even is the
    detector column parity and a line is one detector row.
    """
    X = geom.xstart - 1 + np.arange(geom.nx)
    Y = geom.ystart - 1 + np.arange(geom.ny)
    if abs(geom.fastaxis) == 1:
        fast = (X if geom.fastaxis > 0 else _FULL - 1 - X)[None, :]
        slow = (Y if geom.slowaxis > 0 else _FULL - 1 - Y)[:, None]
    else:
        fast = (Y if geom.fastaxis > 0 else _FULL - 1 - Y)[:, None]
        slow = (X if geom.slowaxis > 0 else _FULL - 1 - X)[None, :]
    fast, slow = np.broadcast_arrays(fast, slow)
    amp = fast // (_FULL // geom.noutputs) if geom.noutputs > 1 else np.zeros_like(fast)
    parity = fast % 2
    line = slow - slow.min()
    return amp.astype(np.intp), parity.astype(np.intp), line.astype(np.intp), int(line.max()) + 1


# ----------------------------------------------------------------------------------------
# detector (reference-file) model

@dataclass
class _Detector:
    """Full-frame (2048 x 2048, DMS) properties of one detector; float32 like CRDS files."""

    name: str
    instrument: str
    superbias: np.ndarray
    gain: np.ndarray
    readnoise: np.ndarray
    full_well: np.ndarray        # measured DN above bias at which the signal stops
    coeffs: np.ndarray           # (4, ny, nx) linearity correction [0, 1, c2, c3]
    saturation: np.ndarray       # raw DN
    dark_rate: np.ndarray        # DN/s
    refpix: np.ndarray           # bool
    dead: np.ndarray             # bool
    hot: np.ndarray              # bool
    extra: dict = field(default_factory=dict)

    @property
    def mask_dq(self) -> np.ndarray:
        dq = np.zeros(self.refpix.shape, dtype=np.uint32)
        # REFERENCE_PIXEL only, as in CRDS masks: DO_NOT_USE here would disable refpix (jwst #1284)
        dq[self.refpix] |= np.uint32(dqflags.REFERENCE_PIXEL)
        dq[self.dead] |= np.uint32(dqflags.DEAD | dqflags.DO_NOT_USE)
        dq[self.hot] |= np.uint32(dqflags.HOT)
        return dq

    @property
    def full_well_linear(self) -> np.ndarray:
        """Linear signal [DN] at which the pixel stops collecting charge (float64, cached)."""
        if "lfw" not in self.extra:
            self.extra["lfw"] = measured_to_linear(self.full_well.astype(np.float64),
                                                   self.coeffs.astype(np.float64))
        return self.extra["lfw"]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) for k in keys]])


def _normal32(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def _make_detector(kind: str, detector: str, phys: dict, seed: int) -> _Detector:
    """Deterministic full-frame detector properties from (seed, detector)."""
    rng = _rng(seed, _DET_CODE[detector], 1)
    instrument, fast, slow = DETECTORS[detector]
    n = _FULL
    shape = (n, n)
    f32 = np.float32

    refpix = np.zeros(shape, dtype=bool)
    refpix[:_NREF, :] = refpix[-_NREF:, :] = True
    refpix[:, :_NREF] = refpix[:, -_NREF:] = True

    # superbias: level + per-output offsets + column (fast-line) pattern + pixel scatter
    full = _Geometry(kind, instrument, detector, "FULL", 1, 1, n, n, fast, slow, 4, "", 1, 0, 1, 1.0)
    amp = _readout_coords(full)[0]
    amp_level = rng.normal(0.0, 300.0, 4)
    col_pattern = rng.normal(0.0, 40.0, n)
    bias = float(phys["bias_level"]) + amp_level[amp]
    # columns of the detector frame (fast coordinate) carry the pattern
    fastc = _fast_coordinate(full)
    bias += col_pattern[fastc]
    bias += float(phys["bias_rms"]) * _normal32(rng, shape)

    gain0 = phys["gain"]
    if gain0 is None:
        gain0 = 1.82 if detector.endswith("LONG") else 2.05
    gain = float(gain0) * (1.0 + 0.03 * _normal32(rng, shape))
    rn = float(phys["readnoise"]) * (1.0 + 0.08 * _normal32(rng, shape))
    np.maximum(rn, 0.2 * float(phys["readnoise"]), out=rn)

    fw = float(phys["full_well"]) * (1.0 + 0.03 * _normal32(rng, shape))
    fnl = float(phys["nonlinearity"]) * (1.0 + 0.1 * _normal32(rng, shape))
    fnl = np.clip(fnl, 0.0, 0.45)
    q = fnl / (1.0 - fnl)                              # L_fw / M_fw - 1
    cub = float(phys["nonlin_cubic_fraction"])
    c2 = ((1.0 - cub) * q / fw).astype(f32)
    c3 = (cub * q / fw ** 2).astype(f32)

    dark = float(phys["dark_rate"]) * np.exp(0.2 * _normal32(rng, shape))

    npix = n * n
    ndead = int(round(float(phys["dead_fraction"]) * npix))
    nhot = int(round(float(phys["hot_fraction"]) * npix))
    cand = np.flatnonzero(~refpix.ravel())
    picks = rng.choice(cand, size=ndead + nhot, replace=False)
    dead = np.zeros(npix, dtype=bool)
    hot = np.zeros(npix, dtype=bool)
    dead[picks[:ndead]] = True
    hot[picks[ndead:]] = True
    dead = dead.reshape(shape)
    hot = hot.reshape(shape)
    lo, hi = math.log(float(phys["hot_rate_min"])), math.log(float(phys["hot_rate_max"]))
    dark[hot] = np.exp(rng.uniform(lo, hi, int(hot.sum())))
    dark[refpix | dead] = 0.0

    coeffs = np.zeros((4,) + shape, dtype=f32)
    coeffs[1] = 1.0
    coeffs[2] = c2
    coeffs[3] = c3
    coeffs[2:, refpix | dead] = 0.0

    bias32 = bias.astype(f32)
    fw32 = fw.astype(f32)
    sat = np.minimum(bias32.astype(np.float64) + fw32 - float(phys["sat_margin"]), _ADC_MAX)
    return _Detector(name=detector, instrument=instrument, superbias=bias32, gain=gain.astype(f32),
                     readnoise=rn.astype(f32), full_well=fw32, coeffs=coeffs,
                     saturation=sat.astype(f32), dark_rate=dark.astype(f32), refpix=refpix,
                     dead=dead, hot=hot)


def _fast_coordinate(geom: _Geometry) -> np.ndarray:
    X = geom.xstart - 1 + np.arange(geom.nx)
    Y = geom.ystart - 1 + np.arange(geom.ny)
    if abs(geom.fastaxis) == 1:
        f = (X if geom.fastaxis > 0 else _FULL - 1 - X)[None, :]
    else:
        f = (Y if geom.fastaxis > 0 else _FULL - 1 - Y)[:, None]
    return np.broadcast_to(f, (geom.ny, geom.nx))


def _cut(geom: _Geometry, arr: np.ndarray) -> np.ndarray:
    y0, x0 = geom.ystart - 1, geom.xstart - 1
    return arr[..., y0:y0 + geom.ny, x0:x0 + geom.nx]


# ----------------------------------------------------------------------------------------
# reference files

def _ref_name(instrument: str, reftype: str, detector: str, subarray: str | None = None) -> str:
    tail = detector.lower() + (f"-{subarray.lower()}" if subarray else "")
    return f"jwst_{instrument.lower()}_{reftype}_{tail}.fits"


def _dq_def_rows(names):
    rows = []
    for name in names:
        bit = dqflags.FLAGS[name]
        rows.append((int(bit).bit_length() - 1, bit, name, f"{name.replace('_', ' ').title()}"))
    return rows


def _write_references(det: _Detector, geom: _Geometry, phys: dict, refdir: Path) -> dict:
    """Write the seven reference files of ``det`` (DARK cut to ``geom``'s subarray)."""
    from .io import simfiles

    refdir = Path(refdir)
    instr = det.instrument
    _, fast, slow = DETECTORS[det.name]
    exp_type = _KIND[geom.kind]["exp_type"]
    common = {
        "TELESCOP": "JWST", "INSTRUME": instr, "DETECTOR": det.name,
        "SUBARRAY": "FULL", "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": _FULL, "SUBSIZE2": _FULL,
        "FASTAXIS": fast, "SLOWAXIS": slow,
        "AUTHOR": "rampflow simulate", "PEDIGREE": "SIMULATION",
        "USEAFTER": str(phys["useafter"]), "ORIGIN": "rampflow",
        "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    paths: dict[str, Path] = {}

    def put(reftype, arrays, extra, dq_names=None, subarray=None):
        kw = dict(common)
        kw.update(extra)
        kw["REFTYPE"] = reftype.upper()
        kw.setdefault("DESCRIP", f"Simulated {reftype} reference for {det.name}")
        path = refdir / _ref_name(instr, reftype, det.name, subarray)
        simfiles.write_reference(path, reftype, arrays, kw,
                                 dq_def=_dq_def_rows(dq_names) if dq_names else None)
        paths[reftype] = path

    pexp = f"{exp_type}|"
    put("mask", {"DQ": det.mask_dq}, {"EXP_TYPE": exp_type, "P_EXP_TY": pexp},
        ["DO_NOT_USE", "DEAD", "HOT", "REFERENCE_PIXEL"])
    sat_dq = np.zeros(det.dead.shape, dtype=np.uint32)
    sat_dq[det.dead] = dqflags.NO_SAT_CHECK
    put("saturation", {"SCI": det.saturation, "DQ": sat_dq}, {"BUNIT": "DN"}, ["NO_SAT_CHECK"])
    put("superbias", {"SCI": det.superbias, "DQ": np.zeros(det.dead.shape, np.uint32)},
        {"READPATT": "ANY", "P_READPA": "ANY|", "NOUTPUTS": 4, "BUNIT": "DN"}, ["UNRELIABLE_BIAS"])
    lin_dq = np.zeros(det.dead.shape, dtype=np.uint32)
    lin_dq[det.dead | det.refpix] = dqflags.NO_LIN_CORR
    put("linearity", {"COEFFS": det.coeffs, "DQ": lin_dq}, {}, ["NO_LIN_CORR"])
    put("readnoise", {"SCI": det.readnoise}, {"READPATT": "ANY", "P_READPA": "ANY|", "NOUTPUTS": 4,
                                              "BUNIT": "DN"})
    put("gain", {"SCI": det.gain}, {"BUNIT": "electrons/DN"})

    # DARK: cut to the subarray (jwst's dark step does not cut), NFRAMES=1, GROUPGAP=0
    nfr = geom.ngroups * (geom.nframes + geom.groupgap)
    t = (np.arange(nfr, dtype=np.float64) + 1.0) * geom.tframe
    rate = _cut(geom, det.dark_rate).astype(np.float64)
    dark = (t[:, None, None] * rate[None]).astype(np.float32)
    dark_kw = {"SUBARRAY": geom.subarray, "SUBSTRT1": geom.xstart, "SUBSTRT2": geom.ystart,
               "SUBSIZE1": geom.nx, "SUBSIZE2": geom.ny, "EXP_TYPE": exp_type, "P_EXP_TY": pexp,
               "READPATT": _single_frame_pattern(instr),
               "NOUTPUTS": geom.noutputs, "NFRAMES": 1, "GROUPGAP": 0, "NGROUPS": nfr,
               "TFRAME": geom.tframe, "TGROUP": geom.tframe, "BUNIT": "DN",
               "DESCRIP": f"Simulated dark for {det.name} {geom.subarray} ({nfr} frames)"}
    put("dark", {"SCI": dark, "DQ": np.zeros((geom.ny, geom.nx), np.uint32)}, dark_kw,
        ["UNRELIABLE_DARK"], subarray=_dark_tag(geom))
    return paths


def _single_frame_pattern(instrument: str) -> str:
    return "NRSRAPID" if instrument == "NIRSPEC" else "RAPID"


def _dark_tag(geom: _Geometry) -> str:
    if geom.subarray == "GENERIC":
        return f"generic{geom.ny}x{geom.nx}"
    return geom.subarray


# ----------------------------------------------------------------------------------------
# scenes

def _scene(kind: str, det: _Detector, geom: _Geometry, phys: dict, seed: int):
    """Source rate (ny, nx) [DN/s] out of transit, and per-column transit depth (nx,)."""
    from scipy.special import erf

    rng = _rng(seed, _DET_CODE[det.name], 3)
    ny, nx = geom.ny, geom.nx
    X = geom.xstart - 1 + np.arange(nx)
    Y = geom.ystart - 1 + np.arange(ny)
    u = (X - (_FULL - 1) / 2.0) / (_FULL / 2.0)
    t_last = geom.nframes_total * geom.tframe
    lfw = float(np.median(_cut(geom, det.full_well_linear)))
    peak = float(phys["peak_well_fraction"]) * lfw / t_last      # DN/s at the brightest pixel
    depth = float(phys["transit_depth"]) * (1.0 + float(phys["depth_slope"]) * u)

    if kind == "nirspec_tso":
        a1 = rng.uniform(-0.5, 0.5)
        a2 = rng.uniform(0.6, 1.0)
        bend = a1 * u + a2 * (u ** 2 - 1.0 / 3.0)
        bend *= float(phys["trace_curvature"]) / max(np.ptp(bend), 1e-9)
        y0 = phys["trace_y0"]
        y0 = (ny - 1) / 2.0 if y0 is None else float(y0)
        yc = y0 + bend
        sig = float(phys["trace_sigma"])
        edges = np.arange(ny + 1, dtype=np.float64) - 0.5
        cdf = 0.5 * (1.0 + erf((edges[:, None] - yc[None, :]) / (math.sqrt(2.0) * sig)))
        prof = np.diff(cdf, axis=0)
        # smooth spectrum: a throughput bump times a power law, with gentle ripples
        lam0, lam1 = (2.87, 3.72) if det.name == "NRS1" else (3.82, 5.18)
        lam = lam0 + (lam1 - lam0) * X / (_FULL - 1)
        spec = (lam / 4.0) ** -2.0 * np.exp(-0.5 * ((lam - 3.9) / 1.1) ** 2)
        spec *= 1.0 + 0.05 * np.sin(2 * np.pi * X / 517.0 + rng.uniform(0, 2 * np.pi))
        src = prof * spec[None, :]
    else:
        sigma = phys["psf_sigma"]
        if sigma is None:
            sigma = 1.6 if det.name.endswith("LONG") else 1.0
        sigma = float(sigma)
        nstars = max(3, int(round(int(phys["n_stars"]) * ny * nx / _FULL ** 2)))
        margin = _NREF + 2
        ys = rng.uniform(margin, max(margin + 1, ny - margin), nstars)
        xs = rng.uniform(margin, max(margin + 1, nx - margin), nstars)
        ys[0], xs[0] = (ny - 1) / 2.0 + 0.2, (nx - 1) / 2.0 - 0.3      # the target, near centre
        central = erf(0.5 / (math.sqrt(2) * sigma)) ** 2                # flux fraction, peak pixel
        fluxes = peak / central * np.exp(rng.uniform(math.log(1e-3), math.log(0.5), nstars))
        fluxes[0] = peak / central
        src = np.zeros((ny, nx))
        half = int(math.ceil(6 * sigma))
        s2 = math.sqrt(2.0) * sigma
        for y, x, f in zip(ys, xs, fluxes):
            iy0, iy1 = max(0, int(y) - half), min(ny, int(y) + half + 2)
            ix0, ix1 = max(0, int(x) - half), min(nx, int(x) + half + 2)
            ey = np.arange(iy0, iy1 + 1) - 0.5
            ex = np.arange(ix0, ix1 + 1) - 0.5
            py = np.diff(0.5 * erf((ey - y) / s2))
            px = np.diff(0.5 * erf((ex - x) / s2))
            src[iy0:iy1, ix0:ix1] += f * py[:, None] * px[None, :]
        det.extra["stars"] = (ys, xs, fluxes)
    if kind == "nirspec_tso":
        src *= peak / src.max()
    light = ~(_cut(geom, det.refpix) | _cut(geom, det.dead))
    src *= light
    return src, depth


# ----------------------------------------------------------------------------------------
# times

def _int_times(geom: _Geometry, phys: dict, nints_total: int):
    """MJD_UTC and BJD_TDB (as MJD) start/mid/end of every integration of the exposure."""
    from astropy.time import Time

    t0 = Time(str(phys["start_time"]), format="isot", scale="utc")
    period = (geom.nframes_total + 1) * geom.tframe        # one reset between integrations
    length = geom.nframes_total * geom.tframe
    i = np.arange(nints_total, dtype=np.float64)
    start = t0.mjd + (geom.tframe + i * period) / 86400.0   # NRSTSTRT = 1 reset at start
    end = start + length / 86400.0
    mid = 0.5 * (start + end)
    out = {"start": start, "mid": mid, "end": end}
    bjd = _bjd_tdb(np.concatenate([start, mid, end]), phys).reshape(3, nints_total)
    out.update(start_bjd=bjd[0], mid_bjd=bjd[1], end_bjd=bjd[2])
    return out


def _bjd_tdb(mjd_utc: np.ndarray, phys: dict) -> np.ndarray:
    """BJD_TDB (as MJD) of UTC times seen from the geocentre (JWST's ~5 s offset ignored).

    UTC -> TAI -> TT (leap seconds) -> TDB (erfa.dtdb at the geocentre), plus the Roemer
    delay n . r_earth / c with the Earth's barycentric position from erfa.epv00 (the same
    "builtin" ephemeris astropy uses), n the unit vector to (target_ra, target_dec).
    """
    import erfa

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


# ----------------------------------------------------------------------------------------
# noise helpers

def _pink(rng: np.random.Generator, nseq: int, n: int) -> np.ndarray:
    """(nseq, n) noise of ~unit rms with a 1/f power spectrum.

    Generated over 2n samples and cut to the first n, so the two ends are not tied together
    by the FFT's periodicity.
    """
    if n == 1:
        return rng.standard_normal((nseq, 1))
    m = 2 * n
    white = rng.standard_normal((nseq, m))
    spec = np.fft.rfft(white, axis=1)
    k = np.arange(spec.shape[1], dtype=np.float64)
    spec *= 1.0 / np.sqrt(np.maximum(k, 1.0))
    out = np.fft.irfft(spec, n=m, axis=1)[:, :n]
    kk = np.minimum(np.arange(m), m - np.arange(m))
    norm = math.sqrt(np.mean(1.0 / np.maximum(kk, 1.0)))
    return out / norm


@dataclass
class _Sub:
    """Detector properties cut to the exposure's subarray (float64 where used in arithmetic)."""

    superbias: np.ndarray
    gain: np.ndarray
    rn_read: np.ndarray
    lfw: np.ndarray
    c2: np.ndarray
    c3: np.ndarray
    dark: np.ndarray
    insensitive: np.ndarray
    amp: np.ndarray
    parity: np.ndarray
    line: np.ndarray
    nlines: int


def _subarray_props(det: _Detector, geom: _Geometry) -> _Sub:
    amp, parity, line, nlines = _readout_coords(geom)
    return _Sub(
        superbias=_cut(geom, det.superbias).astype(np.float64),
        gain=_cut(geom, det.gain).astype(np.float64),
        rn_read=_cut(geom, det.readnoise).astype(np.float64) / math.sqrt(2.0),
        lfw=_cut(geom, det.full_well_linear),
        c2=_cut(geom, det.coeffs[2]).astype(np.float64),
        c3=_cut(geom, det.coeffs[3]).astype(np.float64),
        dark=_cut(geom, det.dark_rate).astype(np.float64),
        insensitive=_cut(geom, det.refpix) | _cut(geom, det.dead),
        amp=amp, parity=parity, line=line, nlines=nlines,
    )


_BLOCK_ELEMENTS = 8_000_000     # float64 elements per work block (~64 MB)


def _simulate_integration(rng: np.random.Generator, geom: _Geometry, sub: _Sub, rate: np.ndarray,
                          phys: dict, out: np.ndarray):
    """Fill ``out`` (ngroups, ny, nx) uint16 with one integration; return its jumps.

    rate : (ny, nx) total photo-current + dark [DN/s] for this integration
    Returns a list of (group, frame, y, x, amplitude).
    """
    ny, nx = geom.ny, geom.nx
    nfr = geom.nframes_total
    ng, nf = geom.ngroups, geom.nframes
    tframe = geom.tframe

    # cosmic rays (uniform in space, frame; log-uniform amplitude), sensitive pixels only
    jumps = []
    cr_rate = float(phys["cr_rate"])
    if cr_rate > 0 and nfr > 1:
        n = int(rng.poisson(cr_rate * ny * nx * nfr * tframe))
        ys = rng.integers(0, ny, n)
        xs = rng.integers(0, nx, n)
        ks = rng.integers(1, nfr, n)
        amps = np.exp(rng.uniform(math.log(float(phys["cr_min_dn"])), math.log(float(phys["cr_max_dn"])), n))
        keep = ~sub.insensitive[ys, xs]
        for y, x, k, a in zip(ys[keep], xs[keep], ks[keep], amps[keep]):
            g = max(0, -(-(int(k) - nf + 1) // (nf + geom.groupgap)))
            jumps.append((g, int(k), int(y), int(x), float(a)))

    # per-integration / per-read offsets (small arrays)
    namp = geom.noutputs
    amp_off = rng.normal(0.0, float(phys["amp_offset_rms"]), namp) if phys["amp_offset_rms"] else np.zeros(namp)
    oe = (rng.normal(0.0, float(phys["odd_even_rms"]), (nfr, namp, 2)) if phys["odd_even_rms"]
          else np.zeros((nfr, namp, 2)))
    stripes = (_pink(rng, nfr, sub.nlines) * float(phys["one_over_f_rms"]) if phys["one_over_f_rms"]
               else np.zeros((nfr, sub.nlines)))
    fidx = geom.frame_index                               # (ng, nf)
    oe_g = oe[fidx].mean(axis=1)                          # (ng, namp, 2)
    stripes_g = stripes[fidx].mean(axis=1)                # (ng, nlines)
    rn_scale = float(phys["read_noise_scale"]) / math.sqrt(nf)

    rows_per_block = max(1, _BLOCK_ELEMENTS // max(1, (nfr + ng) * nx))
    frame_t = (np.arange(nfr, dtype=np.float64) + 1.0) * tframe
    for y0 in range(0, ny, rows_per_block):
        y1 = min(ny, y0 + rows_per_block)
        blk = slice(y0, y1)
        r = rate[blk]
        g_e = sub.gain[blk]
        if phys["poisson"]:
            lam = r * g_e * tframe
            cum = rng.poisson(lam, size=(nfr,) + lam.shape).astype(np.float64)
            np.cumsum(cum, axis=0, out=cum)
            cum /= g_e
        else:
            cum = frame_t[:, None, None] * r[None]
        for g, k, y, x, a in jumps:
            if y0 <= y < y1:
                cum[k:, y - y0, x] += a
        np.minimum(cum, sub.lfw[blk], out=cum)
        meas = linear_to_measured(cum, sub.c2[blk], sub.c3[blk])
        del cum
        if nf == 1 and geom.groupgap == 0:
            grp = meas
        else:
            grp = meas[fidx.ravel()].reshape((ng, nf) + meas.shape[1:]).mean(axis=1)
        del meas
        a_blk, p_blk, l_blk = sub.amp[blk], sub.parity[blk], sub.line[blk]
        grp += sub.superbias[blk] + amp_off[a_blk]
        grp += oe_g[:, a_blk, p_blk]
        grp += stripes_g[:, l_blk]
        if rn_scale > 0:
            noise = rng.standard_normal(grp.shape)
            noise *= sub.rn_read[blk] * rn_scale
            grp += noise
            del noise
        np.rint(grp, out=grp)
        np.clip(grp, 0, _ADC_MAX, out=grp)
        out[:, blk] = grp.astype(np.uint16)
    return jumps


# ----------------------------------------------------------------------------------------
# exposures

@dataclass
class SimulatedExposure:
    """What :func:`simulate_exposure` wrote."""

    uncal: Path
    refs: dict
    truth: Path
    meta: ExposureMeta


def _stem(kind: str, detector: str, segment: int, nsegments: int) -> str:
    spec = _KIND[kind]
    seg = f"-seg{segment:03d}" if (spec["tso"] or nsegments > 1) else ""
    return f"jw09999{spec['observation']}001_{spec['act']}_00001{seg}_{detector.lower()}"


def _segment_bounds(nints: int, segment: int, nsegments: int, ints_per_segment: int | None):
    if nsegments < 1 or not 1 <= segment <= nsegments:
        raise ValueError(f"segment {segment} is not within 1..{nsegments}")
    ips = int(ints_per_segment) if ints_per_segment else -(-int(nints) // int(nsegments))
    start = (segment - 1) * ips + 1
    end = min(segment * ips, int(nints))
    if start > end:
        raise ValueError(f"segment {segment} of {nsegments} has no integrations "
                         f"(nints={nints}, ints_per_segment={ips})")
    return start, end


def simulate_exposure(outdir, *, kind: str = "nirspec_tso", detector: str = "NRS1", segment: int = 1,
                      nsegments: int = 1, nints: int = 8, ngroups: int = 10, size=None, seed: int = 0,
                      program: str = "demo-tso", ints_per_segment: int | None = None,
                      refdir=None, write_refs: bool = True, refs: dict | None = None,
                      _detector_model: _Detector | None = None, **physics_overrides) -> SimulatedExposure:
    """Simulate one exposure segment: ``{stem}_uncal.fits``, ``{stem}_truth.fits`` and references.

    nints      : integrations of the whole exposure (NINTS); this segment holds integrations
                 INTSTART..INTEND, ``ints_per_segment`` each (default ceil(nints / nsegments))
    size       : [ny, nx] in DMS orientation, or None for the kind's default
    refdir     : where reference files go (default ``outdir/references``); with
                 ``write_refs=False`` the paths in ``refs`` are returned instead
    physics_overrides : keys of :data:`PHYSICS_DEFAULTS`

    The same (seed, detector) always gives the same detector and reference files, and the
    noise of an integration depends only on (seed, detector, integration number), so science
    arrays are byte-identical for a seed whatever the segmentation.
    """
    from .io import simfiles

    _check_kind(kind)
    detector = _check_detector(kind, detector)
    phys = _physics(kind, physics_overrides)
    geom = _geometry(kind, detector, size, ngroups, phys["readpatt"])
    intstart, intend = _segment_bounds(nints, segment, nsegments, ints_per_segment)
    nseg_ints = intend - intstart + 1
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = _stem(kind, detector, segment, nsegments)

    det = _detector_model if _detector_model is not None else _make_detector(kind, detector, phys, seed)
    if write_refs:
        refs = _write_references(det, geom, phys, Path(refdir) if refdir else outdir / "references")
    elif refs is None:
        raise ValueError("write_refs=False needs the existing reference paths in refs=")
    refs = {k: Path(v) for k, v in refs.items()}

    sub = _subarray_props(det, geom)
    src, depth = _scene(kind, det, geom, phys, seed)
    background = float(phys["background"]) * ~sub.insensitive

    times = _int_times(geom, phys, int(nints))
    bjd_mid_all = times["mid_bjd"]
    span = bjd_mid_all[-1] - bjd_mid_all[0] + geom.nframes_total * geom.tframe / 86400.0
    t0 = float(phys["transit_t0"]) if phys["transit_t0"] is not None else 0.5 * (bjd_mid_all[0] + bjd_mid_all[-1])
    tdur = (float(phys["transit_duration"]) / 24.0 if phys["transit_duration"] is not None
            else 0.4 * span)
    ingress = float(phys["transit_ingress"])
    sl = slice(intstart - 1, intend)
    shape_t = _transit_shape(bjd_mid_all[sl], t0, tdur, ingress)       # (nseg_ints,)
    speclc = 1.0 - shape_t[:, None] * depth[None, :]                   # (nseg_ints, nx)

    # big-endian, as FITS stores it: writing then needs one copy (BZERO) instead of two
    data = np.empty((nseg_ints, geom.ngroups, geom.ny, geom.nx), dtype=">u2")
    jumps_rows = []
    rateints = np.empty((nseg_ints, geom.ny, geom.nx), dtype=np.float32)
    log.info("simulating %s: %d integrations x %d groups x %d x %d", stem, nseg_ints, geom.ngroups,
             geom.ny, geom.nx)
    for j in range(nseg_ints):
        intnum = intstart + j
        rng = _rng(seed, _DET_CODE[detector], 2, intnum)
        photo = src * speclc[j][None, :] + background
        rateints[j] = photo
        jumps = _simulate_integration(rng, geom, sub, photo + sub.dark, phys, data[j])
        jumps_rows.extend((j, intnum, g, k, y, x, a) for g, k, y, x, a in jumps)
        if nseg_ints >= 20 and (j + 1) % max(1, nseg_ints // 10) == 0:
            log.info("  %s: %d/%d integrations", stem, j + 1, nseg_ints)

    # ---- headers and tables
    keywords = _uncal_keywords(kind, geom, phys, program, stem, int(nints), intstart, intend,
                               segment, nsegments, times)
    it = np.zeros(nseg_ints, dtype=simfiles.int_times_dtype())
    it["integration_number"] = np.arange(intstart, intend + 1)
    for col, key in (("int_start_MJD_UTC", "start"), ("int_mid_MJD_UTC", "mid"), ("int_end_MJD_UTC", "end"),
                     ("int_start_BJD_TDB", "start_bjd"), ("int_mid_BJD_TDB", "mid_bjd"),
                     ("int_end_BJD_TDB", "end_bjd")):
        it[col] = times[key][sl]
    group = _group_table(geom, times, intstart, intend)
    uncal = simfiles.write_uncal(outdir / f"{stem}_uncal.fits", data, keywords, it, group)

    # ---- truth
    truth_path = _write_truth(outdir / f"{stem}_truth.fits", kind, detector, seed, phys, geom, det,
                              sub, src, background, rateints, speclc, times, sl, intstart, intend,
                              segment, t0, tdur, ingress, jumps_rows)

    primary = {k: v for k, v in keywords.items()}
    meta = ExposureMeta.from_headers(primary, {}, filename=str(uncal), shape=data.shape)
    return SimulatedExposure(uncal=uncal, refs=refs, truth=truth_path, meta=meta)


def _uncal_keywords(kind, geom: _Geometry, phys, program, stem, nints, intstart, intend, segment,
                    nsegments, times) -> dict:
    from astropy.time import Time

    spec = _KIND[kind]
    start = Time(times["start"][0], format="mjd", scale="utc")
    end_mjd = times["end"][-1]
    date_obs, time_obs = start.isot.split("T")
    nircam = geom.instrument == "NIRCAM"
    longwave = geom.detector.endswith("LONG")
    kw = {
        "TELESCOP": "JWST", "ORIGIN": "rampflow",
        "DATE": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "TIMESYS": "UTC",
        "TITLE": str(program), "PI_NAME": "Simulated", "CATEGORY": "GO",
        "PROGRAM": "09999", "OBSERVTN": spec["observation"], "VISIT": "001", "VISITGRP": "04" if spec["tso"] else "02",
        "SEQ_ID": "1", "ACT_ID": "01", "EXPOSURE": "00001",
        "OBS_ID": f"V09999{spec['observation']}001P0000000{spec['act'][:2]}101",
        "VISIT_ID": f"09999{spec['observation']}001",
        "DATE-OBS": date_obs, "TIME-OBS": time_obs[:12],
        "DATE-BEG": start.isot,
        "DATE-END": Time(end_mjd, format="mjd", scale="utc").isot,
        "TSOVISIT": bool(spec["tso"]),
        "TARGNAME": "SIM-TRANSIT-1" if spec["tso"] else "SIM-FIELD-1",
        "TARGPROP": "SIM-TRANSIT-1" if spec["tso"] else "SIM-FIELD-1",
        "TARG_RA": float(phys["target_ra"]), "TARG_DEC": float(phys["target_dec"]),
        "SRCTYPE": "POINT",
        "INSTRUME": geom.instrument, "DETECTOR": geom.detector,
        "EXP_TYPE": spec["exp_type"], "READPATT": geom.readpatt, "NOUTPUTS": geom.noutputs,
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
    if spec["tso"] or nsegments > 1:
        kw["EXSEGNUM"] = int(segment)
        kw["EXSEGTOT"] = int(nsegments)
    if nircam:
        kw.update({"MODULE": geom.detector[3], "CHANNEL": "LONG" if longwave else "SHORT",
                   "FILTER": "F444W" if longwave else "F150W", "PUPIL": "CLEAR",
                   "APERNAME": f"{geom.detector}_{'FULL' if geom.subarray == 'FULL' else geom.subarray}"})
    else:
        kw.update({"FILTER": "F290LP", "GRATING": "G395H", "FXD_SLIT": "S1600A1",
                   "APERNAME": "NRS_S1600A1_SLIT"})
    return kw


def _group_table(geom: _Geometry, times, intstart, intend) -> np.ndarray:
    from astropy.time import Time

    from .io import simfiles

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


def _write_truth(path, kind, detector, seed, phys, geom, det, sub, src, background, rateints, speclc,
                 times, sl, intstart, intend, segment, t0, tdur, ingress, jumps_rows):
    from astropy.table import Table

    from .io import simfiles

    y_dead, x_dead = np.nonzero(_cut(geom, det.dead))
    hot = _cut(geom, det.hot)
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
    jr = np.array(jumps_rows, dtype=[("integration", "i4"), ("int_number", "i4"), ("group", "i4"),
                                     ("frame", "i4"), ("y", "i4"), ("x", "i4"), ("amplitude", "f8")]) \
        if jumps_rows else np.zeros(0, dtype=[("integration", "i4"), ("int_number", "i4"), ("group", "i4"),
                                              ("frame", "i4"), ("y", "i4"), ("x", "i4"), ("amplitude", "f8")])
    header = {
        "KIND": kind, "DETECTOR": detector, "SEED": int(seed), "EXSEGNUM": int(segment),
        "INTSTART": int(intstart), "INTEND": int(intend),
        "NGROUPS": geom.ngroups, "NFRAMES": geom.nframes, "GROUPGAP": geom.groupgap,
        "TFRAME": geom.tframe, "SUBARRAY": geom.subarray,
        "TDEPTH": (float(phys["transit_depth"]), "transit depth (fractional)"),
        "TT0": (float(t0), "transit mid-time, BJD_TDB - 2400000.5"),
        "TDUR": (float(tdur), "transit duration T14 [days]"),
        "TINGRESS": (float(ingress), "ingress duration / T14"),
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
        "DEAD": Table({"y": y_dead.astype(np.int32), "x": x_dead.astype(np.int32)}),
        "HOT": Table({"y": y_hot.astype(np.int32), "x": x_hot.astype(np.int32),
                      "dark_rate": sub.dark[hot].astype(np.float64)}),
    }
    return simfiles.write_truth(path, header, images, tables)


# ----------------------------------------------------------------------------------------
# programs and the CRDS cache

def _split_sim_cfg(sim_cfg: dict):
    cfg = dict(sim_cfg or {})
    physics = dict(cfg.pop("physics", None) or {})
    program = {k: cfg.pop(k) for k in list(cfg) if k in PROGRAM_KEYS}
    physics.update(cfg)                 # remaining top-level keys are physics parameters
    return program, physics


def _program_layout(sim_cfg: dict):
    prog, physics = _split_sim_cfg(sim_cfg)
    kind = prog.get("kind", "nirspec_tso")
    spec = _check_kind(kind)
    detectors = prog.get("detectors") or list(spec["detectors"][:2] if kind == "nirspec_tso" else ["NRCA1"])
    if isinstance(detectors, str):
        detectors = [detectors]
    detectors = [_check_detector(kind, d) for d in detectors]
    nseg = int(prog.get("segments", 1) or 1)
    return prog, physics, kind, detectors, nseg


def program_stems(sim_cfg: dict) -> list[str]:
    """The exposure names ``simulate_program`` will write for ``sim_cfg`` (no files touched),
    in the same detector-major order; the workflow expands its DAG from them."""
    _, _, kind, detectors, nseg = _program_layout(sim_cfg)
    return [_stem(kind, d, s, nseg) for d in detectors for s in range(1, nseg + 1)]


def simulate_program(outdir, sim_cfg: dict, crds_path) -> list[Path]:
    """Simulate every detector x segment of ``sim_cfg`` (the ``inputs.simulate`` block).

    Reference files are written once per detector into the CRDS cache at ``crds_path``
    (``references/jwst/<instrument>/``) and the cache's mappings are (re)written so that
    ``crds.getreferences`` resolves them. Returns the uncal paths (detector-major order).
    """
    prog, physics, kind, detectors, nseg = _program_layout(sim_cfg)
    nints = int(prog.get("nints", 8))
    ngroups = int(prog.get("ngroups", 10))
    size = prog.get("size")
    seed = int(prog.get("seed", 0) or 0)
    program = str(prog.get("program", "demo-tso"))
    ips = prog.get("ints_per_segment")
    if nints < nseg:
        raise ValueError(f"inputs.simulate.nints: {nints} integrations cannot fill {nseg} segments")
    phys = _physics(kind, physics)
    crds_path = Path(crds_path)
    _check_cache_is_ours(crds_path)
    outdir = Path(outdir)
    uncals: list[Path] = []
    refs_by_det: dict[str, dict] = {}
    for det_name in detectors:
        det = _make_detector(kind, det_name, phys, seed)
        refdir = crds_path / "references" / "jwst" / DETECTORS[det_name][0].lower()
        refs = None
        for s in range(1, nseg + 1):
            exp = simulate_exposure(outdir, kind=kind, detector=det_name, segment=s, nsegments=nseg,
                                    nints=nints, ngroups=ngroups, size=size, seed=seed, program=program,
                                    ints_per_segment=ips, refdir=refdir, write_refs=refs is None,
                                    refs=refs, _detector_model=det, **physics)
            refs = exp.refs
            uncals.append(exp.uncal)
        refs_by_det[det_name] = refs
    write_crds_cache(crds_path, refs_by_det)
    return uncals


_CACHE_MARK = "simulated_by"
_CONTEXT = "jwst_0001.pmap"
#: reference types the pipeline may ask for that the simulator does not provide
_NOT_APPLICABLE = ("ipc", "persat", "pictureframe", "refpix", "sirskernel", "trapdensity", "trappars")


def _check_cache_is_ours(crds_path: Path) -> None:
    import ast

    cfg = Path(crds_path) / "config" / "jwst" / "server_config"
    if cfg.exists():
        try:
            info = ast.literal_eval(cfg.read_text())
        except (ValueError, SyntaxError):
            info = {}
        if not isinstance(info, dict) or info.get(_CACHE_MARK) != "rampflow":
            raise ValueError(f"{crds_path}: holds a CRDS cache that rampflow did not write; "
                             "refusing to overwrite its mappings (choose another --crds-path)")


def _rmap_text(name, instrument, reftype, entries) -> str:
    """entries: {(detector, subarray): {useafter 'YYYY-MM-DD HH:MM:SS': filename}}"""
    lines = [
        "header = {",
        "    'classes' : ('Match', 'UseAfter'),",
        f"    'derived_from' : 'generated by rampflow simulate',",
        "    'file_ext' : '.fits',",
        f"    'filekind' : '{reftype.upper()}',",
        f"    'filetype' : '{reftype.upper()}',",
        f"    'instrument' : '{instrument.upper()}',",
        "    'mapping' : 'REFERENCE',",
        f"    'name' : '{name}',",
        "    'observatory' : 'JWST',",
        "    'parkey' : (('META.INSTRUMENT.DETECTOR', 'META.SUBARRAY.NAME'), "
        "('META.OBSERVATION.DATE', 'META.OBSERVATION.TIME')),",
        "    'sha1sum' : '@SHA1SUM@',",
        f"    'suffix' : '{reftype}',",
        f"    'text_descr' : 'Simulated {reftype}',",
        "}",
        "",
        "selector = Match({",
    ]
    for key in sorted(entries):
        lines.append(f"    ('{key[0]}', '{key[1]}') : UseAfter({{")
        for ua in sorted(entries[key]):
            lines.append(f"        '{ua}' : '{entries[key][ua]}',")
        lines.append("    }),")
    lines.append("})")
    return "\n".join(lines) + "\n"


def _dict_mapping_text(header: dict, selector: dict) -> str:
    lines = ["header = {"]
    for k in sorted(header):
        v = header[k]
        lines.append(f"    '{k}' : {v!r},")
    lines.append("}")
    lines.append("")
    lines.append("selector = {")
    for k in sorted(selector):
        lines.append(f"    '{k}' : '{selector[k]}',")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _with_checksum(text: str) -> str:
    """Fill the sha1sum as CRDS computes it: sha1 of the text without the sha1sum line."""
    import hashlib

    body = "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    return text.replace("@SHA1SUM@", hashlib.sha1(body.encode("utf-8")).hexdigest())


def _useafter_key(value) -> str:
    s = str(value or "2000-01-01T00:00:00").replace("T", " ").strip()
    if len(s) == 10:
        s += " 00:00:00"
    return s[:19]


def override_only_crds(root) -> dict:
    """A CRDS cache at ``root`` with an empty context, for running jwst steps offline with
    every reference file given as an ``override_<reftype>`` (the parity tests and the
    benchmark do). Returns the environment variables that point jwst at it: local mode,
    no step-parameter lookups, and a loopback server URL that nothing answers."""
    root = Path(root)
    cfg = root / "config" / "jwst"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "server_config").write_text(repr({
        "observatory": "jwst", "operational_context": "jwst_0000.pmap", "edit_context": "jwst_0000.pmap",
        "effective_mode": "local", "status": "server", "last_synced": "2026-01-01 00:00:00",
        "force_remote_mode": False, "crds_version": {"str": "14.0.3"}}))
    maps = root / "mappings" / "jwst"
    maps.mkdir(parents=True, exist_ok=True)
    (maps / "jwst_0000.pmap").write_text(
        "header = {\n    'derived_from' : 'hand made',\n    'mapping' : 'PIPELINE',\n"
        "    'name' : 'jwst_0000.pmap',\n    'observatory' : 'JWST',\n"
        "    'parkey' : (('META.INSTRUMENT.NAME',),),\n    'sha1sum' : 'none',\n}\n\nselector = {\n}\n")
    return {"CRDS_MODE": "local", "CRDS_PATH": str(root), "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
            "STPIPE_DISABLE_CRDS_STEPPARS": "True", "CRDS_SERVER_URL": "https://127.0.0.1:9"}


def write_crds_cache(crds_path, refs_by_detector: dict) -> str:
    """Make ``crds_path`` a CRDS cache that resolves the given reference files.

    refs_by_detector : detector -> {reftype -> path}. Files not already under
    ``crds_path/references/jwst/<instrument>/`` are copied there. Mappings are rebuilt from
    every ``jwst_*.fits`` reference in the cache (so successive calls accumulate): one rmap
    per (instrument, reftype) matching (META.INSTRUMENT.DETECTOR, META.SUBARRAY.NAME) — 'N/A'
    (any subarray) for full-frame files except DARK, which jwst does not cut — then UseAfter
    on META.OBSERVATION.DATE/TIME; one imap per instrument; ``jwst_0001.pmap``. Also writes
    ``config/jwst/server_config`` (operational context jwst_0001.pmap) and the cache's
    sub-directory mode ('instrument'). Returns the context name.
    """
    from .io import simfiles

    crds_path = Path(crds_path)
    _check_cache_is_ours(crds_path)
    cfgdir = crds_path / "config" / "jwst"
    mapdir = crds_path / "mappings" / "jwst"
    refroot = crds_path / "references" / "jwst"
    for d in (cfgdir, mapdir, refroot):
        d.mkdir(parents=True, exist_ok=True)

    for det, refs in (refs_by_detector or {}).items():
        for reftype, p in refs.items():
            p = Path(p)
            kw = simfiles.read_reference_keywords(p)
            instr = str(kw["INSTRUME"] or DETECTORS.get(str(det).upper(), ("",))[0]).lower()
            if not instr:
                raise ValueError(f"{p}: reference file has no INSTRUME keyword")
            dest = refroot / instr / p.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not (dest.exists() and os.path.samefile(dest, p)):
                shutil.copyfile(p, dest)

    # (instrument, reftype) -> {(detector, subarray): {useafter: filename}}
    rmaps: dict[tuple[str, str], dict] = {}
    for f in sorted(refroot.glob("*/jwst_*.fits")):
        kw = simfiles.read_reference_keywords(f)
        instr = str(kw["INSTRUME"] or "").upper()
        reftype = str(kw["REFTYPE"] or "").lower()
        det = str(kw["DETECTOR"] or "").upper()
        if not (instr and reftype and det):
            log.warning("%s: not a usable reference file (INSTRUME/REFTYPE/DETECTOR missing); skipped", f)
            continue
        sub = str(kw["SUBARRAY"] or "FULL").upper()
        full = (kw["SUBSIZE1"] in (None, _FULL)) and (kw["SUBSIZE2"] in (None, _FULL))
        subkey = "N/A" if (full and reftype != "dark") else sub
        ua = _useafter_key(kw["USEAFTER"])
        rmaps.setdefault((instr, reftype), {}).setdefault((det, subkey), {})[ua] = f.name

    instruments = sorted({k[0] for k in rmaps})
    mapping_names = []
    imap_names = {}
    for instr in instruments:
        selector = {}
        for (ins, reftype), entries in sorted(rmaps.items()):
            if ins != instr:
                continue
            name = f"jwst_{instr.lower()}_{reftype}_0001.rmap"
            (mapdir / name).write_text(_with_checksum(_rmap_text(name, instr, reftype, entries)))
            selector[reftype] = name
            mapping_names.append(name)
        for reftype in _NOT_APPLICABLE:
            selector.setdefault(reftype, "N/A")
        iname = f"jwst_{instr.lower()}_0001.imap"
        header = {"derived_from": "generated by rampflow simulate", "instrument": instr,
                  "mapping": "INSTRUMENT", "name": iname, "observatory": "JWST",
                  "parkey": ("REFTYPE",), "sha1sum": "@SHA1SUM@"}
        (mapdir / iname).write_text(_with_checksum(_dict_mapping_text(header, selector)))
        imap_names[instr] = iname
        mapping_names.append(iname)
    pheader = {"derived_from": "generated by rampflow simulate", "mapping": "PIPELINE",
               "name": _CONTEXT, "observatory": "JWST", "parkey": ("META.INSTRUMENT.NAME",),
               "sha1sum": "@SHA1SUM@"}
    (mapdir / _CONTEXT).write_text(_with_checksum(_dict_mapping_text(pheader, imap_names)))
    mapping_names.append(_CONTEXT)

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    info = {
        "observatory": "jwst",
        "operational_context": _CONTEXT,
        "edit_context": _CONTEXT,
        "versions_context": _CONTEXT,
        "effective_mode": "local",
        "status": "cache",
        "connected": False,
        "force_remote_mode": False,
        "last_synced": now,
        "bad_files": "",
        "bad_files_list": [],
        "bad_files_dict": {},
        "mappings": sorted(mapping_names),
        "reference_url": {"checked": {}, "unchecked": {}},
        "mapping_url": {"checked": {}, "unchecked": {}},
        _CACHE_MARK: "rampflow",
    }
    import pprint

    (cfgdir / "server_config").write_text(pprint.pformat(info) + "\n")
    (cfgdir / "ref_cache_subdir_mode").write_text("instrument")
    (cfgdir / "bad_files.txt").write_text("")
    return _CONTEXT
