"""numba kernels behind :mod:`rampflow.steps.ramp_fit` (private; arrays and scalars only).

A line-by-line port of stcal 1.20's OLS_C ramp fitter (``stcal/ramp_fitting/src/slope_fitter.c``)
to numba. Every quantity is computed in float64 from the float32 inputs, in the same order
of operations as the C code, and cast to float32 only when written out, as the C code does.

Layout: the kernels loop over *tiles* (one row, ``tile`` columns, a few hundred) in
parallel. For each integration the tile's ramps are copied, group plane by group plane
(long contiguous runs of the cube), into a pixel-major slab of ~200 kB that stays in cache;
each pixel's ramp is then processed from the slab. (Reading a pixel's ramp straight from the
cube hits addresses a whole row-chunk apart, which all map to the same cache sets.) Per
pixel quantities live in per-tile scratch arrays. Two passes: the first for the pixel's
median rate (which every segment's Poisson variance needs), the second for the fit. Ramps
without any GROUPDQ flag (most of them) take a short path to the same numbers: one segment,
no DQ scans. Without the fitopt arrays the cube is read once: the first pass also fits the
clean ramps (their slope does not depend on the median rate) and keeps a copy of the
flagged ones (up to ``FitSetup.side_ramps`` a tile; an integration with more is read again).
Every output is bit for bit what the plain two-read port gives. Nothing of the size of the
cube is allocated.

The per-ramp helpers are in :mod:`.ramp_segments`. The kernel takes its arrays and settings
as a few named tuples (:class:`Ramps`, :class:`FitSetup`, :class:`RateArrays`,
:class:`OptArrays`), under the step's parameter names.

Group DQ used by the fit ("effective" DQ, as the C code sees ``ramp_data.groupdq``): the
input GROUPDQ, plus DO_NOT_USE on groups outside ``[firstgroup, lastgroup]`` (the step's
firstgroup/lastgroup) and, with ``suppress1g``, DO_NOT_USE on every group of a ramp that
has exactly one good group (stcal's ``suppress_one_good_group_ramps``). The "original" DQ
used to recompute read noise for CHARGELOSS ramps is the input plus the first/last
DO_NOT_USE only (stcal copies ``groupdq`` before suppressing one-group ramps).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .ramp_segments import (  # noqa: F401 (_opt_sizes_kernel, _weight_table_kernel: the step's)
    _CHG,
    _DNU,
    _INVALID,
    _JUMP,
    _LARGE_VAR,
    _NGVAL,
    _PERS,
    _SAT,
    _copy_slab,
    _effective_dq,
    _load_data,
    _median_rate_clean,
    _median_rate_integration,
    _opt_sizes_kernel,
    _original_dq,
    _seg_rnoise,
    _segments,
    _weight_table_kernel,
    _wls_segment,
    _zeroframe_and_0th,
)


class Ramps(NamedTuple):
    """A row chunk's ramps and the per-pixel reference arrays for its rows."""

    sci: np.ndarray        # float32 (nints, ngroups, ny, nx), DN
    gdq: np.ndarray        # uint8, same shape
    pdq: np.ndarray        # uint32 (ny, nx)
    gain: np.ndarray       # float32 (ny, nx), e-/DN
    rnoise: np.ndarray     # float32 (ny, nx): stcal's gain-scaled read noise
    dark: np.ndarray       # float32 (ny, nx): average dark current
    zeroframe: np.ndarray  # float32 (nints, ny, nx), used when FitSetup.has_zeroframe


class FitSetup(NamedTuple):
    """The fit's settings (the step's parameters after validation, and readout times)."""

    firstgroup: int
    lastgroup: int
    suppress_one_group: bool
    clear_jump0: bool      # JUMP_DET off group 0 (it follows discarded MIRI groups)
    save_opt: bool
    has_zeroframe: bool
    group_time: float
    frame_time: float
    one_group_time: float
    ped_tmp: float         # pedestal time factor ((NFRAMES + 1) / 2 + DRPFRMS1) / (NFRAMES + GROUPGAP)
    tile: int              # columns per parallel work item
    side_ramps: int        # flagged ramps a work item keeps from its first read of the cube


class RateArrays(NamedTuple):
    """rate (ny, nx) or rateints (nints, ny, nx) outputs; DQ uint32, the rest float32."""

    slope: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    err: np.ndarray


class OptArrays(NamedTuple):
    """fitopt outputs (float32): per segment (nints, nseg, ny, nx), pedestal (nints, ny, nx),
    crmag (nints, ncr, ny, nx)."""

    slope: np.ndarray
    sigslope: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    yint: np.ndarray
    sigyint: np.ndarray
    weights: np.ndarray
    pedestal: np.ndarray
    crmag: np.ndarray


@njit(cache=True, parallel=True, error_model="numpy")
def _fit_ramps_kernel(ramps, setup, wtab, rate, rateints, opt):
    """Fit every pixel of a row chunk: ``ramps`` (:class:`Ramps`) with ``setup``
    (:class:`FitSetup`); ``wtab`` float64 (6, ngroups+1, ngroups) unit Fixsen weights by
    (power index, segment length, group). ``setup.tile``: columns per parallel work item (its
    ramps are copied pixel-major into a cache-resident slab, so it should be a few hundred:
    the cube is then read in long contiguous runs).
    Outputs (preallocated): ``rate`` / ``rateints`` (:class:`RateArrays`, 2-D / 3-D); with
    ``setup.save_opt`` the fitopt arrays (:class:`OptArrays`), zero-filled by the caller."""
    sci, gdq, pdq, gain2d, rn2d, dc2d, zframe = ramps
    firstgroup = setup.firstgroup
    lastgroup = setup.lastgroup
    suppress_one_group = setup.suppress_one_group
    clear_jump0 = setup.clear_jump0
    save_opt = setup.save_opt
    has_zeroframe = setup.has_zeroframe
    group_time = setup.group_time
    frame_time = setup.frame_time
    one_group_time = setup.one_group_time
    ped_tmp = setup.ped_tmp
    tile = setup.tile
    r_slope, r_dq, r_vp, r_vr, r_err = rate
    i_slope, i_dq, i_vp, i_vr, i_err = rateints
    o_slope, o_sigslope, o_vp, o_vr, o_yint, o_sigyint, o_weights, o_ped, o_crmag = opt
    nints, ngroups, ny, nx = sci.shape
    ntx = (nx + tile - 1) // tile
    nseg_opt = o_slope.shape[1]
    ncr_opt = o_crmag.shape[1]
    # ramps without any flag (the common case) take a short path to the same numbers; the
    # group selectors flag every ramp, and ramps of 1 or 2 groups are left to the general path
    clean_ok = firstgroup == 0 and lastgroup >= ngroups - 1 and ngroups >= 3
    # without the fitopt arrays the cube is read once: pass 1 also fits the clean ramps (their
    # slope does not depend on the median rate) and keeps a copy of the others (up to
    # ``setup.side_ramps`` a tile; integrations with more are read again in pass 2)
    onepass = clean_ok and not save_opt
    cap = min(nints * tile, max(1, setup.side_ramps)) if onepass else 1
    for t in prange(ny * ntx):
        r = t // ntx
        c0 = (t % ntx) * tile
        c1 = min(nx, c0 + tile)
        nt = c1 - c0
        data = np.empty(ngroups, dtype=np.float64)
        dq = np.empty(ngroups, dtype=np.int64)
        odq = np.empty(ngroups, dtype=np.int64)
        buf = np.empty(ngroups, dtype=np.float64)
        tmp = np.empty(ngroups, dtype=np.float64)
        starts = np.empty(ngroups + 1, dtype=np.int64)
        ends = np.empty(ngroups + 1, dtype=np.int64)
        # the tile's ramps for one integration, pixel-major: read plane by plane (contiguous
        # runs of the cube), so the strided per-pixel access happens in cache
        dslab = np.empty((nt, ngroups), dtype=np.float32)
        qslab = np.empty((nt, ngroups), dtype=np.uint8)
        qor = np.empty(nt, dtype=np.uint8)
        mrate = np.zeros(nt, dtype=np.float64)
        # per ramp: -1 clean (slope in cslope when onepass), -2 general (read from the slab),
        # >= 0 general, kept in gside / qside at that index
        kind = np.empty((nints, nt), dtype=np.int32)
        cslope = np.empty((nints, nt) if onepass else (1, 1), dtype=np.float64)
        gside = np.empty((cap, ngroups), dtype=np.float32)
        qside = np.empty((cap, ngroups), dtype=np.uint8)
        recopy = np.empty(nints, dtype=np.bool_)
        nside = 0
        # ---- pass 1: the pixel's median rate (mean over integrations of the medians)
        for i in range(nints):
            _copy_slab(sci, gdq, i, r, c0, nt, dslab, qslab, qor)
            recopy[i] = not onepass
            for j in range(nt):
                c = c0 + j
                if clean_ok and qor[j] == 0:
                    kind[i, j] = -1
                    mr = _median_rate_clean(dslab[j], ngroups, group_time, buf, tmp)
                    if math.isnan(mr):
                        mr = 0.0
                    mrate[j] += mr
                    if onepass:
                        for g in range(ngroups):
                            data[g] = np.float64(dslab[j, g])
                        cslope[i, j] = _wls_segment(data, 0, ngroups, np.float64(rn2d[r, c]),
                                                    np.float64(gain2d[r, c]), wtab, group_time, False)[0]
                    continue
                if onepass and nside < cap:
                    kind[i, j] = nside
                    for g in range(ngroups):
                        gside[nside, g] = dslab[j, g]
                        qside[nside, g] = qslab[j, g]
                    nside += 1
                else:
                    kind[i, j] = -2
                    recopy[i] = True
                _effective_dq(qslab[j], ngroups, firstgroup, lastgroup, suppress_one_group, clear_jump0, dq)
                cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, anyf = _load_data(dslab[j], ngroups, dq, data)
                zf = np.float64(zframe[i, r, c]) if has_zeroframe else 0.0
                is0, isz, cnt_good, cnt_sat, cnt_dnu_sat = _zeroframe_and_0th(
                    ngroups, suppress_one_group, has_zeroframe, zf, cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, dq, data)
                if ngroups == 1:  # median_rate_1ngroup: plain mean, NaN propagates
                    mrate[j] += data[0] / one_group_time
                    continue
                if is0:
                    mr = data[0] / one_group_time
                elif isz:
                    mr = data[0] / frame_time
                else:
                    mr = _median_rate_integration(data, dq, ngroups, group_time, buf, tmp)
                if math.isnan(mr):
                    mr = 0.0
                mrate[j] += mr
        fn = np.float64(np.float32(nints))
        for j in range(nt):
            mrate[j] = mrate[j] / fn
        # ---- pass 2: fit
        acc_vp = np.zeros(nt, dtype=np.float64)
        acc_vr = np.zeros(nt, dtype=np.float64)
        acc_sl = np.zeros(nt, dtype=np.float64)
        acc_evr = np.zeros(nt, dtype=np.float64)
        rdq = np.empty(nt, dtype=np.int64)
        pixdq = np.empty(nt, dtype=np.int64)
        dnu_cnt = np.zeros(nt, dtype=np.int64)
        sat_cnt = np.zeros(nt, dtype=np.int64)
        flags = np.zeros(nt, dtype=np.int64)  # bit 0: partial saturation, bit 1: chargeloss
        for j in range(nt):
            c = c0 + j
            p = np.int64(pdq[r, c])
            gn = np.float64(gain2d[r, c])
            if gn <= 0.0 or math.isnan(gn):
                p |= _DNU | _NGVAL
            pixdq[j] = p
            rdq[j] = p
        for i in range(nints):
            if recopy[i]:
                _copy_slab(sci, gdq, i, r, c0, nt, dslab, qslab, qor)
            for j in range(nt):
                c = c0 + j
                gain = np.float64(gain2d[r, c])
                rn = np.float64(rn2d[r, c])
                dcur = np.float64(dc2d[r, c])
                med = mrate[j]
                kd = kind[i, j]
                clean = kd == -1
                stored = clean and onepass
                if clean:  # what the general path finds for a ramp without flags: one segment
                    if not stored:
                        for g in range(ngroups):
                            data[g] = np.float64(dslab[j, g])
                    cnt_sat = 0
                    cnt_dnu_sat = 0
                    anyf = 0
                    is0 = False
                    isz = False
                else:
                    qpix = qside[kd] if kd >= 0 else qslab[j]
                    _effective_dq(qpix, ngroups, firstgroup, lastgroup, suppress_one_group, clear_jump0, dq)
                    cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, anyf = _load_data(gside[kd] if kd >= 0 else dslab[j],
                                                                               ngroups, dq, data)
                    if save_opt and ncr_opt > 0:
                        k = 0
                        for g in range(1, ngroups):
                            if (dq[g] & _JUMP) and k < ncr_opt:
                                o_crmag[i, k, r, c] = np.float32(data[g] - data[g - 1])
                                k += 1
                    zf = np.float64(zframe[i, r, c]) if has_zeroframe else 0.0
                    is0, isz, cnt_good, cnt_sat, cnt_dnu_sat = _zeroframe_and_0th(
                        ngroups, suppress_one_group, has_zeroframe, zf, cnt_good, cnt_sat, cnt_dnu, cnt_dnu_sat, dq,
                        data)
                idq = pixdq[j]
                if anyf & _JUMP:
                    idq |= _JUMP
                    rdq[j] |= _JUMP
                if anyf & _PERS:
                    idq |= _PERS
                    rdq[j] |= _PERS
                islope = 0.0
                ivp = 0.0
                ivr = 0.0
                ierr = 0.0
                # ---- segments (compute_integration_segments)
                if clean:
                    nseg = 1
                    starts[0] = 0
                    ends[0] = ngroups
                elif dq[0] & _SAT:
                    idq |= _DNU | _SAT
                    islope = np.nan
                    nseg = 0
                else:
                    nseg, _ = _segments(dq, ngroups, starts, ends)
                # ---- ramp_fit_pixel_integration
                if cnt_dnu_sat == ngroups:
                    idq |= _DNU
                    if cnt_sat == ngroups:
                        idq |= _SAT
                elif nseg > 0:
                    inv_r = 0.0
                    inv_p = 0.0
                    inv_e = 0.0
                    num = 0.0
                    for s in range(nseg):
                        st = starts[s]
                        length = ends[s] - st
                        sig_s = 0.0
                        yint = 0.0
                        sig_y = 0.0
                        if length == 1:
                            timing = group_time
                            if not suppress_one_group:
                                if is0:
                                    timing = one_group_time
                                elif isz:
                                    timing = frame_time
                            sslope = data[st] / timing
                            pden = timing * gain
                            var_r = _seg_rnoise(1, timing, group_time, rn, gain)
                        elif length == 2:
                            d0 = data[st]
                            d1 = data[st + 1]
                            sslope = (d1 - d0) / group_time
                            pden = group_time * gain
                            var_r = _seg_rnoise(2, group_time, group_time, rn, gain)
                            if save_opt:
                                sig_s = 1.41421356 * rn
                                second = np.float64(st) + 1.0
                                yint = d1 * (1.0 - second) + d0 * second
                                sig_y = sig_s
                        else:
                            if stored:  # fitted in pass 1
                                sslope = cslope[i, j]
                            else:
                                sslope, sig_s, yint, sig_y = _wls_segment(data, st, length, rn, gain, wtab, group_time,
                                                                          save_opt)
                            pden = group_time * gain * (np.float64(length) - 1.0)
                            var_r = _seg_rnoise(length, group_time, group_time, rn, gain)
                        if med > 0.0:
                            var_p = (med + dcur) / pden
                        else:
                            var_p = dcur / pden
                        var_e = var_p + var_r
                        if save_opt and s < nseg_opt:
                            o_slope[i, s, r, c] = np.float32(sslope)
                            o_sigslope[i, s, r, c] = np.float32(sig_s)
                            o_vp[i, s, r, c] = np.float32(var_p)
                            o_vr[i, s, r, c] = np.float32(var_r)
                            o_yint[i, s, r, c] = np.float32(yint)
                            o_sigyint[i, s, r, c] = np.float32(sig_y)
                            o_weights[i, s, r, c] = np.float32(1.0 / var_r)
                        inv_r += 1.0 / var_r
                        if var_p > 0.0:
                            inv_p += 1.0 / var_p
                        inv_e += 1.0 / var_e
                        num += sslope / var_r
                    if inv_p > 0.0:
                        ivp = 1.0 / inv_p
                    if ivp >= _LARGE_VAR:
                        ivp = 0.0
                    ivr = 1.0 / inv_r
                    if ivr >= _LARGE_VAR:
                        ivr = 0.0
                    if idq & _INVALID:
                        islope = np.nan
                        ivp = 0.0
                        ivr = 0.0
                        ierr = 0.0
                    else:
                        var_err = 1.0 / inv_e
                        islope = num * ivr
                        if var_err > _LARGE_VAR:
                            ierr = 0.0
                        else:
                            ierr = math.sqrt(var_err)
                    if inv_p > 0.0:
                        acc_vp[j] += inv_p
                    acc_vr[j] += inv_r
                    acc_sl[j] += num
                # ---- ramp_fit_pixel, per integration
                if idq & _DNU:
                    dnu_cnt[j] += 1
                    islope = np.nan
                if save_opt:
                    if idq & _SAT:
                        ped = 0.0
                    else:
                        ped = data[0] - islope * ped_tmp
                        if math.isnan(ped):
                            ped = 0.0
                    o_ped[i, r, c] = np.float32(ped)
                if idq & _SAT:
                    sat_cnt[j] += 1
                    islope = np.nan
                if cnt_sat > 0:
                    idq |= _SAT
                    flags[j] |= 1
                # ---- CHARGELOSS: recompute the integration's read-noise variance
                if anyf & _CHG:
                    flags[j] |= 2
                    _original_dq(qpix, ngroups, firstgroup, lastgroup, odq)
                    nseg2, _ = _segments(odq, ngroups, starts, ends)
                    inv_r2 = 0.0
                    for s in range(nseg2):
                        length = ends[s] - starts[s]
                        timing = group_time
                        if length == 1 and not suppress_one_group:
                            if is0:
                                timing = one_group_time
                            elif isz:
                                timing = frame_time
                        svar = _seg_rnoise(length, timing, group_time, rn, gain)
                        if svar > 0.0:
                            inv_r2 += 1.0 / svar
                    ivr = 1.0 / inv_r2
                    if ivr >= _LARGE_VAR:
                        ivr = 0.0
                    acc_evr[j] += inv_r2
                elif ivr > 0.0:
                    acc_evr[j] += 1.0 / ivr
                i_slope[i, r, c] = np.float32(islope)
                i_dq[i, r, c] = np.uint32(idq)
                i_vp[i, r, c] = np.float32(ivp)
                i_vr[i, r, c] = np.float32(ivr)
                i_err[i, r, c] = np.float32(ierr)
        # ---- the exposure's rate (ramp_fit_pixel, end)
        for j in range(nt):
            c = c0 + j
            d = rdq[j]
            if dnu_cnt[j] == nints:
                d |= _DNU
            if sat_cnt[j] == nints:
                d |= _SAT
            vp = acc_vp[j]
            if vp > 0.0:
                vp = 1.0 / vp
            if vp >= _LARGE_VAR or vp < 0.0:
                vp = 0.0
            vr = acc_vr[j]
            if vr > 0.0:
                vr = 1.0 / vr
            if vr >= _LARGE_VAR:
                vr = 0.0
            err = math.sqrt(vp + vr)
            slope = acc_sl[j]
            if d & _INVALID:
                slope = np.nan
                vp = 0.0
                vr = 0.0
                err = 0.0
            if flags[j] & 1:
                d |= _SAT
            if not math.isnan(slope):
                slope = slope * vr
            if flags[j] & 2:  # ramp_fit_pixel_rnoise_chargeloss
                if acc_evr[j] > 0.0:
                    vr = 1.0 / acc_evr[j]
                if vr >= _LARGE_VAR:
                    vr = 0.0
            r_slope[r, c] = np.float32(slope)
            r_dq[r, c] = np.uint32(d)
            r_vp[r, c] = np.float32(vp)
            r_vr[r, c] = np.float32(vr)
            r_err[r, c] = np.float32(err)
