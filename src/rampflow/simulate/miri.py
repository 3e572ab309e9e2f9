"""MIRI: its imager detector and two kinds, ``miri_image`` and ``miri_lrs_tso``.

``miri_image``
    MIRI imaging (MIR_IMAGE, F770W) on the full MIRIMAGE frame: 1024 rows x 1032 columns with
    four reference columns on the left and four on the right (no reference rows), FASTR1,
    Gaussian point sources.
``miri_lrs_tso``
    MIRI LRS slitless time series (MIR_LRS-SLITLESS, P750L) on SLITLESSPRISM: 416 x 72 at
    SUBSTRT1 = 1, SUBSTRT2 = 529 (its first four columns are reference columns), FASTR1, the
    prism spectrum dispersed along the rows (wavelength changes with y), a transit across the
    integrations, split into segments.

The detector (MIRIMAGE, FASTAXIS = 1, SLOWAXIS = 2) is read through four interleaved outputs
(output = column mod 4) plus a fifth *reference output* written as the uncal's REFOUT
extension. TFRAME comes from MIRI's pixel clocking as jwst's emicorr tabulates it:
``rowclocks = nx / 4 + 10`` (13 for the full 1032 columns), ``frameclocks = ny * rowclocks
+ (1024 - ny) * 7`` pixel times of 10 us (FULL: 2.77504 s, SLITLESSPRISM: 0.15904 s).

MIRI physics on top of the shared ramp model (:mod:`.detector`), each the expectation of the
reference file that corrects it, so the corrected ramps recover the truth:

* **reset anomaly** -- integration ``i`` (1-based) gets ``reset_anomaly_dn * r_i * p(y, x) *
  exp(-g / reset_tau)`` in group ``g`` (0-based), ``r_1 = 1``, ``r_i = reset_int2_ratio``
  after; the RESET reference (2 integrations x NGROUPS, cut to the subarray) holds exactly
  these float32 values, which jwst's reset step subtracts;
* **first- and last-frame anomalies** -- group 0 is offset by ``first_frame_dn * f(y, x)`` and
  the last group by ``last_frame_dn * l(y, x)`` (the groups firstframe/lastframe flag);
* **RSCD** -- integrations after the first start with ``-rscd_fraction * S_prev *
  exp(-g / rscd_tau)`` DN, ``S_prev`` the expected signal [DN] at the end of the previous
  integration; the RSCD reference's table flags :data:`RSCD_SKIP` groups (first integration,
  later ones), enough for the default decay to fall below the read noise;
* **integration-dependent dark** -- the first integration of the exposure collects
  ``1 + dark_int1_excess`` times the dark rate; the 4-D DARK reference (2 integrations)
  holds ``dark * t`` for the first and the second and later integrations;
* **EMI** -- when ``emi_amplitude`` > 0, ``emi_amplitude * sin(2 pi t / P + phi)`` DN at every
  frequency jwst's EMICORR cases list for the readout (390.625 Hz and 10.039216 Hz for
  SLITLESSPRISM, 10.039216 Hz for FULL), ``t`` each pixel's read time in 10 us clocks
  counted as jwst's emicorr counts it (rows of ``rowclocks``, columns in groups of 4 read
  together, one reset frame between FASTR1 integrations), ``phi`` drawn from the seed;
* the four interleaved outputs carry the shared model's per-integration and per-group
  offsets (``amp_offset_rms``, ``odd_even_rms``: the drifts MIRI refpix removes), and the
  reference output REFOUT gets the bias, the per-integration offset of a fifth amplifier and
  read noise.

MIRI has no SUPERBIAS reference: the bias stays in the ramps, so the LINEARITY reference is
the signal-domain polynomial re-expanded around each pixel's bias (see :mod:`.miri_refs`).
Parameter values (bias ~ 11000 DN, gain 4 e-/DN, CDS read noise 6.5 DN, dark 0.2 DN/s,
anomaly sizes) are round numbers of the order MIRI papers quote, not calibrations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from . import kinds, nircam
from .detector import rng

MIRI = kinds.Instrument(
    name="MIRI",
    detectors={"MIRIMAGE": kinds.DetectorSpec(1, 2, code=40)},
    readpatterns={"FASTR1": (1, 0), "FAST": (1, 0)},
    dark_readpatt="FASTR1",
    dark_model="DarkMIRIModel",
    full_shape=(1024, 1032),
    ref_rows=0,
    ref_cols=4,
    interleaved_outputs=True,
)

#: random-stream purposes of the MIRI effects (third key of :func:`.detector.rng`)
STREAM_MIRI_MAPS, STREAM_REFOUT, STREAM_EMI = 41, 42, 43
#: groups the RSCD reference flags: (first integration, later integrations), per readout pattern
RSCD_SKIP = {"FASTR1": (1, 4), "FAST": (1, 4)}
#: MIRI's EMI frequencies [Hz] (names as in the EMICORR reference)
EMI_FREQUENCIES = {"Hz390": 390.625, "Hz10": 10.039216}
#: EMI frequencies jwst's emicorr corrects per subarray case (FULL is FULL_FAST for FAST patterns)
EMI_CASES = {"FULL_FAST": ("Hz10",), "SLITLESSPRISM": ("Hz390", "Hz10")}
#: SLITLESSPRISM on the full frame (1-based corner, DMS)
SLITLESSPRISM = {"xstart": 1, "ystart": 529, "nx": 72, "ny": 416}

_MIRI_PHYSICS = {
    "reset_anomaly_dn": 60.0,      # DN, reset anomaly of the first integration at group 0
    "reset_tau": 2.5,              # groups, its decay
    "reset_int2_ratio": 0.7,       # anomaly of integrations 2+ relative to the first
    "first_frame_dn": 15.0,        # DN, mean offset of the first group
    "last_frame_dn": -20.0,        # DN, mean offset of the last group
    "rscd_fraction": 0.002,        # RSCD: fraction of the previous integration's final signal
    "rscd_tau": 1.0,               # groups, RSCD decay
    "dark_int1_excess": 0.5,       # extra dark of the first integration (fraction of the rate)
    "emi_amplitude": 0.0,          # DN per EMI frequency (0: no EMI)
    "refout_level": 11000.0,       # DN, reference output level
}


def clocks(subarray: str, ny: int, nx: int) -> tuple[int, int]:
    """(rowclocks, frameclocks) of a FAST readout, in 10 us pixel times (jwst emicorr's table)."""
    rowclocks = nx // 4 + (13 if nx == 1032 else 10)
    return rowclocks, ny * rowclocks + (1024 - ny) * 7


def emi_case(subarray: str, readpatt: str) -> str:
    """jwst emicorr's subarray case name: FULL_FAST / FULL_SLOW for full frame, else the SUBARRAY."""
    speed = "SLOW" if "SLOW" in readpatt.upper() else "FAST"
    return f"{subarray}_{speed}" if subarray == "FULL" else subarray


def _maps(det) -> dict:
    """Full-frame pattern maps of the MIRI anomalies (fixed per (seed, detector), cached)."""
    if "miri_maps" not in det.extra:
        gen = rng(det.extra.get("seed", 0), MIRI.detectors[det.name].code, STREAM_MIRI_MAPS)
        shape = det.refpix.shape
        det.extra["miri_maps"] = {
            "reset": (1.0 + 0.2 * gen.standard_normal(shape)).astype(np.float32),
            "first": (1.0 + 0.3 * gen.standard_normal(shape)).astype(np.float32),
            "last": (1.0 + 0.3 * gen.standard_normal(shape)).astype(np.float32),
        }
    return det.extra["miri_maps"]


def reset_anomaly(det, geom, phys: dict, nints: int = 2) -> np.ndarray:
    """float32 (nints, ngroups, ny, nx) reset anomaly of the first ``nints`` integrations (the
    last plane applies to all later ones): the RESET reference and the injected signal."""
    from .geometry import cut

    p = cut(geom, _maps(det)["reset"]).astype(np.float64)
    g = np.arange(geom.ngroups, dtype=np.float64)
    shape_g = np.exp(-g / max(float(phys["reset_tau"]), 1e-9))
    ratio = np.array([1.0] + [float(phys["reset_int2_ratio"])] * (nints - 1))
    out = float(phys["reset_anomaly_dn"]) * ratio[:, None, None, None] * shape_g[None, :, None, None] * p[None, None]
    return out.astype(np.float32)


def emi_signal(geom, phys: dict, seed: int, intnum: int, rows: slice) -> np.ndarray | None:
    """(ngroups, rows, nx) EMI [DN] of integration ``intnum`` (1-based), or None when off."""
    amp = float(phys["emi_amplitude"])
    names = EMI_CASES.get(emi_case(geom.subarray, geom.readpatt), ())
    if amp == 0 or not names:
        return None
    rowclocks, frameclocks = clocks(geom.subarray, geom.ny, geom.nx)
    per_int = geom.ngroups * frameclocks + (frameclocks if geom.readpatt.endswith("R1") else 0)
    y = np.arange(geom.ny)[rows]
    c4 = np.arange(geom.nx) // 4
    t = ((intnum - 1) * per_int + np.arange(geom.ngroups)[:, None, None] * frameclocks
         + y[None, :, None] * rowclocks + c4[None, None, :]).astype(np.float64)
    gen = rng(seed, MIRI.detectors[geom.detector].code, STREAM_EMI)
    phases = {name: gen.uniform(0, 2 * np.pi) for name in EMI_FREQUENCIES}
    out = np.zeros(t.shape)
    for name in names:
        period = 1.0 / EMI_FREQUENCIES[name] / 10e-6           # in pixel clocks
        out += amp * np.sin(2 * np.pi * t / period + phases[name])
    return out


class MiriKind(kinds.Kind):
    """What both MIRI kinds share: the detector, the clocking and the MIRI effects."""

    instrument = MIRI
    detectors = ("MIRIMAGE",)
    default_detectors = ("MIRIMAGE",)
    readpatt = "FASTR1"
    physics = {"one_over_f_rms": 0.0, "odd_even_rms": 0.5, "dark_rate": 0.2, "bias_level": 11000.0,
               "gain": 4.0, "readnoise": 6.5, "full_well": 45000.0, "bias_rms": 400.0}
    scene_physics = dict(_MIRI_PHYSICS)

    def noutputs(self, ny, nx):
        return 4

    def frame_time(self, subarray, ny, nx, noutputs):
        return round(clocks(subarray, ny, nx)[1] * 1e-5, 5)

    def extra_rate(self, det, geom, sub, phys, intnum):
        if intnum == 1 and float(phys["dark_int1_excess"]):
            return sub.dark * float(phys["dark_int1_excess"])
        return None

    def integration_effects(self, det, geom, sub, phys, seed, rate, intnum):
        from .geometry import cut

        maps = _maps(det)
        reset = reset_anomaly(det, geom, phys)[min(intnum, 2) - 1].astype(np.float64)
        first = float(phys["first_frame_dn"]) * cut(geom, maps["first"]).astype(np.float64)
        last = float(phys["last_frame_dn"]) * cut(geom, maps["last"]).astype(np.float64)
        rscd = None
        if intnum > 1 and float(phys["rscd_fraction"]):
            t_last = geom.nframes_total * geom.tframe
            s_prev = np.minimum(rate * t_last, sub.lfw)           # expected final signal [DN]
            g = np.arange(geom.ngroups, dtype=np.float64)
            decay = np.exp(-g / max(float(phys["rscd_tau"]), 1e-9))
            rscd = (-float(phys["rscd_fraction"]) * decay[:, None, None], s_prev)

        def add(grp, blk):
            grp += reset[:, blk]
            grp[0] += first[blk]
            grp[-1] += last[blk]
            if rscd is not None:
                grp += rscd[0] * rscd[1][blk][None]
            emi = emi_signal(geom, phys, seed, intnum, blk)
            if emi is not None:
                grp += emi

        return add

    def extra_extensions(self, det, geom, phys, seed, nints, intstart):
        """REFOUT: (nints, ngroups, ny / 4, nx) uint16: the reference output's ny x nx / 4 samples
        per group, stored as MIRI's raw frames carry them (ny / 4 extra rows of nx after the
        ny detector rows, e.g. 256 x 1032 for FULL)."""
        code = MIRI.detectors[geom.detector].code
        ny4 = geom.ny // 4
        out = np.empty((nints, geom.ngroups, ny4, geom.nx), dtype=np.uint16)
        base = rng(seed, code, STREAM_REFOUT, 0).normal(float(phys["refout_level"]), 50.0, (ny4, geom.nx))
        rn = float(phys["readnoise"]) / math.sqrt(2.0) * float(phys["read_noise_scale"])
        for j in range(nints):
            gen = rng(seed, code, STREAM_REFOUT, intstart + j)
            off = gen.normal(0.0, float(phys["amp_offset_rms"])) if phys["amp_offset_rms"] else 0.0
            vals = base[None] + off + rn * gen.standard_normal((geom.ngroups, ny4, geom.nx))
            out[j] = np.clip(np.rint(vals), 0, 65535).astype(np.uint16)
        return {"refout": out}

    def write_references(self, det, geom, phys, refdir):
        from .miri_refs import write_miri_references

        return write_miri_references(det, geom, phys, refdir)


class MiriImage(MiriKind):
    """MIRI imaging on the full frame: Gaussian point sources, the target near the centre."""

    name = "miri_image"
    exp_type = "MIR_IMAGE"
    size = (1024, 1032)
    tso = False
    observation = 5
    visit_group = 2
    target = "SIM-MIRI-FIELD"
    physics = dict(MiriKind.physics, peak_well_fraction=2.0, background=5.0, transit_depth=0.0)

    def subarray(self, detector, ny, nx):
        return "GENERIC", 1, 1

    def source(self, det, geom, phys, rng_, peak):
        # the point-source field of the NIR imaging kind, with MIRI's F770W PSF (~1 pixel sigma)
        phys = dict(phys, psf_sigma=phys["psf_sigma"] or 1.1)
        return nircam.NircamImage.source(self, det, geom, phys, rng_, peak)

    def keywords(self, geom):
        return {"FILTER": "F770W", "NSAMPLES": 1,
                "APERNAME": "MIRIM_FULL" if geom.subarray == "FULL" else "MIRIM_ILLUM"}


class MiriLrsTso(MiriKind):
    """MIRI LRS slitless time series: the prism spectrum dispersed along the rows."""

    name = "miri_lrs_tso"
    exp_type = "MIR_LRS-SLITLESS"
    size = (SLITLESSPRISM["ny"], SLITLESSPRISM["nx"])
    tso = True
    observation = 3
    visit_group = 3
    target = "SIM-MIRI-TRANSIT"
    physics = dict(MiriKind.physics, peak_well_fraction=0.5, background=1.0, transit_depth=0.005)
    scene_physics = dict(MiriKind.scene_physics, lrs_trace_x0=None, lrs_trace_tilt=0.6, lrs_psf_sigma=1.1)

    def subarray(self, detector, ny, nx):
        ystart = SLITLESSPRISM["ystart"] + max(0, (SLITLESSPRISM["ny"] - ny) // 2)
        name = "SLITLESSPRISM" if (ny, nx) == (SLITLESSPRISM["ny"], SLITLESSPRISM["nx"]) else "GENERIC"
        return name, 1, min(ystart, 1024 - ny + 1)

    @staticmethod
    def wavelength(y: np.ndarray, ny: int) -> np.ndarray:
        """Wavelength [um] of subarray row ``y``: 5 um near the top of SLITLESSPRISM (row 390 of
        416), 14 um at row 110, linear (the P750L solution runs the same way, short
        wavelengths at high rows)."""
        scale = ny / SLITLESSPRISM["ny"]
        return 5.0 + 9.0 * (390.0 * scale - np.asarray(y, dtype=np.float64)) / (280.0 * scale)

    def source(self, det, geom, phys, rng_, peak):
        if float(phys["depth_slope"]):
            raise ValueError("inputs.simulate.depth_slope: miri_lrs_tso disperses along rows; "
                             "a column depth slope has no meaning for it (use 0)")
        ny, nx = geom.ny, geom.nx
        y = np.arange(ny, dtype=np.float64)
        x0 = phys["lrs_trace_x0"]
        x0 = 36.5 * nx / SLITLESSPRISM["nx"] if x0 is None else float(x0)
        xc = x0 + float(phys["lrs_trace_tilt"]) * (y - ny / 2.0) / ny          # (ny,)
        sig = float(phys["lrs_psf_sigma"]) * (0.8 + 0.4 * np.clip((self.wavelength(y, ny) - 5) / 9, 0, 1))
        edges = np.arange(nx + 1, dtype=np.float64) - 0.5
        cdf = 0.5 * (1.0 + erf((edges[None, :] - xc[:, None]) / (math.sqrt(2.0) * sig[:, None])))
        prof = np.diff(cdf, axis=1)                                             # (ny, nx)
        lam = self.wavelength(y, ny)
        spec = lam ** -2.0 * np.exp(-0.5 * ((lam - 7.5) / 2.5) ** 2)
        spec[(lam < 4.6) | (lam > 14.5)] = 0.0
        spec *= 1.0 + 0.03 * np.sin(2 * np.pi * y / 61.0 + rng_.uniform(0, 2 * np.pi))
        src = prof * spec[:, None]
        src *= peak / src.max()
        det.extra["lrs_trace"] = (xc, lam)
        return src

    def keywords(self, geom):
        return {"FILTER": "P750L", "NSAMPLES": 1, "APERNAME": "MIRIM_SLITLESSPRISM"}


#: the kinds, registered in the package's ``__init__``
IMAGE = MiriImage()
LRS_TSO = MiriLrsTso()

