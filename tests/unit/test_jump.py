"""jump: hand-built ramps with exact expected GROUPDQ / PIXELDQ (stcal two-point difference).

Notation: ``d`` = first differences (group g minus group g-1, in electrons = DN x gain),
``rn2`` = (CDS read noise x gain)**2, ``sigma = sqrt(|median| + rn2 / NFRAMES)``. The
iterative search (few groups) drops the largest |d| (when >= 4 are usable) before taking the
median of |d|; a difference is a jump when ``| |d| - median | / sigma`` is the largest and
exceeds the threshold for the number of usable differences.
"""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.jump import JUMP_DEFAULTS, JumpStep, RowCache, detect_jumps, run_detection

JUMP = dq.JUMP_DET        # 4
SAT = dq.SATURATED        # 2
DNU = dq.DO_NOT_USE       # 1
TIMES = dict(frame_time=1.0, group_time=1.0, nframes=1)


def _cube(diffs, n=5, nints=1):
    """(nints, len(diffs)+1, n, n) float32: every pixel flat at 0 DN except the centre,
    whose groups are the cumulative sum of ``diffs`` (same in every integration)."""
    ng = len(diffs) + 1
    data = np.zeros((nints, ng, n, n), np.float32)
    data[:, 1:, n // 2, n // 2] = np.cumsum(diffs)
    return data


def _run(data, gdq=None, rn=10.0, gain=1.0, **kw):
    ny, nx = data.shape[2:]
    gdq = np.zeros(data.shape, np.uint8) if gdq is None else gdq.copy()
    pdq = np.zeros((ny, nx), np.uint32)
    rn2d = np.full((ny, nx), rn, np.float32) if np.isscalar(rn) else rn
    g2d = np.full((ny, nx), gain, np.float32) if np.isscalar(gain) else gain
    params = {**TIMES, **kw}
    detect_jumps(data, gdq, pdq, rn2d, g2d, **params)
    return gdq, pdq


def _cross(expected, i, g, y, x, value=JUMP):
    for yy, xx in ((y, x), (y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
        expected[i, g, yy, xx] |= value


def test_single_jump_flags_group_and_four_neighbours():
    # centre d = [0,0,0,0,1000,0,0,0,0]: 9 usable; the largest |d| (1000) is dropped, the
    # median of the other eight is 0, sigma = sqrt(0 + 10**2) = 10, ratio = 1000/10 = 100 > 4
    # -> JUMP on group 5. Post-processing: plain median of all nine d = 0, sigma = 10,
    # ratio 100 is inside (10, 1000) -> the 4 neighbours get JUMP in group 5 too.
    data = _cube([0, 0, 0, 0, 1000, 0, 0, 0, 0])
    gdq, pdq = _run(data)
    expected = np.zeros(data.shape, np.uint8)
    _cross(expected, 0, 5, 2, 2)
    np.testing.assert_array_equal(gdq, expected)
    assert not pdq.any()


def test_neighbour_options():
    data = _cube([0, 0, 0, 0, 1000, 0, 0, 0, 0])
    only_centre = np.zeros(data.shape, np.uint8)
    only_centre[0, 5, 2, 2] = JUMP
    # switched off
    np.testing.assert_array_equal(_run(data, flag_4_neighbors=False)[0], only_centre)
    # ratio 100 is not below max_jump_to_flag_neighbors = 50
    np.testing.assert_array_equal(_run(data, max_jump_to_flag_neighbors=50.0)[0], only_centre)
    # ratio 100 is not above min_jump_to_flag_neighbors = 200
    np.testing.assert_array_equal(_run(data, min_jump_to_flag_neighbors=200.0)[0], only_centre)
    # 99 < 100 < 101: flagged
    both = only_centre.copy()
    _cross(both, 0, 5, 2, 2)
    np.testing.assert_array_equal(
        _run(data, min_jump_to_flag_neighbors=99.0, max_jump_to_flag_neighbors=101.0)[0], both)


def test_neighbours_truncated_at_edge_and_not_on_saturated():
    # jump in the corner pixel (0, 0): only (1, 0) and (0, 1) exist; (0, 1) is SATURATED in
    # that group -> only (1, 0) gets JUMP
    data = np.zeros((1, 10, 4, 4), np.float32)
    data[0, 5:, 0, 0] = 1000.0
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 5:, 0, 1] = SAT
    out, _ = _run(data, gdq)
    expected = gdq.copy()
    expected[0, 5, 0, 0] |= JUMP
    expected[0, 5, 1, 0] |= JUMP
    np.testing.assert_array_equal(out, expected)


def test_three_group_ramp_threshold():
    # 3 groups: d = [0, 65] -> 2 usable: median |d| = min = 0, sigma = 10, ratio 6.5 >
    # three_group_rejection_threshold 6 -> JUMP on group 2. Post median = (0 + 65)/2 = 32.5,
    # sigma = sqrt(32.5 + 100) = 11.51, ratio 2.8 < 10: no neighbours.
    gdq, _ = _run(_cube([0, 65]))
    expected = np.zeros((1, 3, 5, 5), np.uint8)
    expected[0, 2, 2, 2] = JUMP
    np.testing.assert_array_equal(gdq, expected)
    # d = [0, 55]: ratio 5.5 < 6 (it would be a jump at the normal threshold 4)
    assert not _run(_cube([0, 55]))[0].any()
    # ... and it is one with three_group_rejection_threshold = 5
    assert _run(_cube([0, 55]), three_group_rejection_threshold=5.0)[0][0, 2, 2, 2] == JUMP


def test_four_group_ramp_threshold():
    # 4 groups: d = [0, 0, 55] -> 3 usable: median of |d| (no value dropped) = 0,
    # sigma = 10, ratio 5.5 > four_group_rejection_threshold 5 -> JUMP on group 3
    gdq, _ = _run(_cube([0, 0, 55]))
    assert gdq[0, 3, 2, 2] == JUMP and np.count_nonzero(gdq) == 1
    # d = [0, 0, 45]: 4.5 > 4 but < 5: no jump
    assert not _run(_cube([0, 0, 45]))[0].any()
    assert not _run(_cube([0, 0, 55]), four_group_rejection_threshold=6.0)[0].any()


def test_saturated_groups_ignored_and_usable_count():
    # 6 groups, the centre saturates from group 4 on (SATURATED set, huge values there).
    # d = [0, 1000, 0, NaN, NaN] -> 3 usable: median |d| = 0, ratio 100 > 5 -> JUMP on
    # group 2; next pass: 2 usable [0, 0], median 0, ratios 0: done. Nothing on the
    # saturated groups, and a JUMP that came in on a saturated group is removed.
    data = _cube([0, 1000, 0, 60000, 0])
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 4:, 2, 2] = SAT
    gdq[0, 5, 2, 2] |= JUMP
    out, _ = _run(data, gdq, flag_4_neighbors=False)
    expected = np.zeros(data.shape, np.uint8)
    expected[0, 4:, 2, 2] = SAT
    expected[0, 2, 2, 2] = JUMP
    np.testing.assert_array_equal(out, expected)


def test_do_not_use_groups_ignored():
    # DO_NOT_USE on group 3 of the centre: d2 = g3 - g2 and d3 = g4 - g3 are unusable.
    # d = [0, 0, NaN, NaN, 30, 0, 0] -> 5 usable: drop the max (30), median of [0,0,0,0] = 0,
    # ratio 30/10 = 3 < 4: no jump. The huge value in group 3 is ignored.
    data = _cube([0, 0, 5000, -5000, 30, 0, 0])
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 3, 2, 2] = DNU
    out, _ = _run(data, gdq)
    np.testing.assert_array_equal(out, gdq)


def test_gain_and_nframes_scale_the_noise():
    # slope 100 DN/group, one difference of 150 DN. gain 4: d = 400 e (x8) and 600 e;
    # 600 dropped, median 400, sigma = sqrt(400 + (10*4)**2) = 44.72, ratio 200/44.72 = 4.47
    # > 4 -> jump. gain 1: sigma = sqrt(100 + 100) = 14.14, ratio 50/14.14 = 3.54 -> none.
    diffs = [100.0] * 9
    diffs[4] = 150.0
    data = _cube(diffs)
    assert _run(data, gain=4.0, flag_4_neighbors=False)[0][0, 5, 2, 2] == JUMP
    assert not _run(data, gain=1.0)[0].any()
    # NFRAMES divides the read-noise variance: d = 30 alone, median 0: nframes=1 ->
    # sigma 10, ratio 3 (no jump); nframes=4 -> sigma = sqrt(100/4) = 5, ratio 6 (jump)
    data = _cube([0, 0, 0, 0, 30, 0, 0, 0, 0])
    assert not _run(data)[0].any()
    out, _ = _run(data, nframes=4, flag_4_neighbors=False)
    assert out[0, 5, 2, 2] == JUMP and np.count_nonzero(out) == 1


def test_bad_gain_flags_pixeldq_and_no_jumps():
    data = _cube([0, 0, 0, 0, 1000, 0, 0, 0, 0])
    gain = np.ones((5, 5), np.float32)
    gain[2, 2] = np.nan        # the jumping pixel: its electrons are NaN -> nothing flagged
    gain[0, 0] = 0.0
    gain[4, 4] = -1.0
    gdq, pdq = _run(data, gain=gain)
    assert not gdq.any()
    expected = np.zeros((5, 5), np.uint32)
    for y, x in ((2, 2), (0, 0), (4, 4)):
        expected[y, x] = dq.NO_GAIN_VALUE | dq.DO_NOT_USE
    np.testing.assert_array_equal(pdq, expected)


def test_after_jump_flagging():
    # gain 2: jump of 1000 DN = 2000 e at group 3 over a flat ramp (median 0).
    # after_jump_flag_dn1 = 500 DN -> 500 * median(gain) = 1000 e <= 2000: flagged;
    # time1 = 2.5 s with group_time 1 s -> int(2.5 // 1) = 2 more groups: 4 and 5.
    data = _cube([0, 0, 1000, 0, 0, 0, 0, 0, 0])
    base = np.zeros(data.shape, np.uint8)
    _cross(base, 0, 3, 2, 2)
    out, _ = _run(data, gain=2.0, after_jump_flag_dn1=500.0, after_jump_flag_time1=2.5)
    expected = base.copy()
    expected[0, 4:6, 2, 2] = JUMP
    np.testing.assert_array_equal(out, expected)
    # dn1 = 1500 DN -> 3000 e > 2000 e: nothing after
    out, _ = _run(data, gain=2.0, after_jump_flag_dn1=1500.0, after_jump_flag_time1=2.5)
    np.testing.assert_array_equal(out, base)
    # second pair: dn2 = 900 DN (1800 e) with time2 = 4 s -> groups 4..7
    out, _ = _run(data, gain=2.0, after_jump_flag_dn1=1500.0, after_jump_flag_time1=2.5,
                  after_jump_flag_dn2=900.0, after_jump_flag_time2=4.0)
    expected = base.copy()
    expected[0, 4:8, 2, 2] = JUMP
    np.testing.assert_array_equal(out, expected)
    # the count is capped at ngroups - 2 = 8 groups and at the end of the ramp
    out, _ = _run(data, gain=2.0, after_jump_flag_dn1=500.0, after_jump_flag_time1=100.0)
    expected = base.copy()
    expected[0, 4:, 2, 2] = JUMP
    np.testing.assert_array_equal(out, expected)


def test_after_jump_zero_dn_propagates_neighbour_flags_too():
    # jwst quirk: dn1 = 0 -> threshold 0 e; a neighbour's JUMP group (set by neighbour
    # flagging) has d - median = 0 >= 0, so it propagates as well.
    data = _cube([0, 0, 1000, 0, 0, 0, 0, 0, 0])
    out, _ = _run(data, after_jump_flag_dn1=0.0, after_jump_flag_time1=1.0)
    expected = np.zeros(data.shape, np.uint8)
    _cross(expected, 0, 3, 2, 2)
    _cross(expected, 0, 4, 2, 2)
    np.testing.assert_array_equal(out, expected)


def _sigclip_cube(outlier=True):
    """30 ints x 5 groups x 3 x 3. Every pixel: d0 = 99/101, d1..d3 = 9/11 (even/odd
    integration). Centre, integration 7 (odd), d2 = 100 instead of 11."""
    nints = 30
    d = np.empty((nints, 4), np.float32)
    odd = (np.arange(nints) % 2).astype(np.float32)
    d[:, 0] = 99 + 2 * odd
    d[:, 1:] = (9 + 2 * odd)[:, None]
    data = np.zeros((nints, 5, 3, 3), np.float32)
    data[:, 1:] = np.cumsum(d, axis=1)[:, :, None, None]
    if outlier:
        data[7, 3:, 1, 1] += 100 - 11
    return data


def test_sigma_clipping_across_integrations():
    # minimum_sigclip_groups = 20 <= 30 integrations -> astropy sigma_clip (sigma 4) per
    # difference across integrations. Centre d2: 15 x 9, 14 x 11, 100: median 10,
    # mean 389/30 = 12.97, std 16.19 -> bounds 10 -+ 64.8: 100 clipped; second pass:
    # median 9, std 0.9994 -> [5.002, 12.998]: nothing more. JUMP on group 3 of int 7.
    # Other differences (15 x lo, 15 x hi): bounds median -+ 4: nothing.
    # Post-processing: median of the centre's 120 d = 11, sigma = sqrt(11 + 1) = 3.46,
    # ratio 89 / 3.46 = 25.7 in (10, 1000) -> the 4 neighbours too.
    data = _sigclip_cube()
    out, _ = _run(data, rn=1.0, minimum_sigclip_groups=20)
    expected = np.zeros(data.shape, np.uint8)
    _cross(expected, 7, 3, 1, 1)
    np.testing.assert_array_equal(out, expected)
    # only_use_ints=False needs 30 x 5 - 0 = 150 >= minimum_sigclip_groups groups; it
    # clips all 120 differences of a pixel together: with the d0 = 99/101 values among the
    # 9/11 majority the centre has median 11, mean 33.2, std 39.4 -> bounds 11 -+ 158:
    # nothing is clipped, not even the 100
    out, _ = _run(data, rn=1.0, minimum_sigclip_groups=150, only_use_ints=False)
    assert not out.any()
    # with the default minimum_sigclip_groups = 100 > 30 integrations the iterative search
    # runs instead and pools every difference: the d0 values (~100) are far from the
    # pooled median (~11) and get flagged in many integrations
    out, _ = _run(data, rn=1.0)
    assert np.count_nonzero(out[:, 1] & JUMP) >= 15


def test_sigma_clipping_all_jump_planes_reset():
    # stcal: after clipping, a group plane where every pixel is JUMP or DO_NOT_USE has its
    # JUMP-only pixels reset to 0. Here group 2 is DO_NOT_USE everywhere except the centre,
    # which the clipping flags -> the whole plane is JUMP|DNU -> the centre's JUMP is removed.
    # centre, int 7 (odd): d1 = 111 instead of 11 -> 15 x 9, 14 x 11, 111: median 10,
    # std 18.2 -> bounds 10 -+ 72.6: 111 clipped (JUMP on group 2), nothing else.
    data = _sigclip_cube(outlier=False)
    data[7, 2:, 1, 1] += 100
    gdq = np.zeros(data.shape, np.uint8)
    gdq[:, 2] = DNU
    gdq[:, 2, 1, 1] = 0
    out, _ = _run(data, gdq, rn=1.0, minimum_sigclip_groups=20, flag_4_neighbors=False)
    np.testing.assert_array_equal(out, gdq)
    # without the DO_NOT_USE plane the centre is flagged
    out, _ = _run(data, rn=1.0, minimum_sigclip_groups=20, flag_4_neighbors=False)
    assert out[7, 2, 1, 1] == JUMP and np.count_nonzero(out) == 1


def test_minimum_groups_and_all_do_not_use_groups(monkeypatch):
    data = _cube([0, 1000, 0])              # 4 groups: d = [0, 1000, 0], ratio 100 > 5
    assert _run(data)[0][0, 2, 2, 2] == JUMP
    # groups that are DO_NOT_USE in every pixel reduce the usable groups: 2 of 4 left < 3
    # -> no detection at all
    gdq = np.zeros(data.shape, np.uint8)
    gdq[:, 0] = DNU
    gdq[:, 3] = DNU
    out, _ = _run(data, gdq)
    np.testing.assert_array_equal(out, gdq)
    # one such group: 3 usable groups -> still detected (d1 = 1000 vs d2 = 0: 2 usable
    # differences, median 0, ratio 100 > 6)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[:, 0] = DNU
    assert _run(data, gdq)[0][0, 2, 2, 2] & JUMP
    # minimum_groups: stcal forces 3 when it runs in one process (maximum_cores='1'), ...
    assert _run(data, minimum_groups=5)[0][0, 2, 2, 2] == JUMP
    # ... and uses it with several processes: 4 groups < 5 -> nothing
    monkeypatch.setattr("rampflow.steps.jump.os.cpu_count", lambda: 4)
    assert not _run(data, minimum_groups=5, maximum_cores="2")[0].any()
    assert _run(data, minimum_groups=4, maximum_cores="all")[0][0, 2, 2, 2] == JUMP


def test_single_pass_many_groups():
    # 12 groups (11 differences >= min_diffs_single_pass 10): one pass with the plain
    # median: d = ten 0s and 1000 -> median 0, sigma 10: 1000 is a jump; with a second
    # jump of 60: ratio 6 > 4, also flagged in the same pass.
    data = _cube([0, 0, 1000, 0, 0, 0, 0, 60, 0, 0, 0])
    out, _ = _run(data, flag_4_neighbors=False)
    expected = np.zeros(data.shape, np.uint8)
    expected[0, 3, 2, 2] = JUMP
    expected[0, 8, 2, 2] = JUMP
    np.testing.assert_array_equal(out, expected)
    # the iterative search (min_diffs_single_pass = 20) finds the same here
    out2, _ = _run(data, flag_4_neighbors=False, min_diffs_single_pass=20)
    np.testing.assert_array_equal(out2, expected)
    # rejection_threshold = 7 keeps only the 1000
    out, _ = _run(data, flag_4_neighbors=False, rejection_threshold=7.0)
    assert out[0, 3, 2, 2] == JUMP and np.count_nonzero(out) == 1


def test_iterative_search_finds_several_jumps_in_turn():
    # d = [0,0,0,500,0,0,80,0,0]: pass 1 drops 500 from the median (0): ratio 50 -> flag;
    # pass 2 (8 usable, 80 dropped, median 0, float32 median): ratio 8 -> flag; pass 3:
    # the seven 0s equal the max -> all dropped, median NaN: stop.
    data = _cube([0, 0, 0, 500, 0, 0, 80, 0, 0])
    out, _ = _run(data, flag_4_neighbors=False)
    expected = np.zeros(data.shape, np.uint8)
    expected[0, 4, 2, 2] = JUMP
    expected[0, 7, 2, 2] = JUMP
    np.testing.assert_array_equal(out, expected)


def test_zero_read_noise_and_nan_data():
    # read noise 0 with a flat ramp: the median of |d| without the jump is 0, so
    # sigma = sqrt(0 + 0) = 0, which stcal turns into NaN: even the 1000 DN jump is not flagged
    data = _cube([0, 0, 0, 0, 1000, 0, 0, 0, 0])
    assert not _run(data, rn=0.0)[0].any()
    # NaN data make the two differences around them unusable, not jumps
    data[0, 2, 1, 1] = np.nan
    out, _ = _run(data)
    expected = np.zeros(data.shape, np.uint8)
    _cross(expected, 0, 5, 2, 2)
    np.testing.assert_array_equal(out, expected)


def test_input_checks():
    data = _cube([0, 0, 0])
    with pytest.raises(ValueError, match="sci"):
        _run(data.astype(np.float64))
    with pytest.raises(ValueError, match="gdq"):
        detect_jumps(data, np.zeros(data.shape, np.uint16), np.zeros((5, 5), np.uint32),
                     np.ones((5, 5), np.float32), np.ones((5, 5), np.float32), **TIMES)
    with pytest.raises(ValueError, match="gain_2d"):
        detect_jumps(data, np.zeros(data.shape, np.uint8), np.zeros((5, 5), np.uint32),
                     np.ones((5, 5), np.float32), np.ones((4, 5), np.float32), **TIMES)
    with pytest.raises(ValueError, match="rejection_threshold"):
        _run(data, rejection_threshold=-1.0)
    with pytest.raises(TypeError):
        detect_jumps(data, np.zeros(data.shape, np.uint8), np.zeros((5, 5), np.uint32),
                     np.ones((5, 5), np.float32), np.ones((5, 5), np.float32))


# --- the Step wrapper ------------------------------------------------------------------

def _meta(shape, tgroup=1.0):
    return ExposureMeta.from_headers({"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1,
                                      "TGROUP": tgroup, "TFRAME": tgroup, "NGROUPS": shape[1]}, {}, filename="test",
                                     shape=shape)


def _refs(ny, nx, rn=10.0, gain=1.0):
    return {"readnoise": Reference("readnoise", "hand", {}, {"SCI": np.full((ny, nx), rn, np.float32)}),
            "gain": Reference("gain", "hand", {}, {"SCI": np.full((ny, nx), gain, ">f4")})}


def test_step_wrapper_defaults_and_registration():
    cls = get_step_class("jump")
    assert cls is JumpStep
    assert (cls.name, cls.keyword, cls.reftypes, cls.chunking, cls.halo) == (
        "jump", "S_JUMP", ("readnoise", "gain"), "rows", 1)
    assert cls.defaults == JUMP_DEFAULTS
    for key, value in {"rejection_threshold": 4.0, "three_group_rejection_threshold": 6.0,
                       "four_group_rejection_threshold": 5.0, "maximum_cores": "1",
                       "flag_4_neighbors": True, "max_jump_to_flag_neighbors": 1000,
                       "min_jump_to_flag_neighbors": 10, "after_jump_flag_dn1": 0,
                       "after_jump_flag_time1": 0, "expand_large_events": False,
                       "find_showers": False, "minimum_groups": 3,
                       "minimum_sigclip_groups": 100, "only_use_ints": True,
                       "min_diffs_single_pass": 10}.items():
        assert cls.defaults[key] == value
    with pytest.raises(ValueError, match="unknown parameter"):
        JumpStep(_meta((1, 5, 5, 5)), _refs(5, 5), rejection_thresh=3)


def test_step_skips_two_groups():
    step = JumpStep(_meta((1, 2, 5, 5)), _refs(5, 5))
    assert step.skipped and "NGROUPS" in step.skipped


def _process_in_chunks(step, data, gdq, pdq, nrow):
    """What the runner does with chunking='rows': interior rows plus the halo."""
    nints, _, ny, _ = data.shape
    out_g, out_p = gdq.copy(), pdq.copy()
    for start in range(0, ny, nrow):
        stop = min(ny, start + nrow)
        lo, hi = max(0, start - step.halo), min(ny, stop + step.halo)
        sci, g, p = data[:, :, lo:hi].copy(), gdq[:, :, lo:hi].copy(), pdq[lo:hi].copy()
        step.process(sci, g, p, slice(0, nints), slice(lo, hi))
        np.testing.assert_array_equal(sci, data[:, :, lo:hi])       # SCI is not changed
        out_g[:, :, start:stop] = g[:, :, start - lo:stop - lo]
        out_p[start:stop] = p[start - lo:stop - lo]
    return out_g, out_p


@pytest.mark.parametrize("nrow", [1, 2, 3, 7])
def test_step_row_chunks_with_halo_equal_whole(nrow):
    # jumps on chunk boundaries: their neighbours in the next/previous chunk are flagged
    # through the halo; rows already detected as halo are reused, not detected again
    rng = np.random.default_rng(3)
    nints, ngroups, ny, nx = 3, 6, 7, 9
    data = np.cumsum(rng.normal(50.0, 12.0, (nints, ngroups, ny, nx)), axis=1).astype(np.float32)
    for (i, g, y, x) in [(0, 2, 0, 4), (1, 3, 1, 1), (2, 4, 2, 8), (0, 5, 3, 0), (1, 2, 6, 5)]:
        data[i, g:, y, x] += 2000.0
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros((ny, nx), np.uint32)
    rn = np.full((ny, nx), 10.0, np.float32)
    gain = np.full((ny, nx), 1.5, np.float32)
    gain[5, 5] = np.nan
    whole_g, whole_p = gdq.copy(), pdq.copy()
    detect_jumps(data, whole_g, whole_p, rn, gain, **TIMES)
    assert np.count_nonzero(whole_g & JUMP) >= 21      # 5 jumps + their neighbours
    meta = _meta(data.shape)
    refs = {"readnoise": Reference("readnoise", "hand", {}, {"SCI": rn}),
            "gain": Reference("gain", "hand", {}, {"SCI": gain})}
    step = JumpStep(meta, refs)
    g, p = _process_in_chunks(step, data, gdq, pdq, nrow)
    np.testing.assert_array_equal(g, whole_g)
    np.testing.assert_array_equal(p, whole_p)
    if nrow < ny:
        assert step._cache.reused_rows > 0


def test_row_cache_ignores_changed_input():
    rng = np.random.default_rng(4)
    data = np.cumsum(rng.normal(50.0, 12.0, (2, 5, 4, 6)), axis=1).astype(np.float32)
    rn = np.full((4, 6), 10.0, np.float32)
    gain = np.ones((4, 6), np.float32)
    cache = RowCache(ny_exposure=8, keep=2)
    g = np.zeros(data.shape, np.uint8)
    run_detection(data, g, np.zeros((4, 6), np.uint32), rn, gain, row_cache=cache, row0=0)
    assert set(cache.entries) == {2, 3}
    # the next chunk starts at exposure row 2 with different data: nothing reused
    other = data + np.float32(1.0)
    other[0, 3:, 0, 0] += 5000.0
    g2 = np.zeros(data.shape, np.uint8)
    run_detection(other, g2, np.zeros((4, 6), np.uint32), rn, gain, row_cache=cache, row0=2)
    assert cache.reused_rows == 0
    assert g2[0, 3, 0, 0] & JUMP


@pytest.mark.parametrize("nx", [21, 24])
def test_row_cache_keeps_rows_sparse_or_dense_and_restores_them_exactly(nx):
    """RowCache keeps a row's GROUPDQ as its nonzero values while they are few (a row of
    every integration and group), as a dense copy once they are not; either way the row comes
    back exactly, over whatever the row holds, in a view of a larger window (rows of whole
    8-byte words, read a word at a time, or not)."""
    from rampflow.steps.jump_rows import _keep_row, _restore_row

    rng = np.random.default_rng(9)
    window = np.zeros((3, 4, 9, nx), np.uint8)
    gdq = window[:, :, 2:7]
    gdq[...] = rng.integers(0, 256, gdq.shape, dtype=np.uint8)
    gdq[:, :, 1] *= (rng.random((3, 4, nx)) < 0.05).astype(np.uint8)   # row 1 mostly zero
    gdq[2, :, 1] = 0                                                    # integration 2: none
    want = gdq.copy()
    sparse, dense = _keep_row(gdq, 1), _keep_row(gdq, 3)
    assert sparse[1] is not None and len(sparse[2]) == np.count_nonzero(want[:, :, 1])
    assert dense[1] is None and dense[2].shape == (3, 4, nx)
    gdq[...] = rng.integers(0, 256, gdq.shape, dtype=np.uint8)         # overwritten, then restored
    _restore_row(gdq, 1, sparse)
    _restore_row(gdq, 3, dense)
    np.testing.assert_array_equal(gdq[:, :, 1], want[:, :, 1])
    np.testing.assert_array_equal(gdq[:, :, 3], want[:, :, 3])
    assert not window[:, :, :2].any() and not window[:, :, 7:].any()


def test_step_header_keywords():
    # one primary jump; PRIMECRS = 1000 * 1 / (TGROUP * (nints*ngroups - nints) * npix)
    data = _cube([0, 0, 0, 0, 1000, 0, 0, 0, 0])
    meta = _meta(data.shape, tgroup=2.0)
    step = JumpStep(meta, _refs(5, 5))
    gdq = np.zeros(data.shape, np.uint8)
    step.process(data, gdq, np.zeros((5, 5), np.uint32), slice(0, 1), slice(0, 5))
    h = step.header_updates()
    assert h["PRIMECRS"][0] == pytest.approx(1000.0 / (2.0 * (10 - 1) * 25))
    assert h["EXTNCRS"][0] == 0.0


def test_step_needs_all_integrations():
    data = _cube([0, 0, 0], nints=2)
    step = JumpStep(_meta(data.shape), _refs(5, 5))
    with pytest.raises(ValueError, match="all 2 integrations"):
        step.process(data[:1], np.zeros(data[:1].shape, np.uint8), np.zeros((5, 5), np.uint32),
                     slice(0, 1), slice(0, 5))
