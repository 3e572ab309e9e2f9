"""The geometry of jwst's NIR reference-pixel correction (``refpix``, non-IRS2): the DMS <-> detector
orientation, and the per-exposure plan of which reference pixels correct which pixels (top/bottom
rows per amplifier and column parity, side columns and their smoothing window, subarray sets).
Used by :mod:`.refpix` (the step and its kernels' wrapper) and :mod:`.refpix_planes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..dq import DO_NOT_USE, REFERENCE_PIXEL

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
