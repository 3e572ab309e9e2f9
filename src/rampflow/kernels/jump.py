"""numba kernels behind :mod:`rampflow.steps.jump` (private; arrays and scalars only).

Shapes: ``sci`` float32 and ``gdq`` uint8 (nints, ngroups, ny, nx) -- a chunk of rows with
ALL integrations; ``rn``/``gain`` float32 (ny, nx); ``med``/``sig`` float64 (ny, nx).
Nothing here copies the 4-D chunk: the first differences of a block of pixels of one row
(all integrations of those pixels, at most 256 pixels and ~16 MB) are formed in a per-thread
buffer (:mod:`.jump_gather`).

Arithmetic follows numpy's dtypes in ``stcal.jump.twopoint_difference`` exactly so the
flags are bit-identical: electrons = float32(DN * gain); first differences are float32
subtractions of those, used as float64 (stcal divides them by a float64 ``dt_group`` of
1); medians, sigmas and ratios are float64; the iterative search stores ``|d| - median``
as float32 and, after its first pass, the median as float32 (stcal writes them into
float32 arrays).

Medians and sigma clipping are in :mod:`.order_stats`. Parameters come in one
:class:`KernelParams` (jwst's names), the detection's outputs in one :class:`DetectOutput`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .jump_gather import IBLOCK, _gather_block
from .jump_sigclip import _finite_col_sigclip
from .order_stats import _clipped_abs_median, _row_nanmedian, _sigclip_bounds, _sigclip_keeps_all

#: detection modes chosen by the caller (stcal's branches in ``find_crs``/``run_jump_detection``)
MODE_SKIP = 0        # too few usable groups: nothing is flagged
MODE_ITERATIVE = 1   # ``iterative_jump``: one jump per pixel per pass, median re-computed
MODE_SINGLE = 2      # ``look_for_more_than_one_jump``: every difference tested in one pass
MODE_SIGCLIP = 3     # ``det_jump_sigma_clipping``: astropy sigma_clip across integrations


class KernelParams(NamedTuple):
    """Everything the jump kernels take besides arrays, under jwst's parameter names where
    there is one (built by :func:`rampflow.steps.jump.run_detection`; keep the types: a
    change would compile the kernels again)."""

    mode: int                                   # MODE_*
    only_use_ints: bool
    nframes: float
    rejection_threshold: float                  # >= 4 usable differences (stcal normal_rej_thresh)
    four_group_rejection_threshold: float       # exactly 3 usable differences
    three_group_rejection_threshold: float      # exactly 2 usable differences
    sigclip_maxiters: int
    flag_4_neighbors: bool                      # and detection runs
    min_jump_to_flag_neighbors: float
    max_jump_to_flag_neighbors: float
    after_jump_flagging: bool                   # after_jump_flag_n1 or _n2 > 0, and detection runs
    after_jump_flag_e1: float                   # after_jump_flag_dn1 in electrons
    after_jump_flag_n1: int                     # groups flagged after (capped at ngroups - 2; -1: none)
    after_jump_flag_e2: float
    after_jump_flag_n2: int
    width: int                                  # pixels per block of the detection buffer
    dnu: np.uint8                               # DQ bits
    sat: np.uint8
    jump: np.uint8


class DetectOutput(NamedTuple):
    """Per-pixel and per-row results of :func:`_detect_kernel` (preallocated by the caller)."""

    med: np.ndarray       # float64 (ny, nx), NaN-filled
    sig: np.ndarray       # float64 (ny, nx), NaN-filled
    rowtrig: np.ndarray   # uint8 (nints, ngroups, ny)
    nprim: np.ndarray     # int64 (ny,)
    nclean: np.ndarray    # int64 (ny,)


@njit(cache=True, parallel=True)
def _plane_all_kernel(gdq, bits, out):
    """out[i, g] = every pixel of plane (i, g) has at least one of ``bits`` set."""
    nints, ngroups, ny, nx = gdq.shape
    for p in prange(nints * ngroups):
        i = p // ngroups
        g = p % ngroups
        ok = True
        for y in range(ny):
            for x in range(nx):
                if (gdq[i, g, y, x] & bits) == 0:
                    ok = False
                    break
            if not ok:
                break
        out[i, g] = ok


@njit(cache=True, parallel=True)
def _clear_planes_kernel(gdq, planes, jump):
    """In planes (i, g) marked in ``planes``: pixels whose DQ is exactly ``jump`` -> 0."""
    nints, ngroups, ny, nx = gdq.shape
    for p in prange(nints * ngroups):
        i = p // ngroups
        g = p % ngroups
        if not planes[i, g]:
            continue
        for y in range(ny):
            for x in range(nx):
                if gdq[i, g, y, x] == jump:
                    gdq[i, g, y, x] = 0


@njit(cache=True, parallel=True)
def _count_rows_kernel(gdq, bits, out):
    """out[y] = number of (integration, group) with any of ``bits`` set, summed over row y."""
    nints, ngroups, ny, nx = gdq.shape
    for y in prange(ny):
        c = 0
        for i in range(nints):
            for g in range(ngroups):
                for x in range(nx):
                    if gdq[i, g, y, x] & bits:
                        c += 1
        out[y] = c


@njit(cache=True)
def _flag(gdq, i, g, y, x, jump):
    """Set JUMP on one group; returns 1 if it was not set before (a new primary jump)."""
    f = gdq[i, g, y, x]
    if f & jump:
        return 0
    gdq[i, g, y, x] = f | jump
    return 1


@njit(cache=True, parallel=True)
def _detect_kernel(sci, gdq, rn, gain, rowlist, ntasks, kp, out):
    """Primary detection, per pixel, all integrations at once.

    The rows ``rowlist`` (int64), cut into blocks of ``kp.width`` pixels, are split into
    ``ntasks`` contiguous ranges of (row, block) items run in parallel (so a 1-row chunk
    uses every thread); other rows are left alone. Writes ``jump`` into ``gdq`` on groups whose
    preceding difference is an outlier, and per pixel the post-processing median of the
    differences and its sigma (``out.med``, ``out.sig``, float64 (ny, nx); NaN-filled by
    the caller). They are computed for every pixel if ``after_jump_flagging`` (single-pass mode and
    the after-jump flagging need them everywhere), else only for pixels with a JUMP
    flag when ``flag_4_neighbors`` (nothing else reads them).
    ``out.rowtrig[i, g, y] = 1`` when some pixel of row y has JUMP in group g with
    min < ratio < max (a superset hint for the neighbour pass).
    ``out.nprim[y]``: groups with JUMP after detection (stcal's primary CR count);
    ``out.nclean[y]``: groups holding JUMP together with SATURATED or DO_NOT_USE.

    Thresholds (``kp``): ``rejection_threshold`` (stcal's ``normal_rej_thresh``),
    ``four_group_rejection_threshold`` for exactly 3 usable differences,
    ``three_group_rejection_threshold`` for 2.

    The differences of a pixel are held as ``buf[w, k * nints + i]`` (difference k of
    integration i; contiguous across integrations for the per-difference sigma clipping),
    except for sigma clipping over all differences (``only_use_ints`` False), where
    astropy's buffer order ``i * nd + k`` is kept because its sums follow that order.
    """
    mode = kp.mode
    only_use_ints = kp.only_use_ints
    nframes = kp.nframes
    rejection_threshold = kp.rejection_threshold
    four_group_rejection_threshold = kp.four_group_rejection_threshold
    three_group_rejection_threshold = kp.three_group_rejection_threshold
    sigclip_maxiters = kp.sigclip_maxiters
    flag_4_neighbors = kp.flag_4_neighbors
    after_jump_flagging = kp.after_jump_flagging
    min_jump_to_flag_neighbors = kp.min_jump_to_flag_neighbors
    max_jump_to_flag_neighbors = kp.max_jump_to_flag_neighbors
    width = kp.width
    dnu = kp.dnu
    sat = kp.sat
    jump = kp.jump
    med_out = out.med
    sig_out = out.sig
    rowtrig = out.rowtrig
    nprim_rows = out.nprim
    nclean_rows = out.nclean
    nints, ngroups, ny, nx = sci.shape
    nd = ngroups - 1
    n = nints * nd
    badbits = dnu | sat
    imajor = mode == 3 and not only_use_ints
    if imajor:
        si = nd
        sk = 1
    else:
        si = 1
        sk = nints
    nrow = rowlist.shape[0]
    nblk = (nx + width - 1) // width
    nitems = nrow * nblk
    # work items: (row, block of pixels), so that one row (the row stream's usual chunk)
    # is shared by all threads; counts per item, summed per row after the loop
    cnt_prim = np.zeros(max(nitems, 1), dtype=np.int64)
    cnt_clean = np.zeros(max(nitems, 1), dtype=np.int64)
    for task in prange(ntasks):
        t_lo = (nitems * task) // ntasks
        t_hi = (nitems * (task + 1)) // ntasks
        buf = np.empty((width, max(n, 1)), dtype=np.float32)
        prev = np.empty((max(nints, 1), width), dtype=np.float32)
        cur = np.empty((IBLOCK, width), dtype=np.float32)
        work = np.empty(max(n, 1), dtype=np.float64)
        work2 = np.empty(max(n, 1), dtype=np.float64)
        ta = np.empty(max(n, 1), dtype=np.float64)
        tb = np.empty(max(n, 1), dtype=np.float64)
        col = np.empty(max(nints, 1), dtype=np.float64)
        newj = np.empty(max(n, 1), dtype=np.int64)
        w32 = np.empty(max(n, 1), dtype=np.float32)
        ta32 = np.empty(max(n, 1), dtype=np.float32)
        tb32 = np.empty(max(n, 1), dtype=np.float32)
        samp = np.empty(192, dtype=np.float32)
        injump = np.zeros(width, dtype=np.uint8)
        for item in range(t_lo, t_hi):
            y = rowlist[item // nblk]
            x0 = (item % nblk) * width
            nprim = 0
            nclean = 0
            wn = min(width, nx - x0)
            injump[:] = 0
            # ---- gather the first differences (electrons) of this block of pixels
            np_, nc_ = _gather_block(sci, gdq, gain, y, x0, wn, si, sk, badbits, jump, buf, prev, cur, injump)
            nprim += np_
            nclean += nc_
            if mode == 0:
                cnt_prim[item] = nprim
                cnt_clean[item] = nclean
                continue
            # ---- per pixel
            for w in range(wn):
                x = x0 + w
                nnew = 0
                r32 = rn[y, x] * gain[y, x]
                rn2 = r32 * r32
                var_rn = np.float64(rn2) / nframes
                med = np.nan
                sig = np.nan
                have_med = False
                if mode == 2 or after_jump_flagging:
                    med = _row_nanmedian(buf[w], n, w32, ta32, tb32, samp)
                    sig = math.sqrt(abs(med) + var_rn)
                    if sig == 0.0:
                        sig = np.nan
                    have_med = True

                if mode == 2:
                    # a / sig > thr implies a > thr * sig * (1 - 2 eps): the exact test runs
                    # only above a limit just below that (the jumps themselves, mostly)
                    lim = rejection_threshold * sig * (1.0 - 1e-9)
                    for k in range(nd):
                        for i in range(nints):
                            v = np.float64(buf[w, i * si + k * sk])
                            a = abs(v - med)
                            if a > lim and math.isfinite(v) and a / sig > rejection_threshold:
                                if _flag(gdq, i, k + 1, y, x, jump):
                                    newj[nnew] = i * si + k * sk
                                    nnew += 1
                elif mode == 3:
                    # the shortcut (status 0: nothing clipped, 1: values outside [lo, hi]
                    # flagged) where certain, else astropy's algorithm exactly
                    if only_use_ints:
                        for k in range(nd):
                            j0 = k * sk
                            st, lo, hi = _finite_col_sigclip(buf[w, j0:j0 + nints], rejection_threshold)
                            if st == 0:
                                continue
                            if st < 0 or sigclip_maxiters < 2:
                                c = 0
                                for i in range(nints):
                                    v = np.float64(buf[w, j0 + i])
                                    if math.isfinite(v):
                                        col[c] = v
                                        c += 1
                                if c == 0 or _sigclip_keeps_all(col, c, rejection_threshold):
                                    continue
                                lo, hi, clipped = _sigclip_bounds(col, c, rejection_threshold, sigclip_maxiters)
                                if not clipped:
                                    continue
                            for i in range(nints):
                                v = np.float64(buf[w, j0 + i])
                                if (v < lo or v > hi) and math.isfinite(v):
                                    if _flag(gdq, i, k + 1, y, x, jump):
                                        newj[nnew] = j0 + i
                                        nnew += 1
                    else:
                        st, lo, hi = _finite_col_sigclip(buf[w, :n], rejection_threshold)
                        clipped = st == 1 and sigclip_maxiters >= 2
                        if st < 0 or (st == 1 and not clipped):
                            c = 0
                            for j in range(n):
                                v = np.float64(buf[w, j])
                                if math.isfinite(v):
                                    work2[c] = v
                                    c += 1
                            if c > 0 and not _sigclip_keeps_all(work2, c, rejection_threshold):
                                lo, hi, clipped = _sigclip_bounds(work2, c, rejection_threshold, sigclip_maxiters)
                        for i in range(nints):
                            if not clipped:
                                break
                            for k in range(nd):
                                v = np.float64(buf[w, i * si + k * sk])
                                if (v < lo or v > hi) and math.isfinite(v):
                                    if _flag(gdq, i, k + 1, y, x, jump):
                                        newj[nnew] = i * si + k * sk
                                        nnew += 1
                elif mode == 1:
                    for j in range(n):
                        work2[j] = abs(np.float64(buf[w, j]))
                    it = 0
                    while True:
                        cnt = 0
                        for j in range(n):
                            if not math.isnan(work2[j]):
                                cnt += 1
                        if cnt < 2:
                            break
                        medi = _clipped_abs_median(work2, n, work, ta, tb)
                        if it > 0:
                            medi = np.float64(np.float32(medi))
                        sgi = math.sqrt(abs(medi) + var_rn)
                        if sgi == 0.0:
                            sgi = np.nan
                        if cnt >= 4:
                            thr = rejection_threshold
                        elif cnt == 3:
                            thr = four_group_rejection_threshold
                        else:
                            thr = three_group_rejection_threshold
                        best = np.nan
                        for j in range(n):
                            v = work2[j]
                            if math.isnan(v):
                                continue
                            rr = abs(np.float64(np.float32(v - medi))) / sgi
                            if math.isnan(rr):
                                continue
                            if math.isnan(best) or rr > best:
                                best = rr
                        if math.isnan(best) or not (best > thr):
                            break
                        for k in range(nd):
                            for i in range(nints):
                                j = i * si + k * sk
                                v = work2[j]
                                if math.isnan(v):
                                    continue
                                rr = abs(np.float64(np.float32(v - medi))) / sgi
                                if rr == best:
                                    work2[j] = np.nan
                                    if _flag(gdq, i, k + 1, y, x, jump):
                                        newj[nnew] = j
                                        nnew += 1
                        it += 1

                nprim += nnew
                if flag_4_neighbors and not have_med and (injump[w] or nnew > 0):
                    med = _row_nanmedian(buf[w], n, w32, ta32, tb32, samp)
                    sig = math.sqrt(abs(med) + var_rn)
                    if sig == 0.0:
                        sig = np.nan
                    have_med = True
                if have_med:
                    med_out[y, x] = med
                    sig_out[y, x] = sig
                if flag_4_neighbors and (injump[w] or nnew > 0):
                    # a trigger needs JUMP in the group: scan everything if the pixel
                    # came with JUMP flags, else only the groups flagged just now
                    lim = 0.5 * min_jump_to_flag_neighbors * sig
                    ntest = n if injump[w] else nnew
                    for t in range(ntest):
                        j = t if injump[w] else newj[t]
                        if imajor:
                            i = j // nd
                            k = j - i * nd
                        else:
                            k = j // nints
                            i = j - k * nints
                        v = np.float64(buf[w, j])
                        a = abs(v - med)
                        if a > lim:
                            rr = a / sig
                            if (rr < max_jump_to_flag_neighbors and rr > min_jump_to_flag_neighbors
                                    and (gdq[i, k + 1, y, x] & jump)):
                                rowtrig[i, k + 1, y] = 1
            cnt_prim[item] = nprim
            cnt_clean[item] = nclean
    for t_row in range(nrow):
        y = rowlist[t_row]
        nprim_rows[y] = cnt_prim[t_row * nblk:(t_row + 1) * nblk].sum()
        nclean_rows[y] = cnt_clean[t_row * nblk:(t_row + 1) * nblk].sum()


@njit(cache=True)
def _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, r, kp, out):
    """Neighbour triggers of row r in plane (i, g): JUMP set and min < ratio < max.
    Returns how many pixels trigger; their columns are written to ``out[:count]`` in
    increasing order (nothing is scanned unless the row's hint is set)."""
    if rowtrig[i, g, r] == 0:
        return 0
    nb_min = kp.min_jump_to_flag_neighbors
    nb_max = kp.max_jump_to_flag_neighbors
    jump = kp.jump
    badbits = kp.dnu | kp.sat
    nx = gdq.shape[3]
    cnt = 0
    for x in range(nx):
        f = gdq[i, g, r, x]
        if (f & jump) and not (f & badbits) and not (gdq[i, g - 1, r, x] & badbits):
            gn = gain[r, x]
            d = np.float32(sci[i, g, r, x] * gn) - np.float32(sci[i, g - 1, r, x] * gn)
            rr = abs(np.float64(d) - med[r, x]) / sig[r, x]
            if rr < nb_max and rr > nb_min:
                out[cnt] = x
                cnt += 1
    return cnt


@njit(cache=True)
def _flag_at(gdq, i, g, y, x, badbits, jump):
    """JUMP on pixel (y, x) of plane (i, g) unless it is SATURATED / DO_NOT_USE."""
    f = gdq[i, g, y, x]
    if (f & badbits) == 0:
        gdq[i, g, y, x] = f | jump


@njit(cache=True, parallel=True)
def _neighbors_kernel(sci, gdq, gain, med, sig, rowtrig, kp):
    """stcal ``flag_four_neighbors``: in each plane (i, g >= 1) a JUMP pixel whose ratio
    |d - median| / sigma lies strictly between ``kp.min_jump_to_flag_neighbors`` and
    ``kp.max_jump_to_flag_neighbors`` flags its four
    neighbours JUMP (where they are not SATURATED / DO_NOT_USE). Triggers are taken from
    the state before the plane is modified: rows are walked in order with a 3-row window
    of trigger lists whose next row is found before the current row is written (a pixel is
    flagged from a trigger in its row, the row above or the row below; the flags are ORs,
    so their order does not matter). prange over integrations.
    """
    nints, ngroups, ny, nx = sci.shape
    jump = kp.jump
    badbits = kp.dnu | kp.sat
    for i in prange(nints):
        ta = np.empty(nx, dtype=np.int64)
        tb = np.empty(nx, dtype=np.int64)
        tc = np.empty(nx, dtype=np.int64)
        for g in range(1, ngroups):
            tp = ta
            tcur = tb
            tn = tc
            hp = 0
            hc = _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, 0, kp, tcur)
            hn = 0
            if ny > 1:
                hn = _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, 1, kp, tn)
            for y in range(ny):
                for t in range(hc):
                    x = tcur[t]
                    _flag_at(gdq, i, g, y, x, badbits, jump)
                    if x > 0:
                        _flag_at(gdq, i, g, y, x - 1, badbits, jump)
                    if x < nx - 1:
                        _flag_at(gdq, i, g, y, x + 1, badbits, jump)
                for t in range(hp):
                    _flag_at(gdq, i, g, y, tp[t], badbits, jump)
                for t in range(hn):
                    _flag_at(gdq, i, g, y, tn[t], badbits, jump)
                # rotate the window: next row's triggers are computed before it is written
                tmp = tp
                tp = tcur
                tcur = tn
                tn = tmp
                hp = hc
                hc = hn
                hn = 0
                if y + 2 < ny:
                    hn = _trig_row(sci, gdq, gain, med, sig, rowtrig, i, g, y + 2, kp, tn)


@njit(cache=True, parallel=True)
def _after_kernel(sci, gdq, gain, med, kp, do_clean):
    """stcal ``transient_jumps`` (with ``kp.after_jump_flagging``: flag
    ``kp.after_jump_flag_n1``/``n2`` groups after a JUMP group whose d - median >=
    ``kp.after_jump_flag_e1``/``e2`` electrons, where not SATURATED/DO_NOT_USE; n already
    capped at ngroups - 2) and, with ``do_clean``, detect_jumps_data's removal of JUMP where
    DO_NOT_USE or SATURATED is also set. prange over (integration, row) pairs (a row pass's
    chunk may hold a row or three)."""
    nints, ngroups, ny, nx = sci.shape
    do_transient = kp.after_jump_flagging
    e1 = kp.after_jump_flag_e1
    n1 = kp.after_jump_flag_n1
    e2 = kp.after_jump_flag_e2
    n2 = kp.after_jump_flag_n2
    jump = kp.jump
    dnu = kp.dnu
    sat = kp.sat
    badbits = dnu | sat
    jd = jump | dnu
    js = jump | sat
    for k in prange(nints * ny):
        i = k // ny
        y = k - i * ny
        rem1 = np.zeros(nx, dtype=np.int64)
        rem2 = np.zeros(nx, dtype=np.int64)
        for g in range(ngroups):
            for x in range(nx):
                f = gdq[i, g, y, x]
                f0 = f
                if do_transient:
                    if (g >= 1 and (f & jump) and not (f & badbits)
                            and not (gdq[i, g - 1, y, x] & badbits)):
                        gn = gain[y, x]
                        d = np.float32(sci[i, g, y, x] * gn) - np.float32(sci[i, g - 1, y, x] * gn)
                        ej = np.float64(d) - med[y, x]
                        if ej >= e1 and rem1[x] < n1 + 1:
                            rem1[x] = n1 + 1
                        if ej >= e2 and rem2[x] < n2 + 1:
                            rem2[x] = n2 + 1
                    flagged = rem1[x] > 0 or rem2[x] > 0
                    if rem1[x] > 0:
                        rem1[x] -= 1
                    if rem2[x] > 0:
                        rem2[x] -= 1
                    if flagged and (f & badbits) == 0:
                        f = f | jump
                if do_clean:
                    if (f & jd) == jd:
                        f = f ^ jump
                    if (f & js) == js:
                        f = f ^ jump
                if f != f0:
                    gdq[i, g, y, x] = f


@njit(cache=True, parallel=True)
def _row_hash_kernel(bits, gdq, rowlist, out):
    """64-bit fingerprint of each row ``rowlist[t]`` of a chunk: its SCI bit patterns
    (``bits``: the float32 SCI viewed as uint32) and GROUPDQ, position-dependent."""
    nints, ngroups, ny, nx = bits.shape
    k0 = np.uint64(0x9E3779B97F4A7C15)
    k1 = np.uint64(0xFF51AFD7ED558CCD)
    k2 = np.uint64(0xC4CEB9FE1A85EC53)
    s33 = np.uint64(33)
    s32 = np.uint64(32)
    for t in prange(rowlist.shape[0]):
        y = rowlist[t]
        acc = np.uint64(0)
        pos = np.uint64(0)
        for i in range(nints):
            for g in range(ngroups):
                for x in range(nx):
                    h = np.uint64(bits[i, g, y, x]) | (np.uint64(gdq[i, g, y, x]) << s32)
                    h ^= pos * k0
                    h ^= h >> s33
                    h *= k1
                    h ^= h >> s33
                    h *= k2
                    h ^= h >> s33
                    acc += h
                    pos += np.uint64(1)
        out[t] = acc
