"""Unit tests of the reference-pixel correction (jwst RefPixStep, NIR non-IRS2).

Expected values are worked out by hand from jwst's algorithm (reference_pixels.py):
values are chosen exactly representable in float32 so the arithmetic is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow.dq import DO_NOT_USE, REFERENCE_PIXEL
from rampflow.kernels.refpix import _clipped_mean_kernel, _median_kernel, _pairwise_sum, _refpix_kernel
from rampflow.steps.refpix import (
    correct_refpix,
    detector_to_dms,
    detector_to_dms_index,
    dms_to_detector,
    embed_pixeldq,
    plan_geometry,
)

F32 = np.float32


# --- orientation --------------------------------------------------------------------------

A = np.array([[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("fast, slow, expected", [
    (1, 2, [[0, 1, 2], [3, 4, 5]]),            # GUIDER-like: no change
    (-1, 2, [[2, 1, 0], [5, 4, 3]]),           # NRCA1: columns reversed
    (1, -2, [[3, 4, 5], [0, 1, 2]]),           # NRCA2: rows reversed
    (2, 1, [[0, 3], [1, 4], [2, 5]]),          # NRS1: transposed
    (-2, -1, [[5, 2], [4, 1], [3, 0]]),        # NRS2: both reversed, transposed
])
def test_dms_to_detector_small(fast, slow, expected):
    det = dms_to_detector(A, fast, slow)
    np.testing.assert_array_equal(det, expected)
    np.testing.assert_array_equal(detector_to_dms(det, fast, slow), A)


def test_dms_to_detector_rejects_bad_axes():
    with pytest.raises(ValueError, match="FASTAXIS"):
        dms_to_detector(A, 1, 1)


@pytest.mark.parametrize("fast, slow, rc, yx", [
    (2, 1, (5, 970), (970, 5)),                 # NRS1: detector row = DMS column
    (-2, -1, (5, 970), (2047 - 970, 2047 - 5)),
    (-1, 2, (5, 10), (5, 2037)),
    (1, -2, (5, 10), (2042, 10)),
])
def test_detector_to_dms_index(fast, slow, rc, yx):
    assert tuple(int(v) for v in detector_to_dms_index(*rc, fast, slow)) == yx
    # consistent with the array transform on a full frame
    full = np.arange(2048 * 2048).reshape(2048, 2048)
    assert dms_to_detector(full, fast, slow)[rc] == full[yx]


def test_embed_pixeldq_border_and_edgeless():
    pdq = np.full((32, 32), 4096, np.uint32)
    full = embed_pixeldq(pdq, xstart=1001, ystart=201, subarray="SUB32")
    border = DO_NOT_USE | REFERENCE_PIXEL
    assert full[0, 500] == border and full[2047, 7] == border and full[700, 2] == border
    assert full[700, 2045] == border and full[700, 700] == 0
    # subarray copied at (ystart-1, xstart-1); first/last 4 DMS columns become reference pixels
    assert full[200, 1000] == 4096 | REFERENCE_PIXEL and full[231, 1031] == 4096 | REFERENCE_PIXEL
    assert full[200, 1004] == 4096 and full[231, 1027] == 4096
    plain = embed_pixeldq(pdq, xstart=1001, ystart=201, subarray="SUB64")
    assert plain[200, 1000] == 4096


# --- numerical building blocks ------------------------------------------------------------

def test_pairwise_sum_matches_numpy_bitwise():
    rng = np.random.default_rng(3)
    for n in list(range(1, 140)) + [255, 256, 257, 1000, 1024, 4093, 20000]:
        for dt in (np.float32, np.float64):
            a = (rng.normal(size=n) * 30 + 7).astype(dt)
            assert _pairwise_sum(a, 0, n) == np.add.reduce(a), (n, dt)


def test_pairwise_sum_differs_from_sequential():
    # 2**24 + 1 + 1 + ... : a sequential float32 sum loses every 1; pairwise (8 lanes) keeps them
    a = np.ones(16, np.float32)
    a[0] = 2.0**24
    seq = F32(0)
    for v in a:
        seq = F32(seq + v)
    assert seq == 2.0**24
    # lanes: r0 = 2**24 + 1 (lost), r1..r7 = 2 each -> (2**24 + 2) + 2 + 4 + 4 ... = 2**24 + 14
    assert _pairwise_sum(a, 0, 16) == 2.0**24 + 14


def test_clipped_mean_rejects_outlier():
    # twenty 10's and one 100: mean 300/21, var = (20*(10-m)^2 + (100-m)^2)/21 = 367.3..,
    # std 19.17, upper limit m + 3 std = 71.8 -> 100 rejected; then std 0 -> limits [10, 10]
    # keep all -> mean 10 (float32 result of the sigma-clip path)
    v = np.full(21, 10.0, np.float32)
    v[7] = 100.0
    val, is32, ok = _clipped_mean_kernel(v, 3.0, 3.0)
    assert ok and is32 and val == 10.0
    # with siglimit 6 the outlier survives: mean = 300/21
    val, is32, ok = _clipped_mean_kernel(v, 6.0, 6.0)
    assert val == np.float64(F32(300.0 / 21))


def test_clipped_mean_zero_variance_is_float64():
    val, is32, ok = _clipped_mean_kernel(np.full(5, 7.25, np.float32), 3.0, 3.0)
    assert ok and not is32 and val == 7.25


def test_clipped_mean_edge_cases():
    val, is32, ok = _clipped_mean_kernel(np.zeros(0, np.float32), 3.0, 3.0)
    assert not ok                                     # jwst: None
    val, is32, ok = _clipped_mean_kernel(np.array([1, np.nan, 3], np.float32), 3.0, 3.0)
    assert ok and np.isnan(val)                       # NaN std -> everything clipped -> NaN
    # [0, 1], siglimit 0.5: mean .5, std .5, limits [.25, .75] -> nothing left -> NaN
    val, is32, ok = _clipped_mean_kernel(np.array([0, 1], np.float32), 0.5, 0.5)
    assert ok and np.isnan(val)


def test_clipped_mean_matches_scipy_bitwise():
    from scipy import stats

    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(2, 2000))
        dt = np.float32 if trial % 4 else np.float64
        d = rng.normal(size=n) * rng.uniform(0.5, 30) + rng.uniform(-50, 50)
        d[rng.integers(0, n, 3)] += 400.0
        d = d.astype(dt)
        lim = float(rng.choice([2.0, 3.0, 4.0]))
        c, _, _ = stats.sigmaclip(d, lim, lim)
        val, is32, ok = _clipped_mean_kernel(d, lim, lim)
        assert val == float(c.mean()) and is32 == (dt == np.float32)


def test_median_kernel():
    assert _median_kernel(np.array([3, 1, 2], np.float32)) == 2.0
    assert _median_kernel(np.array([4, 1, 3, 2], np.float32)) == 2.5
    assert _median_kernel(np.array([4, 1, 3, 2], np.float64)) == 2.5
    assert np.isnan(_median_kernel(np.array([4, np.nan, 3], np.float32)))
    # float32 even count: (a + b) rounded to float32 first, as np.median does
    a, b = F32(1.0), F32(1 + 2.0**-23)
    assert _median_kernel(np.array([a, b], np.float32)) == float(F32(a + b)) / 2


# --- kernel on a small stripe (hand-made index tables) -------------------------------------

def _stripe_tables(ny=6, nx=6):
    """Row 0 holds the reference pixels; classes = column parity; side columns 0 and 5."""
    ref_y = np.zeros(nx, np.int32)
    ref_x = np.array([0, 2, 4, 1, 3, 5], np.int32)        # set 0: even columns, set 1: odd
    set_start = np.array([0, 3, 6], np.int64)
    class_sets = np.array([[0, -1], [1, -1]], np.int64)
    cls_axis = (np.arange(nx) % 2).astype(np.int32)
    r_axis = np.arange(ny, dtype=np.int32)
    side_y = np.full((2, ny, 1), -1, np.int32)
    side_x = np.full((2, ny, 1), -1, np.int32)
    side_y[:, 1:, 0] = np.arange(1, ny)                    # rows 1..5 usable, row 0 is not
    side_x[0, 1:, 0] = 0
    side_x[1, 1:, 0] = nx - 1
    side_cls = np.array([[0], [1]], np.int64)
    return ref_y, ref_x, set_start, class_sets, cls_axis, r_axis, side_y, side_x, side_cls


def _run_stripe(plane, do_side, win_lo=-1, win_len=3, gain=1.0, pair=True, first_f32=0):
    t = _stripe_tables(*plane.shape)
    sci = plane[None, None].astype(np.float32).copy()
    _refpix_kernel(sci, first_f32, t[0], t[1], t[2], t[3], pair, t[4], t[5], False, t[6], t[7],
                   t[8], do_side, win_lo, win_len, gain, 3.0, 3.0, 64)
    return sci[0, 0]


def test_kernel_stripe_parity_offsets_no_side():
    plane = np.zeros((6, 6), np.float32)
    plane[0, 0::2] = 5.0                                  # even-column reference = 5
    plane[0, 1::2] = 2.0                                  # odd-column reference = 2
    plane[1:, :] = 100.0
    out = _run_stripe(plane, do_side=False)
    expected = np.full((6, 6), 0.0, np.float32)
    expected[1:, 0::2] = 95.0
    expected[1:, 1::2] = 98.0
    np.testing.assert_array_equal(out, expected)


def test_kernel_stripe_pairing_rule():
    # no good odd-column reference (set 1 empty) -> neither parity is corrected
    plane = np.zeros((6, 6), np.float32)
    plane[0, 0::2] = 5.0
    plane[1:, :] = 100.0
    t = list(_stripe_tables())
    t[2] = np.array([0, 3, 3], np.int64)                  # set 1 has no pixels
    sci = plane[None, None].copy()
    _refpix_kernel(sci, 0, t[0], t[1], t[2], t[3], True, t[4], t[5], False, t[6], t[7], t[8],
                   False, -1, 3, 1.0, 3.0, 3.0, 64)
    np.testing.assert_array_equal(sci[0, 0], plane)
    sci = plane[None, None].copy()                        # without pairing: even columns only
    _refpix_kernel(sci, 0, t[0], t[1], t[2], t[3], False, t[4], t[5], False, t[6], t[7], t[8],
                   False, -1, 3, 1.0, 3.0, 3.0, 64)
    assert sci[0, 0, 3, 2] == 95.0 and sci[0, 0, 3, 3] == 100.0


def test_kernel_stripe_side_running_median():
    # references 0 -> no top correction. Left side column value per row: 1, 2, 4, 8, 16 (rows
    # 1..5), right side 0. Window of 3 rows (win_lo=-1), reflected at rows 0 and 5; row 0 unusable.
    plane = np.zeros((6, 6), np.float32)
    left = {1: 1.0, 2: 2.0, 3: 4.0, 4: 8.0, 5: 16.0}
    for r, v in left.items():
        plane[r, 0] = v
    plane[1:, 1:5] = 50.0
    out = _run_stripe(plane, do_side=True, win_lo=-1, win_len=3, gain=0.5)
    # left medians: row0: rows(1,0,1) -> {1,1} -> 1; row1: (0,1,2) -> {1,2} -> 1.5;
    # row2: {1,2,4} -> 2; row3: {2,4,8} -> 4; row4: {4,8,16} -> 8; row5: rows(4,5,4) -> {8,16,8} -> 8
    # right medians all 0 -> side = (left + 0) / 2 ; subtracted x gain 0.5
    lmed = np.array([1.0, 1.5, 2.0, 4.0, 8.0, 8.0])
    side = 0.5 * (lmed + 0.0) * 0.5
    expected = plane.astype(np.float64) - side[:, None]
    np.testing.assert_array_equal(out, expected.astype(np.float32))


def test_kernel_stripe_even_window_is_asymmetric():
    # jwst: an even length L reflects with L+1 but the window keeps L rows: rows r-L/2 .. r+L/2-1
    plane = np.zeros((6, 6), np.float32)
    for r, v in {1: 1.0, 2: 2.0, 3: 4.0, 4: 8.0, 5: 16.0}.items():
        plane[r, 0] = v
    out = _run_stripe(plane, do_side=True, win_lo=-1, win_len=2, gain=1.0)
    # L=2: row r uses rows r-1, r. row0: rows(1, 0) -> {1}; row1: {1}; row2: {1,2} -> 1.5;
    # row3: {2,4} -> 3; row4: {4,8} -> 6; row5: {8,16} -> 12 ; side = left/2
    side = np.array([1.0, 1.0, 1.5, 3.0, 6.0, 12.0]) / 2
    np.testing.assert_array_equal(out[:, 2], (0.0 - side).astype(np.float32))


def test_plan_window_lengths():
    pdq = np.zeros((2048, 2048), np.uint32)
    for L, lo in [(11, -5), (10, -5), (5, -2), (6, -3), (2, -1)]:
        p = plan_geometry(pdq, side_smoothing_length=L)
        assert (p.win_lo, p.win_len) == (lo, L)
    with pytest.raises(ValueError, match="side_smoothing_length"):
        plan_geometry(pdq, side_smoothing_length=1)


# --- full frame, computed by hand ---------------------------------------------------------

def _full_frame_case(fast=1, slow=2):
    """A 2-group 2048 x 2048 ramp built in the detector frame, then moved to DMS orientation.

    Top reference rows (2044-2047) of amplifier a, column parity p, group g hold T, bottom rows
    (0-3) hold B; one top pixel per set is an outlier (clipped), one is DO_NOT_USE with 1e6.
    The 4 x 4 corners are DO_NOT_USE. Left side columns (0-3) hold L(R) = R/4 plus the
    amplifier's reference level, right ones R/4 + 2 plus theirs. Science pixels: 50 g + 7 +
    level + side(R).
    """
    rng = np.random.default_rng(0)
    T = rng.integers(-40, 40, (2, 4, 2)).astype(np.float64) / 2       # multiples of 0.5
    B = rng.integers(-40, 40, (2, 4, 2)).astype(np.float64) / 2
    level = (T + B) / 2
    det = np.zeros((2, 2048, 2048), np.float32)
    pdq_det = np.zeros((2048, 2048), np.uint32)
    R = np.arange(2048)[:, None]
    C = np.arange(2048)[None, :]
    amp, par = C // 512, C % 2
    for g in range(2):
        lev = level[g][amp, par]                                          # (1, 2048)
        side_sig = R / 4.0 + 1.0                                          # mean of left/right
        det[g] = 50 * g + 7 + lev + side_sig
        det[g, 4:2044, 0:4] = (R[4:2044] / 4.0 + lev[:, 0:4])
        det[g, 4:2044, 2044:] = (R[4:2044] / 4.0 + 2 + lev[:, 2044:])
        det[g, 2044:, :] = T[g][amp, par]
        det[g, :4, :] = B[g][amp, par]
        for a in range(4):
            for p in range(2):
                det[g, 2045, 512 * a + 100 + p] = T[g, a, p] + 5000.0        # clipped outlier
                det[g, 1, 512 * a + 200 + p] = 1e6                             # DO_NOT_USE below
    for a in range(4):
        for p in range(2):
            pdq_det[1, 512 * a + 200 + p] = DO_NOT_USE
    for rows in (slice(0, 4), slice(2044, 2048)):
        for cols in (slice(0, 4), slice(2044, 2048)):
            pdq_det[rows, cols] = DO_NOT_USE
            det[:, rows, cols] = -1e5
    # expected output in the detector frame
    exp = det.astype(np.float64).copy()
    side = (R / 4.0 + 1.0) * np.ones((1, 2048))
    side[0] = (4 / 4 + 5 / 4) / 2 + 1.0            # row 0 window: rows 5,4,(0-3 bad),4,5
    side[2047] = (2042 / 4 + 2043 / 4) / 2 + 1.0   # row 2047 window: 2042,2043,(bad),2043,2042
    for r in (1, 2, 3, 4, 5, 6, 7, 8):             # rows near the bottom edge, by hand
        rows = [abs(j) for j in range(r - 5, r + 6) if 4 <= abs(j) <= 2043]
        vals = np.sort(np.repeat(np.array(rows) / 4.0, 4))
        side[r] = (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2 + 1.0
    for r in range(2039, 2047):                    # and near the top edge
        rows = [j if j <= 2047 else 4094 - j for j in range(r - 5, r + 6)]
        rows = [j for j in rows if 4 <= j <= 2043]
        vals = np.sort(np.repeat(np.array(rows) / 4.0, 4))
        side[r] = (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2 + 1.0
    for g in range(2):
        exp[g] = exp[g] - level[g][amp, par] - side
    dms = detector_to_dms(det, fast, slow).copy()
    pdq = np.ascontiguousarray(detector_to_dms(pdq_det, fast, slow))
    exp_dms = detector_to_dms(exp.astype(np.float32), fast, slow)
    return dms[None], pdq, exp_dms, level


@pytest.mark.parametrize("fast, slow", [(1, 2), (2, 1), (-1, 2)])
def test_full_frame_by_hand(fast, slow):
    sci, pdq, expected, level = _full_frame_case(fast, slow)
    assert correct_refpix(sci, pdq, fastaxis=fast, slowaxis=slow, noutputs=4) == "COMPLETE"
    np.testing.assert_array_equal(sci[0], expected)
    # interior science pixels: exactly 50 g + 7 once the reference levels and side signal are gone
    interior = detector_to_dms(np.arange(2048 * 2048).reshape(2048, 2048), fast, slow)
    sel = np.isin(interior, (np.arange(9, 2039)[:, None] * 2048 + np.arange(4, 2044)).ravel())
    assert np.all(sci[0, 0][sel] == 7.0) and np.all(sci[0, 1][sel] == 57.0)


def test_full_frame_one_parity_missing_leaves_amplifier_alone():
    sci, pdq, expected, level = _full_frame_case()
    assert np.all(level[0, 2] != 0)                      # amp C has a correction to apply
    raw = sci.copy()
    pdq[2044:, 512:1024:2] |= DO_NOT_USE                 # amp B, even columns: no top ...
    pdq[:4, 512:1024:2] |= DO_NOT_USE                    # ... and no bottom reference
    correct_refpix(sci, pdq, noutputs=4, use_side_ref_pixels=False)
    np.testing.assert_array_equal(sci[..., 512:1024], raw[..., 512:1024])   # neither parity
    for p in (0, 1):                                                           # amp C: T/B mean
        np.testing.assert_array_equal(sci[0, 0, 100:2000, 1024 + p:1536:2],
                                      raw[0, 0, 100:2000, 1024 + p:1536:2] - np.float32(level[0, 2, p]))


def test_full_frame_no_parity_split():
    # odd_even_columns=False: one level per amplifier = mean over both parities of T, of B
    sci = np.zeros((1, 1, 2048, 2048), np.float32)
    sci[..., 2044:, 0::2] = 4.0
    sci[..., 2044:, 1::2] = 6.0                          # top mean 5
    sci[..., :4, :] = 1.0                                # bottom mean 1 -> level 3
    sci[..., 4:2044, :] = 10.0
    pdq = np.zeros((2048, 2048), np.uint32)
    correct_refpix(sci, pdq, noutputs=4, odd_even_columns=False, use_side_ref_pixels=False)
    assert np.all(sci[0, 0, 4:2044] == 7.0)
    assert np.all(sci[0, 0, 2044:, 0::2] == 1.0) and np.all(sci[0, 0, :4] == -2.0)


# --- one-output subarrays ----------------------------------------------------------------------

def _sub2048(ystart=963, ref_flag=True):
    ny, nx = 32, 2048
    sci = np.full((1, 2, ny, nx), 100.0, np.float32)
    pdq = np.zeros((ny, nx), np.uint32)
    if ref_flag:
        pdq[:, :4] = REFERENCE_PIXEL
        pdq[:, -4:] = REFERENCE_PIXEL
    # NRS1: detector column = DMS row + ystart - 1 -> parity of (y + ystart - 1)
    y = np.arange(ny)[:, None]
    detpar = (y + ystart - 1) % 2
    refval = np.where(detpar == 0, 7.0, 3.0)
    sci[0, 0, :, :4] = refval
    sci[0, 0, :, -4:] = refval
    sci[0, 1, :, :4] = refval + 1
    sci[0, 1, :, -4:] = refval + 1
    return sci, pdq, refval


@pytest.mark.parametrize("ystart", [963, 964])
def test_sub2048_odd_even_detector_columns(ystart):
    sci, pdq, refval = _sub2048(ystart)
    correct_refpix(sci, pdq, xstart=1, ystart=ystart, fastaxis=2, slowaxis=1, noutputs=1,
                   subarray="SUB2048")
    np.testing.assert_array_equal(sci[0, 0, :, 4:-4], np.broadcast_to(100.0 - refval, (32, 2040)))
    np.testing.assert_array_equal(sci[0, 1, :, 4:-4], np.broadcast_to(99.0 - refval, (32, 2040)))
    assert np.all(sci[0, 0, :, :4] == 0.0)


def test_sub2048_reference_pixel_dq():
    # DO_NOT_USE reference pixels are excluded; without REFERENCE_PIXEL flags nothing is done
    sci, pdq, refval = _sub2048()
    sci[0, 0, 5, 1] = 1e6
    pdq[5, 1] |= DO_NOT_USE
    correct_refpix(sci, pdq, ystart=963, fastaxis=2, slowaxis=1, noutputs=1, subarray="SUB2048")
    assert sci[0, 0, 10, 100] == 100.0 - refval[10, 0]
    sci, pdq, _ = _sub2048(ref_flag=False)
    raw = sci.copy()
    assert correct_refpix(sci, pdq, ystart=963, fastaxis=2, slowaxis=1, noutputs=1,
                          subarray="SUB2048") == "COMPLETE"
    np.testing.assert_array_equal(sci, raw)


def test_sub2048_single_mean_without_parity():
    sci, pdq, refval = _sub2048()
    correct_refpix(sci, pdq, ystart=963, fastaxis=2, slowaxis=1, noutputs=1, subarray="SUB2048",
                   odd_even_columns=False)
    # 16 rows of 7 and 16 of 3 (x 8 columns): std != 0, nothing clipped at 3 sigma -> mean 5
    assert np.all(sci[0, 0, :, 4:-4] == 95.0) and np.all(sci[0, 1, :, 4:-4] == 94.0)


def test_edgeless_subarray_uses_first_last_columns():
    ny = nx = 32
    sci = np.full((1, 1, ny, nx), 20.0, np.float32)
    sci[..., :4] = 2.0
    sci[..., -4:] = 2.0
    pdq = np.zeros((ny, nx), np.uint32)                   # no REFERENCE_PIXEL flags at all
    correct_refpix(sci, pdq, xstart=1001, ystart=1001, fastaxis=2, slowaxis=1, noutputs=1,
                   subarray="SUB32")
    assert np.all(sci[..., 4:-4] == 18.0)
    sci[:] = 20.0
    correct_refpix(sci, pdq, xstart=1001, ystart=1001, fastaxis=2, slowaxis=1, noutputs=1,
                   subarray="SUB64")                    # not edgeless: no reference pixels
    assert np.all(sci == 20.0)


def test_subarray_not_fitting_is_skipped():
    sci = np.zeros((1, 1, 32, 2048), np.float32)
    pdq = np.zeros((32, 2048), np.uint32)
    assert correct_refpix(sci, pdq, xstart=2, ystart=1, fastaxis=2, slowaxis=1, noutputs=1) == "SKIPPED"


def test_shape_and_dtype_checks():
    with pytest.raises(ValueError, match="sci"):
        correct_refpix(np.zeros((1, 32, 2048), np.float32), np.zeros((32, 2048), np.uint32))
    with pytest.raises(ValueError, match="sci"):
        correct_refpix(np.zeros((1, 1, 32, 2048)), np.zeros((32, 2048), np.uint32))
    with pytest.raises(ValueError, match="pixeldq"):
        correct_refpix(np.zeros((1, 1, 32, 2048), np.float32), np.zeros((32, 2047), np.uint32))
