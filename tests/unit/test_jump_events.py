"""jump's snowball and shower flagging: stcal 1.20's own cases (tests/test_jump.py) and jwst
3.0's (jump/tests/test_jump_step.py) run against rampflow's functions, hand-built pixels for
the next-integration and group-time masking, and the pre-pass in row chunks equal to the
whole cube.

stcal's cases set ``JumpData`` attributes directly; the same values are given here as
:class:`EventParams` (stcal units; ``max_extended_width`` is JumpData's default of 200 unless
the case sets it).
"""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import jump_events as E
from rampflow.steps.jump import JumpStep
from rampflow.steps.jump_stream import ArrayRamp

JUMP, SAT, DNU = dq.JUMP_DET, dq.SATURATED, dq.DO_NOT_USE
#: stcal JumpData's defaults, as its unit tests see them
STCAL = dict(max_extended_width=200, persist_grps_flagged=25, grps_masked_after_shower=5,
             max_shower_amplitude=6.0, extend_ellipse_expand_ratio=1.2)


def _ep(**kw):
    return E.EventParams(**{**STCAL, **kw})


# --- stcal: ellipses ------------------------------------------------------------------

def test_find_simple_ellipse():
    plane = np.zeros((5, 5), np.uint8)
    for y, x in ((2, 2), (3, 2), (1, 2), (2, 3), (2, 1), (1, 3), (2, 4), (3, 3)):
        plane[y, x] = JUMP
    ellipse = E.find_ellipses(plane, JUMP, 1)
    assert ellipse[0][2] == pytest.approx(90, 1)             # angle
    assert ellipse[0][0] == pytest.approx((2.5, 2.0))        # centre (x, y)


def test_find_ellipse2():
    plane = np.zeros((5, 5), np.uint8)
    plane[1:4, 1:4] = JUMP
    (centre, axes, angle), = E.find_ellipses(plane, JUMP, 1)
    assert centre == (2, 2)
    assert axes[0] == pytest.approx(2.266, 1e-3) and axes[1] == pytest.approx(2.266, 1e-3)
    assert angle == pytest.approx(-45, 1)


def test_find_ellipses_min_area():
    plane = np.zeros((9, 9), np.uint8)
    plane[1:3, 1:3] = JUMP        # area 4
    plane[5:8, 5:8] = JUMP        # area 9
    assert len(E.find_ellipses(plane, JUMP, 5)) == 1
    assert len(E.find_ellipses(plane, JUMP, 4)) == 2
    assert E.find_ellipses(np.zeros((4, 4), np.uint8), JUMP, 1) == []


@pytest.mark.parametrize(("ellipse", "point"), [
    (((0, 0), (2, 4), -10), (1, 0.6)), (((0, 0), (2, 4), 0), (1, 0.5)),
    (((1111.0001220703125, 870.5000610351562), (10.60660171508789, 10.60660171508789), 45.0), (1110.5, 870.5)),
    (((0, 0), (10, 5), 0), (0, 0)), (((0, 0), (10, 5), 0), (5, 0))])
def test_point_inside_ellipse(ellipse, point):
    assert E.point_inside_ellipse(point, ellipse)


@pytest.mark.parametrize(("ellipse", "point"), [
    (((0, 0), (2, 4), 0), (3, 0.5)), (((0, 0), (10, 5), 0), (0, 8)), (((0, 0), (10, 5), 0), (8, 0))])
def test_point_outside_ellipse(ellipse, point):
    assert not E.point_inside_ellipse(point, ellipse)


# --- stcal: snowballs ------------------------------------------------------------------

def _cross(plane, value=SAT):
    for y, x in ((3, 3), (2, 3), (3, 4), (4, 3), (3, 2)):
        plane[y, x] = value


def test_extend_saturation_simple():
    cube = np.zeros((5, 7, 7), np.uint8)
    persist = np.zeros((7, 7), np.uint8)
    _cross(cube[1])
    cube[1, 2, 2] = JUMP
    sat = E.find_ellipses(cube[1], SAT, 1)
    E.extend_saturation(cube, 1, sat, _ep(min_sat_radius_extend=1.1, sat_expand=2), persist)
    assert cube[1, 2, 2] == SAT          # set, not OR-ed: the JUMP is gone
    assert cube[1, 4, 4] == SAT
    assert cube[1, 4, 5] == 0
    assert (cube[4] == cube[1]).all()    # every later group too
    assert not cube[0].any()
    assert persist[3, 3] == JUMP         # the un-grown core, for the next integration


def _snowball_cube(sat_groups=(2,)):
    cube = np.zeros((1, 5, 7, 7), np.uint8)
    for g in sat_groups:
        _cross(cube[0, g])
    cube[0, 2, 1, 1:6] = JUMP
    cube[0, 2, 5, 1:6] = JUMP
    cube[0, 2, 1:6, 1] = JUMP
    cube[0, 2, 1:6, 5] = JUMP
    return cube


SNOW = dict(min_sat_area=1, min_jump_area=6, expand_factor=1.9, sat_required_snowball=True,
            min_sat_radius_extend=0.5, sat_expand=1.1, edge_size=0)


def test_flag_large_events_nosnowball():
    # the saturated core is there from group 0: not new in group 2, so no snowball
    cube = _snowball_cube(sat_groups=(0, 1, 2))
    E.flag_large_events(cube, _ep(**{**SNOW, "edge_size": 1, "min_sat_radius_extend": 1}))
    assert cube[0, 2, 2, 2] == 0
    assert cube[0, 2, 3, 6] == 0


def test_flag_large_events_withsnowball():
    cube = _snowball_cube()
    n = E.flag_large_events(cube, _ep(**SNOW))
    assert n == 1
    assert cube[0, 1, 2, 2] == 0 and cube[0, 1, 3, 5] == 0
    assert cube[0, 2, 1, 0] == JUMP and cube[0, 2, 3, 6] == JUMP


def test_flag_large_events_groupedsnowball():
    cube = np.zeros((1, 5, 7, 7), np.uint8)
    cube[0, 1:3, 1:6, 1:6] = JUMP
    _cross(cube[0, 2])
    E.flag_large_events(cube, _ep(**SNOW))
    assert cube[0, 2, 1, 0] == JUMP      # the jump was extended


def test_flag_large_events_withsnowball_noextension():
    cube = _snowball_cube()
    E.flag_large_events(cube, _ep(**SNOW, max_extended_width=1))
    assert cube[0, 1, 2, 2] == 0 and cube[0, 1, 3, 5] == 0
    assert cube[0, 2, 0, 0] == 0
    assert cube[0, 2, 1, 0] == 0         # not extended: max_extended_width = 1
    assert cube[0, 2, 2, 2] == 0         # saturation not extended either


# --- stcal: showers --------------------------------------------------------------------

def test_find_faint_extended():
    nint, ngrps, n = 1, 66, 25
    data = np.zeros((nint, ngrps, n, n), np.float32)
    gdq = np.zeros(data.shape, np.uint32)
    pdq = np.zeros((n, n), np.uint32)
    pdq[0, 0] = 1
    pdq[1, 1] = dq.REFERENCE_PIXEL
    gain = 4
    readnoise = np.full((n, n), 6.0 * gain, np.float32)
    rng = np.random.default_rng(12345)
    data[0, 1:, 14:20, 15:20] = 6 * gain * 6.0 * np.sqrt(2)
    data = data + rng.normal(size=data.shape) * readnoise
    ep = _ep(nframes=1, minimum_sigclip_groups=100, extend_snr_threshold=1.2, extend_min_area=10,
             extend_inner_radius=1, extend_outer_radius=2.6, extend_ellipse_expand_ratio=1,
             grps_masked_after_shower=1, max_shower_amplitude=10)
    out, n_showers = E.find_faint_extended(data, gdq, pdq, readnoise * np.sqrt(2), ep)
    for g in (1, 2):                     # the group of the event and the one masked after it
        assert np.all(out[0, g, 22, 14:23] == 0)
        assert out[0, g, 16, 18] == JUMP
        assert np.all(out[0, g, 12:21, 16:19] == JUMP)
        assert np.all(out[0, g, 22, 16:19] == 0)
        assert np.all(out[0, g, 10, 16:19] == 0)
    assert not out[0, 3:].any()
    assert n_showers >= 1
    assert not gdq.any()                 # the input is not modified


def test_find_faint_extended_sigclip():
    # 101 integrations: sigma-clipped statistics per group; the event is in integration 0 only
    # and too faint: no shower
    nint, ngrps, n = 101, 6, 30
    data = np.zeros((nint, ngrps, n, n), np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros((n, n), np.uint32)
    gain = 4
    readnoise = np.full((n, n), 6.0 * gain, np.float32)
    rng = np.random.default_rng(12345)
    data[0, 1:, 14:20, 15:20] = 6 * gain * 1.7
    data = data + rng.normal(size=data.shape) * readnoise
    ep = _ep(nframes=1, minimum_sigclip_groups=100, extend_snr_threshold=1.3, extend_min_area=20,
             extend_inner_radius=1, extend_outer_radius=2, extend_ellipse_expand_ratio=1.1,
             grps_masked_after_shower=3)
    out, n_showers = E.find_faint_extended(data, gdq, pdq, readnoise, ep)
    assert n_showers == 0
    assert not out[0, 1, 12:23, 13:25].any()
    assert not out[0, 4, 12:22, 14:23].any()


def test_find_faint_extended_too_few_differences():
    data = np.zeros((1, 5, 10, 10), np.float32)     # 4 differences < 10
    gdq = np.zeros(data.shape, np.uint8)
    out, n = E.find_faint_extended(data, gdq, np.zeros((10, 10), np.uint32), np.ones((10, 10)), _ep())
    assert out is gdq and n == 0


# --- the Step: jwst's cases, hand-built pixels -------------------------------------------

def _meta(shape, tgroup=1.0):
    return ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NFRAMES": 1, "TGROUP": tgroup,
                                      "TFRAME": tgroup, "NGROUPS": shape[1]}, {}, filename="test", shape=shape)


def _step(shape, tgroup=1.0, rn=5.0, gain=6.0, **params):
    ny, nx = shape[2:]
    refs = {"readnoise": Reference("readnoise", "hand", {}, {"SCI": np.full((ny, nx), rn, np.float32)}),
            "gain": Reference("gain", "hand", {}, {"SCI": np.full((ny, nx), gain, np.float32)})}
    return JumpStep(_meta(shape, tgroup), refs, **params)


def _run(sci, gdq, tgroup=1.0, **params):
    step = _step(sci.shape, tgroup, **params)
    g = gdq.copy()
    p = np.zeros(sci.shape[2:], np.uint32)
    step.process(sci.copy(), g, p, slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return g, p, step


def _circles(plane, centres, radii, fill=None):
    yy, xx = np.ogrid[:plane.shape[0], :plane.shape[1]]
    for (cx, cy), r in zip(centres, radii):
        m = np.hypot(yy - cx, xx - cy) < r
        if fill is None:
            plane[m] += 10 * r
        else:
            plane[m] = fill


@pytest.mark.parametrize("sat", [False, True])
def test_jwst_snowball_flagging(sat):
    # jwst test_snowball_flagging_nosat / _sat: two discs of excess in group 1 (radii 10, 20)
    # are jumps; flagged as snowballs they grow to expand_factor x the radius: 4x the area
    shape = (1, 5, 100, 100)
    sci = np.zeros(shape, np.float32)
    gdq = np.zeros(shape, np.uint8)
    centres, radii = [(20, 20), (60, 60)], [10, 20]
    _circles(sci[0, 1], centres, radii)
    if sat:
        for g in range(1, 5):
            _circles(gdq[0, g], centres, [4, 4], fill=SAT)
    g, _, step = _run(sci, gdq, tgroup=3.0, expand_large_events=True, sat_required_snowball=sat, expand_factor=2)
    for (x, y), rad in zip(centres, radii):
        er = 2 * rad
        initial = np.sum(sci[0, 1, y - rad:y + rad, x - rad:x + rad].astype(bool))
        expanded = np.sum(g[0, 1, y - er:y + er, x - er:x + er].astype(bool))
        assert np.floor(expanded / initial) == 4
    # the discs drop back in group 2: jumps there too; without the saturation requirement they
    # are snowballs as well (4); with it, group 1's (the cores newly saturate) and, in group 2,
    # the disc centred at (20, 20), within edge_size = 25 of the edge, which needs no core (3)
    n = 3 if sat else 4
    assert step.events.snowballs == n
    assert step.header_updates()["EXTNCRS"][0] == pytest.approx(1e6 * n / (3.0 * (5 - 1) * 100 * 100))


def _snowball_ramp(nints=2, ngroups=8, n=60, core=5.0, hit=(0, 3), centre=(30, 30)):
    """Flat ramps; in integration/group ``hit`` a disc of radius 2 x core jumps by 2000 DN and
    its centre (radius ``core``) saturates from that group on."""
    sci = np.cumsum(np.full((nints, ngroups, n, n), 10.0, np.float32), axis=1)
    gdq = np.zeros(sci.shape, np.uint8)
    i, g = hit
    yy, xx = np.mgrid[:n, :n]
    d = np.hypot(yy - centre[0], xx - centre[1])
    sci[i, g:, d <= 2 * core] += 2000.0
    gdq[i, g:, d <= core] = SAT
    return sci, gdq, d


def test_snowball_core_masked_in_next_integration_for_the_time_given():
    # snowball_time_masked_next_int = 35 s at 10 s per group: int(35 // 10) = 3 ->
    # groups 1 and 2 of the next integration get JUMP over the (un-grown) core, not group 3
    sci, gdq, d = _snowball_ramp()
    g, _, step = _run(sci, gdq, tgroup=10.0, expand_large_events=True, snowball_time_masked_next_int=35)
    assert step.events.snowballs == 1
    core = d <= 4.0
    assert (g[1, 1][core] == JUMP).all() and (g[1, 2][core] == JUMP).all()
    assert not g[1, 3].any() and not g[1, 0].any()
    assert not g[1, 1][d > 6.5].any()
    # off: nothing in the next integration
    g2, _, _ = _run(sci, gdq, tgroup=10.0, expand_large_events=True, mask_snowball_core_next_int=False)
    assert not g2[1].any()
    np.testing.assert_array_equal(g2[0], g[0])


def test_snowball_saturated_core_grown_and_set():
    # core radius 5 > min_sat_radius_extend: grown by sat_expand (jwst's value x 2 on the full
    # axes), SATURATED (exactly 2) from the hit group on; the halo is JUMP in the hit group only
    sci, gdq, d = _snowball_ramp()
    g, _, _ = _run(sci, gdq, tgroup=10.0, expand_large_events=True, sat_expand=2, expand_factor=2.0)
    ring = (d > 5.5) & (d <= 6.5)                 # outside the input core, inside core + 2
    for grp in range(3, 8):
        assert (g[0, grp][ring] == SAT).all()
    assert not (g[0, 2][ring] & SAT).any()
    halo = (d > 8) & (d <= 11)
    assert (g[0, 3][halo] == JUMP).all()
    assert not (g[0, 4][halo] & JUMP).any()
    # with sat_expand=0 the ring keeps its jump flag only
    g0, _, _ = _run(sci, gdq, tgroup=10.0, expand_large_events=True, sat_expand=0)
    assert not (g0[0, 4][ring] & SAT).any()


def test_snowball_needs_new_saturation_unless_near_edge():
    sci, gdq, _ = _snowball_ramp()
    gdq_nosat = gdq & ~np.uint8(SAT)
    g, _, step = _run(sci, gdq_nosat, tgroup=10.0, expand_large_events=True)
    assert step.events.snowballs == 0
    # the same without its core, but within edge_size of the edge (centre at row 30 < 35)
    g, _, step = _run(sci, gdq_nosat, tgroup=10.0, expand_large_events=True, edge_size=35)
    assert step.events.snowballs == 1


def test_shower_masked_for_the_time_given():
    # a faint 12-pixel-radius excess of 3 sigma per pixel in integration 0, group 4, over 20
    # groups; time_masked_after_shower = 25 s at 10 s per group -> groups 4, 5, 6 flagged
    rng = np.random.default_rng(5)
    shape = (1, 20, 50, 50)
    sci = np.cumsum(rng.normal(20.0, 2.0, shape), axis=1).astype(np.float32)
    yy, xx = np.mgrid[:50, :50]
    d = np.hypot(yy - 25, xx - 25)
    sci[0, 4:, d <= 12] += 15.0
    gdq = np.zeros(shape, np.uint8)
    g, _, step = _run(sci, gdq, tgroup=10.0, rn=1.0, gain=1.0, find_showers=True, time_masked_after_shower=25.0,
                      extend_min_area=50)
    assert step.events.showers >= 1
    centre = d <= 5
    for grp in (4, 5, 6):
        assert (g[0, grp][centre] & JUMP).all()
    assert not (g[0, 7][centre] & JUMP).any()
    assert not (g[0, 4][d > 25] & JUMP).any()


def test_prepass_in_row_chunks_equals_whole_cube():
    # the runner's way (pre-pass over the ramp in row chunks, then chunks applied) == whole cube
    sci, gdq, _ = _snowball_ramp(nints=3, ngroups=8, n=40, hit=(1, 2), centre=(12, 20))
    sci[2, 5:, 30:34, 5:9] += 900.0
    params = dict(expand_large_events=True, find_showers=True, extend_min_area=10)
    whole, pw, sw = _run(sci, gdq, tgroup=10.0, **params)
    row_mb = 3 * 8 * 40 * 5 / 2**20
    for chunk_mb, nrow in ((3 * row_mb, 1), (5 * row_mb, 7)):
        step = _step(sci.shape, 10.0, **params)
        assert step.halo == 0
        step.prepare(ArrayRamp(sci, gdq), chunk_mb)
        out, pout = gdq.copy(), np.zeros((40, 40), np.uint32)
        for s in range(0, 40, nrow):
            rows = slice(s, min(40, s + nrow))
            g, p = gdq[:, :, rows].copy(), pout[rows].copy()
            step.process(sci[:, :, rows].copy(), g, p, slice(0, 3), rows)
            out[:, :, rows], pout[rows] = g, p
        np.testing.assert_array_equal(out, whole)
        np.testing.assert_array_equal(pout, pw)
        assert step.header_updates() == sw.header_updates()
        assert step.events.memory_bytes() < gdq.nbytes


def test_chunks_need_the_prepass():
    sci, gdq, _ = _snowball_ramp(nints=1, n=20)
    step = _step(sci.shape, 10.0, expand_large_events=True)
    with pytest.raises(ValueError, match="pre-pass"):
        step.process(sci[:, :, :5].copy(), gdq[:, :, :5].copy(), np.zeros((5, 20), np.uint32), slice(0, 1),
                     slice(0, 5))
    with pytest.raises(ValueError, match="needs its input ramp"):
        step.prepare(None, 100.0)


# --- the regions' area filter ------------------------------------------------------------

def test_filter_areas_keeps_a_ring_by_its_filled_area_and_drops_small_boxes():
    """A 5 x 5 ring has 16 pixels and a filled area of 25: kept at 20, dropped at 26; a
    jump with its four flagged neighbours (a 3 x 3 box, 5 pixels) never reaches 15."""
    img = np.zeros((20, 30), np.uint8)
    img[2:7, 2:7] = 1
    img[3:6, 3:6] = 0                      # the ring (16 pixels, 25 filled)
    img[12, 20:23] = 1
    img[11:14, 21] = 1                     # a plus: 5 pixels in a 3 x 3 box
    assert [e[0] for e in E.filter_areas(img, 20)] == [(4.0, 4.0)]
    assert E.filter_areas(img, 26) == []
    assert [e[0] for e in E.filter_areas(img, 5)] == [(4.0, 4.0), (21.0, 12.0)]
    assert [e[0] for e in E.filter_areas(img, 6)] == [(4.0, 4.0)]


def test_filter_areas_equals_stcals_on_random_planes():
    sk_filter = pytest.importorskip("stcal.jump.jump")._sk_filter_areas
    rng = np.random.default_rng(3)
    for trial in range(60):
        ny, nx = rng.integers(5, 60, 2)
        img = (rng.random((ny, nx)) < rng.uniform(0.02, 0.6)).astype(np.uint8)
        if trial % 3 == 0:                 # rings: regions whose holes count
            yy, xx = np.mgrid[:ny, :nx]
            r = np.hypot(yy - ny / 2, xx - nx / 2)
            img |= ((r > 3) & (r < 4.5)).astype(np.uint8)
        for threshold in (1, 5, 9, 15.0, 40):
            assert E.filter_areas(img, threshold) == sk_filter(img, threshold), (trial, threshold)


def _random_snowball_exposure(rng, nints=3, ngroups=7, ny=40, nx=60):
    """Scattered single jumps, discs of jumps with saturated cores appearing in random groups
    (the last two included) and one integration with neither (nothing to search)."""
    gdq = ((rng.random((nints, ngroups, ny, nx)) < 0.003) * JUMP).astype(np.uint8)
    gdq[nints - 1] = 0
    yy, xx = np.mgrid[:ny, :nx]
    for i in range(nints - 1):
        for g in (1, ngroups - 2, ngroups - 1, int(rng.integers(2, ngroups - 2))):
            cy, cx = rng.integers(8, ny - 8), rng.integers(8, nx - 8)
            d = np.hypot(yy - cy, xx - cx)
            gdq[i, g][d <= rng.uniform(4, 7)] |= JUMP
            gdq[i, g:, d <= rng.uniform(2.6, 4)] |= SAT
    return gdq


@pytest.mark.parametrize("sat_required", [True, False])
def test_snowball_search_skipping_quiet_groups_equals_stcal(sat_required):
    """flag_snowballs_int skips groups with no SATURATED pixel and no large JUMP region (and
    reports whether it changed the cube): the flags still equal stcal's flag_large_events on
    random exposures whose cores appear in any group, the last two included; an integration
    reported unchanged is unchanged."""
    from types import SimpleNamespace

    stcal_jump = pytest.importorskip("stcal.jump.jump")
    rng = np.random.default_rng(8)
    ep = _ep(min_sat_area=5, min_jump_area=15, expand_factor=2.0, sat_required_snowball=sat_required,
             min_sat_radius_extend=2.5, sat_expand=4, edge_size=5, persist_grps_flagged=3)
    for _ in range(3):
        gdq = _random_snowball_exposure(rng)
        jd = SimpleNamespace(**{k: getattr(ep, k) for k in (
            "edge_size", "expand_factor", "mask_persist_grps_next_int", "max_extended_width", "min_jump_area",
            "min_sat_area", "min_sat_radius_extend", "persist_grps_flagged", "sat_expand", "sat_required_snowball")},
            fl_jump=JUMP, fl_sat=SAT)
        want, nwant = stcal_jump.flag_large_events(gdq.copy(), JUMP, SAT, jd)
        got = gdq.copy()
        persist, total = None, 0
        for i in range(gdq.shape[0]):
            before = got[i].copy()
            n, persist, changed = E.flag_snowballs_int(got[i], ep, persist, gdq.shape[2])
            total += n
            if not changed:
                np.testing.assert_array_equal(got[i], before)
        assert total == nwant and total >= 2
        np.testing.assert_array_equal(got, want)
        # the quiet integration: only the previous one's cores, as JUMP in groups 1 .. 2
        assert not got[-1, 0].any() and not got[-1, 3:].any() and set(np.unique(got[-1])) <= {0, JUMP}
