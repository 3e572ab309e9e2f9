"""1/f destriping (custom step ``destripe``): hand-built frames with exact expected values."""

import numpy as np
import pytest

from rampflow import dq as dqflags
from rampflow.custom import destripe as ds
from rampflow.meta import ExposureMeta

NAN = np.float32(np.nan)


# --------------------------------------------------------------------------- geometry

@pytest.mark.parametrize("fast, slow, expected", [(2, 1, 0), (-2, -1, 0), (-1, 2, 1), (1, -2, 1)])
def test_fast_axis_from_keywords(fast, slow, expected):
    # NIRSpec (FASTAXIS=+-2): fast read along y, stripes are columns -> numpy axis 0
    # NIRCam (FASTAXIS=+-1): fast read along x, stripes are rows -> numpy axis 1
    assert ds.fast_axis_index(fast, slow) == expected


def test_fast_axis_rejects_inconsistent_keywords():
    with pytest.raises(ValueError, match="FASTAXIS=1, SLOWAXIS=1"):
        ds.fast_axis_index(1, 1)


def test_amplifier_edges():
    # full frame, 4 outputs: 512-pixel amplifiers
    assert ds.amplifier_edges(2048, 1, 4, True).tolist() == [0, 512, 1024, 1536, 2048]
    # a 300-pixel subarray starting at detector pixel 400 (1-based): pixels 399..698 (0-based);
    # the amplifier boundary at detector pixel 512 is local index 512 - 399 = 113
    assert ds.amplifier_edges(300, 400, 4, True).tolist() == [0, 113, 300]
    # a subarray inside one amplifier, or per_amplifier off, or one output: one segment
    assert ds.amplifier_edges(64, 1, 4, True).tolist() == [0, 64]
    assert ds.amplifier_edges(2048, 1, 4, False).tolist() == [0, 2048]
    assert ds.amplifier_edges(2048, 1, 1, True).tolist() == [0, 2048]


# --------------------------------------------------------------------------- line medians

def _frame():
    """3 rows x 4 columns, one group; lines = rows (fast axis x)."""
    return np.array([[1, 2, 3, 100],
                     [1, 2, 4, 8],
                     [10, 20, 30, 40]], dtype=np.float32)


def test_destripe_rows_exact():
    data = _frame()[None, None].copy()          # (1 int, 1 group, 3, 4)
    gdq = np.zeros(data.shape, np.uint8)
    use = np.ones((3, 4), bool)
    use[0, 3] = False                           # a source pixel: left out of row 0's median
    gdq[0, 0, 2, 3] = dqflags.JUMP_DET          # a flagged group: left out of row 2's median
    med = ds.destripe_groups(data, gdq, use, fast_axis=1, min_pixels=1)
    # row 0: median(1, 2, 3) = 2 -> subtracted from all 4 pixels, the source pixel too
    # row 1: median(1, 2, 4, 8) = (2 + 4) / 2 = 3
    # row 2: median(10, 20, 30) = 20 (40 is flagged)
    np.testing.assert_array_equal(med[0, 0, 0], [2, 3, 20])
    np.testing.assert_array_equal(data[0, 0], [[-1, 0, 1, 98],
                                               [-2, -1, 1, 5],
                                               [-10, 0, 10, 20]])
    assert med.shape == (1, 1, 1, 3) and med.dtype == np.float32


def test_destripe_columns_exact():
    # the same frame transposed, lines are columns (NIRSpec: fast axis y)
    data = _frame().T.copy()[None, None]
    gdq = np.zeros(data.shape, np.uint8)
    use = np.ones((4, 3), bool)
    use[3, 0] = False
    gdq[0, 0, 3, 2] = dqflags.SATURATED
    med = ds.destripe_groups(data, gdq, use, fast_axis=0, min_pixels=1)
    np.testing.assert_array_equal(med[0, 0, 0], [2, 3, 20])
    np.testing.assert_array_equal(data[0, 0].T, [[-1, 0, 1, 98], [-2, -1, 1, 5], [-10, 0, 10, 20]])


def test_nan_pixels_skipped_and_kept_and_min_pixels():
    data = np.array([[[[5, NAN, 7, 9],          # median(5, 7, 9) = 7; NaN stays NaN
                       [1, 2, 50, 60]]]], dtype=np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    use = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)   # row 1: only 2 usable pixels
    med = ds.destripe_groups(data, gdq, use, fast_axis=1, min_pixels=3)
    assert med[0, 0, 0, 0] == 7 and np.isnan(med[0, 0, 0, 1])
    np.testing.assert_array_equal(data[0, 0, 0], [-2, NAN, 0, 2])
    np.testing.assert_array_equal(data[0, 0, 1], [1, 2, 50, 60])      # fewer than min_pixels: unchanged


def test_per_amplifier_segments_and_groups():
    # two groups, two "amplifiers" of 2 pixels along the fast axis x
    data = np.array([[[[1, 3, 10, 20]], [[0, 4, 0, 8]]]], dtype=np.float32)   # (1, 2, 1, 4)
    gdq = np.zeros(data.shape, np.uint8)
    use = np.ones((1, 4), bool)
    med = ds.destripe_groups(data, gdq, use, 1, edges=[0, 2, 4], min_pixels=1)
    # group 0: medians 2 and 15; group 1: medians 2 and 4
    np.testing.assert_array_equal(med[0, :, :, 0], [[2, 15], [2, 4]])
    np.testing.assert_array_equal(data[0, :, 0], [[-1, 1, -5, 5], [-2, 2, -4, 4]])


def test_several_integrations_independent():
    data = np.stack([_frame(), _frame() + 10])[:, None].copy()    # (2, 1, 3, 4)
    gdq = np.zeros(data.shape, np.uint8)
    med = ds.destripe_groups(data, gdq, np.ones((3, 4), bool), 1, min_pixels=1)
    # integration 1 is integration 0 + 10: medians shift by 10, residuals identical
    np.testing.assert_array_equal(med[1] - med[0], np.full((1, 1, 3), 10, np.float32))
    np.testing.assert_array_equal(data[0], data[1])


def test_line_medians_do_not_modify_input():
    img = _frame()
    before = img.copy()
    out = ds.line_medians(img, np.ones((3, 4), bool), 1, min_pixels=1)
    assert np.isnan(ds.line_medians(img, np.ones((3, 4), bool), 1, min_pixels=5)).all()
    np.testing.assert_array_equal(out, [[2.5, 3, 25]])   # (2+3)/2, (2+4)/2, (20+30)/2
    np.testing.assert_array_equal(img, before)


def test_argument_checks_name_the_array():
    data = np.zeros((1, 2, 3, 4), np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    use = np.ones((3, 4), bool)
    with pytest.raises(ValueError, match="data must be float32"):
        ds.destripe_groups(data.astype(np.float64), gdq, use, 1)
    with pytest.raises(ValueError, match="gdq must be uint8"):
        ds.destripe_groups(data, gdq.astype(np.uint16), use, 1)
    with pytest.raises(ValueError, match=r"use must be bool \(3, 4\)"):
        ds.destripe_groups(data, gdq, np.ones((4, 3), bool), 1)
    with pytest.raises(ValueError, match="edges must increase from 0 to 4"):
        ds.destripe_groups(data, gdq, use, 1, edges=[0, 2, 3])
    with pytest.raises(ValueError, match="fast_axis"):
        ds.destripe_groups(data, gdq, use, 2)


# --------------------------------------------------------------------------- masks

def test_spectroscopic_exp_types():
    for e in ("NRS_BRIGHTOBJ", "NIS_SOSS", "NRC_TSGRISM", "MIR_LRS-SLITLESS"):
        assert ds.is_spectroscopic(e)
    for e in ("NRC_TSIMAGE", "NRC_IMAGE", "NIS_IMAGE", "NRS_WATA"):
        assert not ds.is_spectroscopic(e)
    assert ds.resolve_method("auto", "NRS_BRIGHTOBJ") == "trace"
    assert ds.resolve_method("auto", "NRC_TSIMAGE") == "sources"
    with pytest.raises(ValueError, match="mask_method"):
        ds.resolve_method("bogus", "NRC_IMAGE")


def _trace_image(ny=24, nx=60, a=0.1, b=6.0, sigma=1.0, amp=1000.0):
    y = np.arange(ny)[:, None]
    x = np.arange(nx)[None, :]
    return (amp * np.exp(-0.5 * ((y - (b + a * x)) / sigma) ** 2)).astype(np.float32)


def test_trace_mask_follows_the_spectrum():
    img = _trace_image()
    pdq = np.zeros(img.shape, np.uint32)
    pdq[:, :2] = dqflags.REFERENCE_PIXEL          # reference columns
    pdq[20, 30] = dqflags.HOT
    use, info = ds.make_background_mask(img, pdq, method="trace", trace_radius=3, trace_order=1, filter_size=1)
    slope, icpt = info["coeffs"]
    assert slope == pytest.approx(0.1, abs=1e-3) and icpt == pytest.approx(6.0, abs=0.05)
    yfit = 6.0 + 0.1 * np.arange(60)
    expected = (np.abs(np.arange(24)[:, None] - yfit[None]) > 3) & (pdq == 0)
    # pixels exactly at distance 3 may differ by rounding of the fit; compare away from it
    away = np.abs(np.abs(np.arange(24)[:, None] - yfit[None]) - 3) > 0.05
    np.testing.assert_array_equal(use[away], expected[away])
    assert not use[:, :2].any() and not use[20, 30]
    assert info["method"] == "trace"


def test_trace_mask_stops_where_the_spectrum_does():
    """A spectrum lighting columns 20..79 of 120 (a NIRCam grism's light stops before the
    detector's edge): the trace's rows stay background beyond its ends (widened by
    trace_radius), so a row-read detector's lines under the trace keep background pixels and
    are destriped; a row-constant stripe is then removed from the trace's rows exactly."""
    ny, nx, yc = 16, 120, 8
    img = np.zeros((ny, nx), np.float32)
    img[yc - 1:yc + 2, 20:80] = [[30.0], [100.0], [30.0]]
    pdq = np.zeros(img.shape, np.uint32)
    use, info = ds.make_background_mask(img, pdq, method="trace", trace_radius=2.5, trace_order=1, filter_size=1)
    assert info["trace_x"].min() == 20 and info["trace_x"].max() == 79
    lit = np.zeros(nx, bool)
    lit[17:83] = True                             # 20 - 3 .. 79 + 3 (margin rounded up)
    np.testing.assert_array_equal(ds.trace_columns(info["trace_x"], nx, 2.5), lit)
    rows = np.abs(np.arange(ny) - yc) <= 2.5
    np.testing.assert_array_equal(use, ~(rows[:, None] & lit[None, :]))
    # one group, stripes constant along each row (NIRCam: lines are rows)
    stripes = np.arange(ny, dtype=np.float32)[:, None] * 1.5 - 4.0
    data = (img + stripes)[None, None].copy()
    gdq = np.zeros(data.shape, np.uint8)
    ds.destripe_groups(data, gdq, use, fast_axis=1, min_pixels=5)
    np.testing.assert_allclose(data[0, 0], img, atol=1e-5)
    assert ds.trace_columns(np.zeros(0), nx, 3).sum() == 0


def test_trace_not_found_falls_back_to_sources(caplog):
    img = np.zeros((10, 20), np.float32)
    use, info = ds.make_background_mask(img, np.zeros(img.shape, np.uint32), method="trace")
    assert info["method"] == "sources" and use.all()
    assert "no spectral trace found" in caplog.text


def test_source_mask_threshold_and_growth():
    # background: a fixed spread in [-1, 1] (robust std ~0.58, 3 sigma ~1.7 > 1: no false sources)
    rng = np.random.default_rng(3)
    img = rng.permutation(np.linspace(-1, 1, 400)).reshape(20, 20).astype(np.float32)
    img[10, 12] = 100.0
    pdq = np.zeros(img.shape, np.uint32)
    pdq[0, 0] = dqflags.DO_NOT_USE
    use, info = ds.make_background_mask(img, pdq, method="sources", filter_size=1, source_sigma=3.0, source_grow=1)
    expected = np.ones((20, 20), bool)
    expected[9:12, 11:14] = False                 # the 3 x 3 box around (10, 12)
    expected[0, 0] = False                        # DQ flagged
    np.testing.assert_array_equal(use, expected)
    assert info["n_source"] == 9


def test_user_mask_combined_with_dq():
    img = np.zeros((3, 3), np.float32)
    pdq = np.zeros((3, 3), np.uint32)
    pdq[1, 1] = dqflags.REFERENCE_PIXEL
    user = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], bool)
    use, info = ds.make_background_mask(img, pdq, user_mask=user)
    np.testing.assert_array_equal(use, [[1, 1, 0], [1, 0, 1], [0, 1, 1]])
    assert info["method"] == "user"


# --------------------------------------------------------------------------- the Step, on files

def _meta(shape, **kw):
    head = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_BRIGHTOBJ", "FASTAXIS": 2,
            "SLOWAXIS": 1, "SUBSTRT1": 1, "SUBSTRT2": 1, "NOUTPUTS": 1, "NGROUPS": shape[1], "NFRAMES": 1,
            "TFRAME": 10.73677, "TGROUP": 10.73677}
    head.update(kw)
    return ExposureMeta.from_headers(head, {}, filename="test", shape=shape)


def test_step_registered_with_defaults():
    from rampflow.steps import get_step_class

    cls = get_step_class("destripe")
    assert cls is ds.Destripe and cls.keyword == "S_DESTRI" and cls.reftypes == ()
    with pytest.raises(ValueError, match="unknown parameter"):
        cls(_meta((1, 2, 3, 4)), {}, trace_radiuss=3)


def test_step_with_a_mask_input(tmp_path):
    mask = np.ones((3, 4), bool)
    mask[0, 3] = False                              # source pixel
    meta = _meta((1, 1, 3, 4), FASTAXIS=-1, SLOWAXIS=2, INSTRUME="NIRCAM", DETECTOR="NRCA1",
                 EXP_TYPE="NRC_TSIMAGE")
    step = ds.Destripe(meta, {}, {"destripe_mask": mask}, min_pixels=1)
    data = _frame()[None, None].copy()
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros((3, 4), np.uint32)
    pdq[2, 3] = dqflags.REFERENCE_PIXEL             # excluded although the mask says background
    step.process(data, gdq, pdq, slice(0, 1), slice(0, 3))
    np.testing.assert_array_equal(data[0, 0], [[-1, 0, 1, 98], [-2, -1, 1, 5], [-10, 0, 10, 20]])
    h = step.header_updates()
    assert h["DSTRAXIS"][0] == "rows" and h["DSTRNBKG"][0] == 11


def test_step_needs_its_mask_and_never_opens_files():
    with pytest.raises(KeyError, match="destripe_mask"):
        ds.Destripe(_meta((1, 1, 3, 4)), {}, mask_path="mask.fits")
    with pytest.raises(ValueError, match="shape"):
        ds.Destripe(_meta((1, 1, 3, 4)), {}, {"destripe_mask": np.ones((4, 3), bool)})


def test_user_mask_file_is_read_for_the_step(tmp_path):
    """A user mask (any FITS image, non-zero = background) given as the job's input."""
    from astropy.io import fits

    mask = np.ones((3, 4), np.uint8)
    mask[0, 3] = 0                                  # source pixel
    fits.PrimaryHDU(mask).writeto(tmp_path / "mask.fits")
    meta = _meta((1, 1, 3, 4), FASTAXIS=-1, SLOWAXIS=2, INSTRUME="NIRCAM", DETECTOR="NRCA1",
                 EXP_TYPE="NRC_TSIMAGE")
    np.testing.assert_array_equal(ds.read_mask(tmp_path / "mask.fits", meta), mask.astype(bool))


def _striped_uncal(tmp_path, nints=3, ngroups=3, ny=20, nx=40, seed=1):
    """NIRSpec-like ramps: a trace at row 10, stripes constant along each column per group."""
    from tests.conftest import make_uncal

    rng = np.random.default_rng(seed)
    y = np.arange(ny)[:, None]
    src = 3000.0 * np.exp(-0.5 * ((y - 10.0) / 1.0) ** 2) * np.ones((1, nx))
    g = np.arange(1, ngroups + 1)[None, :, None, None]
    stripes = rng.normal(0, 20, (nints, ngroups, 1, nx))
    data = 10000 + src[None, None] * g + stripes
    path = make_uncal(tmp_path / "jw01_nrs1_uncal.fits", np.rint(data).astype(np.uint16),
                      fastaxis=2, slowaxis=1)
    return path, data


def test_runner_destripe_builds_mask_from_its_input(tmp_path):
    """The generic runner path: no destripe_mask input, the runner builds the trace mask from
    the step's input (as the workflow's mask rule does)."""
    from rampflow import io, runner

    path, _ = _striped_uncal(tmp_path)
    out = tmp_path / "x_destripe.fits"
    runner.run(["destripe"], {"ramp": path}, {"destripe": out}, params={"destripe": {"trace_radius": 4,
                                                                                      "min_pixels": 3}})
    with io.open_ramp(out) as rf:
        sci, _ = rf.read()
        assert rf.primary_header["S_DESTRI"] == "COMPLETE"
        assert rf.primary_header["DSTRAXIS"] == "columns"
        assert rf.primary_header["DSTRMASK"] == "built from input"
    background = np.abs(np.arange(20) - 10) > 4
    # every group's column median over the background rows is now 0 (to rounding of uint16 input)
    med = np.median(sci[:, :, background, :], axis=2)
    assert np.abs(med).max() <= 0.5


def test_write_mask_product_round_trip(tmp_path):
    from rampflow.io.custom import read_mask_product

    path, _ = _striped_uncal(tmp_path)
    out = tmp_path / "x_destripe_mask.fits"
    ds.write_mask(path, out, params={"trace_radius": 4.5, "trace_order": 1})
    mask, header, image = read_mask_product(out)
    expected = np.broadcast_to((np.abs(np.arange(20) - 10) > 4.5)[:, None], (20, 40))
    np.testing.assert_array_equal(mask, expected)
    assert header["DSTRMETH"] == "trace" and header["DSTRNBKG"] == int(expected.sum())
    assert image.shape == (20, 40) and image[10].min() > 5000      # last - first of the trace row
    # the runner reads the product as the step's mask, and records its name
    np.testing.assert_array_equal(ds.read_mask(out, _meta((3, 3, 20, 40))), expected)
    from rampflow import io, runner

    runner.run(["destripe"], {"ramp": path, "destripe_mask": out}, {"destripe": tmp_path / "x_destripe.fits"})
    with io.open_ramp(tmp_path / "x_destripe.fits") as rf:
        assert rf.primary_header["DSTRMASK"] == "x_destripe_mask.fits"
        assert rf.primary_header["DSTRNBKG"] == int(expected.sum())
    # the same mask built by the runner from the input (no mask file): same product
    runner.run(["destripe"], {"ramp": path}, {"destripe": tmp_path / "y_destripe.fits"},
               params={"destripe": {"trace_radius": 4.5, "trace_order": 1}})
    with io.open_ramp(tmp_path / "x_destripe.fits") as a, io.open_ramp(tmp_path / "y_destripe.fits") as b:
        np.testing.assert_array_equal(a.read()[0], b.read()[0])


def test_mask_built_mid_job_from_the_previous_steps_ramp(tmp_path):
    """[group_scale, destripe] in one job without a mask file: destripe starts a new pass
    reading group_scale's ramp (a temporary file, removed), and builds its mask from it; the
    product equals the steps run one by one."""
    from rampflow import io, runner

    path, _ = _striped_uncal(tmp_path)
    params = {"destripe": {"trace_radius": 4, "min_pixels": 3}}
    runner.run(["group_scale"], {"ramp": path}, {"group_scale": tmp_path / "s_group_scale.fits"})
    runner.run(["destripe"], {"ramp": tmp_path / "s_group_scale.fits"}, {"destripe": tmp_path / "s_destripe.fits"},
               params=params)
    out = tmp_path / "job"
    runner.run(["group_scale", "destripe"], {"ramp": path}, {"destripe": out / "j_destripe.fits"}, params=params)
    assert sorted(p.name for p in out.iterdir()) == ["j_destripe.fits"]
    with io.open_ramp(tmp_path / "s_destripe.fits") as a, io.open_ramp(out / "j_destripe.fits") as b:
        np.testing.assert_array_equal(a.read()[0], b.read()[0])
        for key in ("S_GRPSCL", "S_DESTRI", "DSTRMASK", "DSTRNBKG"):
            assert a.primary_header[key] == b.primary_header[key]


def test_missing_mask_path_is_named(tmp_path):
    from rampflow import runner

    path, _ = _striped_uncal(tmp_path)
    with pytest.raises(ValueError, match="nope.fits does not exist"):
        runner.run(["destripe"], {"ramp": path, "destripe_mask": tmp_path / "nope.fits"},
                   {"destripe": tmp_path / "o.fits"})


def test_wiring_passes_the_mask_product():
    from rampflow import wiring

    cfg = {"program": "p", "results": "results", "references": {"overrides": {}},
           "step_params": {"destripe": {"trace_radius": 5, "mask_path": "u.fits"}}}
    assert wiring.step_inputs("destripe") == ("destripe_mask",)
    assert wiring.step_inputs("jump") == ()
    # the user's mask goes to the mask job; the step's job reads the exposure's mask product
    assert wiring.step_params(cfg, "destripe") == {"trace_radius": 5}
    assert wiring.product(cfg, "destripe_mask") == "results/p/stage1/{stem}_destripe_mask.fits"
    assert wiring.step_params(cfg, "jump") == {}
