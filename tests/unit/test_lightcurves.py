"""Light curves: stitching, times, DQ replacement, jump counts, photometry and outputs, by hand
(the transit fit: test_lightcurve_transit_fit.py)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from astropy.table import Table
from lightcurve_files import CFG, _times, _trace_cube, write_rateints

from rampflow import dq as dqflags
from rampflow import io, names
from rampflow import lightcurves as lcm
from rampflow.lightcurves import LightCurveError

# --------------------------------------------------------------------------- names and times

def test_product_stem_detector_segment():
    p = "/x/jw09999001001_04101_00001-seg002_nrs1_gain_scaleints.fits"
    assert names.product_stem(p) == "jw09999001001_04101_00001-seg002_nrs1"
    assert names.product_stem("jw01366003001_04101_00001-seg001_nrs2_rateints.fits") == \
        "jw01366003001_04101_00001-seg001_nrs2"
    assert names.product_stem("jw01366003001_04101_00001-seg001_nrs2_jump.fits") == \
        "jw01366003001_04101_00001-seg001_nrs2"
    assert names.stem_detector("jw01366003001_04101_00001-seg001_nrcalong") == "nrcalong"
    assert names.stem_segment("jw01366003001_04101_00001-seg012_nrs1") == 12
    assert names.stem_segment("jw01366003001_04101_00001_nrs1") is None


def test_mid_times_prefer_bjd():
    t = _times([1, 2], [60000.5, 60000.6], [60000.4, 60000.45])
    times, scale = lcm.integration_mid_times(t)
    assert scale == "BJD_TDB"
    np.testing.assert_array_equal(times, [60000.5, 60000.6])


@pytest.mark.parametrize("how", ["zero", "absent"])
def test_mid_times_fall_back_to_mjd_with_warning(how, caplog):
    t = _times([1, 2], [60000.5, 60000.6], [60000.4, 60000.45])
    if how == "zero":
        t["int_mid_BJD_TDB"] = 0.0
    else:
        t.remove_column("int_mid_BJD_TDB")
    with caplog.at_level(logging.WARNING, logger="rampflow"):
        times, scale = lcm.integration_mid_times(t, source="seg1.fits")
    assert scale == "MJD_UTC"
    np.testing.assert_array_equal(times, [60000.4, 60000.45])
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("seg1.fits" in m and "int_mid_BJD_TDB" in m and "int_mid_MJD_UTC" in m for m in msgs), msgs


def test_mid_times_none_usable_raises():
    t = _times([1], [0.0], [0.0])
    with pytest.raises(LightCurveError, match="neither"):
        lcm.integration_mid_times(t, source="x.fits")
    with pytest.raises(LightCurveError, match="no INT_TIMES"):
        lcm.integration_mid_times(None, source="x.fits")


def test_stitch_order_ties_broken_by_segment_then_number():
    order = lcm.stitch_order([3.0, 1.0, 2.0, 1.0], segments=[1, 2, 1, 1], int_numbers=[9, 5, 8, 4])
    np.testing.assert_array_equal(order, [3, 1, 2, 0])


def test_segments_given_out_of_order_are_stitched_in_time(tmp_path):
    # three segments of 3 integrations; SCI of integration n is n * profile, so raw flux = 12 n
    # per column (profile 1, 2, 1 on the box rows plus nothing elsewhere): 36 n for 3 columns
    paths = []
    for seg in (1, 2, 3):
        nums = np.arange(3 * (seg - 1) + 1, 3 * seg + 1)
        cube = _trace_cube(nums * 3.0)
        paths.append(write_rateints(tmp_path / f"jw09999001001_04101_00001-seg{seg:03d}_nrs1_rateints.fits",
                                    cube, intstart=int(nums[0]), segment=seg))
    lc = lcm.extract_lightcurves([paths[2], paths[0], paths[1]], config=CFG)
    w = lc.white
    np.testing.assert_array_equal(w["int_number"], np.arange(1, 10))
    np.testing.assert_array_equal(w["segment"], np.repeat([1, 2, 3], 3))
    np.testing.assert_array_equal(w["integration"], np.arange(9))
    assert np.all(np.diff(w["time"]) > 0)
    np.testing.assert_allclose(w["raw_flux"], 36.0 * np.arange(1, 10), rtol=1e-6)
    np.testing.assert_allclose(w["time_hours"], np.arange(9) * 60 / 3600, atol=1e-6)
    assert lc.info["products"][0].startswith("jw09999001001_04101_00001-seg001")


def test_times_decide_order_not_segment_numbers(tmp_path, caplog):
    # segment 2 was observed before segment 1: time order wins, with a warning
    a = write_rateints(tmp_path / "a-seg001_nrs1_rateints.fits", _trace_cube([1.0, 2.0]),
                       bjd=[60001.0, 60001.1], segment=1)
    b = write_rateints(tmp_path / "a-seg002_nrs1_rateints.fits", _trace_cube([3.0, 4.0]),
                       bjd=[60000.0, 60000.1], segment=2, intstart=3)
    with caplog.at_level(logging.WARNING, logger="rampflow"):
        lc = lcm.extract_lightcurves([a, b], config=CFG)
    np.testing.assert_array_equal(lc.white["segment"], [2, 2, 1, 1])
    np.testing.assert_allclose(lc.white["raw_flux"], [36.0, 48.0, 12.0, 24.0], rtol=1e-6)
    assert any("not in time order" in r.getMessage() for r in caplog.records)


def test_one_segment_without_bjd_switches_all_to_mjd(tmp_path, caplog):
    a = write_rateints(tmp_path / "s-seg001_nrs1_rateints.fits", _trace_cube([1.0, 1.0]),
                       bjd=[60000.10, 60000.11], mjd=[60000.09, 60000.10])
    b = write_rateints(tmp_path / "s-seg002_nrs1_rateints.fits", _trace_cube([1.0, 1.0]), segment=2,
                       intstart=3, bjd=[0.0, 0.0], mjd=[60000.11, 60000.12])
    with caplog.at_level(logging.WARNING, logger="rampflow"):
        lc = lcm.extract_lightcurves([b, a], config=CFG)
    assert lc.white.meta["time_scale"] == "MJD_UTC"
    np.testing.assert_allclose(lc.white["time"], [60000.09, 60000.10, 60000.11, 60000.12])
    assert any("int_mid_BJD_TDB" in r.getMessage() and "MJD_UTC" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


def test_whole_exposure_int_times_table_is_matched_by_integration_number(tmp_path):
    # a segment carrying the INT_TIMES rows of the whole exposure
    sci = _trace_cube([1.0, 2.0])
    p = write_rateints(tmp_path / "w-seg002_nrs1_rateints.fits", sci, intstart=3)
    prod = io.read_image_product(p)
    full = _times(np.arange(1, 6), 60000 + np.arange(1, 6) * 0.01, 60000 + np.arange(1, 6) * 0.01 - 0.001)
    h = prod["primary"]
    p2 = io.write_image_product(tmp_path / "w2-seg002_nrs1_rateints.fits",
                                {k: prod[k] for k in ("SCI", "ERR", "DQ")}, h, None,
                                datamodel="CubeModel", tables={"INT_TIMES": full})
    lc = lcm.extract_lightcurves([p2], config=CFG)
    np.testing.assert_allclose(lc.white["time"], [60000.03, 60000.04])
    np.testing.assert_array_equal(lc.white["int_number"], [3, 4])


# --------------------------------------------------------------------------- DQ replacement

def test_flagged_pixel_replaced_in_every_integration_hand_computed(tmp_path):
    # 4 integrations, amplitudes 10, 10, 8, 10; profile 1, 2, 1 on rows 3..5 of 3 columns,
    # background 5 everywhere; pixel (row 4, column 1) flagged DO_NOT_USE in integration 2
    # only, holding garbage. Median frame at that pixel: median of its 3 good integrations
    # (10, 10, 10) * 2 = 20; elsewhere median(10, 10, 8, 10) * p -> profile 10, 20, 10, i.e.
    # normalised 0.25, 0.5, 0.25 -> f_good(column 1) = 0.5 in EVERY integration.
    # Column 1 flux = (A + A) / 0.5 = 4 A; columns 0, 2 = A + 2A + A = 4 A.
    # white raw flux = 12 A = 120, 120, 96, 120 (exact: flux ratios are preserved).
    amps = [10.0, 10.0, 8.0, 10.0]
    cube = _trace_cube(amps, bkg=5.0)
    dq = np.zeros(cube.shape, np.uint32)
    dq[2, 4, 1] = dqflags.DO_NOT_USE
    cube[2, 4, 1] = 1e6
    p = write_rateints(tmp_path / "d-seg001_nrs1_rateints.fits", cube, dq=dq)
    lc = lcm.extract_lightcurves([p], config=dict(CFG, oot_first=1))
    np.testing.assert_allclose(lc.white["raw_flux"], [120.0, 120.0, 96.0, 120.0], rtol=1e-6)
    np.testing.assert_allclose(lc.white["flux"], [1.0, 1.0, 0.8, 1.0], rtol=1e-6)
    # spectroscopic bins of one column each: every column 4 A
    for j in range(3):
        np.testing.assert_allclose(lc.spectroscopic[f"flux_{j:03d}"], [1.0, 1.0, 0.8, 1.0], rtol=1e-6)
    # variances, ERR = 1: background of each column is the median of its 4 pixels outside
    # |y - 4| <= 2 (rows 0, 1, 7, 8): var = (pi/2) / 4. Columns 0, 2: 3 + 3**2 * pi/8;
    # column 1: 2 / 0.5**2 + (2 / 0.5)**2 * pi/8 = 8 + 2 pi.  Sum: 14 + 4.25 pi.
    np.testing.assert_allclose(lc.white["raw_flux_err"] ** 2, 14 + 4.25 * math.pi, rtol=1e-6)


def test_pixel_flagged_everywhere_uses_profile_from_neighbour_columns(tmp_path):
    # pixel (row 5, column 1) flagged in every integration: its profile value comes from
    # columns 0 and 2 at the same offset from the trace (1 -> normalised 0.25), so column 1
    # flux = (A + 2A) / 0.75 = 4 A, as for the unflagged columns.
    amps = [6.0, 5.0, 7.0]
    cube = _trace_cube(amps)
    dq = np.zeros(cube.shape, np.uint32)
    dq[:, 5, 1] = dqflags.DO_NOT_USE | dqflags.DEAD
    cube[:, 5, 1] = np.nan
    p = write_rateints(tmp_path / "e-seg001_nrs1_rateints.fits", cube, dq=dq)
    lc = lcm.extract_lightcurves([p], config=CFG)
    np.testing.assert_allclose(lc.white["raw_flux"], 12.0 * np.array(amps), rtol=1e-6)
    assert lc.info["n_flagged_pixels"] == 1


def test_other_dq_flags_are_configurable(tmp_path):
    # a SATURATED-only pixel is used by default and replaced when configured
    amps = [10.0, 10.0, 10.0]
    cube = _trace_cube(amps)
    dq = np.zeros(cube.shape, np.uint32)
    dq[1, 4, 0] = dqflags.SATURATED
    cube[1, 4, 0] = 10.0          # would be 20: a saturated underestimate
    p = write_rateints(tmp_path / "f-seg001_nrs1_rateints.fits", cube, dq=dq)
    default = lcm.extract_lightcurves([p], config=CFG)
    np.testing.assert_allclose(default.white["raw_flux"], [120.0, 110.0, 120.0], rtol=1e-6)
    repl = lcm.extract_lightcurves([p], config=dict(CFG, dq_flags=["DO_NOT_USE", "SATURATED"]))
    np.testing.assert_allclose(repl.white["raw_flux"], [120.0, 120.0, 120.0], rtol=1e-6)
    # the metrics table counts saturated pixels: 1 of 27 frame pixels, 1 of 9 box pixels
    np.testing.assert_allclose(default.metrics["saturated_frac"], [0, 1 / 27, 0])
    np.testing.assert_allclose(default.metrics["saturated_frac_aperture"], [0, 1 / 9, 0])


def test_column_with_too_much_flagged_is_dropped_everywhere(tmp_path):
    amps = [10.0, 9.0]
    cube = _trace_cube(amps)
    dq = np.zeros(cube.shape, np.uint32)
    dq[0, 3:5, 2] = dqflags.DO_NOT_USE          # 75 % of column 2's profile, in integration 0
    p = write_rateints(tmp_path / "g-seg001_nrs1_rateints.fits", cube, dq=dq)
    lc = lcm.extract_lightcurves([p], config=dict(CFG, max_bad_fraction=0.5))
    np.testing.assert_allclose(lc.white["raw_flux"], [80.0, 72.0], rtol=1e-6)     # columns 0, 1
    assert lc.white.meta["n_columns_dropped"] == 1


def test_extract_box_directly():
    # one column, box of 3 rows, profile 0.25/0.5/0.25, middle pixel flagged
    sci = np.array([[[1.0], [2.0], [1.0]], [[2.0], [99.0], [2.0]]])
    err = np.ones_like(sci)
    bad = np.array([[False], [True], [False]])
    rows, inside = lcm.box_indices(np.array([1.0]), 3, 1)
    prof = np.array([[0.25], [0.5], [0.25]])
    ex = lcm.extract_box(sci, err, bad, rows, inside, prof)
    np.testing.assert_allclose(ex["flux"][:, 0], [4.0, 8.0])
    np.testing.assert_allclose(ex["var"][:, 0], [8.0, 8.0])        # 2 / 0.5**2
    np.testing.assert_allclose(ex["box"][1, :, 0], [2.0, 4.0, 2.0])  # replaced by 0.5 * 8
    assert ex["n_replaced"][0] == 1


def test_box_indices_off_frame_rows_are_outside():
    rows, inside = lcm.box_indices(np.array([0.2, 3.6]), 5, 2)
    np.testing.assert_array_equal(inside[:, 0], [False, False, True, True, True])
    np.testing.assert_array_equal(inside[:, 1], [True, True, True, False, False])   # rows 2..6 of 5
    np.testing.assert_array_equal(rows[:, 1], [2, 3, 4, 4, 4])


def test_fit_trace_recovers_polynomial():
    ny, nx = 20, 200
    x = np.arange(nx)
    yc = 8.0 + 0.01 * x + 1e-5 * (x - 100) ** 2
    frame = 100 * np.exp(-0.5 * ((np.arange(ny)[:, None] - yc[None, :]) / 1.0) ** 2) + 3.0
    tr = lcm.fit_trace(frame, order=2, window=4, smooth=1)
    assert np.max(np.abs(tr["center"] - yc)) < 0.02


def test_column_bins():
    assert lcm.column_bins(10, bin_width=4) == [(0, 4), (4, 8), (8, 10)]
    assert lcm.column_bins(10, bin_width=4, columns=[2, 9]) == [(2, 6), (6, 9)]
    assert lcm.column_bins(10, bins=[[0, 3], [5, 10]]) == [(0, 3), (5, 10)]
    with pytest.raises(LightCurveError, match=r"bins\[1\]"):
        lcm.column_bins(10, bins=[[0, 3], [5, 11]])


def test_unknown_config_key_is_named(tmp_path):
    p = write_rateints(tmp_path / "h-seg001_nrs1_rateints.fits", _trace_cube([1.0]))
    with pytest.raises(LightCurveError, match="lightcurves.box_half_width"):
        lcm.extract_lightcurves([p], config={"box_half_width": 3})
    with pytest.raises(LightCurveError, match="dq_flags"):
        lcm.extract_lightcurves([p], config={"dq_flags": ["NOT_A_FLAG"]})


def test_mixed_detectors_rejected(tmp_path):
    a = write_rateints(tmp_path / "m-seg001_nrs1_rateints.fits", _trace_cube([1.0]))
    b = write_rateints(tmp_path / "m-seg001_nrs2_rateints.fits", _trace_cube([1.0]), detector="NRS2")
    with pytest.raises(LightCurveError, match="several detectors"):
        lcm.extract_lightcurves([a, b], config=CFG)


# --------------------------------------------------------------------------- normalisation

def test_oot_mask_and_normalise():
    m = lcm.oot_mask(10, oot=[[0, 2], [8, 20]])
    np.testing.assert_array_equal(np.flatnonzero(m), [0, 1, 8, 9])
    np.testing.assert_array_equal(np.flatnonzero(lcm.oot_mask(10, oot_first=3)), [0, 1, 2])
    assert lcm.oot_mask(4).all()
    t = np.arange(10) / 24.0                        # hourly, days
    m = lcm.oot_mask(10, times=t, transit={"t0": t[5], "duration": 4.0, "ingress": 1.0})
    np.testing.assert_array_equal(np.flatnonzero(~m), [4, 5, 6])   # |t - t0| < 2 h
    f, e, norm = lcm.normalise(np.array([2.0, 4.0, 4.0, 8.0]), np.array([1.0, 1.0, 1.0, 1.0]),
                               np.array([True, True, True, False]))
    assert norm == 4.0
    np.testing.assert_array_equal(f, [0.5, 1.0, 1.0, 2.0])
    np.testing.assert_array_equal(e, [0.25] * 4)
    with pytest.raises(LightCurveError, match=r"oot\[0\]"):
        lcm.oot_mask(5, oot=[[3, 1]])


# --------------------------------------------------------------------------- jumps

def test_jump_counts_from_jump_ramp(tmp_path, uncal_factory):
    stem = "jw09999001001_04101_00001-seg001_nrs1"
    uncal, _ = uncal_factory(name=f"{stem}_uncal.fits", shape=(2, 3, 9, 3))
    rf = io.open_ramp(uncal)
    gdq = np.zeros((2, 3, 9, 3), np.uint8)
    gdq[0, 1, 4, 1] = dqflags.JUMP_DET
    gdq[0, 2, 4, 1] = dqflags.JUMP_DET | dqflags.SATURATED
    gdq[1, 2, 0, 0] = dqflags.JUMP_DET
    gdq[1, 2, 8, 2] = dqflags.JUMP_DET
    gdq[1, 1, 8, 1] = dqflags.SATURATED
    sci, _ = rf.read()
    jump = tmp_path / f"{stem}_jump.fits"
    with io.RampWriter(jump, like=rf) as w:
        w.write(slice(None), slice(None), sci, gdq)
        w.write_pixeldq(np.zeros((9, 3), np.uint32))
    rf.close()
    jt = lcm.jump_counts(jump, chunk_mb=0.0001)          # one row per chunk
    np.testing.assert_array_equal(jt["jump_groups"], [2, 2])
    np.testing.assert_array_equal(jt["jump_pixels"], [1, 2])
    np.testing.assert_array_equal(jt["int_number"], [1, 2])
    # matched to the rateints of the same stem in the metrics table
    p = write_rateints(tmp_path / f"{stem}_rateints.fits", _trace_cube([1.0, 2.0]))
    lc = lcm.extract_lightcurves([p], config=CFG, jump_files=[jump])
    np.testing.assert_array_equal(lc.metrics["jump_groups"], [2, 2])
    np.testing.assert_array_equal(lc.metrics["jump_pixels"], [1, 2])
    # without jump files: no group counts; the pixel counts come from JUMP_DET in the
    # rateints DQ, which ramp_fit sets where any group of the integration jumped
    cube = _trace_cube([1.0, 2.0])
    dq = np.zeros(cube.shape, np.uint32)
    dq[0, 4, 1] = dqflags.JUMP_DET | dqflags.SATURATED
    dq[1, 0, 0] = dq[1, 8, 2] = dqflags.JUMP_DET
    dq[1, 3, 2] = dqflags.SATURATED
    p2 = write_rateints(tmp_path / "other" / f"{stem}_rateints.fits", cube, dq=dq)
    lc = lcm.extract_lightcurves([p2], config=CFG)
    assert np.all(np.isnan(lc.metrics["jump_groups"]))
    np.testing.assert_array_equal(lc.metrics["jump_pixels"], [1, 2])


# --------------------------------------------------------------------------- imaging

def _star_cube(amps, ny=40, nx=44, cy=20.3, cx=21.6, sigma=1.5, bkg=2.0, faint=(8.0, 8.0, 0.1)):
    y = np.arange(ny)[:, None]
    x = np.arange(nx)[None, :]
    star = np.exp(-0.5 * ((y - cy) ** 2 + (x - cx) ** 2) / sigma ** 2)
    other = faint[2] * np.exp(-0.5 * ((y - faint[0]) ** 2 + (x - faint[1]) ** 2) / sigma ** 2)
    return np.asarray(amps, float)[:, None, None] * (star + other)[None] + bkg


def test_aperture_weights_area():
    w = lcm.aperture_weights((41, 41), (20.0, 20.0), 8.0, subsample=10)
    assert w.sum() == pytest.approx(math.pi * 64, rel=2e-3)
    assert w[20, 20] == 1.0 and w[0, 0] == 0.0
    np.testing.assert_array_equal(w, w[::-1, ::-1])       # mirror-symmetric about its centre
    np.testing.assert_array_equal(w, w.T)


def test_imaging_aperture_photometry_with_flagged_pixel(tmp_path):
    amps = [1000.0, 1000.0, 950.0, 1000.0]
    cube = _star_cube(amps)
    dq = np.zeros(cube.shape, np.uint32)
    dq[2, 20, 22] = dqflags.DO_NOT_USE          # near the peak, in one integration
    cube[2, 20, 22] = -5e4
    p = write_rateints(tmp_path / "jw09999002001_02101_00001_nrca1_rateints.fits", cube, dq=dq,
                       exp_type="NRC_TSIMAGE", detector="NRCA1")
    lc = lcm.extract_lightcurves([p], config={"aperture_radius": 6.0, "annulus": [10.0, 15.0], "oot_first": 1})
    assert lc.mode == "imaging"
    assert lc.info["source_x"] == pytest.approx(21.6, abs=0.05)
    assert lc.info["source_y"] == pytest.approx(20.3, abs=0.05)
    np.testing.assert_allclose(lc.white["flux"], [1.0, 1.0, 0.95, 1.0], rtol=1e-6)
    np.testing.assert_allclose(lc.metrics["background"], 2.0, rtol=1e-6)
    np.testing.assert_allclose(lc.metrics["centroid_x"], 21.6, atol=0.05)
    assert lc.spectroscopic.meta["bins"] == []
    # flux = aperture sum of the star (background removed): weights * star
    w = lcm.aperture_weights((40, 44), (lc.info["source_y"], lc.info["source_x"]), 6.0)
    star = (_star_cube([1.0], bkg=0.0, faint=(8, 8, 0.0))[0] * w).sum()
    np.testing.assert_allclose(lc.white["raw_flux"][0], 1000 * star, rtol=1e-5)


def test_imaging_source_position_override(tmp_path):
    cube = _star_cube([100.0, 100.0], faint=(8.0, 8.0, 0.5))
    p = write_rateints(tmp_path / "jw09999002001_02101_00001_nrca1_rateints.fits", cube,
                       exp_type="NRC_IMAGE", detector="NRCA1")
    lc = lcm.extract_lightcurves([p], config={"source_position": [8, 8], "aperture_radius": 3.0,
                                              "annulus": [5.0, 7.0]})
    assert lc.info["source_x"] == pytest.approx(8.0, abs=0.1)


# --------------------------------------------------------------------------- output

def test_write_outputs_roundtrip(tmp_path):
    amps = 50.0 * (1 - 0.01 * lcm.trapezoid(np.arange(30), 15, 10, 2))
    p = write_rateints(tmp_path / "o-seg001_nrs1_rateints.fits", _trace_cube(amps))
    lc = lcm.extract_lightcurves([p], config=CFG)
    out = tmp_path / "lc"
    files = lcm.write_lightcurves(lc, white_ecsv=out / "nrs1_whitelight.ecsv", white_csv=out / "nrs1_whitelight.csv",
                                  white_png=out / "nrs1_whitelight.png", spec_ecsv=out / "nrs1_spectroscopic.ecsv",
                                  spec_png=out / "nrs1_spectroscopic.png", metrics_csv=out / "nrs1_metrics.csv",
                                  metrics_png=out / "nrs1_metrics.png", trace_png=out / "nrs1_trace.png", plot_bin=3)
    assert all(f.exists() and f.stat().st_size > 0 for f in files)
    assert len(files) == 8 and (out / "nrs1_trace.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the trace image shows the frame the light curves were measured on
    assert lc.median.shape == (9, 3) and lc.info["trace_coef"]
    t = Table.read(out / "nrs1_whitelight.ecsv", format="ascii.ecsv")
    assert t.meta["time_scale"] == "BJD_TDB" and str(t["time"].unit) == "d"
    np.testing.assert_allclose(t["flux"], lc.white["flux"])
    import pandas as pd

    df = pd.read_csv(out / "nrs1_whitelight.csv")
    assert list(df.columns)[:4] == ["integration", "segment", "int_number", "time"]
    np.testing.assert_allclose(df["raw_flux"], lc.white["raw_flux"], rtol=1e-9)
    assert (out / "nrs1_whitelight.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = pd.read_csv(out / "nrs1_metrics.csv")
    assert {"jump_groups", "saturated_frac", "background", "trace_center", "trace_width"} <= set(m.columns)
    assert not list(out.glob("*.part"))


def test_nanmedian_matches_numpy():
    import warnings

    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 5, 6)).astype(np.float32)
    a[rng.random(a.shape) < 0.3] = np.nan
    a[:, 0, 0] = np.nan                                  # an all-NaN lane -> NaN
    for axis in (0, 1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(a, axis=axis)
        np.testing.assert_allclose(lcm.nanmedian(a, axis=axis), ref, rtol=1e-6, equal_nan=True)
    # even count: mean of the two middle valid values (1, 3, 4 -> 3; 1, 3 -> 2)
    np.testing.assert_array_equal(lcm.nanmedian(np.array([[1.0, np.nan, 3.0, 4.0], [np.nan, 3.0, 1.0, np.nan]]),
                                                axis=1), [3.0, 2.0])


def test_check_config_names_the_key():
    assert lcm.check_config({})["box_halfwidth"] == 4
    with pytest.raises(LightCurveError, match=r"lightcurves.transit.duration: required"):
        lcm.check_config({"transit": {"t0": 2460000.5}})
    with pytest.raises(LightCurveError, match=r"lightcurves.transit: need duration > 0"):
        lcm.check_config({"transit": {"t0": 1.0, "duration": 2.0, "ingress": 1.5}})
    with pytest.raises(LightCurveError, match=r"lightcurves.oot and lightcurves.oot_first"):
        lcm.check_config({"oot": [[0, 5]], "oot_first": 5})
    with pytest.raises(LightCurveError, match=r"lightcurves.annulus"):
        lcm.check_config({"annulus": [10, 5]})


def test_workflow_helpers():
    stems = ["jw1_2_3-seg002_nrs1", "jw1_2_3-seg001_nrs2", "jw1_2_3-seg001_nrs1"]
    assert names.detectors_of(stems) == ["nrs1", "nrs2"]
    assert names.stems_of_detector(stems, "NRS1") == ["jw1_2_3-seg002_nrs1", "jw1_2_3-seg001_nrs1"]


def test_miri_lrs_dispersion_along_y(tmp_path):
    # the hand-computed case of test_flagged_pixel_replaced_in_every_integration, transposed:
    # MIRI LRS disperses along y, so "columns" are detector rows
    amps = [10.0, 10.0, 8.0, 10.0]
    cube = _trace_cube(amps, bkg=5.0)
    dq = np.zeros(cube.shape, np.uint32)
    dq[2, 4, 1] = dqflags.DO_NOT_USE
    cube[2, 4, 1] = 1e6
    p = write_rateints(tmp_path / "jw01_02_03_mirimage_rateints.fits", np.swapaxes(cube, 1, 2),
                       dq=np.swapaxes(dq, 1, 2), exp_type="MIR_LRS-SLITLESS", detector="MIRIMAGE")
    lc = lcm.extract_lightcurves([p], config=dict(CFG, oot_first=1))
    assert lc.info["dispersion_axis"] == "y"
    np.testing.assert_allclose(lc.white["raw_flux"], [120.0, 120.0, 96.0, 120.0], rtol=1e-6)


def test_aperture_photometry_pixel_flagged_in_every_integration():
    # a point-symmetric source; the pixel right of the centre is flagged everywhere: its
    # profile value comes from the mirrored pixel left of the centre (equal by symmetry), so
    # the flux equals the unflagged aperture sum exactly
    y, x = np.mgrid[0:21, 0:21]
    star = np.exp(-0.5 * ((y - 10) ** 2 + (x - 10) ** 2) / 1.5 ** 2)
    star[np.hypot(y - 10, x - 10) > 5] = 0.0               # nothing of it in the annulus
    sci = np.stack([100 * star, 90 * star]) + 1.0
    err = np.ones_like(sci)
    w = lcm.aperture_weights((21, 21), (10.0, 10.0), 4.0)
    ann = (np.hypot(y - 10, x - 10) >= 6) & (np.hypot(y - 10, x - 10) < 9)
    bad = np.zeros((21, 21), bool)
    bad[10, 11] = True
    prof = 100 * star
    prof[10, 11] = np.nan
    ph = lcm.aperture_photometry(sci, err, bad, w, ann, prof)
    np.testing.assert_allclose(ph["flux"], [100 * (w * star).sum(), 90 * (w * star).sum()], rtol=1e-12)
    np.testing.assert_allclose(ph["bkg"], 1.0)
    assert ph["n_replaced"] == 1
