"""jump's detection kernel against stcal 1.20's ``detect_jumps_data`` (the code jwst's
JumpStep runs) on small seeded ramps: GROUPDQ and PIXELDQ must be identical, bit for bit.

The ramps mix what the kernel treats specially: cosmic-ray jumps of many sizes, exact ties
(pixels whose differences are all equal or take a few integer values), NaN data, saturated
and DO_NOT_USE groups (pixels left with 0, 1 or 2 usable differences), groups already
flagged JUMP (also together with SATURATED / DO_NOT_USE), zero read noise and bad gains.
The cases take each of stcal's branches: the iterative search (few differences), the
single pass (>= ``min_diffs_single_pass`` differences), sigma clipping across integrations
(``nints >= minimum_sigclip_groups``) and over all differences (``only_use_ints=False``),
with neighbour and after-jump flagging; enough differences per pixel (> 256) for the
bracketed median, and columns of integrations both clean and with outliers for the
sigma-clipping shortcut.
"""

import warnings

import numba
import numpy as np
import pytest

from rampflow import dq
from rampflow.steps.jump import JumpParams, detect_jumps, run_detection

JUMP, SAT, DNU = dq.JUMP_DET, dq.SATURATED, dq.DO_NOT_USE


def _ramps(seed, nints, ngroups, ny, nx, jump_rate=0.02):
    """float32 DN ramps, uint8 GROUPDQ, read noise and gain with every special case."""
    rng = np.random.default_rng(seed)
    flux = rng.uniform(0.0, 300.0, (ny, nx))
    inc = rng.normal(flux, np.sqrt(flux) + 6.0, (nints, ngroups, ny, nx))
    hits = rng.random(inc.shape) < jump_rate
    inc[hits] += rng.choice([30.0, 80.0, 300.0, 3000.0, -200.0], int(hits.sum()))
    # exact ties: constant increments, and increments from a few integers
    inc[:, :, 0, 0] = 5.0
    inc[:, :, 0, 1] = rng.integers(0, 3, (nints, ngroups)).astype(float)
    inc[:, :, 1, 0] = rng.integers(10, 12, (nints, ngroups)).astype(float)
    inc[:, 3, 1, 0] += 500.0
    sci = np.cumsum(inc, axis=1).astype(np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    # saturation: from mid-ramp, and leaving 2, 3 or 4 usable groups (1-3 differences)
    gdq[:, ngroups // 2:, 2, 2] = SAT
    gdq[:, 2:, 2, 3] = SAT
    gdq[:, 3:, 3, 2] = SAT
    gdq[0, 4:, 3, 3] = SAT
    gdq[(rng.random(sci.shape) < 0.01)] |= SAT
    # DO_NOT_USE groups, a pixel with every group DO_NOT_USE, NaN data
    gdq[(rng.random(sci.shape) < 0.02)] |= DNU
    gdq[:, :, 4, 4] = DNU
    sci[rng.random(sci.shape) < 0.003] = np.nan
    # groups already flagged JUMP, some together with SATURATED or DO_NOT_USE
    pre = rng.random(sci.shape) < 0.01
    gdq[pre] |= JUMP
    rn = rng.uniform(4.0, 12.0, (ny, nx)).astype(np.float32)
    rn[0, 2] = 0.0
    gain = rng.uniform(1.0, 3.0, (ny, nx)).astype(np.float32)
    gain[1, 1] = np.nan
    gain[1, 2] = 0.0
    return sci, gdq, rn, gain


def _stcal(sci, gdq, rn, gain, p: JumpParams, group_time, nframes, primary=False):
    from stcal.jump.jump import detect_jumps_data
    from stcal.jump.jump_class import JumpData

    jd = JumpData(gain2d=gain.copy(), rnoise2d=rn.copy(), dqflags=dq.FLAGS)
    jd.nframes = nframes
    jd.dt_group = np.ones(1)
    jd.n_reads_groupdiff = np.ones(1) * 2 * nframes
    jd.init_arrays_from_arrays(sci.copy(), gdq.copy(), np.zeros(sci.shape[2:], np.uint32))
    jd.set_detection_settings(p.rejection_threshold, p.three_group_rejection_threshold,
                              p.four_group_rejection_threshold, p.max_jump_to_flag_neighbors,
                              p.min_jump_to_flag_neighbors, p.flag_4_neighbors)
    jd.set_after_jump(p.after_jump_flag_dn1, int(p.after_jump_flag_time1 // group_time),
                      p.after_jump_flag_dn2, int(p.after_jump_flag_time2 // group_time))
    jd.set_sigma_clipping_info(p.minimum_groups, p.minimum_sigclip_groups, p.only_use_ints)
    jd.min_diffs_single_pass = p.min_diffs_single_pass
    jd.max_cores = p.maximum_cores
    jd.expand_large_events = False
    jd.find_showers = False
    out_gdq, out_pdq, total_primary_crs, _ = detect_jumps_data(jd)
    if primary:
        return out_gdq, out_pdq, total_primary_crs
    return out_gdq, out_pdq


CASES = {
    # nints, ngroups, ny, nx, parameters
    "iterative": (2, 6, 10, 12, {}),
    "iterative-thresholds": (1, 5, 10, 12, {"three_group_rejection_threshold": 3.0,
                                            "four_group_rejection_threshold": 3.5}),
    "single-pass": (3, 12, 10, 12, {}),
    "single-pass-median-bracket": (30, 12, 6, 8, {}),
    "single-pass-after-jump": (3, 12, 10, 12, {"after_jump_flag_dn1": 20.0, "after_jump_flag_time1": 2.0,
                                              "after_jump_flag_dn2": 400.0, "after_jump_flag_time2": 5.0}),
    "neighbours-window": (3, 12, 10, 12, {"min_jump_to_flag_neighbors": 5.0,
                                         "max_jump_to_flag_neighbors": 40.0}),
    "no-neighbours": (3, 12, 10, 12, {"flag_4_neighbors": False}),
    "sigclip-ints": (24, 5, 8, 10, {"minimum_sigclip_groups": 20}),
    "sigclip-ints-defaults": (120, 4, 5, 6, {}),
    "sigclip-ints-after-jump": (24, 5, 8, 10, {"minimum_sigclip_groups": 20, "after_jump_flag_dn1": 20.0,
                                               "after_jump_flag_time1": 1.0}),
    "sigclip-all": (3, 8, 8, 10, {"minimum_sigclip_groups": 12, "only_use_ints": False}),
    "sigclip-all-many": (12, 30, 5, 6, {"minimum_sigclip_groups": 100, "only_use_ints": False}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_detection_equals_stcal(case):
    nints, ngroups, ny, nx, params = CASES[case]
    seed = sorted(CASES).index(case)
    sci, gdq0, rn, gain = _ramps(seed, nints, ngroups, ny, nx)
    p = JumpParams(**params)
    exp_gdq, exp_pdq = _stcal(sci, gdq0, rn, gain, p, group_time=1.0, nframes=1)
    gdq = gdq0.copy()
    pdq = np.zeros((ny, nx), np.uint32)
    detect_jumps(sci, gdq, pdq, rn, gain, frame_time=1.0, group_time=1.0, nframes=1, **params)
    # the case has teeth: detection added flags beyond the input ones
    assert ((gdq & JUMP) & ~(gdq0 & JUMP)).any()
    np.testing.assert_array_equal(gdq, exp_gdq)
    np.testing.assert_array_equal(pdq, exp_pdq)


def test_sigma_clipping_column_shortcut_both_ways():
    """With many integrations most columns are clean (astropy keeps every value, proved
    without the exact median) and a few hold a jump (the exact clipping runs): both kinds
    are present, and the flags equal stcal's."""
    nints, ngroups, ny, nx = 110, 4, 5, 6
    sci, gdq0, rn, gain = _ramps(99, nints, ngroups, ny, nx, jump_rate=0.002)
    exp_gdq, exp_pdq = _stcal(sci, gdq0, rn, gain, JumpParams(), group_time=1.0, nframes=1)
    gdq = gdq0.copy()
    pdq = np.zeros((ny, nx), np.uint32)
    detect_jumps(sci, gdq, pdq, rn, gain, frame_time=1.0, group_time=1.0, nframes=1)
    new = (gdq & JUMP) & ~(gdq0 & JUMP)
    per_column = new[:, 1:].any(axis=0)  # (ngroups - 1, ny, nx): a column with a new jump
    assert per_column.any() and not per_column.all()
    np.testing.assert_array_equal(gdq, exp_gdq)
    np.testing.assert_array_equal(pdq, exp_pdq)


@pytest.mark.parametrize("ny", [1, 5])
def test_rows_wider_than_a_pixel_block_equal_stcal(ny):
    """Sigma clipping across integrations on rows of 300 pixels: the detection's work items
    are (row, block of 256 pixels), shared by the threads even for a 1-row chunk (the row
    stream's usual one). With 1 and 2 threads the flags, and the primary count summed over
    the rows' items, equal stcal's."""
    nints, ngroups, nx = 110, 4, 300
    sci, gdq0, rn, gain = (np.ascontiguousarray(a[..., :ny, :])
                           for a in _ramps(41 + ny, nints, ngroups, 5, nx, jump_rate=0.002))
    exp_gdq, exp_pdq, exp_primary = _stcal(sci, gdq0, rn, gain, JumpParams(), group_time=1.0, nframes=1,
                                           primary=True)
    assert ((exp_gdq & JUMP) & ~(gdq0 & JUMP)).any()
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            gdq = gdq0.copy()
            pdq = np.zeros((ny, nx), np.uint32)
            res = run_detection(sci, gdq, pdq, rn, gain)
            assert res.mode == "sigma clipping"
            np.testing.assert_array_equal(gdq, exp_gdq, err_msg=f"{threads} thread(s)")
            np.testing.assert_array_equal(pdq, exp_pdq)
            assert int(res.primary_per_row.sum()) == exp_primary
    finally:
        numba.set_num_threads(before)


def _nanmedian_cases():
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 24, 25, 256, 257, 300, 1023, 1024, 1380, 2048, 4001):
        yield rng.normal(500.0, 30.0, n)
        yield rng.integers(-2, 3, n).astype(float)  # many ties
        yield np.sort(rng.normal(0.0, 1.0, n))
        yield np.sort(rng.normal(0.0, 1.0, n))[::-1].copy()
        a = rng.normal(0.0, 1.0, n)
        a[rng.random(n) < 0.4] = np.nan
        yield a
        a = rng.normal(0.0, 1.0, n)
        a[: n // 2 + 1] = np.nan  # long NaN stretches (saturated ends of ramps)
        yield a
        a = rng.normal(0.0, 1.0, n)
        a[rng.random(n) < 0.05] = rng.choice([np.inf, -np.inf, 0.0, -0.0, 7.0])
        yield a
        yield np.full(n, 3.0)
        yield np.full(n, np.nan)


def test_row_nanmedian_is_numpys():
    from rampflow.kernels.order_stats import _row_nanmedian

    for a in _nanmedian_cases():
        a32 = a.astype(np.float32)
        n = a32.size
        scratch = [np.empty(n, np.float32) for _ in range(3)]
        got = _row_nanmedian(a32, n, *scratch, np.empty(192, np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
            want = np.nanmedian(a32.astype(np.float64))
        assert np.array_equal(got, want, equal_nan=True), (n, got, want)


def test_sigclip_shortcut_agrees_with_astropy():
    from astropy.stats import sigma_clip

    from rampflow.kernels.jump_sigclip import _finite_col_sigclip

    rng = np.random.default_rng(8)
    proved = 0
    for t in range(400):
        c = int(rng.integers(2, 200))
        col = rng.normal(1000.0, 40.0, c).astype(np.float32)
        if t % 3 == 0:
            col[rng.integers(0, c)] += np.float32(rng.choice([100.0, 200.0, 1000.0]))
        if t % 17 == 0:
            col[:] = np.float32(5.0)  # std 0
        if t % 29 == 0:
            col[rng.integers(0, c)] = np.nan
        st, lo, hi = _finite_col_sigclip(col, 4.0)
        if st >= 0:
            proved += 1
            assert np.isfinite(col).all()
            mask = np.ma.getmaskarray(sigma_clip(col.astype(np.float64), sigma=4.0, maxiters=5, masked=True))
            np.testing.assert_array_equal(mask, np.zeros(c, bool) if st == 0 else (col < lo) | (col > hi))
    assert proved > 250  # it decides most columns


def test_sigclip_shortcut_agrees_with_the_exact_port():
    """The column shortcut's decision (nothing flagged, or the values outside [lo, hi]) is
    the exact port's, on clean columns, columns with one or two outliers of every size
    (some just at the clipping limit), and ties; and it decides most of them."""
    from rampflow.kernels.jump_sigclip import _finite_col_sigclip
    from rampflow.kernels.order_stats import _sigclip_bounds

    rng = np.random.default_rng(21)
    decided = 0
    for t in range(1500):
        c = int(rng.integers(3, 180))
        col = rng.normal(800.0, 30.0, c)
        for _ in range(t % 3):
            col[rng.integers(0, c)] += rng.uniform(2.0, 12.0) * 30.0 * rng.choice([-1.0, 1.0])
        if t % 50 == 0:
            col = np.round(col / 100.0) * 100.0  # few distinct values
        col = col.astype(np.float32)
        st, lo, hi = _finite_col_sigclip(col, 4.0)
        buf = col.astype(np.float64)
        elo, ehi, clipped = _sigclip_bounds(buf.copy(), c, 4.0, 5)
        exact = (buf < elo) | (buf > ehi) if clipped else np.zeros(c, bool)
        if st == 0:
            assert not exact.any()
        elif st == 1:
            np.testing.assert_array_equal((buf < lo) | (buf > hi), exact)
            assert exact.any()
        decided += st >= 0
    assert decided > 1200
