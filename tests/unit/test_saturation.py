"""saturation: hand-built ramps with exact expected GROUPDQ / PIXELDQ (jwst/stcal rules)."""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.saturation import (
    ATOD_LIMIT,
    flag_saturated_groups,
    flag_saturation,
    prepare_thresholds,
    read_pattern,
)

SAT = dq.SATURATED            # 2
DNU = dq.DO_NOT_USE           # 1
FLOOR = dq.AD_FLOOR | dq.DO_NOT_USE   # 65
NSC = dq.NO_SAT_CHECK         # 2**21


def _ramp(ngroups=5, n=5):
    """1 x ngroups x n x n; every pixel 100, 200, 300, ... DN; the centre pixel crosses
    1000 DN exactly at group index 3: 100, 400, 700, 1000, 1300."""
    data = np.empty((1, ngroups, n, n), np.float32)
    for g in range(ngroups):
        data[0, g] = 100.0 * (g + 1)
    c = n // 2
    data[0, :, c, c] = 100.0 + 300.0 * np.arange(ngroups)
    return data


def _run(data, thresh, sat_dq=None, **kw):
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros(data.shape[2:], np.uint32)
    if sat_dq is None:
        sat_dq = np.zeros(data.shape[2:], np.uint32)
    flag_saturation(data, gdq, pdq, thresh, sat_dq, **kw)
    return gdq, pdq


@pytest.mark.parametrize("use_rp", [False, True])
def test_threshold_crossing_and_growth(use_rp):
    data = _ramp()
    thresh = np.full((5, 5), 1000.0, np.float32)
    rp = read_pattern(5, 1) if use_rp else None     # NFRAMES=1: read-pattern passes flag nothing here
    # n_pix_grow_sat = 0: only the centre, from group 3 (1000 >= 1000) on
    gdq, pdq = _run(data, thresh, n_pix_grow_sat=0, read_pattern=rp)
    expected = np.zeros((1, 5, 5, 5), np.uint8)
    expected[0, 3:, 2, 2] = SAT
    np.testing.assert_array_equal(gdq, expected)
    assert not pdq.any()
    # n_pix_grow_sat = 1: the 3 x 3 box around it, groups 3 and 4
    gdq, _ = _run(data, thresh, n_pix_grow_sat=1, read_pattern=rp)
    expected[0, 3:, 1:4, 1:4] = SAT
    np.testing.assert_array_equal(gdq, expected)
    # n_pix_grow_sat = 2: the whole 5 x 5 frame
    gdq, _ = _run(data, thresh, n_pix_grow_sat=2, read_pattern=rp)
    expected[0, 3:] = SAT
    np.testing.assert_array_equal(gdq, expected)


def test_growth_truncated_at_edges_and_ints_independent():
    data = np.full((2, 3, 4, 4), 10.0, np.float32)
    data[0, 1:, 0, 0] = 2000.0              # int 0: corner pixel saturates at group 1
    data[1, 2, 3, 2] = 2000.0               # int 1: bottom-edge pixel at group 2 only
    gdq, _ = _run(data, np.full((4, 4), 1000.0, np.float32), n_pix_grow_sat=1)
    expected = np.zeros(gdq.shape, np.uint8)
    expected[0, 1:, 0:2, 0:2] = SAT         # (0,0) (0,1) (1,0) (1,1)
    expected[1, 2, 2:4, 1:4] = SAT          # rows 2-3, columns 1-3
    np.testing.assert_array_equal(gdq, expected)


def test_saturation_persists_after_drop():
    # once saturated, later groups stay flagged even if the value falls back below threshold
    data = np.array([100, 1200, 900, 500], np.float32).reshape(1, 4, 1, 1)
    gdq, _ = _run(data, np.array([[1000.0]], np.float32), n_pix_grow_sat=0)
    np.testing.assert_array_equal(gdq.ravel(), [0, SAT, SAT, SAT])


def test_nan_threshold_and_no_sat_check():
    data = np.zeros((1, 3, 2, 2), np.float32) + 10.0
    data[0, :, 0, 0] = [100.0, 65535.0, 65536.0]   # NaN threshold -> 65536: only the last
    data[0, :, 0, 1] = [100.0, 500.0, 65535.0]     # NO_SAT_CHECK in the ref DQ: 10 -> 65536
    data[0, :, 1, 0] = [100.0, 20.0, 30.0]         # ordinary, threshold 10 -> saturated from group 0
    thresh = np.array([[np.nan, 10.0], [10.0, 1e6]], np.float32)
    sat_dq = np.array([[0, NSC | dq.HOT], [0, 0]], np.uint32)
    t, d, nsc = prepare_thresholds(thresh, sat_dq)
    np.testing.assert_array_equal(t, [[65536.0, 65536.0], [10.0, 1e6]])
    np.testing.assert_array_equal(d, [[NSC, NSC | dq.HOT], [0, 0]])
    np.testing.assert_array_equal(nsc, [[True, True], [False, False]])
    assert np.isnan(thresh[0, 0]) and sat_dq[0, 0] == 0            # inputs untouched
    gdq, pdq = _run(data, thresh, sat_dq, n_pix_grow_sat=0, read_pattern=None)
    np.testing.assert_array_equal(gdq[0, :, 0, 0], [0, 0, SAT])
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0])
    np.testing.assert_array_equal(gdq[0, :, 1, 0], [SAT, SAT, SAT])
    np.testing.assert_array_equal(pdq, [[NSC, NSC | dq.HOT], [0, 0]])
    assert ATOD_LIMIT + 1 == 65536.0


def test_ad_floor_only_in_its_group():
    data = np.array([0.0, 50.0, -3.0, 80.0], np.float32).reshape(1, 4, 1, 1)
    gdq, _ = _run(data, np.array([[1000.0]], np.float32))
    np.testing.assert_array_equal(gdq.ravel(), [FLOOR, 0, FLOOR, 0])   # 64 | 1 where <= 0


def _averaged_case():
    """NFRAMES=4, 3 groups, threshold 1000. Read pattern [[1-4], [5-8], [9-12]]:
    dilution mean/last = 2.5/4 = 0.625 (group 0), 6.5/8 = 0.8125 (group 1).

    A (1,1) [300, 850, 1100]: backward pass -- group 1: 850 >= 1000*0.8125 = 812.5 and group 2
      is SATURATED -> DO_NOT_USE. Second-group check: 300/2.5*12 = 1440 !< 1000 -> no.
    B (3,3) [50, 800, 1100]: 800 < 812.5, but second-group check: 50/2.5*12 = 240 < 1000,
      800 - 50 = 750 > (1000 - 50)/4 = 237.5, group 2 SATURATED, group 1 not -> DO_NOT_USE.
    C (0,4) [250, 800, 1100]: bias 0: 250/2.5*12 = 1200 !< 1000 -> no; with bias 200:
      (250-200)/2.5*12 + 200 = 440 < 1000 and 550 > 187.5 -> DO_NOT_USE.
    others: 10, 20, 30.
    """
    data = np.zeros((1, 3, 5, 5), np.float32)
    data[0, :] = np.array([10.0, 20.0, 30.0])[:, None, None]
    data[0, :, 1, 1] = [300, 850, 1100]
    data[0, :, 3, 3] = [50, 800, 1100]
    data[0, :, 0, 4] = [250, 800, 1100]
    return data, np.full((5, 5), 1000.0, np.float32)


def test_read_pattern_passes_no_growth():
    data, thresh = _averaged_case()
    rp = read_pattern(3, 4)
    assert rp == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    gdq, _ = _run(data, thresh, n_pix_grow_sat=0, read_pattern=rp)
    expected = np.zeros(gdq.shape, np.uint8)
    expected[0, 2, 1, 1] = expected[0, 2, 3, 3] = expected[0, 2, 0, 4] = SAT
    expected[0, 1, 1, 1] = DNU          # A: backward pass
    expected[0, 1, 3, 3] = DNU          # B: second-group check
    np.testing.assert_array_equal(gdq, expected)
    # with the superbias, C is caught too; a NaN bias never passes the check
    bias = np.zeros((5, 5), np.float32)
    bias[0, 4] = 200.0
    gdq, _ = _run(data, thresh, n_pix_grow_sat=0, read_pattern=rp, bias=bias)
    expected[0, 1, 0, 4] = DNU
    np.testing.assert_array_equal(gdq, expected)
    bias[3, 3] = np.nan
    gdq, _ = _run(data, thresh, n_pix_grow_sat=0, read_pattern=rp, bias=bias)
    expected[0, 1, 3, 3] = 0
    np.testing.assert_array_equal(gdq, expected)
    # use_readpatt=False: only the threshold crossings
    gdq, _ = _run(data, thresh, n_pix_grow_sat=0, read_pattern=None, bias=bias)
    assert (gdq == DNU).sum() == 0 and (gdq == SAT).sum() == 3


def test_read_pattern_backward_flag_grows_second_group_flag_does_not():
    data, thresh = _averaged_case()
    gdq, _ = _run(data, thresh, n_pix_grow_sat=1, read_pattern=read_pattern(3, 4))
    expected = np.zeros(gdq.shape, np.uint8)
    for (y, x) in [(1, 1), (3, 3), (0, 4)]:
        expected[0, 2, max(0, y - 1):y + 2, max(0, x - 1):x + 2] = SAT
    expected[0, 1, 0:3, 0:3] |= DNU     # A's backward DO_NOT_USE grown to its 3x3 box
    expected[0, 1, 3, 3] |= DNU         # B's second-group DO_NOT_USE is not grown
    np.testing.assert_array_equal(gdq, expected)


def test_step_with_references():
    data, thresh = _averaged_case()
    meta = ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NFRAMES": 4,
                                      "READPATT": "MEDIUM8", "NGROUPS": 3,
                                      "TFRAME": 10.73677, "TGROUP": 10.73677}, {}, "test", shape=(1, 3, 5, 5))
    sat_dq = np.zeros((5, 5), np.uint32)
    sat_dq[4, 0] = dq.DEAD
    refs = {"saturation": Reference("saturation", "hand", {}, {"SCI": thresh, "DQ": sat_dq}),
            "superbias": Reference("superbias", "hand", {}, {"SCI": np.where(np.arange(25).reshape(5, 5) == 4,
                                                                              200.0, 0.0).astype(np.float32)})}
    cls = get_step_class("saturation")
    assert cls.defaults == {"n_pix_grow_sat": 1, "use_readpatt": True}
    assert cls.reftypes == ("saturation", "superbias") and cls.keyword == "S_SATURA"
    step = cls(meta, refs, n_pix_grow_sat=0)
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros((5, 5), np.uint32)
    step.process(data, gdq, pdq, slice(0, 1), slice(0, 5))
    assert gdq[0, 1, 1, 1] == DNU and gdq[0, 1, 3, 3] == DNU and gdq[0, 1, 0, 4] == DNU
    assert pdq[4, 0] == dq.DEAD and pdq.sum() == dq.DEAD
    step = cls(meta, refs, n_pix_grow_sat=0, use_readpatt=False)
    gdq[:] = 0
    step.process(data, gdq, pdq, slice(0, 1), slice(0, 5))
    assert (gdq == DNU).sum() == 0


def test_checks():
    data = np.zeros((1, 2, 3, 3), np.float32)
    thresh, _, nsc = prepare_thresholds(np.ones((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="gdq must be uint8"):
        flag_saturated_groups(data, np.zeros(data.shape, np.uint16), thresh, nsc)
    with pytest.raises(ValueError, match="thresh must be float32"):
        flag_saturated_groups(data, np.zeros(data.shape, np.uint8), np.ones((3, 4), np.float32), nsc)
    with pytest.raises(ValueError, match="n_pix_grow_sat"):
        flag_saturated_groups(data, np.zeros(data.shape, np.uint8), thresh, nsc, n_pix_grow_sat=-1)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_growth_of_every_group_in_one_call_is_a_square_dilation(n):
    """The kernel that grows SATURATED in every group of an integration at once equals a binary
    dilation with a (2n+1)-pixel square (scipy, truncated at the edges), group by group, and
    leaves the other bits alone."""
    from scipy.ndimage import binary_dilation

    from rampflow.kernels.saturation import _dilate_groups_kernel

    rng = np.random.default_rng(8)
    gdq = np.where(rng.random((5, 7, 40)) < 0.03, dq.SATURATED, 0).astype(np.uint8)
    gdq |= np.where(rng.random(gdq.shape) < 0.1, dq.JUMP_DET, 0).astype(np.uint8)
    gdq[1] &= np.uint8(~dq.SATURATED & 0xFF)  # a group without any, rows without any (skipped)
    gdq[:, 2:5] &= np.uint8(~dq.SATURATED & 0xFF)
    before = int(((gdq & dq.SATURATED) != 0).sum())
    want = gdq.copy()
    for g in range(gdq.shape[0]):
        grown = binary_dilation(gdq[g] & dq.SATURATED != 0, structure=np.ones((2 * n + 1, 2 * n + 1), bool))
        want[g] |= np.where(grown, dq.SATURATED, 0).astype(np.uint8)
    none = np.zeros((1, gdq.shape[0], 0, gdq.shape[2]), np.uint8)
    _dilate_groups_kernel(gdq[None], 0, gdq.shape[1], int(dq.SATURATED), n, none, 0)  # one integration
    np.testing.assert_array_equal(gdq, want)
    assert int(((gdq & dq.SATURATED) != 0).sum()) > before > 0
    assert np.array_equal(gdq & dq.JUMP_DET, want & dq.JUMP_DET)


@pytest.mark.parametrize("n,na", [(1, 1), (2, 1), (2, 2), (3, 2)])
def test_growth_from_rows_kept_above_the_chunk(n, na):
    """Rows above a chunk given apart (``above``, as the saturation step keeps them between the
    row stream's chunks): the chunk's rows grow exactly as scipy's square dilation of the
    stacked rows (above, then the chunk) gives them; the rows above are read only; and a
    SATURATED pixel in the rows above reaches only the chunk's first n - distance rows."""
    from scipy.ndimage import binary_dilation

    from rampflow.kernels.saturation import _dilate_groups_kernel

    rng = np.random.default_rng(20 + n)
    ni, ng, ny, nx = 2, 4, 6, 30
    above = np.where(rng.random((ni, ng, na, nx)) < 0.05, dq.SATURATED, 0).astype(np.uint8)
    above[0, 0] = 0
    above[0, 0, na - 1, 10] = dq.SATURATED  # the row just above the chunk
    gdq = np.where(rng.random((ni, ng, ny, nx)) < 0.03, dq.SATURATED, 0).astype(np.uint8)
    gdq[0, 0] = 0
    gdq |= np.where(rng.random(gdq.shape) < 0.1, dq.JUMP_DET, 0).astype(np.uint8)
    stacked = np.concatenate([above, gdq], axis=2)
    want = gdq.copy()
    for i in range(ni):
        for g in range(ng):
            grown = binary_dilation(stacked[i, g] & dq.SATURATED != 0, structure=np.ones((2 * n + 1,) * 2, bool))
            want[i, g] |= np.where(grown[na:], dq.SATURATED, 0).astype(np.uint8)
    kept = above.copy()
    _dilate_groups_kernel(gdq, 0, ny, int(dq.SATURATED), n, above, na)
    np.testing.assert_array_equal(gdq, want)
    np.testing.assert_array_equal(above, kept)
    # the lone pixel above (plane 0, 0): rows 0 .. n - 1 of the chunk, columns 10 -+ n
    grown = (gdq[0, 0] & dq.SATURATED) != 0
    assert grown[:n, 10 - n:11 + n].all() and grown.sum() == n * (2 * n + 1)


@pytest.mark.parametrize("shape", [(3, 9, 1), (2, 1, 5), (4, 6, 13)])
def test_growth_on_narrow_planes_and_row_views(shape):
    """Planes narrower than the box, a single row or column, and rows of a larger window (a
    non-contiguous view, as the row stream hands the step): the grown bits equal scipy's
    square dilation plane by plane; the window's other rows are untouched."""
    from scipy.ndimage import binary_dilation

    from rampflow.kernels.saturation import _dilate_groups_kernel

    rng = np.random.default_rng(11)
    ng, ny, nx = shape
    window = np.where(rng.random((2, ng, ny + 4, nx)) < 0.15, dq.SATURATED, 0).astype(np.uint8)
    window |= np.where(rng.random(window.shape) < 0.2, dq.JUMP_DET, 0).astype(np.uint8)
    want = window.copy()
    for i in range(2):
        for g in range(ng):
            grown = binary_dilation(window[i, g, 2:2 + ny] & dq.SATURATED != 0, structure=np.ones((5, 5), bool))
            want[i, g, 2:2 + ny] |= np.where(grown, dq.SATURATED, 0).astype(np.uint8)
    none = np.zeros((2, ng, 0, nx), np.uint8)
    _dilate_groups_kernel(window, 2, ny, int(dq.SATURATED), 2, none, 0)  # rows 2.. of the window
    np.testing.assert_array_equal(window, want)


def test_forward_pass_equals_a_running_maximum_of_the_threshold_test():
    """The first pass: SATURATED from the first group at or above the threshold on (a NaN
    threshold never), AD_FLOOR | DO_NOT_USE in each group at or below 0 (NaN data neither),
    other bits kept; every integration and row of a chunk in one call."""
    from rampflow.kernels.saturation import _forward_kernel

    rng = np.random.default_rng(5)
    data = rng.normal(500.0, 400.0, (3, 8, 4, 37)).astype(np.float32)
    data[0, 3, 1, :5] = np.nan
    data[1, :, 2, 7] = 0.0
    thresh = rng.normal(900.0, 200.0, (4, 37)).astype(np.float32)
    thresh[0, :3] = np.nan
    thresh[3, 4] = 500.0  # data exactly at the threshold
    data[2, 5, 3, 4] = 500.0
    gdq = np.where(rng.random(data.shape) < 0.1, dq.JUMP_DET, 0).astype(np.uint8)
    want = gdq.copy()
    above = np.logical_or.accumulate(data >= thresh, axis=1)
    want |= np.where(above, SAT, 0).astype(np.uint8)
    want |= np.where(data <= 0, FLOOR, 0).astype(np.uint8)
    assert above.any() and (data <= 0).any() and above[2, 5, 3, 4]
    keep = np.full((3, 8, 2, 37), 0xFF, np.uint8)  # rows 1 and 2, as the next chunk's growth needs them
    _forward_kernel(data, 0, gdq, 0, data.shape[2], thresh, int(SAT), int(FLOOR), keep, 1)
    np.testing.assert_array_equal(gdq, want)
    np.testing.assert_array_equal(keep, want[:, :, 1:3] & SAT)


def test_window_rows_finds_the_window_of_a_row_view_and_falls_back_otherwise():
    """The kernels' lookup of a row stream's window: a view of whole rows of a C-contiguous
    array gives that array and its first row; a contiguous array gives itself and 0; views of
    part of the columns, of some integrations or of a view of a view of those give themselves."""
    from rampflow.kernels.row_window import window_rows

    w = np.zeros((3, 4, 7, 5), np.float32)
    assert window_rows(w) == (w, 0) or window_rows(w)[0] is w
    for a, b in ((2, 5), (6, 7), (0, 3)):
        base, y0 = window_rows(w[:, :, a:b])
        assert base is w and y0 == a
    base, y0 = window_rows(w[:, :, 1:6][:, :, 2:4])  # a view of a view: numpy keeps the owner
    assert base is w and y0 == 3
    for v in (w[:, :, 2:4, 1:4], w[1:, :, 2:4], w[:, ::2, 2:4], w[:, :, 1:6:2]):
        base, y0 = window_rows(v)
        assert base is v and y0 == 0


@pytest.mark.parametrize("use_rp", [True, False])
def test_rows_of_a_window_flagged_as_stcal_flags_them_alone(use_rp):
    """flag_saturated_groups on rows of a larger window (the row stream's view; its kernels then
    work on the window whole): the flags equal stcal's flag_saturated_pixels on those rows as a
    contiguous cube, every pass included (a frame-averaged read pattern, so the backward and
    second-group passes flag too); the window's other rows keep their flags and data."""
    from stcal.saturation.saturation import flag_saturated_pixels

    rng = np.random.default_rng(21)
    nints, ng, ny, nx = 2, 6, 5, 23
    win = rng.uniform(100, 1200, (nints, ng, ny + 4, nx)).astype(np.float32)
    win = np.cumsum(win, axis=1, dtype=np.float32)  # rising ramps
    win[0, 1, 3, 4] += 5000.0  # a big jump in group 2: the second-group pass
    gwin = np.where(rng.random(win.shape) < 0.05, dq.JUMP_DET, 0).astype(np.uint8)
    thresh = rng.uniform(3000, 6000, (ny + 4, nx)).astype(np.float32)
    rows = slice(2, 2 + ny)
    data0, gdq0 = win.copy(), gwin.copy()
    rp = [[4 * g + k + 1 for k in range(4)] for g in range(ng)] if use_rp else None
    bias = rng.uniform(-50, 50, (ny, nx)).astype(np.float32)
    flag_saturated_groups(win[:, :, rows], gwin[:, :, rows], thresh[rows], np.zeros((ny, nx), bool),
                          n_pix_grow_sat=1, read_pattern=rp, bias=bias)
    flags = {"DO_NOT_USE": int(dq.DO_NOT_USE), "SATURATED": int(dq.SATURATED), "AD_FLOOR": int(dq.AD_FLOOR),
             "NO_SAT_CHECK": int(dq.NO_SAT_CHECK)}
    want_gdq = flag_saturated_pixels(data0[:, :, rows].copy(), gdq0[:, :, rows].copy(),
                                        np.zeros((ny, nx), np.uint32), thresh[rows].copy(),
                                        np.zeros((ny, nx), np.uint32), 65535, flags, n_pix_grow_sat=1,
                                        read_pattern=rp, bias=bias.copy())[0]
    np.testing.assert_array_equal(gwin[:, :, rows], want_gdq)
    assert (want_gdq & dq.SATURATED).any() and ((want_gdq & dq.SATURATED) == 0).any()
    before = gdq0[:, :, rows]
    new_dnu = (want_gdq & ~before & dq.DO_NOT_USE) != 0
    new_dnu &= (want_gdq & (dq.SATURATED | dq.AD_FLOOR)) == 0
    assert new_dnu.any() == use_rp  # the read-pattern passes flagged some groups (and only with them)
    keep = np.ones(ny + 4, bool)
    keep[rows] = False
    np.testing.assert_array_equal(gwin[:, :, keep], gdq0[:, :, keep])
    np.testing.assert_array_equal(win, data0)
