"""Detector physics shared by every kind: the detector's reference-file model and the ramps.

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
* Reference pixels (4 on every full-frame edge) get no light and no dark current but all bias
  and read-out noise terms; dead pixels get no signal; hot pixels a high dark rate.

Randomness: every stream is ``numpy.random.default_rng([seed, detector code, purpose, ...])``
(:func:`rng`), so the detector depends only on (seed, detector) and an integration's noise only
on (seed, detector, integration number).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import dq as dqflags
from . import kinds
from .geometry import Geometry, cut, fast_coordinate, full_frame, readout_coords

#: largest raw value of the 16-bit A/D converter
ADC_MAX = 65535
#: random-stream purposes (third key of :func:`rng`)
STREAM_DETECTOR, STREAM_INTEGRATION, STREAM_SCENE = 1, 2, 3


def rng(seed: int, *keys: int) -> np.random.Generator:
    """The random stream of (seed, keys...)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) for k in keys]])


def _normal32(gen: np.random.Generator, shape) -> np.ndarray:
    return gen.standard_normal(shape, dtype=np.float32)


# ----------------------------------------------------------------------------------------
# non-linearity

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


# ----------------------------------------------------------------------------------------
# the detector (what its reference files describe)

@dataclass
class DetectorModel:
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


def _bad_pixels(gen: np.random.Generator, refpix: np.ndarray, phys: dict):
    """Dead and hot pixel maps, drawn among the light-sensitive pixels."""
    npix = refpix.size
    ndead = int(round(float(phys["dead_fraction"]) * npix))
    nhot = int(round(float(phys["hot_fraction"]) * npix))
    cand = np.flatnonzero(~refpix.ravel())
    picks = gen.choice(cand, size=ndead + nhot, replace=False)
    dead = np.zeros(npix, dtype=bool)
    hot = np.zeros(npix, dtype=bool)
    dead[picks[:ndead]] = True
    hot[picks[ndead:]] = True
    return dead.reshape(refpix.shape), hot.reshape(refpix.shape)


def make_detector(kind: str, detector: str, phys: dict, seed: int) -> DetectorModel:
    """Deterministic full-frame detector properties from (seed, detector)."""
    spec = kinds.get(kind)
    gen = rng(seed, spec.instrument.detectors[detector].code, STREAM_DETECTOR)
    instrument = spec.instrument
    shape = tuple(int(n) for n in instrument.full_shape)
    f32 = np.float32

    refpix = np.zeros(shape, dtype=bool)
    nr, nc = int(instrument.ref_rows), int(instrument.ref_cols)
    if nr:
        refpix[:nr, :] = refpix[-nr:, :] = True
    if nc:
        refpix[:, :nc] = refpix[:, -nc:] = True

    # superbias: level + per-output offsets + column (fast-line) pattern + pixel scatter
    full = full_frame(kind, detector)
    amp = readout_coords(full)[0]
    amp_level = gen.normal(0.0, 300.0, 4)
    col_pattern = gen.normal(0.0, 40.0, max(shape))
    bias = float(phys["bias_level"]) + amp_level[amp]
    # columns of the detector frame (fast coordinate) carry the pattern
    bias += col_pattern[fast_coordinate(full)]
    bias += float(phys["bias_rms"]) * _normal32(gen, shape)

    gain0 = phys["gain"]
    if gain0 is None:
        gain0 = spec.default_gain(detector)
    gain = float(gain0) * (1.0 + 0.03 * _normal32(gen, shape))
    rn = float(phys["readnoise"]) * (1.0 + 0.08 * _normal32(gen, shape))
    np.maximum(rn, 0.2 * float(phys["readnoise"]), out=rn)

    fw = float(phys["full_well"]) * (1.0 + 0.03 * _normal32(gen, shape))
    fnl = float(phys["nonlinearity"]) * (1.0 + 0.1 * _normal32(gen, shape))
    fnl = np.clip(fnl, 0.0, 0.45)
    q = fnl / (1.0 - fnl)                              # L_fw / M_fw - 1
    cub = float(phys["nonlin_cubic_fraction"])
    c2 = ((1.0 - cub) * q / fw).astype(f32)
    c3 = (cub * q / fw ** 2).astype(f32)

    dark = float(phys["dark_rate"]) * np.exp(0.2 * _normal32(gen, shape))
    dead, hot = _bad_pixels(gen, refpix, phys)
    lo, hi = math.log(float(phys["hot_rate_min"])), math.log(float(phys["hot_rate_max"]))
    dark[hot] = np.exp(gen.uniform(lo, hi, int(hot.sum())))
    dark[refpix | dead] = 0.0

    coeffs = np.zeros((4,) + shape, dtype=f32)
    coeffs[1] = 1.0
    coeffs[2] = c2
    coeffs[3] = c3
    coeffs[2:, refpix | dead] = 0.0

    bias32 = bias.astype(f32)
    fw32 = fw.astype(f32)
    sat = np.minimum(bias32.astype(np.float64) + fw32 - float(phys["sat_margin"]), ADC_MAX)
    return DetectorModel(name=detector, instrument=spec.instrument.name, superbias=bias32,
                         gain=gain.astype(f32), readnoise=rn.astype(f32), full_well=fw32, coeffs=coeffs,
                         saturation=sat.astype(f32), dark_rate=dark.astype(f32), refpix=refpix,
                         dead=dead, hot=hot, extra={"seed": int(seed)})


@dataclass
class SubarrayProps:
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


def subarray_props(det: DetectorModel, geom: Geometry) -> SubarrayProps:
    """``det`` cut to ``geom``'s subarray, with the readout coordinates of its pixels."""
    amp, parity, line, nlines = readout_coords(geom)
    return SubarrayProps(
        superbias=cut(geom, det.superbias).astype(np.float64),
        gain=cut(geom, det.gain).astype(np.float64),
        rn_read=cut(geom, det.readnoise).astype(np.float64) / math.sqrt(2.0),
        lfw=cut(geom, det.full_well_linear),
        c2=cut(geom, det.coeffs[2]).astype(np.float64),
        c3=cut(geom, det.coeffs[3]).astype(np.float64),
        dark=cut(geom, det.dark_rate).astype(np.float64),
        insensitive=cut(geom, det.refpix) | cut(geom, det.dead),
        amp=amp, parity=parity, line=line, nlines=nlines,
    )


# ----------------------------------------------------------------------------------------
# one integration

def pink(gen: np.random.Generator, nseq: int, n: int) -> np.ndarray:
    """(nseq, n) noise of ~unit rms with a 1/f power spectrum.

    Generated over 2n samples and cut to the first n, so the two ends are not tied together
    by the FFT's periodicity.
    """
    if n == 1:
        return gen.standard_normal((nseq, 1))
    m = 2 * n
    white = gen.standard_normal((nseq, m))
    spec = np.fft.rfft(white, axis=1)
    k = np.arange(spec.shape[1], dtype=np.float64)
    spec *= 1.0 / np.sqrt(np.maximum(k, 1.0))
    out = np.fft.irfft(spec, n=m, axis=1)[:, :n]
    kk = np.minimum(np.arange(m), m - np.arange(m))
    norm = math.sqrt(np.mean(1.0 / np.maximum(kk, 1.0)))
    return out / norm


_BLOCK_ELEMENTS = 8_000_000     # float64 elements per work block (~64 MB)


def _cosmic_rays(gen: np.random.Generator, geom: Geometry, sub: SubarrayProps, phys: dict) -> list:
    """Cosmic rays of one integration: uniform in space and frame, log-uniform in amplitude,
    on sensitive pixels only. A list of (group, frame, y, x, amplitude)."""
    jumps = []
    nfr, nf = geom.nframes_total, geom.nframes
    cr_rate = float(phys["cr_rate"])
    if cr_rate > 0 and nfr > 1:
        n = int(gen.poisson(cr_rate * geom.ny * geom.nx * nfr * geom.tframe))
        ys = gen.integers(0, geom.ny, n)
        xs = gen.integers(0, geom.nx, n)
        ks = gen.integers(1, nfr, n)
        amps = np.exp(gen.uniform(math.log(float(phys["cr_min_dn"])), math.log(float(phys["cr_max_dn"])), n))
        keep = ~sub.insensitive[ys, xs]
        for y, x, k, a in zip(ys[keep], xs[keep], ks[keep], amps[keep]):
            g = max(0, -(-(int(k) - nf + 1) // (nf + geom.groupgap)))
            jumps.append((g, int(k), int(y), int(x), float(a)))
    return jumps


def simulate_integration(gen: np.random.Generator, geom: Geometry, sub: SubarrayProps, rate: np.ndarray,
                         phys: dict, out: np.ndarray, zero_out: np.ndarray | None = None, effects=None,
                         extra_jumps=()):
    """Fill ``out`` (ngroups, ny, nx) uint16 with one integration; return its jumps.

    rate : (ny, nx) total photo-current + dark [DN/s] for this integration
    zero_out : (ny, nx) uint16 to fill with the integration's first frame (the ZEROFRAME): the
        first group itself when groups are single frames without a gap, else the first frame
        read on its own (its own read noise, drawn after the groups' so the groups do not change)
    effects : None, or the kind's ``add(grp, blk)`` (:meth:`.kinds.Kind.integration_effects`)
        adding instrument-specific DN to each row block before read noise and rounding
    extra_jumps : more deposits (group, frame, y, x, amplitude), e.g. large events
        (:mod:`.large_events`), added like cosmic rays but not returned
    Returns a list of (group, frame, y, x, amplitude).
    """
    ny, nx = geom.ny, geom.nx
    nfr = geom.nframes_total
    ng, nf = geom.ngroups, geom.nframes
    tframe = geom.tframe
    jumps = _cosmic_rays(gen, geom, sub, phys)

    # per-integration / per-read offsets (small arrays)
    namp = geom.noutputs
    amp_off = gen.normal(0.0, float(phys["amp_offset_rms"]), namp) if phys["amp_offset_rms"] else np.zeros(namp)
    oe = (gen.normal(0.0, float(phys["odd_even_rms"]), (nfr, namp, 2)) if phys["odd_even_rms"]
          else np.zeros((nfr, namp, 2)))
    stripes = (pink(gen, nfr, sub.nlines) * float(phys["one_over_f_rms"]) if phys["one_over_f_rms"]
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
            cum = gen.poisson(lam, size=(nfr,) + lam.shape).astype(np.float64)
            np.cumsum(cum, axis=0, out=cum)
            cum /= g_e
        else:
            cum = frame_t[:, None, None] * r[None]
        for _, k, y, x, a in (jumps + list(extra_jumps)) if extra_jumps else jumps:
            if y0 <= y < y1:
                cum[k:, y - y0, x] += a
        np.minimum(cum, sub.lfw[blk], out=cum)
        meas = linear_to_measured(cum, sub.c2[blk], sub.c3[blk])
        del cum
        first = None if (zero_out is None or int(fidx[0, 0]) == 0 and nf == 1) else meas[0].copy()
        if nf == 1 and geom.groupgap == 0:
            grp = meas
        else:
            grp = meas[fidx.ravel()].reshape((ng, nf) + meas.shape[1:]).mean(axis=1)
        del meas
        a_blk, p_blk, l_blk = sub.amp[blk], sub.parity[blk], sub.line[blk]
        grp += sub.superbias[blk] + amp_off[a_blk]
        grp += oe_g[:, a_blk, p_blk]
        grp += stripes_g[:, l_blk]
        if effects is not None:
            effects(grp, blk)
        if rn_scale > 0:
            noise = gen.standard_normal(grp.shape)
            noise *= sub.rn_read[blk] * rn_scale
            grp += noise
            del noise
        np.rint(grp, out=grp)
        np.clip(grp, 0, ADC_MAX, out=grp)
        out[:, blk] = grp.astype(np.uint16)
        if zero_out is not None:
            if first is None:
                zero_out[blk] = out[0, blk]
            else:
                z = first + sub.superbias[blk] + amp_off[a_blk] + oe[0][a_blk, p_blk] + stripes[0][l_blk]
                if phys["read_noise_scale"]:
                    z += gen.standard_normal(z.shape) * sub.rn_read[blk] * float(phys["read_noise_scale"])
                zero_out[blk] = np.clip(np.rint(z), 0, ADC_MAX).astype(np.uint16)
    return jumps
