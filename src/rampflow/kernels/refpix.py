"""numba kernels of the reference-pixel correction (see rampflow.steps.refpix).

Everything here works on DMS-oriented planes with precomputed index tables (built by
``rampflow.steps.refpix.plan_geometry``) that say where each detector-frame reference
pixel sits in the DMS array, so no plane is ever transposed or flipped.

Arithmetic reproduces jwst bit for bit where it can: the clipped means follow
``scipy.stats.sigmaclip`` + ``numpy.mean``/``numpy.std`` (numpy's pairwise summation in
the working precision, division by the count in float64), and the working precision
per group follows jwst's re-used group buffer (float32 or float64, chosen by the caller).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _pairwise_leaf(a, lo, n):
    """numpy's pairwise_sum for 1 <= n <= 128 (8 interleaved accumulators)."""
    if n < 8:
        # numpy starts from 0 and adds a[lo], a[lo+1], ...; 0 + a[lo] == a[lo]
        res = a[lo]
        for i in range(1, n):
            res = res + a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 = r0 + a[lo + i]
        r1 = r1 + a[lo + i + 1]
        r2 = r2 + a[lo + i + 2]
        r3 = r3 + a[lo + i + 3]
        r4 = r4 + a[lo + i + 4]
        r5 = r5 + a[lo + i + 5]
        r6 = r6 + a[lo + i + 6]
        r7 = r7 + a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res = res + a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise_sum(a, lo, n):
    """numpy's pairwise summation of a[lo:lo+n] (n >= 1) in a's precision, as
    ``np.add.reduce`` on a contiguous 1-D array: blocks of <= 128 summed with 8
    accumulators, larger ranges split at n//2 rounded down to a multiple of 8
    (recursion unrolled onto an explicit stack)."""
    if n <= 128:
        return _pairwise_leaf(a, lo, n)
    st_lo = np.empty(64, np.int64)
    st_n = np.empty(64, np.int64)
    st_stage = np.zeros(64, np.int64)
    vals = np.empty(64, a.dtype)
    vsp = 0
    st_lo[0] = lo
    st_n[0] = n
    st_stage[0] = 0
    sp = 1
    while sp > 0:
        t = sp - 1
        start = st_lo[t]
        m = st_n[t]
        if m <= 128:
            vals[vsp] = _pairwise_leaf(a, start, m)
            vsp += 1
            sp -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        if st_stage[t] == 0:
            st_stage[t] = 1
            st_lo[sp] = start
            st_n[sp] = n2
            st_stage[sp] = 0
            sp += 1
        elif st_stage[t] == 1:
            st_stage[t] = 2
            st_lo[sp] = start + n2
            st_n[sp] = m - n2
            st_stage[sp] = 0
            sp += 1
        else:
            vals[vsp - 2] = vals[vsp - 2] + vals[vsp - 1]
            vsp -= 1
            sp -= 1
    return vals[0]


@njit(cache=True)
def _clipped_mean(c, n, low, high, w, scratch):
    """jwst's ``Dataset.sigma_clip`` on the good reference values c[:n] (c is clobbered).

    c, w, scratch : 1-D arrays of the working precision (float32 or float64); w has
    length >= n, scratch >= 4. Returns (value, is_f32, valid): ``valid`` False means
    no pixels (jwst's None); ``is_f32`` True when jwst's value is a float32 scalar
    (the sigma-clip path on float32 data), False when it is float64 (zero-variance
    path: ``mean(dtype=float64)``, or float64 working precision).
    """
    f32 = c.itemsize == 4
    if n == 0:
        return np.nan, False, False
    anynan = False
    same = True
    v0 = c[0]
    for i in range(n):
        v = c[i]
        if v != v:
            anynan = True
        if v != v0:
            same = False
    if anynan:
        # np.std is NaN (!= 0) -> sigmaclip path -> everything clipped -> mean of empty = NaN
        return np.nan, f32, True
    if same:
        # np.std(dtype=float64) == 0 -> data.mean(dtype=np.float64): exact for identical values
        return np.float64(v0), False, True
    size = n
    while True:
        if size == 0:
            return np.nan, f32, True
        s = _pairwise_sum(c, 0, size)
        scratch[0] = np.float64(s) / size
        mean = scratch[0]
        for i in range(size):
            d = c[i] - mean
            w[i] = d * d
        s2 = _pairwise_sum(w, 0, size)
        scratch[1] = np.float64(s2) / size
        scratch[2] = math.sqrt(np.float64(scratch[1]))
        std = scratch[2]
        scratch[3] = low
        lo_c = mean - std * scratch[3]
        scratch[3] = high
        hi_c = mean + std * scratch[3]
        m = 0
        for i in range(size):
            v = c[i]
            if v >= lo_c and v <= hi_c:
                c[m] = v
                m += 1
        if m == size:
            break
        size = m
    s = _pairwise_sum(c, 0, size)
    scratch[0] = np.float64(s) / size
    return np.float64(scratch[0]), f32, True


@njit(cache=True)
def _median_of(v, n):
    """np.median of v[:n] (sorted in place); NaN if any NaN; float64 result.

    Even counts average the two middle values in v's precision, as numpy does.
    """
    for i in range(n):
        if v[i] != v[i]:
            return np.nan
    vv = v[:n]
    vv.sort()
    h = n // 2
    if n % 2 == 1:
        return np.float64(vv[h])
    s = vv[h - 1] + vv[h]  # sum in the working precision
    return np.float64(s) / 2.0


@njit(cache=True)
def _combine(a, a32, aok, b, b32, bok):
    """jwst's ``average_with_none``: returns (value, is_f32, valid)."""
    if not aok and not bok:
        return np.nan, False, False
    if not aok:
        return b, b32, True
    if not bok:
        return a, a32, True
    if a32 and b32:
        s = np.float32(a) + np.float32(b)
        return np.float64(s * np.float32(0.5)), True, True
    return 0.5 * (a + b), False, True


@njit(cache=True)
def _plane_refs(plane, buf, w, scratch, ref_y, ref_x, set_start, class_sets, pair_parity, low, high):
    """The top/bottom reference signal of one plane per correction class: (ref float64,
    r32 bool: jwst's value is a float32 scalar, rok bool: the class is corrected)."""
    nclass = class_sets.shape[0]
    ref = np.empty(nclass, np.float64)
    r32 = np.zeros(nclass, np.bool_)
    rok = np.zeros(nclass, np.bool_)
    # --- clipped means of each reference set, combined per correction class ---------
    for k in range(nclass):
        vals = np.empty(2, np.float64)
        v32 = np.zeros(2, np.bool_)
        vok = np.zeros(2, np.bool_)
        for e in range(2):
            s = class_sets[k, e]
            if s < 0:
                continue
            a = set_start[s]
            n = set_start[s + 1] - a
            for j in range(n):
                buf[j] = plane[ref_y[a + j], ref_x[a + j]]
            val, is32, ok = _clipped_mean(buf, n, low, high, w, scratch)
            vals[e] = val
            v32[e] = is32
            vok[e] = ok
        val, is32, ok = _combine(vals[0], v32[0], vok[0], vals[1], v32[1], vok[1])
        ref[k] = val
        r32[k] = is32
        rok[k] = ok
    if pair_parity:
        # jwst subtracts neither parity of an amplifier unless both signals exist
        for k in range(0, nclass - 1, 2):
            if not (rok[k] and rok[k + 1]):
                rok[k] = False
                rok[k + 1] = False
    return ref, r32, rok


@njit(cache=True)
def _top_bottom_value(g, k, ref, r32, rok, f32):
    """A pixel's value after jwst's top/bottom subtraction, in the plane's working precision
    (returned as float64; exact for float32)."""
    if rok[k]:
        if r32[k]:
            return np.float64(np.float32(g) - np.float32(ref[k]))
        if f32:
            return np.float64(np.float32(np.float64(g) - ref[k]))
        return np.float64(g) - ref[k]
    return np.float64(g)


@njit(cache=True)
def _side_signal(plane, buf, side_y, side_x, side_cls, win_lo, win_len, side_gain, ref, r32, rok, sig):
    """The side reference signal ``sig`` (float64, per detector row, filled): the running
    median over ``win_len`` rows of the side columns after the top/bottom subtraction
    (``ref``, ``r32``, ``rok``), times ``side_gain``; buf sets the working precision."""
    f32 = buf.itemsize == 4
    nrow_det = side_y.shape[1]
    nside = side_y.shape[2]
    tcol = np.empty((2, nrow_det, nside), buf.dtype)
    for sd in range(2):
        for r in range(nrow_det):
            for c in range(nside):
                y = side_y[sd, r, c]
                if y < 0:
                    continue
                tcol[sd, r, c] = _top_bottom_value(plane[y, side_x[sd, r, c]], side_cls[sd, c], ref, r32, rok, f32)
    med = np.empty((2, nrow_det), np.float64)
    for sd in range(2):
        for r in range(nrow_det):
            m = 0
            for jj in range(win_len):
                rr = r + win_lo + jj
                if rr < 0:
                    rr = -rr
                elif rr > nrow_det - 1:
                    rr = 2 * (nrow_det - 1) - rr
                for c in range(nside):
                    if side_y[sd, rr, c] >= 0:
                        buf[m] = tcol[sd, rr, c]
                        m += 1
            if m == 0:
                med[sd, r] = np.nan
            else:
                med[sd, r] = _median_of(buf, m)
    for r in range(nrow_det):
        a = med[0, r]
        b = med[1, r]
        if a != a and b != b:
            sig[r] = 0.0
        elif a != a:
            sig[r] = b
        elif b != b:
            sig[r] = a
        else:
            sig[r] = 0.5 * (a + b)
        sig[r] = side_gain * sig[r]


@njit(cache=True)
def _correct_plane(plane, buf, w, scratch, ref_y, ref_x, set_start, class_sets, pair_parity,
                   cls_axis, r_axis, transposed, side_y, side_x, side_cls, do_side,
                   win_lo, win_len, side_gain, low, high):
    """Correct one DMS plane (float32, ny x nx) in place; buf/w/scratch set the precision."""
    ref, r32, rok = _plane_refs(plane, buf, w, scratch, ref_y, ref_x, set_start, class_sets, pair_parity,
                                low, high)
    sig = np.zeros(side_y.shape[1], np.float64)
    if do_side:
        _side_signal(plane, buf, side_y, side_x, side_cls, win_lo, win_len, side_gain, ref, r32, rok, sig)
    _apply_plane_rows(plane, 0, buf.itemsize == 4, ref, r32, rok, sig, cls_axis, r_axis, transposed, do_side)


@njit(cache=True, parallel=True)
def _refpix_kernel(sci, f32_plane, ref_y, ref_x, set_start, class_sets, pair_parity, cls_axis,
                   r_axis, transposed, side_y, side_x, side_cls, do_side, win_lo, win_len,
                   side_gain, low, high, nbuf):
    """Correct every (integration, group) plane of sci in place, planes in parallel.

    f32_plane : index (i * ngroups + g) of the plane worked in float32 when do_side is
    set (jwst's first group of the exposure), -1 for none; without do_side every plane
    is float32.
    """
    nint, ngr = sci.shape[0], sci.shape[1]
    for q in prange(nint * ngr):
        i = q // ngr
        g = q - i * ngr
        plane = sci[i, g]
        if (not do_side) or q == f32_plane:
            _correct_plane(plane, np.empty(nbuf, np.float32), np.empty(nbuf, np.float32),
                           np.empty(4, np.float32), ref_y, ref_x, set_start, class_sets,
                           pair_parity, cls_axis, r_axis, transposed, side_y, side_x, side_cls,
                           do_side, win_lo, win_len, side_gain, low, high)
        else:
            _correct_plane(plane, np.empty(nbuf, np.float64), np.empty(nbuf, np.float64),
                           np.empty(4, np.float64), ref_y, ref_x, set_start, class_sets,
                           pair_parity, cls_axis, r_axis, transposed, side_y, side_x, side_cls,
                           do_side, win_lo, win_len, side_gain, low, high)


@njit(cache=True)
def _clipped_mean_kernel(values, low, high):
    """Test hook: (value, is_f32, valid) of jwst's sigma_clip on a 1-D array of good values."""
    c = values.copy()
    w = np.empty_like(c)
    scratch = np.empty(4, c.dtype)
    return _clipped_mean(c, c.shape[0], low, high, w, scratch)


@njit(cache=True)
def _median_kernel(values):
    """Test hook: np.median of a 1-D array as the side-pixel filter computes it."""
    v = values.copy()
    return _median_of(v, v.shape[0])


@njit(cache=True)
def _plane_stats(plane, buf, w, scratch, ref_y, ref_x, set_start, class_sets, pair_parity,
                 side_y, side_x, side_cls, do_side, win_lo, win_len, side_gain, low, high,
                 ref, r32, rok, sig):
    """The correction of one whole DMS plane (float32, ny x nx), from its reference pixels
    only: per correction class the reference level ``ref`` (float64; ``r32`` True when jwst
    holds it as a float32 scalar, ``rok`` False when there is none) and per detector row the
    side signal ``sig`` (float64, with do_side). buf/w/scratch set the working precision."""
    a, b, c = _plane_refs(plane, buf, w, scratch, ref_y, ref_x, set_start, class_sets, pair_parity, low, high)
    ref[:] = a
    r32[:] = b
    rok[:] = c
    if do_side:
        _side_signal(plane, buf, side_y, side_x, side_cls, win_lo, win_len, side_gain, ref, r32, rok, sig)


@njit(cache=True)
def _apply_plane_rows(plane, y0, f32, ref, r32, rok, sig, cls_axis, r_axis, transposed, do_side):
    """Subtract a plane's correction (from :func:`_plane_stats`) from rows ``y0 ...`` of it:
    ``plane`` (float32, nrow x nx) holds DMS rows y0 .. y0 + nrow - 1, in place; ``f32``
    is the plane's working precision (jwst's float32 first group, see the callers).

    Per pixel of class k and detector row r, with ``g`` the pixel's value: in float32,
    ``t = g - float32(ref[k])`` when ``r32[k]``, ``float32(float64(g) - ref[k])`` otherwise,
    ``g`` without a reference level (``rok[k]`` False), then with ``do_side``
    ``float32(float64(t) - sig[r])``; in float64, ``float32(float64(g) [- ref[k]] - sig[r])``.
    When detector columns run along DMS rows (``transposed``: NIRSpec) the class is one per
    DMS row, so the choice is made once a row and the row's loop vectorises."""
    ny, nx = plane.shape
    for yy in range(ny):
        y = yy + y0
        row = plane[yy]
        if transposed:
            _apply_row_one_class(row, cls_axis[y], f32, ref, r32, rok, sig, r_axis, do_side)
            continue
        r = r_axis[y]
        for x in range(nx):
            k = cls_axis[x]
            g = row[x]
            if f32:
                if rok[k]:
                    if r32[k]:
                        t32 = np.float32(g) - np.float32(ref[k])
                    else:
                        t32 = np.float32(np.float64(g) - ref[k])
                else:
                    t32 = np.float32(g)
                if do_side:
                    row[x] = np.float32(np.float64(t32) - sig[r])
                else:
                    row[x] = t32
            else:
                if rok[k]:
                    t64 = np.float64(g) - ref[k]
                else:
                    t64 = np.float64(g)
                row[x] = np.float32(t64 - sig[r])


@njit(cache=True, inline="always")
def _apply_row_one_class(row, k, f32, ref, r32, rok, sig, r_axis, do_side):
    """:func:`_apply_plane_rows` on one DMS row of a single class ``k`` (pixel x's detector
    row ``r_axis[x]``), one loop per case."""
    nx = row.shape[0]
    if f32:
        if rok[k] and r32[k]:
            ref32 = np.float32(ref[k])
            for x in range(nx):
                row[x] = row[x] - ref32
        elif rok[k]:
            ref64 = ref[k]
            for x in range(nx):
                row[x] = np.float32(np.float64(row[x]) - ref64)
        if do_side:
            for x in range(nx):
                row[x] = np.float32(np.float64(row[x]) - sig[r_axis[x]])
    else:
        if rok[k]:
            ref64 = ref[k]
            for x in range(nx):
                row[x] = np.float32(np.float64(row[x]) - ref64 - sig[r_axis[x]])
        else:
            for x in range(nx):
                row[x] = np.float32(np.float64(row[x]) - sig[r_axis[x]])


@njit(cache=True, parallel=True)
def _refpix_stats_kernel(sci, f32_plane, ref_y, ref_x, set_start, class_sets, pair_parity,
                         side_y, side_x, side_cls, do_side, win_lo, win_len, side_gain, low, high,
                         nbuf, out_f32, out_ref, out_r32, out_rok, out_sig):
    """The correction of every whole (integration, group) plane of ``sci`` (not changed), for
    :func:`_refpix_apply_kernel` to apply later to row chunks: ``out_*[i, g]`` as
    :func:`_plane_stats` makes them, ``out_f32[i, g]`` the plane's working precision
    (``f32_plane`` as in :func:`_refpix_kernel`)."""
    nint, ngr = sci.shape[0], sci.shape[1]
    for q in prange(nint * ngr):
        i = q // ngr
        g = q - i * ngr
        plane = sci[i, g]
        f32 = (not do_side) or q == f32_plane
        out_f32[i, g] = f32
        for r in range(out_sig.shape[2]):
            out_sig[i, g, r] = 0.0
        if f32:
            _plane_stats(plane, np.empty(nbuf, np.float32), np.empty(nbuf, np.float32),
                         np.empty(4, np.float32), ref_y, ref_x, set_start, class_sets, pair_parity,
                         side_y, side_x, side_cls, do_side, win_lo, win_len, side_gain, low, high,
                         out_ref[i, g], out_r32[i, g], out_rok[i, g], out_sig[i, g])
        else:
            _plane_stats(plane, np.empty(nbuf, np.float64), np.empty(nbuf, np.float64),
                         np.empty(4, np.float64), ref_y, ref_x, set_start, class_sets, pair_parity,
                         side_y, side_x, side_cls, do_side, win_lo, win_len, side_gain, low, high,
                         out_ref[i, g], out_r32[i, g], out_rok[i, g], out_sig[i, g])


@njit(cache=True, parallel=True)
def _refpix_apply_kernel(sci, ys, nrow, y0, f32, ref, r32, rok, sig, cls_axis, r_axis, transposed, do_side):
    """Apply stored plane corrections (``f32``, ``ref``, ``r32``, ``rok``, ``sig``: those of
    sci's integrations, from :func:`_refpix_stats_kernel`) to rows ``ys .. ys + nrow - 1`` of
    ``sci`` (a row window whole, see :func:`.row_window.window_rows`), which hold DMS rows
    ``y0 ...`` of every plane, in place; planes in parallel."""
    nint, ngr = sci.shape[0], sci.shape[1]
    for q in prange(nint * ngr):
        i = q // ngr
        g = q - i * ngr
        _apply_plane_rows(sci[i, g, ys:ys + nrow], y0, f32[i, g], ref[i, g], r32[i, g], rok[i, g], sig[i, g],
                          cls_axis, r_axis, transposed, do_side)
