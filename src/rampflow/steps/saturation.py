"""Saturation flagging: jwst's ``saturation`` step (``stcal.saturation.flag_saturated_pixels``).

Algorithm, per integration (jwst 3.0 / stcal 1.20, non-IRS2 readout):

1. Thresholds: the SATURATION reference SCI (DN). Pixels whose reference DQ has
   NO_SAT_CHECK, and pixels with a NaN threshold (which also get NO_SAT_CHECK added to the
   reference DQ), get the threshold ``ATOD_LIMIT + 1`` = 65536 DN, so they never saturate.
2. Forward pass over groups: a pixel at or above its threshold is flagged SATURATED in that
   group and every later group; a group value <= 0 is flagged AD_FLOOR | DO_NOT_USE in that
   group only. With ``n_pix_grow_sat > 0`` every SATURATED pixel of a group's GROUPDQ
   (including any flagged before the step) spreads SATURATED to the (2n+1) x (2n+1) box
   around it, truncated at the array edges (charge spilling).
3. With ``use_readpatt`` (the read pattern is built as jwst does:
   group g holds frames ``g*NFRAMES+1 .. (g+1)*NFRAMES`` -- GROUPGAP is ignored, as in jwst):
   a. backward pass, for groups whose dilution mean(frames)/last frame != 1 (NFRAMES > 1):
      a group not yet SATURATED/DO_NOT_USE whose value reaches threshold x dilution (threshold
      x 1 on NO_SAT_CHECK pixels), while the next group is SATURATED, is flagged DO_NOT_USE
      (and grown by ``n_pix_grow_sat`` with DO_NOT_USE);
   b. if NGROUPS > 2, the "second-group" check: group index 1 gets DO_NOT_USE where
      ``(G0 - bias)/mean(frames0) * last_frame(G2) + bias < threshold`` (the first group does
      not predict saturation by the third), ``G1 - G0 > (threshold - G0)/NFRAMES`` and group 2
      is SATURATED but group 1 is not. ``bias`` is the SUPERBIAS reference SCI (NaN kept, so
      NaN-bias pixels never pass), or 0 without a superbias. This pass is active for
      NFRAMES = 1 too.
4. PIXELDQ |= reference DQ (translated through DQ_DEF, plus the NaN NO_SAT_CHECK flags).

5. ZEROFRAME (exposures with ZEROFRAM true): values at or above the threshold, or <= 0, and
   their ``n_pix_grow_sat`` neighbours are set to 0, jwst's mark of an unusable zero frame
   (:func:`flag_zeroframe`; the runner hands each chunk's ZEROFRAME to
   :meth:`Saturation.process_zeroframe`).

Not reproduced: NIRSpec IRS2 readouts (jwst's separate ``irs2_flag_saturation``; the Step
raises) and superstripe subarrays.
"""

from __future__ import annotations

import numpy as np

from .. import dq as dqflags
from .base import Step
from .nonfinite import inf_to_nan, nonfinite_flags

#: hard DN limit of the 16-bit A-to-D converter (jwst.saturation.saturation.ATOD_LIMIT)
ATOD_LIMIT = 65535.0


def read_pattern(ngroups: int, nframes: int) -> list[list[int]]:
    """jwst's read pattern for frame-averaged groups: 1-based frame numbers of each group.

    Group g holds frames ``g*nframes + 1 .. (g+1)*nframes`` (jwst ignores GROUPGAP here).
    """
    return [[x + 1 + g * nframes for x in range(nframes)] for g in range(ngroups)]


def prepare_thresholds(sat_thresh: np.ndarray, sat_dq: np.ndarray, atod_limit: float = ATOD_LIMIT):
    """Thresholds and DQ ready for flagging (new arrays; inputs are not modified).

    sat_thresh : float (ny, nx) saturation thresholds in DN; NaN = unknown
    sat_dq     : integer (ny, nx) reference DQ already in pipeline bits
    Returns ``(thresh float32 (ny, nx), dq uint32 (ny, nx), no_sat_check bool (ny, nx))``:
    NaN thresholds get NO_SAT_CHECK in ``dq``; NO_SAT_CHECK pixels get ``atod_limit + 1``.
    """
    sat_thresh = np.asarray(sat_thresh)
    sat_dq = np.asarray(sat_dq)
    if sat_thresh.ndim != 2 or sat_dq.shape != sat_thresh.shape:
        raise ValueError(
            f"sat_thresh {sat_thresh.shape} and sat_dq {sat_dq.shape} must be equal 2-D (ny, nx) shapes"
        )
    thresh = np.array(sat_thresh, dtype=np.float32, copy=True)
    out_dq = np.array(sat_dq, dtype=np.uint32, copy=True)
    nsc_bit = np.uint32(dqflags.NO_SAT_CHECK)
    no_sat_check = (out_dq & nsc_bit) == nsc_bit
    nan = np.isnan(thresh)
    out_dq[nan] |= nsc_bit
    no_sat_check |= nan
    thresh[no_sat_check] = np.float32(atod_limit + 1)
    return thresh, out_dq, no_sat_check


def _check(data, gdq, thresh, no_sat_check, bias):
    if data.ndim != 4 or data.dtype != np.float32:
        raise ValueError(f"data must be float32 (nints, ngroups, ny, nx); got {data.dtype} {data.shape}")
    if gdq.shape != data.shape or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 with data's shape {data.shape}; got {gdq.dtype} {gdq.shape}")
    if thresh.shape != data.shape[2:] or thresh.dtype != np.float32:
        raise ValueError(f"thresh must be float32 {data.shape[2:]}; got {thresh.dtype} {thresh.shape}")
    if no_sat_check.shape != data.shape[2:] or no_sat_check.dtype != np.bool_:
        raise ValueError(f"no_sat_check must be bool {data.shape[2:]}; got {no_sat_check.dtype} {no_sat_check.shape}")
    if bias is not None and (bias.shape != data.shape[2:] or bias.dtype != np.float32):
        raise ValueError(f"bias must be float32 {data.shape[2:]}; got {bias.dtype} {bias.shape}")


def averaged(read_pattern) -> bool:
    """Whether a read pattern (:func:`read_pattern`, or None) averages frames into groups: then
    the backward pass flags DO_NOT_USE and grows it as far as SATURATED."""
    return read_pattern is not None and any(len(g) > 1 for g in read_pattern)


def flag_saturated_groups(data: np.ndarray, gdq: np.ndarray, thresh: np.ndarray, no_sat_check: np.ndarray,
                          n_pix_grow_sat: int = 1, read_pattern=None, bias: np.ndarray | None = None, *,
                          above: np.ndarray | None = None, keep: np.ndarray | None = None,
                          keep_from: int = 0) -> None:
    """Set SATURATED / AD_FLOOR / DO_NOT_USE group flags in place (steps 2-3 of the module doc).

    data         : float32 (nints, ngroups, ny, nx), DN
    gdq          : uint8   (nints, ngroups, ny, nx), updated in place
    thresh       : float32 (ny, nx), from :func:`prepare_thresholds`
    no_sat_check : bool    (ny, nx), from :func:`prepare_thresholds`
    n_pix_grow_sat : box half-width for growing SATURATED (and the backward pass's DO_NOT_USE)
    read_pattern : list of per-group frame-number lists (see :func:`read_pattern`), or None
                   to skip the read-pattern passes (jwst's ``use_readpatt=False``)
    bias         : float32 (ny, nx) superbias in DN (NaN allowed), or None (= 0)

    Row chunks without context rows above (the row stream's, see :class:`Saturation`;
    only for read patterns that do not average frames, where the growth is the only pass
    that looks at other rows):
    above        : uint8 (nints, ngroups, na, nx), na <= n_pix_grow_sat: the SATURATED bits
                   of the na rows directly above the chunk after the first pass (what
                   ``keep`` took from an earlier chunk); they grow into the chunk as if the
                   chunk held them. None: the chunk's first row has nothing above it.
    keep         : uint8 (nints, ngroups, nk, nx), filled with the SATURATED bits of the
                   chunk's rows ``keep_from .. keep_from + nk - 1`` after the first pass.
    """
    from ..kernels.row_window import window_rows
    from ..kernels.saturation import (
        _dilate_groups_kernel,
        _dilate_or_kernel,
        _forward_kernel,
        _group2_kernel,
        _partial_sat_kernel,
    )

    _check(data, gdq, thresh, no_sat_check, bias)
    n_pix_grow_sat = int(n_pix_grow_sat)
    if n_pix_grow_sat < 0:
        raise ValueError(f"n_pix_grow_sat must be >= 0; got {n_pix_grow_sat}")
    nints, ngroups, ny, nx = data.shape
    if read_pattern is not None and len(read_pattern) < ngroups:
        raise ValueError(f"read_pattern has {len(read_pattern)} groups; data has {ngroups}")
    sat = int(dqflags.SATURATED)
    dnu = int(dqflags.DO_NOT_USE)
    low = int(dqflags.AD_FLOOR | dqflags.DO_NOT_USE)
    tmp = np.empty((ny, nx), dtype=np.uint8)
    part = np.empty((ny, nx), dtype=np.uint8)
    if read_pattern is not None:
        # exactly numpy's float64 values: mean(frames) / last frame
        dilution = [float(np.mean(read_pattern[g]) / read_pattern[g][-1]) for g in range(ngroups)]
        if ngroups > 2:
            mean0 = float(np.mean(read_pattern[0]))
            last2 = float(read_pattern[2][-1])
            nframes1 = len(read_pattern[1])
            b = bias if bias is not None else np.zeros((ny, nx), dtype=np.float32)
    # each integration goes forward -> growth -> backward -> group 2, as stcal's; the kernels
    # take every integration of the chunk at once (one parallel region per pass)
    # the chunk-wide kernels take a row window whole and the rows to work on (see row_window)
    if (above is not None or keep is not None) and averaged(read_pattern):
        raise ValueError("saturation: rows above a chunk (above / keep) need a read pattern that does not "
                         "average frames (the backward pass grows DO_NOT_USE from other rows too)")
    na = 0 if above is None else above.shape[2]
    for what, a, nrow in (("above", above, n_pix_grow_sat), ("keep", keep, ny)):
        if a is not None and (a.dtype != np.uint8 or a.ndim != 4 or a.shape[:2] != data.shape[:2]
                              or a.shape[3] != nx or a.shape[2] > nrow):
            raise ValueError(f"saturation: {what} must be uint8 (nints, ngroups, <= {nrow}, nx) for data "
                             f"{data.shape}, got {a.dtype} {a.shape}")
    if keep is not None and not 0 <= keep_from <= ny - keep.shape[2]:
        raise ValueError(f"saturation: keep_from {keep_from} with {keep.shape[2]} rows is outside the chunk's {ny}")
    none = np.zeros((nints, ngroups, 0, nx), dtype=np.uint8)
    wdata, y0d = window_rows(data)
    wgdq, y0q = window_rows(gdq)
    _forward_kernel(wdata, y0d, wgdq, y0q, ny, thresh, sat, low, none if keep is None else keep, int(keep_from))
    if n_pix_grow_sat > 0:
        _dilate_groups_kernel(wgdq, y0q, ny, sat, n_pix_grow_sat, none if above is None else above, na)
    if read_pattern is None:
        return
    for i in range(nints):
        d = data[i]
        q = gdq[i]
        for g in range(ngroups - 2, -1, -1):
            if dilution[g] == 1:
                continue
            _partial_sat_kernel(d[g], q[g], q[g + 1], thresh, no_sat_check, dilution[g], sat, dnu, part)
            if n_pix_grow_sat > 0:
                _dilate_or_kernel(part, dnu, q[g], dnu, n_pix_grow_sat, tmp)
            else:
                q[g] |= part
    if ngroups > 2:
        _group2_kernel(wdata, y0d, wgdq, y0q, ny, thresh, b, mean0, last2, nframes1, sat, dnu)


def flag_zeroframe(zframe: np.ndarray, thresh: np.ndarray, n_pix_grow_sat: int = 1) -> None:
    """ZEROFRAME (float32 (nints, ny, nx)) in place: values at/above threshold or <= 0, and the
    SATURATED-grown neighbours, are set to 0 (jwst keeps no ZEROFRAME DQ)."""
    from ..kernels.saturation import _dilate_or_kernel

    sat = int(dqflags.SATURATED)
    tmp = np.empty(zframe.shape[1:], dtype=np.uint8)
    for i in range(zframe.shape[0]):
        plane = zframe[i]
        zdq = np.where(plane >= thresh, sat, 0).astype(np.uint8)
        zdq |= np.where(plane <= 0, int(dqflags.AD_FLOOR | dqflags.DO_NOT_USE), 0).astype(np.uint8)
        if n_pix_grow_sat > 0:
            _dilate_or_kernel(zdq, sat, zdq, sat, int(n_pix_grow_sat), tmp)
        plane[zdq != 0] = 0.0


def flag_saturation(data: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, sat_thresh: np.ndarray,
                    sat_dq: np.ndarray, n_pix_grow_sat: int = 1, read_pattern=None,
                    bias: np.ndarray | None = None, zframe: np.ndarray | None = None,
                    atod_limit: float = ATOD_LIMIT) -> None:
    """The whole saturation step on arrays, in place (stcal ``flag_saturated_pixels``).

    data : float32 (nints, ngroups, ny, nx); gdq : uint8, same shape; pdq : uint32 (ny, nx);
    sat_thresh : float (ny, nx) reference thresholds (NaN allowed); sat_dq : (ny, nx)
    reference DQ in pipeline bits; bias : float32 (ny, nx) or None; zframe : float32
    (nints, ny, nx) or None. The reference arrays are not modified.
    """
    thresh, ref_dq, nsc = prepare_thresholds(sat_thresh, sat_dq, atod_limit)
    if pdq.shape != data.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 {data.shape[2:]}; got {pdq.dtype} {pdq.shape}")
    flag_saturated_groups(data, gdq, thresh, nsc, n_pix_grow_sat, read_pattern,
                          None if bias is None else np.asarray(bias, dtype=np.float32))
    if zframe is not None:
        flag_zeroframe(zframe, thresh, n_pix_grow_sat)
    pdq |= ref_dq


class Saturation(Step):
    """jwst ``SaturationStep`` (class_alias "saturation").

    References: SATURATION (thresholds, DQ) and SUPERBIAS (the bias for the second-group
    check; jwst takes it as ``override_superbias``; without one -- N/A in CRDS, as for MIRI --
    the check uses no bias, as jwst's ``bias_model=None``). Parameters as jwst's spec:
    ``n_pix_grow_sat`` (default 1) and ``use_readpatt`` (default True).

    Difference from jwst: a NaN or inf threshold gets DO_NOT_USE as well as NO_SAT_CHECK
    (jwst: NO_SAT_CHECK only for NaN; +inf is never saturated and -inf always, unflagged).
    A pixel whose saturation cannot be checked would otherwise be fitted as good with its
    saturated groups in the ramp. Finite thresholds give jwst's result bit for bit.
    """

    name = "saturation"
    keyword = "S_SATURA"
    reftypes = ("saturation", "superbias")
    #: jwst runs without a bias when CRDS has none (N/A), as for MIRI, which has no superbias
    optional_reftypes = ("superbias",)
    # jwst's spec; n_pix_grow_sat >= 0 is rampflow's (jwst states no range, and a negative
    # box half-width has no meaning)
    spec = """
        n_pix_grow_sat = integer(default=1, min=0)  # number of layers adjacent pixels to flag
        use_readpatt = boolean(default=True)  # use grouped read pattern information to assist with flagging
    """

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        if "IRS2" in meta.readpatt:
            raise NotImplementedError(
                f"{meta.filename}: saturation for IRS2 readouts ({meta.readpatt}) is not implemented"
            )
        ref = refs["saturation"]
        sat_dq = ref.dq() if "DQ" in ref else np.zeros(ref["SCI"].shape, dtype=np.uint32)
        # +-inf thresholds take jwst's NaN path (NO_SAT_CHECK); every non-finite one is also DO_NOT_USE
        self.thresh, self.ref_dq, self.no_sat_check = prepare_thresholds(inf_to_nan(ref["SCI"]), sat_dq)
        self.ref_dq |= nonfinite_flags(ref["SCI"], "NO_SAT_CHECK", f"{ref.path} [SCI]")
        bias_ref = refs.get("superbias")
        # a non-finite bias never passes the second-group check (superbias flags those pixels)
        self.bias = None if bias_ref is None else np.ascontiguousarray(inf_to_nan(bias_ref["SCI"]), dtype=np.float32)
        self.read_pattern = (read_pattern(meta.ngroups, meta.nframes)
                             if self.params["use_readpatt"] else None)
        if int(self.params["n_pix_grow_sat"]) < 0:
            raise ValueError(f"saturation: n_pix_grow_sat must be >= 0; got {self.params['n_pix_grow_sat']}")

    rows_ok = True
    modifies_sci = False  # only GROUPDQ / PIXELDQ (and ZEROFRAME values), as jwst's
    #: the most :meth:`row_halo` gives with the default n_pix_grow_sat (memory estimates)
    halo = 2

    def row_halo(self) -> int:
        """Rows of context for a row chunk: SATURATED grows ``n_pix_grow_sat`` rows, and with
        the read pattern of averaged frames the backward pass's DO_NOT_USE, found next to
        grown SATURATED pixels, grows as far again."""
        n = int(self.params["n_pix_grow_sat"])
        return 2 * n if averaged(self.read_pattern) else n

    def keep_rows_above(self) -> bool:
        """Called by the runner's row stream (:mod:`rampflow.runner.row_stream`) before a pass:
        True when this step keeps, from one call to the next, what it needs of the rows above a
        chunk (the SATURATED bits of the last ``n_pix_grow_sat`` rows it finalised, after the
        first pass); the stream then hands it chunks that start at the first row to finalise,
        in order from row 0, with its halo of rows below only. That saves the stream swapping
        the context rows' input (SCI included) in and out of its window, and the step
        redoing their first pass. Only without frame averaging (where the growth is the only
        pass that looks at other rows) and without a ZEROFRAME (whose growth also would)."""
        n = int(self.params["n_pix_grow_sat"])
        if n == 0 or averaged(self.read_pattern) or self.meta.zeroframe:
            return False
        self._rows_above = None  # (exposure row of the first, SATURATED bits) of the kept rows
        self._next_row = 0
        return True

    def process(self, sci, gdq, pdq, ints, rows):
        above = keep = None
        start = keep_from = fin = 0
        chained = getattr(self, "_next_row", None) is not None
        if chained:  # chunks in order, the rows above kept from the call before (keep_rows_above)
            n = int(self.params["n_pix_grow_sat"])
            ny = self.meta.subsize2
            start, stop, _ = rows.indices(ny)
            if start == 0:
                self._rows_above = None
            elif start != self._next_row or self._rows_above is None:
                raise RuntimeError(f"saturation: chunk of rows {start}-{stop - 1} after one that ended at row "
                                   f"{self._next_row - 1}: with the rows above kept, chunks must come in order")
            else:
                above = self._rows_above[1]
            fin = stop - n if stop < ny else ny  # the rows below fin are the stream's pending rows
            keep_from = max(fin - n, start)
            if fin < ny:  # two buffers in turn: one holds ``above`` while the other is filled
                shape = sci.shape[:2] + (fin - keep_from, sci.shape[3])
                bufs = self._keep_bufs = [b for b in getattr(self, "_keep_bufs", []) if b.shape == shape][-2:]
                free = [b for b in bufs if above is None or not np.shares_memory(b, above)]
                keep = free[0] if free else np.empty(shape, dtype=np.uint8)
                if not free:
                    bufs.append(keep)
        flag_saturated_groups(sci, gdq, self.thresh[rows], self.no_sat_check[rows],
                              self.params["n_pix_grow_sat"], self.read_pattern,
                              None if self.bias is None else self.bias[rows],
                              above=above, keep=keep, keep_from=keep_from - start)
        if chained:
            if keep is not None and fin - n < keep_from and above is not None:  # some kept rows were above the chunk
                keep = np.concatenate([above[:, :, above.shape[2] - (keep_from - max(fin - n, 0)):], keep], axis=2)
            self._rows_above = None if keep is None else (fin - keep.shape[2], keep)
            self._next_row = fin
        pdq |= self.ref_dq[rows]

    def process_zeroframe(self, zf, ints, rows):
        """jwst (ZEROFRAM true): ZEROFRAME values at or above the threshold or <= 0, and the
        SATURATED-grown neighbours, become 0 (see :func:`flag_zeroframe`)."""
        if self.meta.zeroframe:
            flag_zeroframe(zf, self.thresh[rows], self.params["n_pix_grow_sat"])
