"""clean_flicker_noise on NIRISS SOSS and the median-image background: the cases of jwst 3.0's
own tests (``test_tso_median_image.py``, the SOSS parts of ``test_clean_flicker_noise.py`` and
``test_clean_flicker_noise_step.py``), in our words, against rampflow's functions, with the
simulator's PASTASOSS reference; the PASTASOSS trace against the simulated trace; the SOSS
background fit against a known template scale."""

import logging

import numpy as np
import pytest

from rampflow import pastasoss
from rampflow.meta import ExposureMeta
from rampflow.steps import flicker_median_image as fmi
from rampflow.steps.clean_flicker_noise import CleanFlickerNoise
from rampflow.steps.flicker_mask import create_mask, soss_trace_mask

PWCPOS = 245.79


def _meta(exp_type="NIS_SOSS", subarray="SUBSTRIP256", ny=256, nx=2048, nints=5, ngroups=3, pwcpos=PWCPOS,
          nframes=1, groupgap=0, tframe=14.5):
    return ExposureMeta(filename="soss_uncal.fits", instrument="NIRISS", detector="NIS", exp_type=exp_type,
                        subarray=subarray, substrt1=1, substrt2=1793, subsize1=nx, subsize2=ny, nints=nints,
                        ngroups=ngroups, nframes=nframes, groupgap=groupgap, frmdivsr=nframes, tframe=tframe,
                        tgroup=tframe, readpatt="NISRAPID", fastaxis=-2, slowaxis=-1, noutputs=1,
                        date_obs="2023-07-22", time_obs="06:24:45", extra={"PWCPOS": pwcpos})


class _Ramp:
    """The bits of a RampFile that the median image reads."""

    def __init__(self, sci, meta):
        self.sci, self.meta, self.shape = sci, meta, sci.shape

    def read(self, ints, rows):
        return self.sci[ints, :, rows], np.zeros(self.sci[ints, :, rows].shape, np.uint8)


@pytest.fixture(scope="module")
def pasta(tmp_path_factory):
    """The simulator's PASTASOSS reference: (path, plain tree)."""
    from rampflow.simulate.niriss_pastasoss import write_pastasoss

    path = write_pastasoss(tmp_path_factory.mktemp("pasta") / "jwst_niriss_pastasoss_nis.asdf", PWCPOS,
                           "2022-01-01T00:00:00")
    return path, pastasoss.read_tree(path)


# --------------------------------------------------------------------------- PASTASOSS traces

def test_reference_traces_land_on_the_simulated_orders(pasta):
    from rampflow.simulate.niriss import ORDERS, order_center

    tree = pasta[1]
    for order, (x0, x1, _) in ORDERS.items():
        x, y, wave = pastasoss.trace(tree, PWCPOS, order)
        assert x.min() == x0 and x1 - 1 <= x.max() <= x1  # order 3's last point leaves the strip (y > 255)
        np.testing.assert_allclose(y, order_center(order, x), atol=1e-4)
        # order 1 from 2.8 um at x = 0 to 0.85 um at x = 2047, order m at 1/m of it
        np.testing.assert_allclose(wave, (2.8 - 1.95 * x / 2047) / order, rtol=1e-12)
    x96, y96, _ = pastasoss.trace(tree, PWCPOS, 1, "SUBSTRIP96")
    np.testing.assert_allclose(y96, order_center(1, x96) - 10, atol=1e-3)  # jwst shifts before rotating


def test_pwcpos_out_of_bounds_and_unknown_orders_are_refused(pasta):
    tree = pasta[1]
    with pytest.raises(ValueError, match="outside bounds"):
        pastasoss.trace(tree, 250.0, 1)
    with pytest.raises(ValueError, match="not supported"):
        pastasoss.trace(tree, PWCPOS, 4)
    with pytest.raises(ValueError, match="None of the requested orders"):
        pastasoss.spectraces(tree, PWCPOS, orders=[5])


def test_box_weights_sum_to_the_width_and_cover_fractions():
    w = pastasoss.box_weights(np.array([10.0, 10.3]), 15, (30, 3), np.array([0, 2]))
    np.testing.assert_allclose(w.sum(axis=0), [15, 0, 15])
    assert (w[3:18, 0] == 1).all() and w[2, 0] == 0 and w[18, 0] == 0  # rows 3-17 whole
    assert (w[4:18, 2] == 1).all()
    np.testing.assert_allclose([w[3, 2], w[18, 2]], [0.7, 0.3])  # 10.3 +- 7.5: fractions at both ends


def test_soss_mask_covers_the_traces(pasta):
    """jwst's test_create_mask_soss: with mask_science_regions the traces are not background:
    between half and 90 % of SUBSTRIP256 stays background."""
    path, tree = pasta
    from rampflow.references import Reference

    meta = _meta()
    ref = Reference(reftype="pastasoss", path=str(path), header={}, tree=tree)
    traces = soss_trace_mask(meta, {"pastasoss": ref}, (256, 2048))
    mask = create_mask(np.ones((5, 256, 2048), np.float32), np.zeros((5, 256, 2048), np.uint32), "NIS_SOSS",
                       mask_science_regions=True, soss_traces=traces)
    assert 0.5 < mask.mean() < 0.9
    # the order-1 trace row of each column is masked, +-16 rows around it
    x, y, _ = pastasoss.trace(tree, PWCPOS, 1)
    cols = x.astype(int)
    assert not mask[0, np.round(y).astype(int), cols].any()
    assert mask[0, 255, 0] and not mask[0, int(np.ceil(y[0] + 16)), 0]
    with pytest.raises(ValueError, match="PASTASOSS"):
        soss_trace_mask(meta, {}, (256, 2048))


# --------------------------------------------------------------------------- median image (jwst's cases)

def test_median_image_needs_two_integrations():
    meta = _meta("NRC_IMAGE", nints=1)
    ramp = _Ramp(np.ones((1, 3, 8, 8), np.float32), meta)
    with pytest.raises(ValueError, match="<2 integrations"):
        fmi.make_median_image(ramp, np.ones((1, 8, 8), np.float32), np.zeros((1, 8, 8), np.uint32))


def test_flat_ramp_median_image_is_the_ramp():
    """Not a TSO mode: flat data, the median image is the input (jwst's non-TSO ramp case)."""
    sci = np.zeros((5, 3, 16, 20), np.float32)
    sci[:, :] = np.arange(3, dtype=np.float32)[:, None, None]
    meta = _meta("NRC_IMAGE", ny=16, nx=20)
    med = fmi.make_median_image(_Ramp(sci, meta), np.ones((5, 16, 20), np.float32), np.zeros((5, 16, 20), np.uint32),
                                chunk_mb=0.001)
    for i in range(5):
        np.testing.assert_array_equal(med.integration(i), sci[i])


def test_flux_scaling_follows_the_integrations_and_skips_invalid_ones():
    rng = np.random.default_rng(42)
    rate = rng.normal(1.0, 0.01, (4, 16, 20)).astype(np.float32)
    rate *= np.array([1.0, 0.99, 1.0, 1.02], np.float32)[:, None, None]
    norm = fmi.normalise_flux(fmi.image_median_flux(rate))
    np.testing.assert_allclose(norm / norm[0], [1.0, 0.99, 1.0, 1.02], rtol=3e-3)
    rate[1] = np.nan  # jwst's "some invalid": scaled by the median flux instead
    norm = fmi.normalise_flux(fmi.image_median_flux(rate))
    assert norm[1] == np.median(norm[[0, 2, 3]])
    with pytest.raises(ValueError, match="No valid flux"):
        fmi.normalise_flux(fmi.image_median_flux(rate * np.nan))


def test_background_ramp_follows_the_read_times():
    """jwst's test_make_background_ramp: group j at (nframes + (nframes + groupgap) j) frame_time."""
    bg = np.random.default_rng(42).normal(0, 1, (2, 4, 5)).astype(np.float32)
    times = fmi.group_times(2, 3, 4.0, 3)
    assert times == [8.0, 28.0, 48.0]
    ramp = fmi.background_ramp(bg, times)
    assert ramp.shape == (2, 3, 4, 5)
    for j in range(3):
        np.testing.assert_allclose(ramp[:, j], bg * (2 + 5 * j) * 4)


def test_input_is_not_modified():
    rng = np.random.default_rng(42)
    sci = (np.arange(3, dtype=np.float32)[None, :, None, None] + rng.normal(0, 0.01, (5, 3, 16, 20))).astype(
        np.float32)
    rate = np.ones((5, 16, 20), np.float32) + rng.normal(0, 0.01, (5, 16, 20)).astype(np.float32)
    copies = sci.copy(), rate.copy()
    med = fmi.make_median_image(_Ramp(sci, _meta("NRC_IMAGE", ny=16, nx=20)), rate, np.zeros((5, 16, 20), np.uint32))
    for i in range(5):
        np.testing.assert_allclose(med.integration(i), sci[i], atol=0.05)
    np.testing.assert_array_equal(sci, copies[0])
    np.testing.assert_array_equal(rate, copies[1])


# --------------------------------------------------------------------------- SOSS background and box flux

def _template():
    """A SOSS-like background template (1, 256, 2048): a 40 % step at column 700, a gentle rise with row."""
    y, x = np.mgrid[:256, :2048]
    return (np.where(x >= 700, 1.4, 1.0) * (1.0 + 0.1 * y / 255.0)).astype(np.float32)[None]


def test_soss_box_white_light_of_ones(pasta):
    """jwst's test_soss_extract: a 15-pixel box of ones in every column of order 1."""
    flux = fmi.soss_white_light(np.ones((5, 256, 2048), np.float32), pasta[1], PWCPOS)
    np.testing.assert_allclose(flux, 15 * 2048, rtol=1e-12)


def test_soss_background_recovers_the_template_scale():
    """A scene of 3 x the template plus 1 % noise and a bright trace: the fitted background is
    3 x the template on both sides of its discontinuity, to 1.5 % (jwst's fit takes the pixels
    below the 35th percentile and the ratios between their 25th and 50th: biased low by about
    the noise)."""
    tmpl = _template()
    rng = np.random.default_rng(7)
    data = np.repeat(3.0 * tmpl, 3, axis=0) * (1 + rng.normal(0, 0.01, (3, 256, 2048))).astype(np.float32)
    data[:, 60:90, :] += 500.0
    background, bgsub = fmi.soss_background_rate(data.astype(np.float32), np.zeros(data.shape, np.uint32), tmpl)
    scale = background / tmpl
    np.testing.assert_allclose(scale, 3.0, rtol=0.015)
    assert np.ptp(scale[:, :, :650]) < 1e-4 and np.ptp(scale[:, :, 750:]) < 1e-4  # one scale per side
    np.testing.assert_allclose(np.median(bgsub[:, 150:, :] / tmpl[:, 150:, :]), 0.0, atol=0.05)


def test_soss_background_without_templates_is_zero_and_nans_are_filled():
    rate = np.ones((3, 64, 64), np.float32)
    for i in range(3):
        rate[i, 10 + i * 10, 10 + i * 10] = np.nan
    background, bgsub = fmi.soss_background_rate(rate, np.zeros(rate.shape, np.uint32), None)
    assert bgsub is rate or np.array_equal(bgsub, rate, equal_nan=True)
    np.testing.assert_array_equal(background, 0.0)  # NaNs replaced by the (zero) model of the rest
    with pytest.raises(ValueError, match="No valid values in background rate"):
        fmi.soss_background_rate(rate * np.nan, np.zeros(rate.shape, np.uint32), None)


@pytest.mark.parametrize("model_failed", [True, False])
def test_soss_background_nans_take_the_local_model(monkeypatch, model_failed):
    """jwst's test_soss_background_replace_invalid: NaNs in the background rate take the 2-D
    model of the rest, or its median when the model fails."""
    from rampflow.steps import flicker_fit

    tmpl = _template()
    data = np.repeat(2.0 * tmpl, 3, axis=0) * (1 + np.random.default_rng(3).normal(0, 0.01, (3, 256, 2048)))
    data = data.astype(np.float32)
    for i in range(3):
        data[i, 200 + i * 10, 100 + i * 10] = np.nan
    if model_failed:
        real = flicker_fit.background_level
        monkeypatch.setattr(flicker_fit, "background_level",
                            lambda img, m, **k: real(img, m, background_method="median"))
    background, _ = fmi.soss_background_rate(data, np.zeros(data.shape, np.uint32), tmpl)
    assert np.isfinite(background).all()
    for i in range(3):
        expect = 2.0 * tmpl[0, 200 + i * 10, 100 + i * 10]
        # the model follows the template's local level; the median is the level of the whole strip
        np.testing.assert_allclose(background[i, 200 + i * 10, 100 + i * 10], expect, rtol=0.03 if not model_failed
                                   else 0.35)


def test_template_rows_as_jwst():
    t = np.ones((1, 96, 2048), np.float32)
    assert fmi.soss_template_for(t, 96, 256) is not None  # SUBSTRIP96 from a SUBSTRIP256 template
    assert fmi.soss_template_for(t, 96, 96) is not None
    assert fmi.soss_template_for(np.ones((1, 128, 2048)), 128, 256) is None  # jwst skips the background


# --------------------------------------------------------------------------- step checks (jwst's step tests)

def test_step_fails_without_pastasoss_or_on_other_subarrays(caplog, pasta):
    with caplog.at_level(logging.WARNING):
        step = CleanFlickerNoise(_meta(), {"readnoise": None, "gain": None}, background_method="median_image")
    assert step.skipped and step.failed and "No PASTASOSS reference file" in caplog.text
    assert "pastasoss file" in step.skipped
    step = CleanFlickerNoise(_meta(subarray="GENERIC", ny=128), {"readnoise": None, "gain": None},
                             background_method="median_image")
    assert step.failed and "subarray GENERIC" in step.skipped
    types = CleanFlickerNoise.reftypes_for(_meta(), {**CleanFlickerNoise.defaults, "background_method": "median_image"})
    assert set(types) == {"readnoise", "gain", "pastasoss", "bkg", "wavelengthrange"}
    assert CleanFlickerNoise.reftypes_for(_meta("NRC_IMAGE"), CleanFlickerNoise.defaults) == ("readnoise", "gain")


def test_median_image_forces_per_integration_masks(caplog):
    with caplog.at_level(logging.WARNING):
        step = CleanFlickerNoise(_meta("NRC_IMAGE", subarray="SUB64"), {"readnoise": None, "gain": None},
                                 background_method="median_image")
    assert step.std["single_mask"] is False and "requires draft rateints" in caplog.text


def test_a_crds_parameter_file_asking_for_median_image_is_applied(tmp_path):
    """median_image is implemented: a pars-cleanflickernoisestep asking for it (and for the trace
    mask) is applied, not refused as an unimplemented value."""
    import asdf

    from rampflow import references

    path = tmp_path / "cfn.asdf"
    asdf.AsdfFile({"class": "jwst.clean_flicker_noise.clean_flicker_noise_step.CleanFlickerNoiseStep", "name": "x",
                   "parameters": {"background_method": "median_image", "mask_science_regions": True}}).write_to(path)
    res = references.resolve_parameters(_meta(), "clean_flicker_noise", None,
                                        overrides={"pars-cleanflickernoisestep": str(path)})
    assert res.values["background_method"] == "median_image" and res.sources["background_method"] == "cfn.asdf"
    assert res.values["mask_science_regions"] is True


@pytest.mark.parametrize("exp_type", ["NRS_BRIGHTOBJ", "NRC_TSIMAGE"])
def test_tso_scaling_flux_is_the_source_scale(exp_type):
    """rampflow's own box / aperture on a hand-built scene (a curved trace, or a star, over a flat
    background) multiplied per integration: the normalised flux is the source's scale when the
    background is 0, and the pixels far from the source do not enter it."""
    y, x = np.mgrid[:32, :200].astype(np.float64)
    if exp_type == "NRC_TSIMAGE":
        scene = 1000.0 * np.exp(-0.5 * ((y - 15.3) ** 2 + (x - 90.6) ** 2) / 1.5 ** 2)
    else:
        scene = 500.0 * np.exp(-0.5 * ((y - 14.0 - 3e-4 * (x - 100) ** 2) / 1.0) ** 2)
    scale = np.array([1.0, 1.01, 0.97, 0.96, 1.0, 1.02])
    rate = scale[:, None, None] * scene[None]
    rate[:, 0:2, :] = 50.0  # far from the source: outside the box / aperture
    rate[2, 5, 7] = np.nan  # NaN counts as 0, as jwst's nansums
    meta = _meta(exp_type, subarray="SUBX", ny=32, nx=200, nints=6)
    assert fmi.needs_wcs(exp_type, fmi.is_tso(meta))
    norm = fmi.normalise_flux(fmi.tso_flux(rate, meta))
    np.testing.assert_allclose(norm, scale / np.median(scale), rtol=1e-6)


def test_soss_full_frame_median_image_fails_as_jwst():
    """jwst's test_soss_full_frame: median_image is not available for SOSS on FULL."""
    step = CleanFlickerNoise(_meta(subarray="FULL", ny=2048), {"readnoise": None, "gain": None},
                             background_method="median_image")
    assert step.failed and "subarray FULL" in step.skipped


def test_flat_soss_ramp_is_its_own_median_image(pasta):
    """jwst's test_tso_median_image: a SOSS ramp of constant rate (group j = j everywhere), traces
    masked, median image saved: the background is the input and cleaning leaves it unchanged."""
    from rampflow.references import Reference

    meta = _meta(ny=256, nx=2048, nints=5, ngroups=3)
    sci = np.zeros((5, 3, 256, 2048), np.float32)
    sci[:, :] = np.arange(3, dtype=np.float32)[:, None, None]
    refs = {"readnoise": None, "gain": None,
            "pastasoss": Reference(reftype="pastasoss", path=str(pasta[0]), header={}, tree=pasta[1])}
    step = CleanFlickerNoise(meta, refs, background_method="median_image", mask_science_regions=True)
    assert step.std["single_mask"] is False and not step.skipped
    rate = np.ones((5, 256, 2048), np.float32)
    step.median = fmi.make_median_image(_Ramp(sci, meta), rate, np.zeros(rate.shape, np.uint32),
                                        pastasoss_tree=pasta[1])
    traces = soss_trace_mask(meta, refs, (256, 2048))
    step.mask = create_mask(rate, np.zeros(rate.shape, np.uint32), "NIS_SOSS", mask_science_regions=True,
                            soss_traces=traces)
    for i in range(5):
        np.testing.assert_array_equal(step.median.integration(i), sci[i])
    out = sci.copy()
    step.process(out, np.zeros(out.shape, np.uint8), np.zeros((256, 2048), np.uint32), slice(0, 5), slice(0, 256))
    np.testing.assert_array_equal(out, sci)
    assert step.cleaned == 15  # every group, the first included


def test_wavelength_range_of_order_1_as_jwst(pasta):
    tree = {"wavelengthrange": [[1, "CLEAR", 0.9, 2.8], [2, "CLEAR", 0.6, 1.4], [1, "F277W", 2.4, 2.8]]}
    assert fmi.soss_waverange(tree, "CLEAR") == (0.9, 2.8)
    assert fmi.soss_waverange(None, "CLEAR") is None
    with pytest.raises(ValueError, match="No reference wavelength range"):
        fmi.soss_waverange(tree, "F150W")
    with pytest.raises(ValueError, match="Multiple"):
        fmi.soss_waverange({"wavelengthrange": tree["wavelengthrange"] * 2}, "CLEAR")
    # ones: columns whose box wavelength is in 1.2-2.0 um (x = 2047 (2.8 - w) / 1.95), 15 each
    ones = np.ones((2, 256, 2048), np.float32)
    flux = fmi.soss_white_light(ones, pasta[1], PWCPOS, "SUBSTRIP256", (1.2, 2.0))
    ncols = flux[0] / 15
    assert abs(ncols - 2047 * 0.8 / 1.95) < 3
    np.testing.assert_allclose(fmi.soss_white_light(ones, pasta[1], PWCPOS, "SUBSTRIP256", (0.0, 10.0)), 15 * 2048)
