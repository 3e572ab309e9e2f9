"""Reference-pixel correction for the NIR detectors (jwst ``RefPixStep``, non-IRS2).

Reproduces jwst 3.0 ``jwst/refpix/refpix_step.py`` + ``reference_pixels.py`` for
NIRCam, NIRSpec and NIRISS (and the FGS guiders) read out in the traditional mode:

* Geometry. jwst embeds a subarray in a 2048 x 2048 frame (reference-pixel border
  flagged DO_NOT_USE | REFERENCE_PIXEL outside the subarray), flips/transposes it to
  the detector frame with FASTAXIS/SLOWAXIS (``science_detector_frame_transform``),
  corrects there and transforms back. We never move pixels: :func:`plan_geometry`
  builds, once per exposure, index tables saying where each detector-frame reference
  pixel lives in the DMS array; the kernel corrects the DMS planes in place.
* Full frame, or a subarray read with NOUTPUTS = 4 ("do_fullframe_corrections"):
  per amplifier (detector columns 512 a ... 512 a + 511), the sigma-clipped mean
  (``scipy.stats.sigmaclip``, +-``siglimit`` sigma, iterated) of the top (detector rows
  2044-2047) and of the bottom (rows 0-3) reference rows, separately for even and odd
  detector columns if ``odd_even_columns`` (else all columns together); top and bottom
  are averaged (or whichever exists) and subtracted from every pixel of the
  amplifier's columns; if one parity of an amplifier has no good reference pixel the
  amplifier is left uncorrected. Then, if ``use_side_ref_pixels``, the left (columns
  0-3) and right (2044-2047) reference columns, already corrected, are median filtered
  along the rows (window ``side_smoothing_length`` rows x 4 columns, reflected at the
  detector edges, an even length +1 for the reflection but not for the window, as jwst
  does), averaged left/right (one side if the other has no good pixel, 0 if neither),
  scaled by ``side_gain`` and subtracted from every pixel of the detector row.
* Subarray with one output (NOUTPUTS != 4), e.g. NIRSpec SUB2048 ("do_subarray_corrections"):
  every pixel of the subarray flagged REFERENCE_PIXEL and not DO_NOT_USE in PIXELDQ
  feeds one sigma-clipped mean per detector-column parity (or one in all if not
  ``odd_even_columns``), subtracted from the whole plane; side pixels are not used.
  NIRSpec SUB512, SUB512S and SUB32 have no reference pixels on their edges: as in jwst
  their first and last four DMS columns are treated as reference pixels. A subarray
  with no usable reference pixel is left unchanged and the step is still COMPLETE
  (jwst's behaviour: ``bad_reference_pixels`` is set but never reported). A subarray
  that does not fit in 2048 x 2048 is SKIPPED.
* Reference pixels are excluded only by PIXELDQ DO_NOT_USE; GROUPDQ is not used and
  neither DQ array is changed. Every group is corrected, the first one included (its
  level was removed by superbias); there is no state across integrations.

Precision (why results are bit-identical to jwst rather than merely close): jwst re-uses
one group buffer for the whole exposure. It starts as float32 and, in the full-frame
path with side pixels, becomes the float64 result of the side subtraction, so the very
first group of the exposure is worked in float32 and every later one in float64
(sigma clipping, top/bottom subtraction, medians). The clipped means reproduce numpy's
float32/float64 pairwise summation and its float64 division by the count, and the
zero-variance case returns a float64 mean as jwst does. This is a function of the
absolute (integration, group) index only, so chunking by integrations is exact.

MIRI: jwst's own MIRI algorithm (left/right reference columns per amplifier, after
subtracting each integration's first group), and MIRI subarrays SKIPPED, as jwst does: see
:mod:`.refpix_miri`.

``refpix_algorithm="sirs"`` (jwst 3.0): on NIR full frames (SUBARRAY containing "FULL") jwst
asks CRDS for a SIRSKERNEL reference. With one that has kernels for the detector, the side
correction is the SIRS convolution of :mod:`.refpix_sirs` instead of the running median
(only when ``use_side_ref_pixels``); without one (N/A), or without the detector in it, it warns
and uses the running median above (``side_smoothing_length``, ``side_gain``); on subarrays
(and MIRI) it ignores SIRS. rampflow does the same: the runner resolves SIRSKERNEL only in
that case (:meth:`RefPixStep.reftypes_for`).

Out of scope (clear errors): IRS2 readouts (NRSIRS2 / NRSIRS2RAPID, 3200-pixel axis); SIRS
on a 4-output subarray whose SUBARRAY name contains "FULL" (not a real mode); multistripe/
superstripe subarrays (not described by our metadata). The ZEROFRAME
extension, which jwst also corrects, is not carried by
rampflow's ramp products. Deliberate difference: a one-output subarray whose
reference pixels all share one column parity makes jwst raise IndexError; here that
subarray is left uncorrected with a warning. ``odd_even_rows``, ``ovr_corr_mitigation_ftr``,
``preserve_irs2_refpix`` and ``irs2_mean_subtraction`` only act on MIRI or IRS2 data and are
accepted and ignored; ``sigreject``, ``gaussmooth`` and ``halfwidth`` act with SIRS only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..dq import DO_NOT_USE, REFERENCE_PIXEL
from ..kernels.refpix import _refpix_kernel
from . import refpix_miri, refpix_sirs
from .base import Step

log = logging.getLogger(__name__)

#: detector frame size of the NIR detectors
NFULL = 2048
#: amplifier width in detector columns
AMP_WIDTH = 512
#: NIRSpec subarrays whose edges have no reference pixels (jwst ``NRS_edgeless_subarrays``)
NRS_EDGELESS_SUBARRAYS = ("SUB512", "SUB512S", "SUB32")
#: jwst's list of NIR detectors (others are warned about and treated as NIR, as jwst does)
NIR_DETECTORS = ("GUIDER1", "GUIDER2", "NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCALONG", "NRCB1",
                 "NRCB2", "NRCB3", "NRCB4", "NRCBLONG", "NIS", "NRS1", "NRS2")


# --- orientation -------------------------------------------------------------------------

def _check_axes(fastaxis: int, slowaxis: int) -> None:
    if {abs(int(fastaxis)), abs(int(slowaxis))} != {1, 2}:
        raise ValueError(f"FASTAXIS={fastaxis}, SLOWAXIS={slowaxis}: expected +-1 and +-2")


def dms_to_detector(a: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """jwst's ``science_detector_frame_transform``: DMS (science) -> detector orientation.

    a : (..., ny, nx) any dtype. Returns a view; in the detector frame the fast read
    direction runs along the last axis (increasing) and the slow one along axis -2.
    """
    _check_axes(fastaxis, slowaxis)
    sf, ss = int(np.sign(fastaxis)), int(np.sign(slowaxis))
    if abs(fastaxis) == 1:
        return a[..., ::ss, ::sf]
    return np.swapaxes(a[..., ::sf, ::ss], -2, -1)


def detector_to_dms(a: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """jwst's ``detector_science_frame_transform``, the inverse of :func:`dms_to_detector`."""
    _check_axes(fastaxis, slowaxis)
    sf, ss = int(np.sign(fastaxis)), int(np.sign(slowaxis))
    if abs(fastaxis) == 1:
        return a[..., ::ss, ::sf]
    return np.swapaxes(a, -2, -1)[..., ::sf, ::ss]


def _flip(v, sign: int, n: int = NFULL):
    return v if sign > 0 else (n - 1) - v


def detector_to_dms_index(r, c, fastaxis: int, slowaxis: int, n: int = NFULL):
    """Full-frame DMS (row, col) of detector-frame (row r, column c) (arrays or ints)."""
    sf, ss = int(np.sign(fastaxis)), int(np.sign(slowaxis))
    if abs(fastaxis) == 1:
        return _flip(r, ss, n), _flip(c, sf, n)
    return _flip(c, sf, n), _flip(r, ss, n)


# --- per-exposure plan ----------------------------------------------------------------------

@dataclass
class RefpixPlan:
    """Index tables for the kernel (see :func:`plan_geometry`)."""

    path: str                      # "fullframe" | "subarray" | "none" (nothing to do)
    ny: int
    nx: int
    transposed: bool               # detector columns run along DMS rows
    cls_axis: np.ndarray           # int32: correction class per DMS column (per DMS row if transposed)
    r_axis: np.ndarray             # int32: detector row per DMS row (per DMS column if transposed)
    ref_y: np.ndarray              # int32: DMS rows of the reference pixels, set after set
    ref_x: np.ndarray              # int32: DMS columns, same order
    set_start: np.ndarray          # int64 (nsets+1): offsets of each set in ref_y/ref_x
    class_sets: np.ndarray         # int64 (nclass, 2): sets averaged per class (-1 = none)
    pair_parity: bool              # both parities of a class pair must exist
    do_side: bool
    side_y: np.ndarray             # int32 (2, 2048, 4): DMS row of left/right side pixels, -1 = unusable
    side_x: np.ndarray             # int32 (2, 2048, 4)
    side_cls: np.ndarray           # int64 (2, 4): class of each side column
    win_lo: int = -5
    win_len: int = 11
    notes: list = field(default_factory=list)
    chan_axis: np.ndarray | None = None   # int32: amplifier (detector column // 512) per DMS column/row
    sirs_y: np.ndarray | None = None      # int32 (2, 2048, 4): DMS row of every side pixel (full frame)
    sirs_x: np.ndarray | None = None      # int32 (2, 2048, 4)

    @property
    def nbuf(self) -> int:
        sizes = np.diff(self.set_start)
        n = int(sizes.max()) if sizes.size else 1
        if self.do_side:
            n = max(n, 4 * self.win_len)
        return max(n, 1)

    @property
    def nref(self) -> int:
        return int(self.set_start[-1])


def is_subarray(shape) -> bool:
    """jwst's ``reffile_utils.is_subarray`` for NIR data: either image axis < 2048."""
    return shape[-1] < NFULL or shape[-2] < NFULL


def embed_pixeldq(pixeldq: np.ndarray, xstart: int, ystart: int, subarray: str = "") -> np.ndarray:
    """jwst's ``Dataset.get_pixeldq`` for a NIR subarray: the full 2048 x 2048 DMS frame.

    The reference-pixel border is DO_NOT_USE | REFERENCE_PIXEL, the subarray's PIXELDQ is
    copied in at (ystart-1, xstart-1); for NIRSpec's edgeless subarrays its first and last
    four columns get REFERENCE_PIXEL. pixeldq : uint32 (ny, nx). Returns uint32 (2048, 2048).
    """
    ny, nx = pixeldq.shape
    r0, c0 = ystart - 1, xstart - 1
    full = np.zeros((NFULL, NFULL), dtype=np.uint32)
    border = np.uint32(DO_NOT_USE | REFERENCE_PIXEL)
    full[0:4, :] = border
    full[NFULL - 4:, :] = border
    full[4:NFULL - 4, 0:4] = border
    full[4:NFULL - 4, NFULL - 4:] = border
    full[r0:r0 + ny, c0:c0 + nx] = pixeldq
    if subarray in NRS_EDGELESS_SUBARRAYS:
        full[r0:r0 + ny, c0:c0 + 4] |= np.uint32(REFERENCE_PIXEL)
        full[r0:r0 + ny, c0 + nx - 4:c0 + nx] |= np.uint32(REFERENCE_PIXEL)
    return full


def _side_tables(good, cls_of_col, side_smoothing_length, to_sub, side_y, side_x, side_cls) -> tuple[int, int]:
    """Full-frame side reference pixels (4 columns each side): fill ``side_y``/``side_x`` (the
    subarray position of each good one, by side, detector row and column) and ``side_cls``
    (their correction classes); returns jwst's running-median window (start, length)."""
    L = int(side_smoothing_length)
    Lr = L + 1 if L % 2 == 0 else L
    half = Lr // 2
    if L < 2 or half > NFULL - 2:
        raise ValueError(f"side_smoothing_length={side_smoothing_length}: jwst's running "
                         f"median needs 2 <= length <= {2 * (NFULL - 2)}")
    for sd, cols in enumerate((np.arange(0, 4), np.arange(NFULL - 4, NFULL))):
        side_cls[sd] = cls_of_col[cols]
        for j, c in enumerate(cols):
            rr = np.nonzero(good[:, c])[0]
            if rr.size:
                yy, xx = to_sub(rr, np.full(rr.size, c))
                side_y[sd, rr, j] = yy
                side_x[sd, rr, j] = xx
    return -half, L


def _subarray_sets(det, good, odd_even_columns, to_sub, sets_y, sets_x, notes):
    """jwst's subarray path: the good REFERENCE_PIXEL pixels, by column parity with
    ``odd_even_columns``, appended to ``sets_y``/``sets_x``. Returns (path, class of each
    detector column, class_sets); path "none" (with a note) when nothing can be corrected."""
    path = "subarray"
    detcols = np.arange(NFULL)
    isref = ((det & np.uint32(REFERENCE_PIXEL)) != 0) & good
    rr, cc = np.nonzero(isref)                        # row-major in the detector frame
    if rr.size == 0:
        notes.append("no valid reference pixels: the step has no effect")
        path = "none"
    if odd_even_columns:
        cls_of_col = detcols % 2
        class_sets = np.array([[0, -1], [1, -1]], np.int64)
        for p in (0, 1):
            sel = (cc % 2) == p
            yy, xx = to_sub(rr[sel], cc[sel]) if sel.any() else (np.zeros(0, np.int32),) * 2
            sets_y.append(yy)
            sets_x.append(xx)
        if path != "none" and (sets_y[0].size == 0 or sets_y[1].size == 0):
            notes.append("reference pixels of one column parity only: no correction "
                         "(jwst raises IndexError here)")
            path = "none"
    else:
        cls_of_col = np.zeros(NFULL, np.int64)
        class_sets = np.array([[0, -1]], np.int64)
        yy, xx = to_sub(rr, cc) if rr.size else (np.zeros(0, np.int32),) * 2
        sets_y.append(yy)
        sets_x.append(xx)
    return path, cls_of_col, class_sets


def plan_geometry(pixeldq: np.ndarray, *, xstart: int = 1, ystart: int = 1, fastaxis: int = 1,
                  slowaxis: int = 2, noutputs: int | None = 4, subarray: str = "FULL",
                  odd_even_columns: bool = True, use_side_ref_pixels: bool = True,
                  side_smoothing_length: int = 11) -> RefpixPlan:
    """Decide jwst's code path and build the kernel's index tables for one exposure.

    pixeldq : uint32 (ny, nx), the exposure's PIXELDQ in DMS orientation.
    xstart, ystart : 1-based SUBSTRT1/SUBSTRT2 (ignored for full-frame data, as in jwst).
    Returns a :class:`RefpixPlan`; ``path == "none"`` (with a note) when there is nothing
    to correct. Raises ValueError for a subarray that does not fit (callers that want
    jwst's SKIPPED check :func:`subarray_fits` first) and for a side smoothing length
    jwst cannot use.
    """
    pixeldq = np.asarray(pixeldq)
    if pixeldq.ndim != 2:
        raise ValueError(f"pixeldq must be 2-D (ny, nx), got shape {pixeldq.shape}")
    _check_axes(fastaxis, slowaxis)
    ny, nx = pixeldq.shape
    sub = is_subarray(pixeldq.shape)
    if not sub and (ny != NFULL or nx != NFULL):
        raise ValueError(f"pixeldq shape {pixeldq.shape}: axes longer than {NFULL} (IRS2?) "
                         "are not supported")
    if sub:
        if not subarray_fits(xstart, ystart, nx, ny):
            raise ValueError(f"subarray at SUBSTRT1={xstart}, SUBSTRT2={ystart} of size "
                             f"{nx} x {ny} does not fit in {NFULL} x {NFULL}")
        r0, c0 = ystart - 1, xstart - 1
        full_dms = embed_pixeldq(pixeldq.astype(np.uint32, copy=False), xstart, ystart, subarray)
    else:
        r0 = c0 = 0
        full_dms = pixeldq.astype(np.uint32, copy=False)
    det = dms_to_detector(full_dms, fastaxis, slowaxis)   # (2048, 2048) view, detector frame
    sf, ss = int(np.sign(fastaxis)), int(np.sign(slowaxis))
    transposed = abs(fastaxis) != 1
    # detector row / column of every DMS row and column of the subarray
    if not transposed:
        r_axis = _flip(np.arange(ny) + r0, ss)
        c_axis = _flip(np.arange(nx) + c0, sf)
    else:
        r_axis = _flip(np.arange(nx) + c0, ss)
        c_axis = _flip(np.arange(ny) + r0, sf)

    def to_sub(rr, cc):
        yy, xx = detector_to_dms_index(np.asarray(rr), np.asarray(cc), fastaxis, slowaxis)
        yy, xx = yy - r0, xx - c0
        if np.any((yy < 0) | (yy >= ny) | (xx < 0) | (xx >= nx)):  # pragma: no cover - by construction
            raise AssertionError("selected reference pixel outside the subarray")
        return yy.astype(np.int32), xx.astype(np.int32)

    good = (det & np.uint32(DO_NOT_USE)) == 0
    notes = []
    sets_y, sets_x = [], []
    side_y = np.full((2, NFULL, 4), -1, np.int32)
    side_x = np.full((2, NFULL, 4), -1, np.int32)
    side_cls = np.zeros((2, 4), np.int64)
    win_lo, win_len = -5, 11
    detcols = np.arange(NFULL)
    if not sub or noutputs == 4:
        path = "fullframe"
        namp = NFULL // AMP_WIDTH
        if odd_even_columns:
            cls_of_col = 2 * (detcols // AMP_WIDTH) + detcols % 2
            nclass = 2 * namp
        else:
            cls_of_col = detcols // AMP_WIDTH
            nclass = namp
        class_sets = np.full((nclass, 2), -1, np.int64)
        for amp in range(namp):
            for e, rows in enumerate((slice(NFULL - 4, NFULL), slice(0, 4))):   # top, bottom
                parities = (0, 1) if odd_even_columns else (None,)
                for p in parities:
                    if p is None:
                        cols = np.arange(amp * AMP_WIDTH, (amp + 1) * AMP_WIDTH)
                        k = amp
                    else:
                        cols = np.arange(amp * AMP_WIDTH + p, (amp + 1) * AMP_WIDTH, 2)
                        k = 2 * amp + p
                    block = good[rows][:, cols]
                    rr, ci = np.nonzero(block)            # row-major, as jwst's np.where
                    rr = rr + rows.start
                    cc = cols[ci]
                    if rr.size:
                        yy, xx = to_sub(rr, cc)
                        class_sets[k, e] = len(sets_y)
                        sets_y.append(yy)
                        sets_x.append(xx)
        pair_parity = bool(odd_even_columns)
        do_side = bool(use_side_ref_pixels)
        if do_side:
            win_lo, win_len = _side_tables(good, cls_of_col, side_smoothing_length, to_sub, side_y, side_x,
                                           side_cls)
    else:
        do_side = False
        pair_parity = bool(odd_even_columns)
        path, cls_of_col, class_sets = _subarray_sets(det, good, odd_even_columns, to_sub, sets_y, sets_x, notes)
    sirs_y = sirs_x = None
    if do_side and not sub:          # every side pixel, for SIRS (jwst ignores the DQ there)
        sirs_y = np.empty((2, NFULL, 4), np.int32)
        sirs_x = np.empty((2, NFULL, 4), np.int32)
        for sd, first in enumerate((0, NFULL - 4)):
            for j in range(4):
                sirs_y[sd, :, j], sirs_x[sd, :, j] = to_sub(np.arange(NFULL), np.full(NFULL, first + j))
    sizes = [len(s) for s in sets_y]
    set_start = np.zeros(len(sizes) + 1, np.int64)
    set_start[1:] = np.cumsum(sizes)
    ref_y = np.concatenate(sets_y).astype(np.int32) if sets_y else np.zeros(0, np.int32)
    ref_x = np.concatenate(sets_x).astype(np.int32) if sets_x else np.zeros(0, np.int32)
    return RefpixPlan(
        path=path, ny=ny, nx=nx, transposed=transposed,
        cls_axis=np.ascontiguousarray(cls_of_col[c_axis], dtype=np.int32),
        r_axis=np.ascontiguousarray(r_axis, dtype=np.int32),
        ref_y=ref_y, ref_x=ref_x, set_start=set_start, class_sets=class_sets,
        pair_parity=pair_parity, do_side=do_side, side_y=side_y, side_x=side_x,
        side_cls=side_cls, win_lo=int(win_lo), win_len=int(win_len), notes=notes,
        chan_axis=np.ascontiguousarray(c_axis // AMP_WIDTH, dtype=np.int32), sirs_y=sirs_y, sirs_x=sirs_x,
    )


def subarray_fits(xstart: int, ystart: int, nx: int, ny: int) -> bool:
    """jwst's ``create_dataset`` check that a subarray lies within 2048 x 2048."""
    c0, r0 = xstart - 1, ystart - 1
    return not (r0 < 0 or c0 < 0 or r0 + ny > NFULL or c0 + nx > NFULL)


# --- the correction -------------------------------------------------------------------------

def apply_plan(sci: np.ndarray, plan: RefpixPlan, *, side_gain: float = 1.0, siglimit: float = 3.0,
               first_integration: int = 0) -> None:
    """Correct ``sci`` in place following ``plan`` (from :func:`plan_geometry`).

    sci : float32 (nint, ngroups, ny, nx), DMS orientation, integrations
        ``first_integration ...`` of the exposure (this matters only for the working
        precision of the exposure's very first group, see the module docstring).
    """
    if not isinstance(sci, np.ndarray) or sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be a float32 (nint, ngroups, ny, nx) array, got "
                         f"{getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    if sci.shape[2:] != (plan.ny, plan.nx):
        raise ValueError(f"sci shape {sci.shape} does not match the plan's {(plan.ny, plan.nx)}")
    if plan.path == "none" or sci.size == 0:
        return
    f32_plane = 0 if (plan.do_side and first_integration == 0) else -1
    _refpix_kernel(sci, f32_plane, plan.ref_y, plan.ref_x, plan.set_start, plan.class_sets,
                   plan.pair_parity, plan.cls_axis, plan.r_axis, plan.transposed, plan.side_y,
                   plan.side_x, plan.side_cls, plan.do_side, plan.win_lo, plan.win_len,
                   float(side_gain), float(siglimit), float(siglimit), plan.nbuf)


def correct_refpix(sci: np.ndarray, pixeldq: np.ndarray, *, xstart: int = 1, ystart: int = 1,
                   fastaxis: int = 1, slowaxis: int = 2, noutputs: int | None = 4,
                   subarray: str = "FULL", odd_even_columns: bool = True,
                   use_side_ref_pixels: bool = True, side_smoothing_length: int = 11,
                   side_gain: float = 1.0, siglimit: float = 3.0, first_integration: int = 0) -> str:
    """jwst's NIR reference-pixel correction of a ramp, in place.

    sci : float32 (nint, ngroups, ny, nx), DMS orientation (modified in place).
    pixeldq : uint32 (ny, nx) (not modified).
    xstart, ystart : 1-based SUBSTRT1/2; fastaxis, slowaxis : FASTAXIS/SLOWAXIS;
    noutputs : NOUTPUTS; subarray : SUBARRAY name (for NIRSpec's edgeless subarrays).
    first_integration : index in the exposure of sci's first integration.
    Returns "COMPLETE", or "SKIPPED" when the subarray does not fit in 2048 x 2048.
    """
    if not isinstance(sci, np.ndarray) or sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be a float32 (nint, ngroups, ny, nx) array, got "
                         f"{getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    pixeldq = np.asarray(pixeldq)
    if pixeldq.shape != sci.shape[2:] or pixeldq.dtype != np.uint32:
        raise ValueError(f"pixeldq must be uint32 {sci.shape[2:]}, got {pixeldq.dtype} {pixeldq.shape}")
    if is_subarray(pixeldq.shape) and not subarray_fits(xstart, ystart, pixeldq.shape[1], pixeldq.shape[0]):
        return "SKIPPED"
    plan = plan_geometry(pixeldq, xstart=xstart, ystart=ystart, fastaxis=fastaxis, slowaxis=slowaxis,
                         noutputs=noutputs, subarray=subarray, odd_even_columns=odd_even_columns,
                         use_side_ref_pixels=use_side_ref_pixels,
                         side_smoothing_length=side_smoothing_length)
    apply_plan(sci, plan, side_gain=side_gain, siglimit=siglimit, first_integration=first_integration)
    return "COMPLETE"


# --- Step wrapper ---------------------------------------------------------------------------

class RefPixStep(Step):
    """jwst RefPixStep (S_REFPIX) for NIR non-IRS2 data; see the module docstring."""

    name = "refpix"
    keyword = "S_REFPIX"
    reftypes = ()
    # jwst's spec; side_smoothing_length >= 2 is rampflow's (its running median needs two rows;
    # jwst states no range)
    spec = """
        odd_even_columns = boolean(default=True)  # reference signal separately for even/odd columns
        use_side_ref_pixels = boolean(default=True)  # side reference pixels for each row's signal
        side_smoothing_length = integer(default=11, min=2)  # median window height for the side signal
        side_gain = float(default=1.0)  # factor for the side signal before subtracting it from rows
        odd_even_rows = boolean(default=True)  # reference signal separately for even/odd rows
        ovr_corr_mitigation_ftr = float(default=3.0)  # IRS2 overcorrection mitigation factor
        preserve_irs2_refpix = boolean(default=False)  # keep the reference pixels in the output
        irs2_mean_subtraction = boolean(default=False)  # mean offset subtraction before IRS2 correction
        refpix_algorithm = option("median", "sirs", default="median")  # NIR full-frame side pixel algorithm
        sigreject = float(default=4.0)  # sigmas to reject as outliers
        gaussmooth = float(default=1.0)  # width of the Gaussian smoothing kernel
        halfwidth = integer(default=30)  # half-width of the convolution kernel
        siglimit = float(default=3.0)  # sigma clipping limit for outlier rejection
    """
    chunking = "integrations"
    #: asked for only with refpix_algorithm='sirs' on NIR full frames (:meth:`reftypes_for`)
    optional_reftypes = ("sirskernel",)

    @staticmethod
    def wants_sirs(meta, params) -> bool:
        """jwst asks for the SIRSKERNEL reference: 'sirs' on a NIR full frame."""
        return (params.get("refpix_algorithm") == "sirs" and meta.instrument != "MIRI"
                and "FULL" in str(meta.subarray))

    @classmethod
    def reftypes_for(cls, meta, params):
        return ("sirskernel",) if cls.wants_sirs(meta, params) else ()

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        p = self.params
        for key in ("odd_even_columns", "use_side_ref_pixels", "odd_even_rows",
                    "preserve_irs2_refpix", "irs2_mean_subtraction"):
            if not isinstance(p[key], (bool, np.bool_)):
                raise ValueError(f"step 'refpix': {key} must be a boolean, got {p[key]!r}")
        for key in ("side_smoothing_length", "halfwidth"):
            if isinstance(p[key], bool) or not isinstance(p[key], (int, np.integer)):
                raise ValueError(f"step 'refpix': {key} must be an integer, got {p[key]!r}")
        for key in ("side_gain", "ovr_corr_mitigation_ftr", "sigreject", "gaussmooth", "siglimit"):
            if isinstance(p[key], bool) or not isinstance(p[key], (int, float, np.floating, np.integer)):
                raise ValueError(f"step 'refpix': {key} must be a number, got {p[key]!r}")
        if p["refpix_algorithm"] not in ("median", "sirs"):
            raise ValueError(f"step 'refpix': refpix_algorithm must be 'median' or 'sirs', "
                             f"got {p['refpix_algorithm']!r}")
        self._miri = meta.instrument == "MIRI"
        self.sirs_fallback = False
        self._sirs = None
        if self._miri:
            if p["refpix_algorithm"] == "sirs":
                log.info("refpix: Simple Improved Reference Subtraction (SIRS) not applied for MIRI data.")
            if refpix_miri.is_miri_subarray(meta.subsize2, meta.subsize1):
                self.skipped = "Refpix correction skipped for MIRI subarrays (as jwst)"
            self._plan = None
            return
        if max(meta.subsize1, meta.subsize2) > NFULL:
            raise NotImplementedError(
                f"step 'refpix': {meta.instrument} {meta.detector} data with an axis of "
                f"{max(meta.subsize1, meta.subsize2)} pixels is an IRS2 readout "
                f"({meta.readpatt}); IRS2 reference-pixel correction is not implemented")
        if self.wants_sirs(meta, p):
            kernel = refs.get("sirskernel")
            if kernel is None:
                log.warning("refpix: No reference file found for the optimized convolution kernel.")
                log.warning("refpix: REFPIX step will use the running median algorithm for side pixels.")
                self.sirs_fallback = True
            else:
                log.info("refpix: Using SIRS reference file: %s", kernel.path)
                if p["use_side_ref_pixels"]:   # jwst builds the kernels in its side correction only
                    self._sirs = refpix_sirs.make_kernels(kernel.tree, meta.detector, p["gaussmooth"],
                                                          p["halfwidth"])
                    if self._sirs is None:
                        log.info("refpix: The REFPIX step will use the running median")
                        self.sirs_fallback = True
                    elif is_subarray((meta.subsize2, meta.subsize1)):
                        raise NotImplementedError(
                            f"step 'refpix': SIRS on the {meta.subsize1} x {meta.subsize2} subarray "
                            f"{meta.subarray!r} (a 'FULL' name on a subarray) is not implemented")
        elif p["refpix_algorithm"] == "sirs":
            log.info("refpix: Simple Improved Reference Subtraction (SIRS) not applied for subarray data.")
        if meta.detector not in NIR_DETECTORS:
            log.warning("refpix: unrecognized detector %s, treated as a NIR detector (as jwst does)",
                        meta.detector)
        self._sub = is_subarray((meta.subsize2, meta.subsize1))
        if self._sub and not subarray_fits(meta.substrt1, meta.substrt2, meta.subsize1, meta.subsize2):
            self.skipped = (f"subarray at SUBSTRT1={meta.substrt1}, SUBSTRT2={meta.substrt2} "
                            f"({meta.subsize1} x {meta.subsize2}) does not fit in the detector")
        use_side = p["use_side_ref_pixels"]
        if (not self._sub or meta.noutputs == 4) and use_side:
            L = int(p["side_smoothing_length"])
            half = (L + 1 if L % 2 == 0 else L) // 2
            if L < 2 or half > NFULL - 2:
                raise ValueError(f"step 'refpix': side_smoothing_length={L}: jwst's running median "
                                 f"needs 2 <= length <= {2 * (NFULL - 2)}")
        self._plan: RefpixPlan | None = None

    def plan(self, pixeldq: np.ndarray) -> RefpixPlan:
        """The exposure's plan (built from PIXELDQ on first use; PIXELDQ is not changed by refpix)."""
        if self._plan is None:
            m, p = self.meta, self.params
            self._plan = plan_geometry(
                pixeldq, xstart=m.substrt1, ystart=m.substrt2, fastaxis=m.fastaxis,
                slowaxis=m.slowaxis, noutputs=m.noutputs, subarray=m.subarray,
                odd_even_columns=p["odd_even_columns"], use_side_ref_pixels=p["use_side_ref_pixels"],
                side_smoothing_length=p["side_smoothing_length"])
            for note in self._plan.notes:
                log.warning("refpix %s: %s", m.filename, note)
            log.info("refpix %s: %s path, %d reference pixels in %d sets%s", m.filename,
                     self._plan.path, self._plan.nref, len(self._plan.set_start) - 1,
                     ", side pixels used" if self._plan.do_side else "")
        return self._plan

    def process(self, sci, gdq, pdq, ints, rows):
        if self.skipped:
            return
        if self._miri:
            if not refpix_miri.correct_full_frame(sci, pdq, self.params["odd_even_rows"], self.params["siglimit"]):
                log.warning("refpix %s: a MIRI reference-pixel set has no good pixel; no correction "
                            "(as jwst)", self.meta.filename)
            return
        ny = sci.shape[2]
        if (rows.start or 0) != 0 or ny != pdq.shape[0] or ny != self.meta.subsize2:
            raise ValueError(f"step 'refpix' needs whole planes: got rows {rows} of "
                             f"{self.meta.subsize2} (chunking='integrations')")
        plan = self.plan(pdq)
        self._zf_plan = plan
        self._apply(sci, plan, ints.start or 0)

    def _apply(self, sci, plan, first_integration):
        p = self.params
        if self._sirs is not None and plan.do_side:
            refpix_sirs.apply_sirs(sci, plan, self._sirs, sigreject=p["sigreject"], siglimit=p["siglimit"],
                                   first_integration=first_integration)
        else:
            apply_plan(sci, plan, side_gain=p["side_gain"], siglimit=p["siglimit"],
                       first_integration=first_integration)

    def process_zeroframe(self, zf, ints, rows):
        """jwst (ZEROFRAM true): ZEROFRAME is corrected as a one-group ramp with the same
        geometry (``process_zeroframe_correction``); values that were 0 (unusable) stay 0."""
        if self.skipped or self._miri or not self.meta.zeroframe:
            return
        zero = zf == 0.0
        z = np.ascontiguousarray(zf[:, None])
        # jwst corrects ZEROFRAME after every group, in its re-used group buffer: float64 by
        # then when side pixels are used, so no ZEROFRAME plane is the float32 "first group"
        self._apply(z, self._zf_plan, 1)
        zf[...] = z[:, 0]
        zf[zero] = 0.0

    def header_updates(self):
        return {"R_REFPIX": ("N/A", "refpix reference file (IRS2 only)")}
