"""Ramp fitting: jwst's ``ramp_fit`` step with stcal 1.20's OLS_C algorithm, natively in numba
(``algorithm='LIKELY'``, the likelihood fit, is in :mod:`.ramp_fit_likely`; this module
dispatches to it).

A rate step (:class:`RampFit`, ``kind = "rate"``): it reads ramp chunks of rows (every
integration of those rows) and makes rate / rateints (and fitopt) products, which the
runner writes. Underneath are pure functions::

    setup = prepare_ramp_fit(meta, readnoise_ref, gain_ref, **params)   # once per exposure
    res = fit_ramps(sci, gdq, pdq, setup, rows)                         # per row chunk
    res.rate["SCI"], res.rateints["ERR"], ... ; res.opt (save_opt) ; setup.header_updates()

Algorithm (``jwst.ramp_fitting.RampFitStep`` -> ``stcal.ramp_fitting.ramp_fit`` ->
``slope_fitter.c``), per pixel:

* Reference arrays: gain G (e-/DN) and read noise, the latter scaled as stcal does,
  ``rn = readnoise * G / sqrt(2 NFRAMES)`` (float32). A pixel with G <= 0 or NaN gets
  DO_NOT_USE | NO_GAIN_VALUE in its DQ (so its slopes are NaN).
* Group DQ: groups before ``firstgroup`` / after ``lastgroup`` become DO_NOT_USE (jwst's
  ``set_groupdq``, with its validation: negative firstgroup -> 0, firstgroup >= lastgroup ->
  both ignored, lastgroup >= NGROUPS has no effect); with ``suppress_one_group`` (and
  NGROUPS > 1) a ramp with exactly one good group (no flag but PERSISTENCE) becomes all
  DO_NOT_USE. SATURATED group values are treated as NaN.
* Median rate of the pixel: the mean over integrations of each integration's NaN-median of
  the first differences of ``data / TGROUP`` (DO_NOT_USE groups and differences ending on a
  JUMP_DET group excluded; if none is left, the first group / TGROUP; NaN -> 0). With
  suppression off, an integration whose only good group is group 0 uses
  ``data[0] / ((NFRAMES + 1) TFRAME / 2)``; one fitted from ZEROFRAME ``data / TFRAME``.
  One-group exposures use the plain mean of ``data[0] / ((NFRAMES + 1) TFRAME / 2)``.
* Segments: runs of good groups, starting one group earlier when the previous group is
  exactly JUMP_DET; one-group segments are dropped when a longer one exists (else only the
  first is kept). An integration whose group 0 is SATURATED gets DO_NOT_USE | SATURATED and
  no fit; one whose groups are all DO_NOT_USE or SATURATED gets DO_NOT_USE (| SATURATED if
  all saturated).
* Segment fit (length n >= 3): Fixsen et al. (2000) optimal weighting,
  ``w_k = |(k - m) / m| ** P / rn**2`` with ``m = (n - 1) / 2`` and the power P from the
  segment's S/N ``S = (d_last - d_first) G / sqrt(rn**2 + (d_last - d_first) G)``:
  P = 0, 0.4, 1, 3, 6, 10 for S < 5, 10, 20, 50, 100, >= 100 (powf in single precision, as
  the C code). Weighted least squares on (group index, DN) gives the slope / TGROUP.
  Length 2: the difference / TGROUP; length 1: ``data / t`` (t = TGROUP, or the 0th-group
  / ZEROFRAME times above).
  Variances: Poisson ``(median_rate + dark) / (t G (n - 1))`` (``dark / (...)`` if the median
  rate is <= 0; ``n - 1`` -> 1 for n <= 2), read noise ``12 (rn / t)**2 / ((n**3 - n) G**2)``
  (n**3 - n -> 6 for n <= 2).
* Integration: ``VAR_RNOISE = 1 / sum(1 / var_r)``, ``VAR_POISSON = 1 / sum(1 / var_p)``
  (over segments with var_p > 0), ``SCI = VAR_RNOISE * sum(slope / var_r)`` (read-noise
  weights: stcal's JP-4318 change), ``ERR = sqrt(1 / sum(1 / (var_p + var_r)))``; variances
  >= 1e6 (and ERR**2 > 1e6) are set to 0. Exposure: the same sums over integrations,
  ``ERR = sqrt(VAR_POISSON + VAR_RNOISE)``.
* DQ: rateints = PIXELDQ (+ DO_NOT_USE | NO_GAIN_VALUE) | JUMP_DET / PERSISTENCE if any
  group of the integration has it | the flags above | SATURATED if any group saturated.
  rate = PIXELDQ (+ gain flags) | JUMP_DET / PERSISTENCE of any integration | DO_NOT_USE if
  every integration is DO_NOT_USE | SATURATED if every integration is saturated at group 0
  or any group anywhere saturated. Where the DQ holds DO_NOT_USE or SATURATED *before* the
  partial-saturation flag is added (bad pixel, bad gain, unusable ramp), SCI = NaN and
  ERR = VAR_POISSON = VAR_RNOISE = 0 -- jwst 3.0 / stcal 1.20 write 0, not NaN, there.
* CHARGELOSS: for integrations with CHARGELOSS groups, VAR_RNOISE (and the exposure's) is
  recomputed from the segments obtained with those groups usable again (SCI/ERR unchanged).
* MIRI (OLS_C): leading groups, and one trailing group, that are DO_NOT_USE in every pixel
  of the exposure are cut off before the fit, as stcal does (:mod:`.ramp_fit_miri`;
  ``setup.discard``, found by ``RampFit.scan`` before the first chunk).
* ``save_opt``: the fitopt arrays (per segment slope, sigslope, var_poisson, var_rnoise,
  yint, sigyint, weights = 1/var_r; pedestal
  ``data[0] - slope ((NFRAMES + 1) / 2 + DRPFRMS1) / (NFRAMES + GROUPGAP)``; crmag = jump
  sizes), with stcal's segment bookkeeping (also its quirk that a ramp made only of
  one-group runs counts all of them when sizing the segment axis, though only the first
  is fitted).

The numbers are computed in float64 in the C code's order of operations (the Fixsen powers
with the C library's single-precision ``powf``) and rounded to float32 on output: on the
test data every output array is identical, bit for bit, to jwst's.

Deliberate differences (documented, not silent):

* ``algorithm``: 'OLS_C' (default) or 'LIKELY' (see :mod:`.ramp_fit_likely`); as in jwst 3.0,
  LIKELY with fewer than 4 groups falls back to OLS_C, and explicit read times (uneven
  groups) switch OLS_C to LIKELY. The read times are jwst's ``meta.exposure.read_times``,
  read from the ramp file's ASDF extension (and carried forward in our ramp products'
  ASDF extensions). ``weighting='optimal'`` only (jwst's only).
* ``maximum_cores`` is accepted and validated but threads come from numba (the runner sets
  them from the rule's ``threads:``); results do not depend on it.
* Non-finite reference values: a pixel whose READNOISE is NaN or inf gets DO_NOT_USE |
  UNRELIABLE_SLOPE (so SCI = NaN, ERR = VAR_* = 0, as for any DO_NOT_USE pixel); jwst gives it
  NaN SCI, ERR and VAR_RNOISE with DQ 0, i.e. a NaN on a "good" pixel. jwst has no read-noise
  flag; UNRELIABLE_SLOPE ("slope variance large") is the nearest. An inf GAIN gets DO_NOT_USE
  | NO_GAIN_VALUE as jwst gives NaN and non-positive gains. Finite references give jwst's
  products bit for bit.
* MIRI: when discarding leaves fewer than 2 groups, stcal returns nothing and jwst writes no
  product; here the job stops with :class:`.ramp_fit_miri.NoUsableGroupsError` naming the file.
* When every ramp of the exposure is saturated in group 0, jwst returns no product at all;
  a chunked fitter cannot know this, so it returns NaN slopes flagged DO_NOT_USE|SATURATED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..lazy import LazyModule
from . import ramp_fit_likely as likely
from . import ramp_fit_miri as miri
from .base import Step
from .nonfinite import nonfinite_flags
from .params import parse_spec
from .ramp_fit_chunks import _check_chunk, _side_ramps, _tile_width, _zf_arg
from .ramp_fit_opt import OPT_NAMES, assemble_opt  # noqa: F401  (assemble_opt: public here)

K = LazyModule("rampflow.kernels.ramp_fit")  # numba: imported at the first fit
log = logging.getLogger(__name__)

#: jwst 3.0 RampFitStep's spec, plus its fixed ``weighting`` (rampflow's, so that products
#: record it). 'LIKELY' is :mod:`.ramp_fit_likely`.
SPEC = """
    algorithm = option('OLS_C', 'LIKELY', default='OLS_C')
    int_name = string(default='')
    save_opt = boolean(default=False)  # save optional output
    opt_name = string(default='')
    suppress_one_group = boolean(default=True)  # suppress saturated ramps with good 0th group
    firstgroup = integer(default=None)  # ignore groups before this one (zero indexed)
    lastgroup = integer(default=None)  # ignore groups after this one (zero indexed)
    maximum_cores = string(default='1')  # an integer, 'half', 'quarter', or 'all'
    weighting = option('optimal', default='optimal')  # jwst's only weighting, fixed in jwst
"""
#: name -> default, from :data:`SPEC`
DEFAULTS = {name: s.default for name, s in parse_spec(SPEC).items()}

#: stcal's weighting powers (``snr_power``), for segment S/N < 5, 10, 20, 50, 100 and above
#: (the kernel's ``_power_index`` maps an S/N to its index here)
POWERS = (0.0, 0.4, 1.0, 3.0, 6.0, 10.0)

#: output array names (the FITS EXTNAMEs of rate / rateints) and stcal's names for them
RATE_NAMES = {"SCI": "slope", "ERR": "err", "DQ": "dq", "VAR_POISSON": "var_poisson",
              "VAR_RNOISE": "var_rnoise"}


class ArrayDict(dict):
    """A dict of arrays that also answers to the alternative names of its keys
    (``res.rate["SCI"]`` is ``res.rate["slope"]``; ``res.opt["slope"]`` is ``res.opt["SLOPE"]``)."""

    def __init__(self, data, aliases):
        super().__init__(data)
        self._aliases = dict(aliases)

    def __getitem__(self, key):
        if not dict.__contains__(self, key) and key in self._aliases:
            key = self._aliases[key]
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or (key in self._aliases and
                                                dict.__contains__(self, self._aliases[key]))


_RATE_ALIASES = {**{v: k for k, v in RATE_NAMES.items()}, "data": "SCI", "var_err": "ERR"}
_OPT_ALIASES = {v: k for k, v in OPT_NAMES.items()}


@dataclass
class RampFitSetup:
    """Everything per exposure the fit needs (validated parameters, reference arrays, times).

    gain, rnoise, average_dark_current : float32 (ny, nx); ``rnoise`` is already the
    gain-scaled read noise stcal uses (``readnoise * gain / sqrt(2 NFRAMES)``).
    firstgroup, lastgroup : groups outside [firstgroup, lastgroup] are DO_NOT_USE (the
    parameters, validated: 0-based ints, jwst's defaults and corrections applied).
    suppress_one_group : the parameter, and NGROUPS > 1.
    weights : float64 (6, ngroups + 1, ngroups), unit Fixsen weights by (power index,
    segment length, group), computed once (they depend only on the readout pattern); empty
    with LIKELY, which does not use them.
    opt_sizes : (max segments, max jumps) over the whole exposure, to size the fitopt
    arrays; None -> each chunk is sized by its own maxima (see :func:`assemble_opt`).
    likely : the LIKELY setup when ``params['algorithm']`` is 'LIKELY' (after jwst's
    switches), else None.
    """

    params: dict
    nints: int
    ngroups: int
    ny: int
    nx: int
    gain: np.ndarray
    rnoise: np.ndarray
    average_dark_current: np.ndarray
    firstgroup: int
    lastgroup: int
    suppress_one_group: bool
    group_time: float
    frame_time: float
    one_group_time: float
    ped_tmp: float
    weights: np.ndarray
    gain_factor: float | None = None
    reference_names: dict = field(default_factory=dict)
    opt_sizes: tuple[int, int] | None = None
    #: uint32 (ny, nx) PIXELDQ flags for non-finite reference values (None: there are none)
    ref_flags: np.ndarray | None = None
    likely: likely.LikelySetup | None = None
    #: (leading, trailing) groups cut off every ramp before the fit (MIRI; see .ramp_fit_miri)
    discard: tuple[int, int] = (0, 0)

    def header_updates(self) -> dict:
        """Primary-header keywords jwst's ramp_fit adds besides S_RAMP / R_* (which the
        runner writes): GAINFACT when the gain reference has one (jwst copies it)."""
        out = {}
        if self.gain_factor is not None:
            out["GAINFACT"] = (float(self.gain_factor), "gain scale factor (from GAIN reference)")
        return out


@dataclass
class RampFitResult:
    """One row chunk's products.

    rate : SCI, ERR, VAR_POISSON, VAR_RNOISE float32 (nrows, nx); DQ uint32 (nrows, nx)
    rateints : the same, (nints, nrows, nx)
    opt : None, or (save_opt) slope, sigslope, var_poisson, var_rnoise, yint, sigyint,
          weights float32 (nints, nseg, nrows, nx), pedestal (nints, nrows, nx),
          crmag (nints, ncr, nrows, nx); nseg/ncr = ``setup.opt_sizes`` or ``opt_sizes`` if
          given, else this chunk's own maxima (pad with :func:`assemble_opt`).
    chisq, chisq_ints : LIKELY's chi square (nrows, nx) / (nints, nrows, nx), else None.
    Keys are the FITS EXTNAMEs (rate/rateints) or stcal's names (opt); both spellings work.
    """

    rate: dict
    rateints: dict
    opt: dict | None = None
    chisq: np.ndarray | None = None
    chisq_ints: np.ndarray | None = None


def _ref_array(ref, what: str) -> np.ndarray:
    """The SCI array of a Reference (or a plain array), as native float32."""
    arr = ref if isinstance(ref, np.ndarray) else ref["SCI"]
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D (ny, nx) array, got shape {arr.shape}")
    return np.array(arr, dtype=np.float32)  # native byte order, a copy we may modify


def _header_get(ref, key):
    hdr = getattr(ref, "header", None)
    if hdr is None:
        return None
    try:
        return hdr[key] if key in hdr else None
    except Exception:  # pragma: no cover - exotic header objects
        return None


def validate_params(params: dict, ngroups: int) -> tuple[dict, int, int]:
    """Merge ``params`` over DEFAULTS and check them; returns (params, first, last).

    Raises ValueError naming an unknown or invalid parameter.
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"step 'ramp_fit': unknown parameter(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if str(p["algorithm"]).upper() not in ("OLS_C", "LIKELY"):
        raise ValueError(f"ramp_fit.algorithm={p['algorithm']!r}: must be 'OLS_C' or 'LIKELY'")
    p["algorithm"] = str(p["algorithm"]).upper()
    if str(p["weighting"]).lower() != "optimal":
        raise ValueError(f"ramp_fit.weighting={p['weighting']!r}: only 'optimal' exists in jwst")
    for name in ("save_opt", "suppress_one_group"):
        if not isinstance(p[name], (bool, np.bool_)):
            raise ValueError(f"ramp_fit.{name}={p[name]!r}: must be true or false")
        p[name] = bool(p[name])
    for name in ("int_name", "opt_name"):
        if p[name] is None:
            p[name] = ""
        if not isinstance(p[name], str):
            raise ValueError(f"ramp_fit.{name}={p[name]!r}: must be a string")
    mc = str(p["maximum_cores"]).strip().lower()
    if mc not in ("none", "quarter", "half", "all") and not mc.isdigit():
        raise ValueError(f"ramp_fit.maximum_cores={p['maximum_cores']!r}: an integer, 'quarter', "
                         "'half' or 'all'")
    for name in ("firstgroup", "lastgroup"):
        v = p[name]
        if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))):
            raise ValueError(f"ramp_fit.{name}={v!r}: must be an integer (0-based group) or null")
    first, last = 0, ngroups - 1
    if p["firstgroup"] is not None or p["lastgroup"] is not None:  # jwst set_groupdq
        first = 0 if p["firstgroup"] is None else int(p["firstgroup"])
        last = ngroups - 1 if p["lastgroup"] is None else int(p["lastgroup"])
        if first < 0:
            log.warning("ramp_fit: first group < 0, reset to 0")
            first = 0
        if last >= ngroups:
            log.warning("ramp_fit: last group number >= #groups (%d); no groups are excluded at the end",
                        ngroups)
        if first >= last:
            log.warning("ramp_fit: firstgroup (%d) cannot be >= lastgroup (%d); group selectors ignored",
                        first, last)
            first, last = 0, ngroups - 1
    return p, first, last


def weight_table(ngroups: int) -> np.ndarray:
    """Unit Fixsen weights ``|(k - m) / m| ** P`` (float64 (6, ngroups + 1, ngroups)) for
    every power P of :data:`POWERS`, segment length n >= 3 (``m = (n - 1) / 2``) and group k,
    evaluated as stcal does: the base in double, ``powf`` in single precision."""
    tab = np.zeros((len(POWERS), ngroups + 1, max(ngroups, 1)), dtype=np.float64)
    K._weight_table_kernel(np.asarray(POWERS, dtype=np.float32), ngroups, tab)
    return tab


def choose_algorithm(algorithm: str, ngroups: int, read_times=None) -> str:
    """jwst 3.0's choice: explicit read times (uneven groups) switch to LIKELY; LIKELY with
    fewer than ``LIKELY_MIN_NGROUPS`` groups falls back to OLS_C."""
    algorithm = str(algorithm).upper()
    if read_times is not None and len(read_times) > 0 and algorithm != "LIKELY":
        log.warning("ramp_fit: setting the algorithm to LIKELY for unevenly sampled exposure")
        algorithm = "LIKELY"
    if algorithm == "LIKELY" and ngroups < likely.LIKELY_MIN_NGROUPS:
        log.info("ramp_fit: LIKELY needs at least %d groups, the exposure has %d; using OLS_C",
                 likely.LIKELY_MIN_NGROUPS, ngroups)
        algorithm = "OLS_C"
    return algorithm


def prepare_ramp_fit(meta, readnoise_ref, gain_ref, *, average_dark_current=None,
                     drop_frames1: int | None = None, read_times=None, **params) -> RampFitSetup:
    """Validate parameters and prepare reference arrays, once per exposure.

    meta : ExposureMeta (nints, ngroups, nframes, groupgap, tframe, tgroup, subarray size)
    readnoise_ref, gain_ref : Reference (their SCI, already cut to the subarray) or 2-D arrays
        (ny, nx): read noise in DN, gain in e-/DN.
    average_dark_current : None (0), a scalar or a float (ny, nx) array -- the exposure's
        AVERAGE_DARK_CURRENT (jwst's dark_current step stores it in the ramp model; stcal
        adds it to the median rate in the Poisson variance).
    drop_frames1 : DRPFRMS1 (frames dropped at the start of each integration; only the
        fitopt pedestal uses it); default ``meta.extra['DRPFRMS1']`` or 0.
    read_times : explicit read times of each group (jwst's ``meta.exposure.read_times``,
        a list of lists of seconds) for uneven patterns; they switch the fit to LIKELY.
    params : jwst's RampFitStep parameters (see DEFAULTS).
    """
    ngroups, nints = int(meta.ngroups), int(meta.nints)
    p, first, last = validate_params(params, ngroups)
    p["algorithm"] = choose_algorithm(p["algorithm"], ngroups, read_times)
    ny, nx = int(meta.subsize2), int(meta.subsize1)
    rn = _ref_array(readnoise_ref, "readnoise reference")
    gain = _ref_array(gain_ref, "gain reference")
    for arr, what in ((rn, "readnoise"), (gain, "gain")):
        if arr.shape != (ny, nx):
            raise ValueError(f"ramp_fit: {what} reference array has shape {arr.shape}, "
                             f"the exposure's frames are {(ny, nx)}")
    ref_flags = (nonfinite_flags(rn, "UNRELIABLE_SLOPE", getattr(readnoise_ref, "path", "readnoise reference"))
                 | nonfinite_flags(gain, "NO_GAIN_VALUE", getattr(gain_ref, "path", "gain reference")))
    nframes = int(meta.nframes)
    lk = None
    if p["algorithm"] == "LIKELY":
        lk = likely.prepare_likely(meta, rn, gain, average_dark_current=average_dark_current,
                                   firstgroup=first, lastgroup=last, read_times=read_times)
    # stcal ramp_fit_data: readnoise_2d *= gain_2d / np.sqrt(2.0 * nframes) (float32 in place)
    rn *= gain / np.sqrt(2.0 * nframes)
    if average_dark_current is None:
        dark = np.zeros((ny, nx), dtype=np.float32)
    else:
        dark = np.asarray(average_dark_current, dtype=np.float32)
        if dark.ndim == 0:
            dark = np.full((ny, nx), dark, dtype=np.float32)
        if dark.shape != (ny, nx):
            raise ValueError(f"ramp_fit: average_dark_current has shape {dark.shape}, expected {(ny, nx)}")
    if drop_frames1 is None:
        drop_frames1 = int(meta.extra.get("DRPFRMS1", 0) or 0) if hasattr(meta, "extra") else 0
    # the C extension reads the times through a C float
    group_time = float(np.float32(meta.tgroup))
    frame_time = float(np.float32(meta.tframe))
    one_group_time = (float(nframes) + 1.0) * frame_time / 2.0
    ped_tmp = ((nframes + 1) / 2.0 + drop_frames1) / (nframes + int(meta.groupgap))
    gf = _header_get(gain_ref, "GAINFACT")
    names = {}
    for key, ref in (("R_READNO", readnoise_ref), ("R_GAIN", gain_ref)):
        if hasattr(ref, "name"):
            names[key] = ref.name
    return RampFitSetup(
        params=p, nints=nints, ngroups=ngroups, ny=ny, nx=nx, gain=gain, rnoise=rn,
        average_dark_current=dark, firstgroup=first, lastgroup=last,
        suppress_one_group=bool(p["suppress_one_group"] and ngroups > 1),
        group_time=group_time, frame_time=frame_time, one_group_time=one_group_time,
        ped_tmp=float(ped_tmp), weights=weight_table(ngroups) if lk is None else np.zeros((0, 0, 0)),
        gain_factor=None if gf is None else float(gf), reference_names=names, likely=lk,
        ref_flags=ref_flags if ref_flags.any() else None,
    )


def count_opt_sizes(gdq, setup: RampFitSetup, zeroframe=None) -> tuple[int, int]:
    """(max number of segments, max number of jumps) over a chunk's ramps, as stcal sizes the
    fitopt arrays' second axis. Reads only GROUPDQ; combine chunks with ``max``.

    gdq : uint8 (nints, ngroups, nrows, nx); zeroframe : float32 (nints, nrows, nx) or None.
    """
    if gdq.dtype != np.dtype(np.uint8) or gdq.ndim != 4:
        raise ValueError(f"ramp_fit: gdq must be a uint8 4-D array, got {gdq.dtype} {gdq.shape}")
    zf, has_zf = _zf_arg(zeroframe, gdq.shape)
    _, gdq, first, last, clear0 = miri.cut_groups(gdq, gdq, setup.discard, setup.firstgroup, setup.lastgroup)
    out = np.zeros((gdq.shape[2], 2), dtype=np.int64)
    K._opt_sizes_kernel(gdq, zf, has_zf, first, last, setup.suppress_one_group, clear0, out)
    if out.shape[0] == 0:
        return 0, 0
    return int(out[:, 0].max()), int(out[:, 1].max())


def fit_ramps(sci: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, setup: RampFitSetup, rows: slice,
              *, zeroframe: np.ndarray | None = None, average_dark_current: np.ndarray | None = None,
              opt_sizes: tuple[int, int] | None = None, chisq: bool = True) -> RampFitResult:
    """Fit one chunk of rows (every integration).

    sci : float32 (nints, ngroups, nrows, nx), DN; gdq : uint8, same shape; pdq : uint32
    (nrows, nx); rows : where the chunk sits in the exposure (0-based slice of rows).
    zeroframe : float32 (nints, nrows, nx) -- the ZEROFRAME extension for these rows, if the
        exposure has one (used, as in stcal, only with suppress_one_group=False).
    average_dark_current : float32 (nrows, nx) for these rows; default: the setup's.
    opt_sizes : (nseg, ncr) for the fitopt arrays' second axis; default ``setup.opt_sizes``,
        else this chunk's own maxima. Must be at least the chunk's maxima.
    The inputs are not modified. With LIKELY (``setup.likely``), :func:`.ramp_fit_likely.fit_ramps_likely`
    does the fit (no fitopt; the result carries chi square, unless ``chisq=False``).
    """
    rows = _check_chunk(sci, gdq, pdq, setup, rows)
    if setup.ref_flags is not None:  # non-finite read noise / gain: flagged for both algorithms
        pdq = pdq | setup.ref_flags[rows]
    if setup.likely is not None:
        lr = likely.fit_ramps_likely(sci, gdq, pdq, setup.likely, rows, zeroframe=zeroframe,
                                     average_dark_current=average_dark_current, chisq=chisq)
        return RampFitResult(rate=ArrayDict(lr.rate, _RATE_ALIASES), rateints=ArrayDict(lr.rateints, _RATE_ALIASES),
                             chisq=lr.chisq, chisq_ints=lr.chisq_ints)
    nints, ngroups, nrows, nx = sci.shape
    zf, has_zf = _zf_arg(zeroframe, sci.shape)
    if average_dark_current is None:
        dark = setup.average_dark_current[rows]
    else:
        dark = np.ascontiguousarray(average_dark_current, dtype=np.float32)
        if dark.shape != (nrows, nx):
            raise ValueError(f"ramp_fit: average_dark_current must have shape {(nrows, nx)}, got {dark.shape}")
    # small arrays C-contiguous (one compiled kernel serves every call); sci / gdq are used
    # as given (C-contiguous chunks, as the runner reads them, avoid a second compilation)
    gain = np.ascontiguousarray(setup.gain[rows])
    rn = np.ascontiguousarray(setup.rnoise[rows])
    pdq = np.ascontiguousarray(pdq)

    def new(shape, dtype=np.float32):
        return np.empty(shape, dtype=dtype)

    rate = {k: new((nrows, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_NAMES}
    ints = {k: new((nints, nrows, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_NAMES}
    save_opt = bool(setup.params["save_opt"])
    if save_opt:
        need = count_opt_sizes(gdq, setup, zeroframe)
        sizes = opt_sizes if opt_sizes is not None else setup.opt_sizes
        if sizes is None:
            sizes = need
        sizes = (int(sizes[0]), int(sizes[1]))
        if sizes[0] < need[0] or sizes[1] < need[1]:
            raise ValueError(f"ramp_fit: opt_sizes {sizes} is smaller than this chunk needs {need}")
        o4 = {k: np.zeros((nints, sizes[0], nrows, nx), np.float32)
              for k in ("slope", "sigslope", "var_poisson", "var_rnoise", "yint", "sigyint", "weights")}
        o_ped = np.zeros((nints, nrows, nx), np.float32)
        o_cr = np.zeros((nints, sizes[1], nrows, nx), np.float32)
    else:
        dummy = np.zeros((1, 1, 1, 1), np.float32)
        o4 = {k: dummy for k in ("slope", "sigslope", "var_poisson", "var_rnoise", "yint", "sigyint", "weights")}
        o_ped = np.zeros((1, 1, 1), np.float32)
        o_cr = dummy
    sci, gdq, first, last, clear0 = miri.cut_groups(sci, gdq, setup.discard, setup.firstgroup, setup.lastgroup)
    tile = _tile_width(ngroups, nx)
    K._fit_ramps_kernel(
        K.Ramps(sci, gdq, pdq, gain, rn, dark, zf),
        K.FitSetup(firstgroup=first, lastgroup=last, suppress_one_group=setup.suppress_one_group,
                   clear_jump0=clear0, save_opt=save_opt, has_zeroframe=has_zf,
                   group_time=setup.group_time, frame_time=setup.frame_time, one_group_time=setup.one_group_time,
                   ped_tmp=setup.ped_tmp, tile=tile, side_ramps=_side_ramps(ngroups, tile)),
        setup.weights,
        K.RateArrays(rate["SCI"], rate["DQ"], rate["VAR_POISSON"], rate["VAR_RNOISE"], rate["ERR"]),
        K.RateArrays(ints["SCI"], ints["DQ"], ints["VAR_POISSON"], ints["VAR_RNOISE"], ints["ERR"]),
        K.OptArrays(o4["slope"], o4["sigslope"], o4["var_poisson"], o4["var_rnoise"], o4["yint"], o4["sigyint"],
                    o4["weights"], o_ped, o_cr))
    opt = None
    if save_opt:
        opt = ArrayDict({"slope": o4["slope"], "sigslope": o4["sigslope"],
                         "var_poisson": o4["var_poisson"], "var_rnoise": o4["var_rnoise"],
                         "yint": o4["yint"], "sigyint": o4["sigyint"], "pedestal": o_ped,
                         "weights": o4["weights"], "crmag": o_cr}, _OPT_ALIASES)
    return RampFitResult(rate=ArrayDict(rate, _RATE_ALIASES), rateints=ArrayDict(ints, _RATE_ALIASES),
                         opt=opt)


class RampFit(Step):
    """jwst ``RampFitStep`` (class_alias "ramp_fit"), OLS_C; references READNOISE and GAIN.

    A rate step on row chunks: :meth:`start` prepares the fit once per exposure (it needs the
    ramp's AVDRKCUR image and DRPFRMS1 keyword), :meth:`fit` fits each chunk of rows into
    the exposure's arrays, :meth:`product_arrays` hands them to the runner to write.
    """

    name = "ramp_fit"
    keyword = "S_RAMP"
    reftypes = ("readnoise", "gain")
    spec = SPEC
    implemented_values = {"algorithm": ("OLS_C", "LIKELY")}
    kind = "rate"
    chunking = "rows"
    products = ("rate", "rateints", "fitopt", "likely_chisq")
    #: products written only when a parameter is set (the runner sets it when asked for one):
    #: with save_opt, OLS_C writes fitopt and LIKELY its chi square image, as jwst 3.0 does
    optional_products = {"fitopt": "save_opt", "likely_chisq": "save_opt"}
    #: the jwst datamodel of each product (DATAMODL)
    product_models = {"rate": "ImageModel", "rateints": "CubeModel", "fitopt": "RampFitOutputModel",
                      "likely_chisq": "ImageModel"}
    #: allocates the exposure's rateints arrays, (shape, dtype) -> array: the runner's row pass
    #: sets one that backs them by scratch files (:func:`rampflow.runner.rate_products.scratch_array`)
    new_ints_array = staticmethod(np.empty)

    @classmethod
    def makes(cls, suffix: str, params: dict) -> bool:
        """Whether product ``suffix`` is made with ``params``: fitopt with OLS_C, likely_chisq
        with LIKELY (each only with save_opt). A LIKELY exposure with fewer than 4 groups
        falls back to OLS_C at run time, and then writes fitopt instead."""
        if not super().makes(suffix, params):
            return False
        algo = str(params.get("algorithm", DEFAULTS["algorithm"])).upper()
        return {"fitopt": algo != "LIKELY", "likely_chisq": algo == "LIKELY"}.get(suffix, True)

    @classmethod
    def one_pass_conflict(cls, meta, params):
        if meta.instrument == "MIRI" and meta.ngroups > 1:
            return "MIRI: ramp_fit finds the groups to discard from its input ramp's GROUPDQ first"
        return None

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        validate_params(self.params, int(meta.ngroups))  # fail before any chunk is read
        self.setup: RampFitSetup | None = None
        self.discard = (0, 0)

    def scan(self, ramp) -> None:
        """MIRI, OLS_C, NGROUPS > 1: find the groups stcal discards (:mod:`.ramp_fit_miri`) from
        the open input ramp's GROUPDQ, before the first chunk."""
        m = self.meta
        p, first, last = validate_params(self.params, int(m.ngroups))
        if m.instrument == "MIRI" and m.ngroups > 1 and choose_algorithm(p["algorithm"], m.ngroups) == "OLS_C":
            self.discard = miri.scan_ramp(ramp, first, last, p["suppress_one_group"])

    def start(self, images: dict, primary) -> None:
        drop1 = primary.get("DRPFRMS1")
        self.setup = prepare_ramp_fit(self.meta, self.refs["readnoise"], self.refs["gain"],
                                      average_dark_current=images.get("AVDRKCUR"),
                                      drop_frames1=None if drop1 is None else int(drop1),
                                      read_times=self.meta.extra.get("READ_TIMES"), **self.params)
        self.setup.discard = self.discard if self.setup.likely is None else (0, 0)
        self.params = self.setup.params
        m = self.meta
        ny, nx = m.subsize2, m.subsize1
        self._rate = {k: np.empty((ny, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_NAMES}
        self._ints = {k: self.new_ints_array((m.nints, ny, nx), np.uint32 if k == "DQ" else np.float32)
                      for k in RATE_NAMES}
        self._opt_chunks: list = []
        self._chisq = np.empty((ny, nx), np.float32) if self.setup.likely is not None else None

    def fit(self, sci, gdq, pdq, rows: slice, zeroframe=None) -> None:
        """Fit one chunk of rows (every integration): see :func:`fit_ramps`. ``zeroframe``:
        the chunk's ZEROFRAME (float32 (nints, nrows, nx)) when the ramp has one -- stcal uses
        it whenever the model holds one, whatever ZEROFRAM says (and only with
        ``suppress_one_group=False``). LIKELY's chi square only with save_opt (its product)."""
        res = fit_ramps(sci, gdq, pdq, self.setup, rows, zeroframe=zeroframe, chisq=bool(self.params["save_opt"]))
        for key in RATE_NAMES:
            self._rate[key][rows] = res.rate[key]
            self._ints[key][:, rows] = res.rateints[key]
        if res.opt is not None:
            self._opt_chunks.append((rows, res.opt))
        if res.chisq is not None:
            self._chisq[rows] = res.chisq

    def product_arrays(self) -> dict:
        """Product suffix -> EXTNAME -> array: rate, rateints, fitopt (OLS_C with save_opt)
        and likely_chisq (LIKELY with save_opt: its SCI is the exposure's chi square)."""
        opt = None
        if self._opt_chunks:
            opt = assemble_opt(self._opt_chunks, (self.meta.subsize2, self.meta.subsize1))
        chisq = None
        if self._chisq is not None and self.params["save_opt"]:
            chisq = {"SCI": self._chisq}
        return {"rate": self._rate, "rateints": self._ints, "fitopt": opt, "likely_chisq": chisq}

    def header_updates(self) -> dict:
        return self.setup.header_updates() if self.setup is not None else {}
