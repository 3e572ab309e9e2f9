"""clean_flicker_noise: the cases of jwst 3.0's own tests (jwst/clean_flicker_noise/tests), in our
words, against rampflow's functions; hand-built ramps for the group chaining and the DQ
masking; the median kernel against numpy.ma.median."""

import logging

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.steps.clean_flicker_noise import CleanFlickerNoise, check_input, standardize
from rampflow.steps.flicker_fft import fft_clean_full_frame, fft_clean_subarray
from rampflow.steps.flicker_fit import background_level, clean_one_image, clip_to_background, median_clean
from rampflow.steps.flicker_mask import check_science_regions, create_mask

#: the draft rate's references are not used where the scene mask is given
NO_REFS = {"readnoise": None, "gain": None}


def _meta(exp_type="NRC_IMAGE", subarray="SUB64", ny=16, nx=20, nints=2, ngroups=4, slowaxis=2, detector="NRCA1"):
    inst = "NIRSPEC" if exp_type.startswith("NRS") else "MIRI" if exp_type.startswith("MIR") else "NIRCAM"
    return ExposureMeta(filename="x_uncal.fits", instrument=inst, detector=detector, exp_type=exp_type,
                        subarray=subarray, substrt1=1, substrt2=1, subsize1=nx, subsize2=ny, nints=nints,
                        ngroups=ngroups, nframes=1, groupgap=0, frmdivsr=1, tframe=1.0, tgroup=1.0,
                        readpatt="RAPID", fastaxis=1 if abs(slowaxis) == 2 else 2, slowaxis=slowaxis, noutputs=1,
                        date_obs="2024-01-01", time_obs="00:00:00")


# --------------------------------------------------------------------------- background_level.py

@pytest.mark.parametrize("fit_histogram", [True, False])
@pytest.mark.parametrize("lower_half_only", [True, False])
def test_clip_to_background_clips_outliers_both_ways(fit_histogram, lower_half_only):
    rng = np.random.default_rng(123)
    image = rng.normal(0, 0.01, size=(100, 100))
    image[0, 0] += 1
    image[1, 1] -= 1
    kw = dict(fit_histogram=fit_histogram, lower_half_only=lower_half_only)
    mask = np.full(image.shape, True)
    clip_to_background(image, mask, **kw)
    assert not mask[0, 0] and not mask[1, 1] and mask.mean() > 0.95
    mask = np.full(image.shape, True)
    clip_to_background(image, mask, sigma_upper=1000, **kw)
    assert mask[0, 0] and not mask[1, 1] and mask.mean() > 0.95
    mask = np.full(image.shape, True)
    clip_to_background(image, mask, sigma_lower=1000, **kw)
    assert not mask[0, 0] and mask[1, 1] and mask.mean() > 0.95


def test_clip_to_background_failed_fits_keep_the_mask(caplog):
    image = np.full((10, 10), np.nan)
    mask = np.full(image.shape, True)
    with caplog.at_level(logging.ERROR):
        clip_to_background(image, mask, fit_histogram=True)
    assert mask.all() and "Histogram failed" in caplog.text
    mask[:] = False  # nothing to clip: unchanged
    clip_to_background(image, mask, fit_histogram=True)
    assert not mask.any()
    image = np.zeros((10, 10))
    image[5:, 5:] = 0.1  # not a Gaussian: the fit fails, clip stats are kept
    mask = np.full(image.shape, True)
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        clip_to_background(image, mask, fit_histogram=True)
    assert mask.all() and "Gaussian fit failed" in caplog.text


def test_background_level_methods(caplog):
    image = np.full((100, 100), 1.0)
    image[50, 50] = 1000
    assert background_level(image, np.full(image.shape, True), background_method=None) == 0.0
    assert background_level(image, np.full(image.shape, True), background_method="median") == 1.0
    bkg = background_level(image, np.full(image.shape, True), background_method="model", background_box_size=(10, 10))
    assert bkg.shape == image.shape and np.all(bkg == 1.0)
    with caplog.at_level(logging.WARNING):
        bkg = background_level(image, np.full(image.shape, True), background_method="model",
                               background_box_size=(32, 32))
    assert "does not divide evenly" in caplog.text and np.all(bkg == 1.0)
    bkg = background_level(image, np.full(image.shape, True), background_method="model")  # default box: 25 x 25
    assert np.all(bkg == 1.0)


# --------------------------------------------------------------------------- median fit

def test_median_clean_removes_stripes_along_the_axis_asked():
    mask = np.full((20, 20), True)
    assert np.all(median_clean(np.zeros((20, 20)), mask, 1) == 0)
    high, low = np.full((20, 4), 0.1), np.full((20, 4), -0.1)
    image = np.hstack([high, low, high, low, high])
    np.testing.assert_allclose(median_clean(image, mask, 1), 0.0, atol=1e-7)  # medians of columns
    np.testing.assert_allclose(median_clean(image, mask, 2), image - 0.1, atol=1e-7)  # medians of rows


def test_median_clean_by_channel():
    mask = np.full((2048, 2048), True)
    high, low = np.full((2048, 16), 0.1), np.full((2048, 16), -0.1)
    image = np.hstack([high, low] * 64)
    offset = np.zeros_like(image)
    for k, v in enumerate((0.2, 0.3, 0.4, 0.5)):
        offset[512 * k:512 * (k + 1)] += v
    image += offset
    np.testing.assert_allclose(median_clean(image, mask, 1, fit_by_channel=True), 0.0, atol=1e-7)
    np.testing.assert_allclose(median_clean(image, mask, 1, fit_by_channel=False), offset - 0.35, atol=1e-7)
    np.testing.assert_allclose(median_clean(image, mask, 2, fit_by_channel=True), image - offset, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [1, 2])
def test_median_kernel_is_numpy_ma_median(dtype, axis):
    """Bit for bit as jwst's np.ma.median (even counts: the mean of the two middle values in the
    image's dtype; a line with no background pixel: 0)."""
    rng = np.random.default_rng(3)
    image = rng.normal(10, 3, (37, 24)).astype(dtype)
    mask = rng.random(image.shape) > 0.4
    mask[:, 5] = False
    mask[7, :] = False
    stripes = np.ma.filled(np.ma.median(np.ma.array(image, mask=~mask), axis=axis - 1, keepdims=True), 0.0)
    got = median_clean(image, mask, axis)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, image - stripes)


# --------------------------------------------------------------------------- fft fit

@pytest.mark.parametrize("full,fraction_good", [(True, 0.65), (False, 0.37)])
@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_fft_clean_regular_pattern(full, fraction_good, detector):
    clean = fft_clean_full_frame if full else fft_clean_subarray
    mask = np.full((80, 80), True)
    np.testing.assert_allclose(clean(np.zeros((80, 80)), mask, detector), 0.0, atol=1e-12)
    high, low = np.full((80, 16), 0.1), np.full((80, 16), -0.1)
    image = np.hstack([high, low, high, low, high])
    cleaned = clean(image.copy(), mask, detector)
    assert abs(np.mean(np.abs(cleaned) < 0.01) - fraction_good) <= 0.1


def test_fft_subarray_without_background_pixels(caplog):
    image = np.ones((10, 10))
    mask = np.full(image.shape, False)
    with caplog.at_level(logging.WARNING), np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        assert fft_clean_subarray(image.copy(), mask, "NRS1") is None
    assert "No good pixels" in caplog.text
    mask[5, 5] = True
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(fft_clean_subarray(image.copy(), mask, "NRS1", minfrac=0.5), image)
    assert "Insufficient reference pixels" in caplog.text


def test_fft_singular_fit_returns_none(monkeypatch, caplog):
    from rampflow.steps import flicker_fft

    def fail(*a, **k):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(flicker_fft, "subarray_model", fail)
    monkeypatch.setattr(flicker_fft, "fit_full_frame", fail)
    mask = np.full((10, 10), True)
    with caplog.at_level(logging.WARNING):
        assert fft_clean_subarray(np.ones((10, 10)), mask, "NRS1") is None
        assert fft_clean_full_frame(np.ones((10, 10)), mask, "NRS1") is None
    assert "Error cleaning image" in caplog.text


# --------------------------------------------------------------------------- scene mask

def test_create_mask_from_rateints():
    data = np.ones((3, 10, 10))
    for i in range(3):
        data[i, i, i] += 100
    mask = create_mask(data, np.zeros((3, 10, 10), np.uint32), "MIR_IMAGE")
    assert mask.shape == data.shape and np.sum(mask) == mask.size - 3
    assert not mask[0, 0, 0] and not mask[1, 1, 1] and not mask[2, 2, 2]
    single = create_mask(data, np.zeros((3, 10, 10), np.uint32), "MIR_IMAGE", single_mask=True)
    assert single.shape == (10, 10) and np.sum(single) == 100 - 3
    assert not single[0, 0] and not single[1, 1] and not single[2, 2]


def test_create_mask_no_data_and_no_clipping():
    data = np.ones((6, 6))
    data[0, 0] = np.nan
    data[1, 1] = 0.0
    data[2, 2] = 50.0
    mask = create_mask(data, np.zeros((6, 6), np.uint32), "NRC_IMAGE", n_sigma=0)
    assert not mask[0, 0] and not mask[1, 1] and mask[2, 2] and mask.sum() == 34


def test_science_regions_need_reference_data_rampflow_lacks():
    for exp in ("NRS_BRIGHTOBJ", "NRS_IFU"):
        with pytest.raises(NotImplementedError, match="mask_science_regions"):
            check_science_regions(exp, True)
    check_science_regions("NIS_SOSS", True)  # masked from the PASTASOSS reference
    check_science_regions("NRC_IMAGE", True)  # jwst masks nothing there either
    check_science_regions("NRS_BRIGHTOBJ", False)


# --------------------------------------------------------------------------- step checks

def test_unsupported_inputs_fail_as_jwst():
    assert "not supported" in check_input("MIR_LRS-SLITLESS", "median")
    assert check_input("MIR_IMAGE", "median") is None
    for exp in ("MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE"):
        assert "cannot be applied" in check_input(exp, "fft")
    assert check_input("NRS_BRIGHTOBJ", "fft") is None
    step = CleanFlickerNoise(_meta("NRC_IMAGE"), NO_REFS, fit_method="fft")
    assert step.skipped and step.failed


def test_standardize_parameters():
    p = standardize({**CleanFlickerNoise.defaults, "fit_by_channel": True, "background_method": "None",
                     "user_mask": "none"}, _meta("NRC_IMAGE", subarray="SUB64"))
    assert p["fit_by_channel"] is False and p["background_method"] is None and p["user_mask"] is None
    assert p["axis_to_correct"] == 2 and p["fc"] == (1061, 1211, 49943, 49957)
    p = standardize(dict(CleanFlickerNoise.defaults, fit_by_channel=True), _meta("NRC_IMAGE", subarray="FULL"))
    assert p["fit_by_channel"] is True
    p = standardize(dict(CleanFlickerNoise.defaults), _meta("NRS_MSASPEC", subarray="ALLSLITS", slowaxis=-1))
    assert p["axis_to_correct"] == 1 and p["fc"] == (150, 200, 49943, 49957)
    assert standardize(dict(CleanFlickerNoise.defaults), _meta("MIR_IMAGE", slowaxis=2))["axis_to_correct"] == 1


def test_not_implemented_options_are_refused():
    CleanFlickerNoise(_meta("NRS_BRIGHTOBJ", slowaxis=1, detector="NRS1"), NO_REFS, autoparam=True)  # no-op, as jwst
    with pytest.raises(ValueError, match="background_box_size"):
        CleanFlickerNoise.check_params({"background_box_size": [32]})
    CleanFlickerNoise.check_params({"background_box_size": [32, 16], "background_method": None})


# --------------------------------------------------------------------------- ramps, by hand

def _run_ramp(sci, gdq, mask, **params):
    step = CleanFlickerNoise(_meta(ny=sci.shape[2], nx=sci.shape[3], nints=sci.shape[0], ngroups=sci.shape[1]), NO_REFS,
                             **params)
    step.mask, step.mask_source = mask, "test"
    step.process(sci, gdq, np.zeros(sci.shape[2:], np.uint32), slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return step


def test_ramp_stripes_removed_and_groups_chained():
    """Row offsets (NIRCam: slow axis x, stripes along rows) growing by +1 / -1 on alternate rows
    from group to group: each cleaned difference is the background level (the median
    difference, here exactly the slope) everywhere, chained onto the cleaned group before;
    group 0 is unchanged; the masked source gets its row's correction too."""
    nints, ngroups, ny, nx = 2, 4, 12, 30
    slope = 5.0
    j = np.arange(ngroups, dtype=np.float32)[None, :, None, None]
    sign = np.where(np.arange(ny) % 2 == 0, 1.0, -1.0).astype(np.float32)[None, None, :, None]
    base = np.random.default_rng(7).normal(100, 10, (nints, 1, ny, nx)).astype(np.float32)
    sci = (base + slope * j + sign * j).astype(np.float32)
    sci[:, :, 3, 7] += 1000.0 * j[:, :, 0, 0]  # a bright source, masked out
    mask = np.full((ny, nx), True)
    mask[:, 7] = False  # the source's column: as many +1 as -1 rows stay in the background
    gdq = np.zeros(sci.shape, np.uint8)
    orig = sci.copy()
    _run_ramp(sci, gdq, mask)
    np.testing.assert_array_equal(sci[:, 0], orig[:, 0])
    expect = base + slope * j
    expect[:, :, 3, 7] += 1000.0 * j[:, :, 0, 0]
    np.testing.assert_allclose(sci, expect, atol=1e-4)
    sci = orig.copy()
    _run_ramp(sci, gdq, mask, background_method=None)  # no background: the row medians take the slope too
    expect = np.broadcast_to(base, sci.shape).copy()
    expect[:, :, 3, 7] += 1000.0 * j[:, :, 0, 0]
    np.testing.assert_allclose(sci, expect, atol=1e-4)


def test_jump_and_do_not_use_groups_are_not_background():
    nints, ngroups, ny, nx = 1, 3, 4, 5
    sci = np.zeros((nints, ngroups, ny, nx), np.float32)
    sci[0, 1] = 1.0
    sci[0, 2] = 2.0
    sci[0, 1:, 0, 0] += 100.0  # a jump in group 1 of pixel (0, 0): it would drag row 0's median up
    sci[0, 1:, 0, 1] += 100.0
    sci[0, 1:, 0, 2] += 100.0
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[0, 1, 0, :3] = dq.JUMP_DET
    mask = np.full((ny, nx), True)
    step = _run_ramp(sci, gdq, mask, n_sigma=0.0, background_method=None)
    # row 0 of group 1: background pixels (0, 3), (0, 4) have difference 1 -> median 1 removed
    np.testing.assert_allclose(sci[0, 1, 0], [100, 100, 100, 0, 0])
    np.testing.assert_allclose(sci[0, 1, 1:], 0.0)
    assert step.cleaned == 2


def test_an_image_with_no_background_left_is_not_cleaned(caplog):
    sci = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    gdq = np.full(sci.shape, dq.DO_NOT_USE, np.uint8)
    orig = sci.copy()
    with caplog.at_level(logging.WARNING):
        step = _run_ramp(sci, gdq, np.full((4, 5), True))
    np.testing.assert_array_equal(sci, orig)
    assert step.left == 4 and "No usable data" in caplog.text


def test_clean_one_image_restores_nans():
    image = np.ones((6, 8), np.float32)
    image[2, 3] = np.nan
    mask = np.full(image.shape, True)
    cleaned, background, ok = clean_one_image(image, mask, background_method="median", background_box_size=None,
                                              n_sigma=2.0, fit_method="median", detector="NRCA1", fc=None,
                                              axis_to_correct=2, fit_by_channel=False)
    assert ok and background == 1.0 and np.isnan(cleaned[2, 3]) and not mask[2, 3]
    np.testing.assert_allclose(np.delete(cleaned.ravel(), 2 * 8 + 3), 1.0)


# --------------------------------------------------------------------------- user masks (jwst's cases)

def _user_mask_file(tmp_path, mask):
    from stdatamodels.jwst import datamodels

    model = datamodels.CubeModel(mask.astype(np.float32)) if mask.ndim == 3 else \
        datamodels.ImageModel(mask.astype(np.float32))
    path = tmp_path / f"mask{mask.ndim}.fits"
    model.save(str(path))
    return str(path)


@pytest.mark.parametrize("ndim", [2, 3])
def test_user_mask_is_used_as_given(tmp_path, ndim):
    from types import SimpleNamespace

    nints, ngroups, ny, nx = 2, 3, 8, 10
    mask = np.full((nints, ny, nx) if ndim == 3 else (ny, nx), True)
    mask[..., 2, :] = False  # one row never background
    meta = _meta(ny=ny, nx=nx, nints=nints, ngroups=ngroups)
    step = CleanFlickerNoise(meta, NO_REFS, user_mask=_user_mask_file(tmp_path, mask), n_sigma=0.0)
    step.prepare(SimpleNamespace(shape=(nints, ngroups, ny, nx), meta=meta))  # no draft rate is made
    assert step.mask.shape == mask.shape and (step.mask == mask).all()
    assert step.mask_source == f"mask{ndim}.fits"
    sci = np.zeros((nints, ngroups, ny, nx), np.float32)
    sci[:, 1:] += np.arange(ny, dtype=np.float32)[None, None, :, None]  # row offsets in group 1 on
    step.process(sci, np.zeros(sci.shape, np.uint8), np.zeros((ny, nx), np.uint32), slice(0, nints), slice(0, ny))
    assert np.all(sci[:, 1, 2] == 2.0)  # no background pixel in row 2: its stripe stays
    assert np.all(sci[:, 1][:, np.arange(ny) != 2] == sci[0, 1, 0, 0])


@pytest.mark.parametrize("shape", [(9, 10), (3, 8, 10)])
def test_user_mask_that_does_not_fit_fails_the_step(tmp_path, shape):
    from types import SimpleNamespace

    meta = _meta(ny=8, nx=10, nints=2, ngroups=3)
    step = CleanFlickerNoise(meta, NO_REFS, user_mask=_user_mask_file(tmp_path, np.ones(shape, bool)))
    step.prepare(SimpleNamespace(shape=(2, 3, 8, 10), meta=meta))
    assert step.skipped and step.failed and step.mask is None


def test_missing_user_mask_is_named(tmp_path):
    from types import SimpleNamespace

    meta = _meta(ny=8, nx=10)
    step = CleanFlickerNoise(meta, NO_REFS, user_mask=str(tmp_path / "nope.fits"))
    with pytest.raises(ValueError, match="nope.fits"):
        step.prepare(SimpleNamespace(shape=(2, 4, 8, 10), meta=meta))
