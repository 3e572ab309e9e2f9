"""MIRI EMI correction: jwst's ``emicorr`` step (jwst 3.0), its default 'joint' algorithm
(``jwst.emicorr.emicorr.emicorr_refwave``) here, the 'sequential' one in
:mod:`rampflow.steps.emicorr_sequential`.

Electromagnetic interference adds to MIRI ramps a periodic signal (390.625 Hz, ~10 Hz, ...)
sampled at each pixel's read time. The EMICORR reference (ASDF) gives, per subarray
(``FULL_FAST`` / ``FULL_SLOW`` for full frame) and readout speed (FAST, or SLOW per detector),
the frequencies to correct, the row and frame clock counts, and for each frequency a reference
waveform (``phase_amplitudes``, one period). For each frequency in turn, jwst's joint fit:

1. gives each pixel its read time in 10 us pixel clocks (``row * rowclocks + column_in_amp
   * nsamples``; the four amplifiers are read at once) and so its phase in the wave; groups are
   ``ny * rowclocks + (1024 - ny) * 7`` clocks apart, integrations ``ngroups`` groups plus
   ``frameclocks`` (FASTR1 / SLOWR1 only) apart;
2. keeps the pixels whose standard deviation over groups is below twice the median one and
   whose PIXELDQ is 0 (columns 1 and 2 of each amplifier left out), and sums their ramps by
   phase bin (one bin per waveform sample);
3. finds the phase offset (500 trial phases, then a parabola through the best three) and the
   amplitude of the waveform (a cubic spline through the samples) that make these ramps most
   nearly straight lines (least chi squared), one for all integrations or, with
   ``fit_ints_separately``, one per integration;
4. subtracts the scaled, phased waveform from every pixel of every group (float64 arithmetic,
   stored as float32).

Skipped as jwst skips: a detector other than MIRI's, a read pattern other than FAST, FASTR1,
SLOW, SLOWR1, fewer than 3 groups, no EMICORR reference (N/A), no entry for the subarray
and readout. jwst's step is skipped by default (``skip = True``): rampflow runs it only when
``emicorr`` is in the config's ``steps`` list.

The ``sequential`` algorithm (``algorithm: sequential``, and forced by ``onthefly_corr_freq``,
which corrects the listed frequencies with no reference waveform) is
:mod:`rampflow.steps.emicorr_sequential`; ``nints_to_phase``, ``nbins``, ``scale_reference``
and ``use_n_cycles`` are its parameters, ``fit_ints_separately`` the joint one's.

Differences from jwst (deliberate):

* ``save_intermediate_results`` (jwst writes the waveforms measured on the fly as an
  EMICORR file) has no effect; ``user_supplied_reffile`` (deprecated in jwst) is refused with
  a message pointing to ``references.overrides.emicorr``.
* the fit needs every integration at once, so the step takes the whole exposure in memory
  (``chunking = "whole"``), as jwst does.
* NSAMPLES missing from the header: 1 for FAST read patterns, 9 for SLOW (jwst would fail).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import interpolate

from .base import Step
from .emicorr_sequential import correct_frequency_sequential, onthefly_clocks
from .lastframe import miri_only

log = logging.getLogger(__name__)

#: read patterns jwst corrects
READPATTS = ("FAST", "FASTR1", "SLOW", "SLOWR1")
#: number of trial phases of the chi-squared scan (jwst's ``nphases_opt``)
NPHASES_OPT = 500


def subarray_case(tree: dict, subarray: str, readpatt: str, detector: str):
    """(rowclocks, frameclocks, frequency names) of the EMICORR tree's entry for the exposure,
    as jwst's ``get_subarcase``; None when the reference has no such entry."""
    readpatt = readpatt.upper()
    speed = "SLOW" if "SLOW" in readpatt else ("FAST" if "FAST" in readpatt else None)
    if speed is None:
        return None
    name = f"{subarray}_{speed}" if "FULL" in subarray else subarray
    case = (tree.get("subarray_cases") or {}).get(name)
    if not case:
        return None
    try:
        freqs = case["freqs"][speed]
        if speed == "SLOW":
            freqs = freqs[detector]
        return int(case["rowclocks"]), int(case["frameclocks"]), list(freqs)
    except (KeyError, TypeError):
        return None


def frequency_info(tree: dict, name: str, what: str) -> tuple[float, np.ndarray]:
    """(frequency in Hz, reference waveform float64 (n,)) of frequency ``name``; ValueError
    naming ``what`` when the reference does not define it."""
    try:
        f = tree["frequencies"][name]
        return float(f["frequency"]), np.asarray(f["phase_amplitudes"], dtype=np.float64)
    except (KeyError, TypeError):
        raise ValueError(f"{what}: EMICORR reference has no frequency {name!r} "
                         f"(has {sorted(tree.get('frequencies') or {})})") from None


def waveform_spline(refwave: np.ndarray):
    """The waveform as a periodic-wrapped cubic spline of phase in [0, 1) (jwst's ``phasefunc``)."""
    n = len(refwave)
    extended = np.concatenate([refwave[-1:], refwave, refwave[:1]])
    phases = (np.arange(n + 2) - 0.5) / n
    return interpolate.interp1d(phases, extended, kind="cubic"), phases


def best_phase(phases: np.ndarray, chisq: np.ndarray) -> float:
    """The phase of least chi squared: vertex of the parabola through the best trial phase and
    its two (periodic) neighbours; the best trial phase when that is not possible."""
    chisq = np.asarray(chisq, dtype=np.float64)
    if not np.isfinite(chisq).any():
        log.warning("emicorr: chi squared values are all NaN")
        return float(phases[0])
    ib = int(np.nanargmin(chisq))
    im, ip = ib - 1, (ib + 1 if ib + 1 < len(chisq) else 0)
    c3 = [chisq[im], chisq[ib], chisq[ip]]
    if not np.all(np.isfinite(c3)) or np.nanstd(c3) == 0:
        return float(phases[ib])
    a, b, _ = np.polyfit([phases[im], phases[ib], phases[ip]], c3, 2)
    return float(-b / (2 * a))


class _Fit:
    """The sums over pixels and waveform samples behind the chi-squared scan (jwst's
    ``EMIfitter``): all_y (nints, nphases, ngroups), all_n (nints, nphases)."""

    def __init__(self, all_y, all_n, spline, template, phaselist, dphase_frame):
        self.y, self.n = all_y, all_n
        self.nints, _, self.ngroups = all_y.shape
        t = np.arange(self.ngroups)
        self.s_tt, self.s_t = np.sum(t**2), np.sum(t)
        self.delta = self.ngroups * self.s_tt - self.s_t**2
        self.sy = np.sum(all_y, axis=2)
        self.sty = np.sum(all_y * t, axis=2)
        self.phaselist, self.dphase_frame = phaselist, dphase_frame
        self.z, self.sz, self.stz, self.szz = [], [], [], []
        for p in phaselist:
            z = spline((template.T + p) % 1).T
            self.z.append(z)
            self.stz.append(np.sum(t * z, axis=1))
            self.sz.append(np.sum(z, axis=1))
            self.szz.append(np.sum(z**2, axis=1))

    def chisq_amplitudes(self, ints=None, phases=None):
        """(chi squared, best amplitude) at each phase, summed over integrations ``ints``."""
        ints = range(self.nints) if ints is None else ints
        phases = self.phaselist if phases is None else phases
        chisq, amps = [], []
        for phase in phases:
            a_ = b_ = 0
            for i in ints:
                k = np.argmin(np.abs((self.phaselist - phase - self.dphase_frame * i) % 1))
                z, s_tz, s_z, s_zz = self.z[k], self.stz[k], self.sz[k], self.szz[k]
                s_y, s_ty = self.sy[i], self.sty[i]
                a_ += np.sum(self.n[i] / self.delta * (-self.s_tt * s_z**2 + 2 * self.s_t * s_z * s_tz
                                                       - self.ngroups * s_tz**2 + s_zz * self.delta))
                b_ += (2 / self.delta) * np.sum(self.s_tt * s_z * s_y - self.s_t * s_tz * s_y
                                                - self.s_t * s_z * s_ty + self.ngroups * s_tz * s_ty)
                b_ -= 2 * np.sum(np.sum(z * self.y[i], axis=1))
            if np.isclose(a_, 0, atol=1e-8) or not np.isfinite(a_) or not np.isfinite(b_):
                chisq.append(np.nan)
                amps.append(0.0)
            else:
                c = -b_ / (2 * a_)
                chisq.append(a_ * c**2 + b_ * c)
                amps.append(c)
        return chisq, amps


def correct_frequency(data: np.ndarray, pdq: np.ndarray, refwave: np.ndarray, nsamples: int, rowclocks: int,
                      frameclocks: int, period: float, fit_ints_separately: bool = False) -> tuple[list, list]:
    """Fit one EMI frequency jointly with the ramps and subtract it from ``data`` in place.

    data : float32 (nints, ngroups, ny, nx), nx a multiple of 4 (the four amplifiers);
    pdq : uint32 (ny, nx); refwave : float64 (n,) one period of the waveform;
    frameclocks : extra clocks between integrations (0 unless FASTR1 / SLOWR1);
    period : the wave's period in 10 us pixel clocks.
    Returns (phases, amplitudes) subtracted, one per integration.
    """
    nints, ngroups, ny, nx = data.shape
    if nx % 4:
        raise ValueError(f"emicorr: the number of columns ({nx}) is not a multiple of 4 (MIRI's four amplifiers)")
    nx4 = nx // 4
    frametime = ny * rowclocks + (1024.0 - ny) * (4 + 3.0)
    t0 = np.arange(ny)[:, None] * float(rowclocks) + np.arange(nx4)[None, :] * float(nsamples)
    phase = (t0 / period) % 1
    dphase = (frametime / period) % 1
    dphase_frame = dphase * ngroups + frameclocks / period
    spline, ext = waveform_spline(refwave)
    template = (ext[1:-1, None] + np.arange(ngroups) * dphase) % 1
    nphases = template.shape[0]

    pixel_std = np.std(data, axis=1)
    pixel_ok = (pixel_std < 2 * np.median(pixel_std)) & (pdq == 0)
    index = (phase * nphases).astype(np.int64)
    index[:, 1:3] = -1  # jwst: bad reference columns
    all_y = np.zeros((nints, nphases, ngroups))
    all_n = np.zeros((nints, nphases))
    from ..kernels.emicorr import _phase_sums_kernel

    _phase_sums_kernel(data, np.ascontiguousarray(pixel_ok), index, all_y, all_n)

    phaselist = np.arange(NPHASES_OPT) * 1.0 / NPHASES_OPT
    fit = _Fit(all_y, all_n, spline, template, phaselist, dphase_frame)
    if fit_ints_separately:
        phases, amps = [], []
        for i in range(nints):
            chisq, _ = fit.chisq_amplitudes(ints=[i])
            best = best_phase(phaselist, chisq)
            phases.append(best + i * dphase_frame)
            amps += fit.chisq_amplitudes(phases=[best], ints=[i])[1]
    else:
        chisq, _ = fit.chisq_amplitudes()
        best = best_phase(phaselist, chisq)
        amps = fit.chisq_amplitudes(phases=[best])[1] * nints
        phases = list((best + np.arange(nints) * dphase_frame) % 1)
    for i in range(nints):
        for g in range(ngroups):
            wave = amps[i] * spline((phase + dphase * g + phases[i]) % 1)
            for k in range(4):
                data[i, g, :, k::4] -= wave
    return phases, amps


class EmiCorr(Step):
    """jwst ``EmiCorrStep`` (class_alias "emicorr"); reference EMICORR (ASDF).

    Parameters as jwst's spec. (jwst's ``skip = True`` default is the config's ``steps`` list
    here.)
    """

    name = "emicorr"
    keyword = "S_MIREMI"
    reftypes = ("emicorr",)
    optional_reftypes = ("emicorr",)
    spec = """
        algorithm = option('sequential', 'joint', default='joint')  # EMI fitting algorithm
        nints_to_phase = integer(default=None)  # Number of integrations to phase
        nbins = integer(default=None)  # Number of bins in one phased wave
        scale_reference = boolean(default=True)  # If True, the reference wavelength will be scaled to the data's phase amplitude
        onthefly_corr_freq = float_list(default=None)  # Frequencies to use for correction
        use_n_cycles = integer(default=3)  # Use N cycles to calculate the phase, to use all integrations set to None
        fit_ints_separately = boolean(default=False)  # If True and algorithm is 'joint', each integration is separately fit.
        user_supplied_reffile = string(default=None)  # Deprecated; use 'override_emicorr' instead
        save_intermediate_results = boolean(default=False)  # If True and a reference file is created on the fly, save it to disk
    """  # noqa: E501
    implemented_values = {"user_supplied_reffile": (None,)}
    skip_default = True
    chunking = "whole"

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        if self.params["user_supplied_reffile"] is not None:
            raise ValueError("step 'emicorr': user_supplied_reffile (deprecated in jwst) is not taken by rampflow; "
                             "give the file as references.overrides.emicorr (override_emicorr in jwst)")
        self.corrections: list[tuple] = []
        if not miri_only(self):
            return
        p = self.params
        onthefly = p["onthefly_corr_freq"]
        ref = None if onthefly is not None else refs.get("emicorr")
        self.algorithm = str(p["algorithm"])
        if meta.readpatt.upper() not in READPATTS:
            self.skipped = f"EMI correction not implemented for read pattern {meta.readpatt}"
        elif onthefly is None and ref is None:
            self.skipped = "no EMICORR reference file (CRDS: N/A)"
        elif meta.ngroups < 3:
            self.skipped = f"EMI correction cannot be performed for ngroups={meta.ngroups}"
        if self.skipped:
            return
        if self.algorithm == "sequential" and meta.ngroups < 10:
            log.warning("emicorr: the 'sequential' algorithm with ngroups=%d; 'joint' is recommended below 10",
                        meta.ngroups)
        if ref is None:  # on-the-fly frequencies: the sequential algorithm, its own clock table
            if self.algorithm == "joint":
                log.warning("emicorr: the 'joint' algorithm needs an EMICORR reference; using 'sequential'")
                self.algorithm = "sequential"
            clocks = onthefly_clocks(meta.subarray, meta.readpatt)
            if clocks is None:
                self.skipped = f"no correction match for SUBARRAY={meta.subarray}, READPATT={meta.readpatt}"
                return
            self.rowclocks, frameclocks = clocks
            self.waves = [(repr(float(f)), float(f), None) for f in onthefly]
        else:
            case = subarray_case(ref.tree, meta.subarray, meta.readpatt, meta.detector)
            if case is None or not case[2]:
                self.skipped = (f"no correction in {ref.name} for SUBARRAY={meta.subarray}, "
                                f"READPATT={meta.readpatt}, DETECTOR={meta.detector}")
                return
            self.rowclocks, frameclocks, names = case
            self.waves = [(n, *frequency_info(ref.tree, n, ref.path)) for n in names]
        self.r1 = meta.readpatt.upper() in ("FASTR1", "SLOWR1")
        self.frameclocks = frameclocks
        default_ns = 9 if "SLOW" in meta.readpatt.upper() else 1
        self.nsamples = int(meta.extra.get("NSAMPLES", default_ns) or default_ns)

    def process(self, sci, gdq, pdq, ints, rows):
        m, p = self.meta, self.params
        if sci.shape[0] != m.nints or sci.shape[2] != m.subsize2:
            raise ValueError(f"emicorr needs the whole exposure at once; got a chunk of shape {sci.shape}")
        nints_to_phase = p["nints_to_phase"]
        for name, freq, wave in self.waves:
            if self.algorithm == "joint":
                period = (1.0 / freq) / 10.0e-6
                phases, amps = correct_frequency(sci, pdq, wave, self.nsamples, self.rowclocks,
                                                 self.frameclocks if self.r1 else 0, period,
                                                 bool(p["fit_ints_separately"]))
                log.info("emicorr: %s (%.6g Hz): amplitude %.4g DN, phase %.4f", name, freq, amps[0], phases[0])
                self.corrections.append(f"{name} ({freq:g} Hz) amplitude {amps[0]:.6g} DN, phase {phases[0]:.6f}")
            else:
                lut, nints_to_phase = correct_frequency_sequential(
                    sci, freq, wave, nsamples=self.nsamples, rowclocks=self.rowclocks,
                    frameclocks=self.frameclocks, readpatt=m.readpatt, xsize=m.subsize1, xstart=m.substrt1,
                    nints_to_phase=nints_to_phase, nbins=p["nbins"], scale_reference=bool(p["scale_reference"]),
                    use_n_cycles=p["use_n_cycles"])
                good = lut[np.isfinite(lut)]
                amp = float(good.max() - good.min()) / 2 if good.size else 0.0
                self.corrections.append(f"{name} ({freq:g} Hz) sequential, half peak-to-peak {amp:.6g} DN")

    def history(self):
        lines = super().history()
        lines += [f"rampflow emicorr: {c}" for c in self.corrections]
        return lines
