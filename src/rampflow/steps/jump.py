"""Jump (cosmic-ray) detection: jwst's ``jump`` step with stcal's two-point-difference method.

Reproduces jwst 3.0 ``JumpStep`` / stcal 1.20 ``detect_jumps_data`` + ``find_crs`` for
near-infrared data (no read-pattern, i.e. equal group spacing ``dt_group = 1`` and
``2 * NFRAMES`` reads per difference, as for every JWST exposure).

Algorithm (per pixel, all integrations together):

0. PIXELDQ |= NO_GAIN_VALUE | DO_NOT_USE where the gain is NaN or <= 0. Data and CDS read
   noise are converted to electrons with the gain: ``e = float32(DN * gain)``,
   ``rn_e = float32(rn * gain)``; groups flagged SATURATED or DO_NOT_USE become NaN.
1. First differences ``d`` (float32 differences of the electron values) over all
   integrations; ``median`` = nanmedian of every ``d`` of the pixel (float64) and
   ``sigma = sqrt(|median| + rn_e**2 / NFRAMES)`` (NaN where 0).
2. Groups that are DO_NOT_USE in every pixel of the frame are counted per integration:
   ``min_usable_groups = ngroups - max over integrations``. The branch:

   * nothing is flagged when sigma clipping does not apply and ``min_usable_groups <
     minimum_groups`` (see below);
   * sigma clipping when ``only_use_ints`` and ``nints >= minimum_sigclip_groups`` (or,
     with ``only_use_ints=False``, when the number of groups not wholly DO_NOT_USE
     reaches ``minimum_sigclip_groups``): astropy ``sigma_clip(d, sigma=
     rejection_threshold, maxiters=5)`` across integrations for each group difference
     (across all differences with ``only_use_ints=False``); clipped finite differences
     are jumps. A group plane where every pixel is then JUMP or DO_NOT_USE has its
     JUMP-only pixels reset to 0 (stcal does this);
   * else, if ``min_usable_groups - 1 >= min_diffs_single_pass``: one pass, jump where
     ``|d - median| / sigma > rejection_threshold``;
   * else the iterative search on ``|d|``: the median of the usable |d| with every
     value equal to the largest one removed (>= 4 usable; 3: plain median; 2: the
     minimum), ``ratio = | |d| - that median | / sqrt(|median| + rn_e**2/NFRAMES)``; the
     largest ratio is a jump if it exceeds ``rejection_threshold`` (>= 4 usable
     differences), ``four_group_rejection_threshold`` (3) or
     ``three_group_rejection_threshold`` (2); it is removed and the search repeats until
     no jump is found. (The usable counts pool all integrations of the pixel.)
3. ``flag_4_neighbors``: a JUMP group whose ``|d - median| / sigma`` lies strictly between
   ``min_jump_to_flag_neighbors`` and ``max_jump_to_flag_neighbors`` flags the same group
   of its 4 neighbours (where not SATURATED / DO_NOT_USE).
4. ``after_jump_flag_dn1/time1`` (and ``dn2/time2``): a JUMP group (including those from
   step 3) with ``d - median >= dn * nanmedian(gain)`` electrons flags the following
   ``int(time // group_time)`` groups (at most ngroups - 2), where not SATURATED /
   DO_NOT_USE.
5. JUMP is removed from groups that are also DO_NOT_USE or SATURATED.

``minimum_groups``: as in jwst, it only takes effect when ``maximum_cores`` resolves to
more than one process (stcal forces it to 3 in its single-process path, the default).

Explicit read times (jwst's ``meta.exposure.read_times``, uneven groups) do not change the
search, as in jwst 3.0: its JumpStep sets them on stcal 1.20's ``JumpData`` after the
constructor has derived the group time differences and reads per group (from a
``meta.exposure.read_pattern`` that jwst models lack), so stcal differences evenly spaced
groups with ``2 NFRAMES`` reads each (``tests/parity/test_read_times_parity.py``). The runner
carries the read times into the jump product.

Deliberate differences (none change the flags for ordinary data):

* The frame-level tests (groups that are DO_NOT_USE in every pixel, the
  all-JUMP-or-DO_NOT_USE planes of sigma clipping) see the rows given to the function. The
  Step gives it a chunk of rows, as stcal does with its row slices when
  ``maximum_cores > 1``; a group that is DO_NOT_USE in a whole chunk but not in the whole
  frame can then choose a different branch for that chunk. A group that is DO_NOT_USE in
  the whole frame is so in every chunk, so the usual cases (e.g. a rejected first group)
  are identical.
* Multiprocessing is numba threads (``NUMBA_NUM_THREADS`` / the rule's ``threads``), not
  ``maximum_cores`` processes; results do not depend on the number of threads.
* Snowballs (``expand_large_events``) and showers (``find_showers``) are stcal's
  ``flag_large_events`` / ``find_faint_extended`` (:mod:`.jump_events`, identical flags),
  but found in a pre-pass before the row chunks (:mod:`.jump_stream`,
  :meth:`JumpStep.prepare`): the detection in row chunks keeping only the JUMP bits (1/8 of
  GROUPDQ) and the SATURATED ones (sparse), then snowballs one integration at a time on the
  whole frame from those bits alone; with showers, per-pixel shower statistics in row chunks
  and the shower search on chunks of whole integrations. The row pass then applies the
  flags. Memory stays that of one chunk plus the packed bits, and the flags do not depend
  on the chunk size. The pre-pass reads the step's input in chunks from the runner
  (:class:`rampflow.runner.prepass.StepInput`): in the one pass from the uncal file, where
  the steps before jump are recomputed on each chunk instead of being written as a 4-D
  ramp; the input is read twice in all with snowballs (4 times with showers).
* PRIMECRS / EXTNCRS (``header_updates``) are known only after every chunk was processed.

Speed and memory: stcal builds several float64 copies of the whole cube (differences,
ratios, masks); here the differences of a block of up to 256 pixels of a row are formed
in a per-thread buffer (at most ~16 MB) and every branch runs per pixel in numba (prange
over rows), so the only extra memory is that buffer per thread plus 2-D per-pixel arrays.
Medians are exact order statistics found by bracketing (:mod:`rampflow.kernels.order_stats`);
sigma clipping decides a column from its mean, std and counts where that is certain and
runs astropy's algorithm exactly otherwise (:mod:`rampflow.kernels.jump_sigclip`), so the
flags are unchanged. Neighbour flagging walks each group plane row by row from sparse lists
of triggers; after-jump flagging and the DO_NOT_USE/SATURATED clean-up run only when needed. With
row chunks the halo rows were already detected by the previous chunk and are reused
(:class:`RowCache`). On a 155-integration x 70-group NIRSpec TSO piece the result is
identical to jwst's and about 10-20x faster.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields

import numpy as np

from .. import dq as dqflags
from ..lazy import LazyModule
from .base import Step
from .jump_rows import RowCache
from .nonfinite import nonfinite_flags
from .params import params_dataclass, parse_spec

K = LazyModule("rampflow.kernels.jump")  # numba: imported when a chunk is first detected
numba = LazyModule("numba")

log = logging.getLogger(__name__)

#: jwst 3.0 JumpStep's spec: every parameter, its type, range and default, under jwst's names
#: (stated here once: :class:`JumpParams`, :data:`JUMP_DEFAULTS` and ``JumpStep.defaults``
#: derive from it)
JUMP_SPEC = """
    rejection_threshold = float(default=4.0, min=0)  # CR sigma rejection threshold
    three_group_rejection_threshold = float(default=6.0, min=0)  # CR sigma rejection threshold
    four_group_rejection_threshold = float(default=5.0, min=0)  # CR sigma rejection threshold
    maximum_cores = string(default='1')  # an integer, 'half', 'quarter', or 'all'
    flag_4_neighbors = boolean(default=True)  # flag the four perpendicular neighbors of each CR
    max_jump_to_flag_neighbors = float(default=1000)  # maximum jump sigma that triggers neighbor flagging
    min_jump_to_flag_neighbors = float(default=10)  # minimum jump sigma that triggers neighbor flagging
    after_jump_flag_dn1 = float(default=0)  # 1st flag groups after jump above DN threshold
    after_jump_flag_time1 = float(default=0)  # 1st flag groups after jump groups within specified time
    after_jump_flag_dn2 = float(default=0)  # 2nd flag groups after jump above DN threshold
    after_jump_flag_time2 = float(default=0)  # 2nd flag groups after jump groups within specified time
    expand_large_events = boolean(default=False)  # snowball detector for NIR detectors
    min_sat_area = float(default=1.0)  # minimum area of the central saturation of snowballs
    min_jump_area = float(default=5.0)  # minimum area to trigger large events processing
    expand_factor = float(default=2.0)  # expansion factor for the enclosing circles or ellipses
    use_ellipses = boolean(default=False)  # deprecated
    sat_required_snowball = boolean(default=True)  # require the center of snowballs to be saturated
    min_sat_radius_extend = float(default=2.5)  # min radius of the sat core to extend the core
    sat_expand = integer(default=2)  # pixels added to the radius of the saturated core of snowballs
    edge_size = integer(default=25)  # distance from the edge where no saturated core is required
    mask_snowball_core_next_int = boolean(default=True)  # flag snowball cores in the next integration
    snowball_time_masked_next_int = integer(default=4000)  # seconds over which cores are flagged next int
    find_showers = boolean(default=False)  # apply MIRI shower flagging
    max_shower_amplitude = float(default=4)  # maximum MIRI shower amplitude in DN/s
    extend_snr_threshold = float(default=1.2)  # SNR minimum for detection of extended showers in MIRI
    extend_min_area = integer(default=90)  # min area of emission after convolution for showers
    extend_inner_radius = float(default=1)  # inner radius of the ring_2D_kernel
    extend_outer_radius = float(default=2.6)  # outer radius of the ring_2D_Kernel
    extend_ellipse_expand_ratio = float(default=1.1)  # expansion of the ellipse fit to extended emission
    time_masked_after_shower = float(default=15)  # seconds flagged as jump after extended emission
    min_diffs_single_pass = integer(default=10)  # min differences to skip iterative flagging
    max_extended_radius = integer(default=200)  # maximum radius of an extended snowball or shower
    minimum_groups = integer(default=3)  # minimum groups for jump detection using sigma clipping
    minimum_sigclip_groups = integer(default=100)  # minimum groups to switch to sigma clipping
    only_use_ints = boolean(default=True)  # sigma clip the same group across integrations only
"""

#: the parameters as one frozen dataclass (fields typed and defaulted from :data:`JUMP_SPEC`)
JumpParams = params_dataclass("JumpParams", parse_spec(JUMP_SPEC),
                              "jwst 3.0 JumpStep's parameters (from JUMP_SPEC).")
JumpParams.__module__ = __name__

#: JumpParams' names and defaults as a dict
JUMP_DEFAULTS = {f.name: f.default for f in fields(JumpParams)}

#: astropy sigma_clip's default number of iterations (stcal does not change it)
SIGCLIP_MAXITERS = 5


def compute_num_cores(max_cores: str, nchunks: int, max_available: int) -> int:
    """stcal.multiprocessing.compute_num_cores: slices jwst would make for ``maximum_cores``."""
    max_cores = str(max_cores)
    n = 1
    if max_cores.isnumeric():
        n = int(max_cores)
    elif max_cores.lower() in ("none", "one"):
        n = 1
    elif max_cores == "quarter":
        n = max_available // 4 or 1
    elif max_cores == "half":
        n = max_available // 2 or 1
    elif max_cores == "all":
        n = max_available
    return min([nchunks, n, max_available])


def effective_minimum_groups(minimum_groups: int, maximum_cores: str, nrows: int) -> int:
    """stcal sets ``minimum_groups = 3`` when it runs in one process (the default)."""
    if compute_num_cores(maximum_cores, nrows, os.cpu_count() or 1) == 1:
        return 3
    return int(minimum_groups)


def groups_after(time: float, group_time: float) -> int:
    """jwst: number of groups flagged after a jump, ``int(time // group_time)``."""
    return int(time // group_time)


@dataclass
class JumpResult:
    """What one call found (for the Step's header keywords and logs)."""

    mode: str
    #: per row: groups with JUMP after detection, before neighbours (stcal's primary count)
    primary_per_row: np.ndarray = field(repr=False)
    #: (nints, ngroups): planes that are DO_NOT_USE in every pixel of the rows given
    all_dnu: np.ndarray = field(repr=False)


_MODE_NAMES = {0: "skipped (too few usable groups)", 1: "iterative two-point difference",
               2: "single-pass two-point difference", 3: "sigma clipping"}


def _check_inputs(sci, gdq, pdq, readnoise_2d, gain_2d):
    if not isinstance(sci, np.ndarray) or sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be a float32 (nints, ngroups, ny, nx) array, got "
                         f"{getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    if not isinstance(gdq, np.ndarray) or gdq.shape != sci.shape or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 with sci's shape {sci.shape}, got "
                         f"{getattr(gdq, 'dtype', type(gdq))} {getattr(gdq, 'shape', '')}")
    if not isinstance(pdq, np.ndarray) or pdq.shape != sci.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 of shape {sci.shape[2:]}, got "
                         f"{getattr(pdq, 'dtype', type(pdq))} {getattr(pdq, 'shape', '')}")
    for name, a in (("readnoise_2d", readnoise_2d), ("gain_2d", gain_2d)):
        if not isinstance(a, np.ndarray) or a.shape != sci.shape[2:]:
            raise ValueError(f"{name} must be a (ny, nx) = {sci.shape[2:]} array, got "
                             f"{getattr(a, 'shape', type(a))}")
    if not gdq.flags.writeable or not pdq.flags.writeable:
        raise ValueError("gdq and pdq must be writeable (flags are set in place)")


def run_detection(sci, gdq, pdq, readnoise_2d, gain_2d, params: JumpParams | None = None, *,
                  group_time: float = 1.0, nframes: int = 1, gain_median=None,
                  nrows_exposure: int | None = None, row_cache: RowCache | None = None,
                  row0: int = 0) -> JumpResult:
    """:func:`detect_jumps` with the parameters as one :class:`JumpParams`; returns a
    :class:`JumpResult`. Same array contract; ``params`` None means jwst's defaults.

    ``row_cache`` / ``row0``: see :class:`RowCache` (``row0`` = exposure row of the
    chunk's first row); rows found there are not detected again.
    """
    p = JumpParams() if params is None else params
    _check_inputs(sci, gdq, pdq, readnoise_2d, gain_2d)
    for name in ("rejection_threshold", "three_group_rejection_threshold", "four_group_rejection_threshold"):
        v = getattr(p, name)
        if not v >= 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    if int(nframes) < 1:
        raise ValueError(f"nframes must be >= 1, got {nframes}")
    nrows = sci.shape[2] if nrows_exposure is None else int(nrows_exposure)
    minimum_groups = effective_minimum_groups(p.minimum_groups, p.maximum_cores, nrows)
    after_jump_flag_n1 = groups_after(p.after_jump_flag_time1, group_time)
    after_jump_flag_n2 = groups_after(p.after_jump_flag_time2, group_time)
    nints, ngroups, ny, nx = sci.shape
    dnu, sat, jump = dqflags.DO_NOT_USE, dqflags.SATURATED, dqflags.JUMP_DET

    rn = np.ascontiguousarray(readnoise_2d, dtype=np.float32)
    gain = np.ascontiguousarray(gain_2d, dtype=np.float32)

    # stcal setup_pdq
    bad_gain = (gain <= 0.0) | np.isnan(gain)
    pdq[bad_gain] |= np.uint32(dqflags.NO_GAIN_VALUE | dnu)

    # stcal groups_all_set_dnu / check_group_counts / check_sigma_clip_groups
    all_dnu = np.zeros((nints, ngroups), dtype=np.bool_)
    if sci.size:
        K._plane_all_kernel(gdq, np.uint8(dnu), all_dnu)
    flagged_per_int = all_dnu.sum(axis=1)
    max_flagged = int(flagged_per_int.max()) if nints else 0
    total_flagged = int(flagged_per_int.sum())
    min_usable_groups = ngroups - max_flagged
    total_groups = nints * ngroups - total_flagged
    min_usable_diffs = min_usable_groups - 1
    use_sigclip = ((p.only_use_ints and nints >= p.minimum_sigclip_groups)
                   or (not p.only_use_ints and total_groups >= p.minimum_sigclip_groups))
    if not use_sigclip and min_usable_groups < minimum_groups:
        mode = K.MODE_SKIP
    elif use_sigclip:
        mode = K.MODE_SIGCLIP
    elif min_usable_diffs >= p.min_diffs_single_pass:
        mode = K.MODE_SINGLE
    else:
        mode = K.MODE_ITERATIVE
    if ngroups < 2 or sci.size == 0:
        mode = K.MODE_SKIP

    nd = max(ngroups - 1, 1)
    n = nints * nd
    # pixels per block: 256 (long contiguous reads of each plane), or fewer so that the
    # block's differences (float32) take at most ~16 MB per thread
    width = int(min(nx, 256, max(16, (16 << 20) // (4 * n))))
    detecting = mode != K.MODE_SKIP
    kp = K.KernelParams(
        mode=int(mode), only_use_ints=bool(p.only_use_ints), nframes=float(int(nframes)),
        rejection_threshold=float(p.rejection_threshold),
        four_group_rejection_threshold=float(p.four_group_rejection_threshold),
        three_group_rejection_threshold=float(p.three_group_rejection_threshold),
        sigclip_maxiters=SIGCLIP_MAXITERS, flag_4_neighbors=bool(p.flag_4_neighbors) and detecting,
        min_jump_to_flag_neighbors=float(p.min_jump_to_flag_neighbors),
        max_jump_to_flag_neighbors=float(p.max_jump_to_flag_neighbors),
        after_jump_flagging=detecting and (after_jump_flag_n1 > 0 or after_jump_flag_n2 > 0),
        after_jump_flag_e1=0.0, after_jump_flag_n1=max(min(int(after_jump_flag_n1), ngroups - 2), -1),
        after_jump_flag_e2=0.0, after_jump_flag_n2=max(min(int(after_jump_flag_n2), ngroups - 2), -1),
        width=width, dnu=np.uint8(dnu), sat=np.uint8(sat), jump=np.uint8(jump))
    out = K.DetectOutput(med=np.full((ny, nx), np.nan, dtype=np.float64),
                         sig=np.full((ny, nx), np.nan, dtype=np.float64),
                         rowtrig=np.zeros((nints, ngroups, ny), dtype=np.uint8),
                         nprim=np.zeros(ny, dtype=np.int64), nclean=np.zeros(ny, dtype=np.int64))
    todo = np.arange(ny, dtype=np.int64)
    if row_cache is not None and sci.size:
        todo = row_cache.plan(sci, gdq, row0, mode)
    # work items of the detection: (row, block of ``width`` pixels); a 1-row chunk still
    # keeps every thread busy
    nblk = -(-nx // width) if nx else 1
    ntasks = max(1, min(len(todo) * nblk, numba.get_num_threads()))
    if sci.size and len(todo):
        K._detect_kernel(sci, gdq, rn, gain, todo, ntasks, kp, out)
    if row_cache is not None and sci.size:
        row_cache.restore_and_store(gdq, out, row0)
    if mode == K.MODE_SIGCLIP:
        planes = np.zeros((nints, ngroups), dtype=np.bool_)
        K._plane_all_kernel(gdq, np.uint8(jump | dnu), planes)
        if planes.any():
            K._clear_planes_kernel(gdq, planes, np.uint8(jump))
            K._count_rows_kernel(gdq, np.uint8(jump), out.nprim)
    if kp.flag_4_neighbors and out.rowtrig.any():
        K._neighbors_kernel(sci, gdq, gain, out.med, out.sig, out.rowtrig, kp)
    do_clean = bool(out.nclean.any())
    if kp.after_jump_flagging or do_clean:
        if gain_median is None:
            gain_median = np.nanmedian(gain)
        # as stcal: python float * float32 median (a float32 under numpy's promotion rules)
        kp = kp._replace(after_jump_flag_e1=float(p.after_jump_flag_dn1 * gain_median),
                         after_jump_flag_e2=float(p.after_jump_flag_dn2 * gain_median))
        K._after_kernel(sci, gdq, gain, out.med, kp, do_clean)
    return JumpResult(mode=_MODE_NAMES[mode], primary_per_row=out.nprim, all_dnu=all_dnu)


def detect_jumps(sci, gdq, pdq, readnoise_2d, gain_2d, *, frame_time: float, group_time: float, nframes: int,
                 gain_median: float | None = None, nrows_exposure: int | None = None, **params) -> None:
    """Flag cosmic-ray jumps in place (stcal's ``detect_jumps`` two-point difference).

    sci          : float32 (nints, ngroups, ny, nx), DN; not modified. ALL integrations of
                   the pixels (the statistics pool integrations).
    gdq          : uint8 (nints, ngroups, ny, nx); JUMP_DET is added in place (and removed
                   from groups that are also SATURATED or DO_NOT_USE).
    pdq          : uint32 (ny, nx); NO_GAIN_VALUE | DO_NOT_USE added where gain is NaN or <= 0.
    readnoise_2d : (ny, nx) CDS read noise in DN (READNOISE reference, cut to the subarray).
    gain_2d      : (ny, nx) gain in e-/DN (GAIN reference, cut to the subarray).
    params       : jwst's JumpStep parameters (:class:`JumpParams`; an unknown name is a
                   TypeError). ``frame_time`` is accepted for API compatibility (the two-point
                   method does not use it), ``group_time`` converts ``after_jump_flag_time1/2``
                   to groups, ``nframes`` (frames averaged per group) scales the read noise.
    ``gain_median``: nanmedian of the whole exposure's gain (the after-jump DN thresholds are
    scaled by it; defaults to that of ``gain_2d``). ``nrows_exposure``: rows of the whole
    exposure, for jwst's ``maximum_cores`` -> ``minimum_groups`` rule (defaults to ny).
    """
    if group_time is None or not group_time > 0:
        raise ValueError(f"group_time must be > 0, got {group_time}")
    run_detection(sci, gdq, pdq, readnoise_2d, gain_2d, JumpParams(**params), group_time=group_time,
                  nframes=nframes, gain_median=gain_median, nrows_exposure=nrows_exposure)


class JumpStep(Step):
    """jwst ``jump``: two-point-difference cosmic-ray flagging (GROUPDQ |= JUMP_DET).

    Chunked by rows (every integration of a pixel is needed for the statistics and the
    sigma clipping) with a 1-row halo for the neighbour flagging.

    Difference from jwst: after detection, a pixel whose READNOISE is NaN or inf gets
    DO_NOT_USE | UNRELIABLE_SLOPE and one whose GAIN is inf DO_NOT_USE | NO_GAIN_VALUE (jwst
    flags only NaN and non-positive gains); the detection itself is jwst's, so GROUPDQ is
    unchanged and finite references give jwst's result bit for bit.
    """

    name = "jump"
    keyword = "S_JUMP"
    reftypes = ("readnoise", "gain")
    spec = JUMP_SPEC
    chunking = "rows"
    halo = 1
    modifies_sci = False  # jump only flags GROUPDQ / PIXELDQ, as jwst's

    # One pass: with snowballs or showers jump looks at its whole input first; its pre-pass
    # (Step.prepare, rampflow.runner.prepass) recomputes the steps before it from the uncal
    # file in the row stream (halo rows carried, not recomputed), so it always shares the pass
    # (no one_pass_conflict): the extra run of the steps before jump costs about what writing
    # and reading back a temporary ramp does, without the temporary file (benchmarks/HISTORY.md).

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        p = self.params
        shape = (meta.subsize2, meta.subsize1)
        self.gain = np.ascontiguousarray(refs["gain"]["SCI"], dtype=np.float32)
        self.readnoise = np.ascontiguousarray(refs["readnoise"]["SCI"], dtype=np.float32)
        for what, a in (("gain", self.gain), ("readnoise", self.readnoise)):
            if a.shape != shape:
                raise ValueError(f"step 'jump': {what} reference {refs[what].path} SCI has shape "
                                 f"{a.shape}, exposure subarray is {shape}")
        if meta.ngroups <= 2:
            self.skipped = f"NGROUPS={meta.ngroups} <= 2: jump detection needs at least 3 groups"
        self.gain_median = np.nanmedian(self.gain)
        # flags for non-finite values (jwst: NO_GAIN_VALUE for NaN or <= 0 gain only, in run_detection)
        self.ref_flags = (nonfinite_flags(self.readnoise, "UNRELIABLE_SLOPE", refs["readnoise"].path)
                          | nonfinite_flags(self.gain, "NO_GAIN_VALUE", refs["gain"].path))
        self.jump_params = JumpParams(**p)
        self._nprimary_rows = np.zeros(meta.subsize2, dtype=np.int64)
        self._skipped_chunks = 0
        self._chunks = 0
        self._all_dnu = np.ones((meta.nints, meta.ngroups), dtype=np.bool_)
        self._cache = RowCache(meta.subsize2, keep=2 * self.halo)
        self.events = None
        if p["expand_large_events"] or p["find_showers"]:
            from .jump_events import event_params
            from .jump_stream import LargeEvents

            self.events = LargeEvents(self, event_params(self.jump_params, meta.tgroup, meta.nframes))
            self.halo = 0  # the pre-pass (prepare) finds every flag; the row pass only applies them

    def _check_ints(self, sci, ints):
        nints = self.meta.nints
        if (ints.start or 0) != 0 or (ints.stop if ints.stop is not None else nints) != nints \
                or sci.shape[0] != nints:
            raise ValueError(f"step 'jump' needs all {nints} integrations of its rows, got {ints}")

    def detect_chunk(self, sci, gdq, pdq, rows):
        """The two-point detection of one row chunk (and its bookkeeping), in place."""
        res = run_detection(sci, gdq, pdq, self.readnoise[rows], self.gain[rows], self.jump_params,
                            group_time=self.meta.tgroup, nframes=self.meta.nframes, gain_median=self.gain_median,
                            nrows_exposure=self.meta.subsize2, row_cache=self._cache, row0=rows.start or 0)
        # per exposure row (a halo row gets the same count in both chunks that hold it)
        start = rows.start or 0
        self._chunks += 1
        if res.mode.startswith("skipped"):
            self._skipped_chunks += 1
        else:
            self._nprimary_rows[start:start + sci.shape[2]] = res.primary_per_row
        self._all_dnu &= res.all_dnu
        log.debug("jump rows %d-%d: %s", start, start + sci.shape[2] - 1, res.mode)

    def stream_restores_context(self) -> None:
        """Called by the runner's row stream (:mod:`rampflow.runner.row_stream`), which gives
        this step, for the rows it already detected in the previous call, exactly the input
        they had then: the detection results kept for them are reused without checking the
        input's fingerprint (:class:`RowCache`, ``verify``)."""
        self._cache.verify = False

    def prepare(self, ramp, chunk_mb: float) -> None:
        """With snowball or shower flagging: the bounded-memory pre-pass over the step's input
        (:class:`~rampflow.steps.jump_stream.LargeEvents`), before the row chunks. ``ramp``:
        the runner's :class:`~rampflow.runner.prepass.StepInput` (in the one pass, the steps
        before jump recomputed on chunks of the uncal file), or a ramp read directly (an open
        RampFile or :class:`~rampflow.steps.jump_stream.ArrayRamp`)."""
        if self.events is None or self.skipped:
            return
        if ramp is None:
            raise ValueError("step 'jump' with expand_large_events or find_showers needs its input ramp before "
                             "its row chunks (got none)")
        if not hasattr(ramp, "integrations"):  # a ramp file: the source with no step before jump
            from ..runner.prepass import StepInput

            ramp = StepInput(ramp, [], ramp.pixeldq(), chunk_mb, "jump")
        self.events.run(ramp)

    def process(self, sci, gdq, pdq, ints, rows):
        self._check_ints(sci, ints)
        if self.events is None:
            self.detect_chunk(sci, gdq, pdq, rows)
        else:
            if not self.events.done:
                if sci.shape[2] != self.meta.subsize2:
                    raise ValueError("step 'jump': with expand_large_events or find_showers, row chunks need "
                                     "the pre-pass (Step.prepare) over the input ramp first")
                from .jump_stream import ArrayRamp

                self.prepare(ArrayRamp(sci, gdq, pdq), float(2**40))
            self.events.apply(gdq, rows)
            bad_gain = (self.gain[rows] <= 0.0) | np.isnan(self.gain[rows])
            pdq[bad_gain] |= np.uint32(dqflags.NO_GAIN_VALUE | dqflags.DO_NOT_USE)
        pdq |= self.ref_flags[rows]

    def header_updates(self):
        """PRIMECRS / EXTNCRS as jwst computes them (CRs per 1000 pixels per second; snowballs,
        or showers when find_showers, per million pixels per second)."""
        if self.skipped or not self._chunks:
            return {}
        m = self.meta
        ncrs = -99 if self._skipped_chunks == self._chunks else int(self._nprimary_rows.sum())
        ndnu = int(self._all_dnu.sum())
        nevents = 0
        if self.events is not None:  # planes of the final GROUPDQ; stcal reports showers if searched
            ndnu = self.events.dnu_planes
            nevents = self.events.showers if self.params["find_showers"] else self.events.snowballs
        total_groups = m.nints * m.ngroups - ndnu - m.nints
        if total_groups < 1:
            return {}
        total_time = m.tgroup * total_groups
        npix = m.subsize1 * m.subsize2
        return {
            "PRIMECRS": (1000.0 * ncrs / (total_time * npix),
                         "Cosmic Ray rate per thousand pixels per second"),
            "EXTNCRS": (1e6 * nevents / (total_time * npix),
                        "Snowballs/showers per million pixels per second"),
        }
