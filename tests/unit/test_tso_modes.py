"""The near-infrared time-series modes: simulated layouts and headers, the mode geometry read from
headers, SOSS order finding and the background template, on small hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import lightcurves, modes
from rampflow.lightcurves.config import LightCurveError
from rampflow.lightcurves.orders import find_orders, source_mask
from rampflow.lightcurves.template import load_template, template_scale
from rampflow.simulate import kinds
from rampflow.simulate.geometry import geometry


@pytest.mark.parametrize("kind, det, size, phys, expect", [
    # SUBSTRIP256: NIRISS reads 256-pixel lines (along y) over 2048 + 1 line times
    ("niriss_soss", "NIS", None, {}, ("SUBSTRIP256", 1, 1793, 1, 5.49132)),
    ("niriss_soss", "NIS", [96, 2048], {}, ("SUBSTRIP96", 1, 1803, 1, 2.21292)),
    ("nircam_grism_tso", "NRCALONG", [256, 2048], {}, ("SUBGRISM256", 1, 1, 4, 1.34668)),
    ("nircam_grism_tso", "NRCALONG", [128, 2048], {"noutputs": 1}, ("SUBGRISM128", 1, 1, 1, 2.65740)),
    ("nircam_imaging_tso", "NRCA3", None, {}, ("SUB64P", 1, 1, 1, 0.04940)),
])
def test_subarray_outputs_and_frame_time(kind, det, size, phys, expect):
    """TFRAME = (pixels per line per output + 12) x (lines + 1) x 10 us, lines along the slow axis."""
    g = geometry(kind, det, size, 3, None, kinds.resolve_physics(kind, phys))
    assert (g.subarray, g.xstart, g.ystart, g.noutputs) == expect[:4]
    assert g.tframe == pytest.approx(expect[4], abs=2e-5)


def test_readout_axes_of_the_new_detectors():
    assert (kinds.detector_spec("NIS").fastaxis, kinds.detector_spec("NIS").slowaxis) == (-2, -1)
    assert abs(kinds.detector_spec("NRCALONG").fastaxis) == 1


def test_grism_outputs_are_checked():
    with pytest.raises(ValueError, match="noutputs: NIRCam reads through 1 or 4 outputs"):
        geometry("nircam_grism_tso", "NRCALONG", [64, 2048], 3, None, kinds.resolve_physics("nircam_grism_tso",
                                                                                          {"noutputs": 2}))
    with pytest.raises(ValueError, match="4 outputs need the full 2048 columns"):
        geometry("nircam_grism_tso", "NRCALONG", [64, 512], 3, None, kinds.resolve_physics("nircam_grism_tso",
                                                                                         {"noutputs": 4}))


def _hdr(**kw):
    h = {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_BRIGHTOBJ", "SUBARRAY": "SUB2048", "FASTAXIS": 2, "SLOWAXIS": 1,
         "NOUTPUTS": 1, "SUBSTRT1": 1, "SUBSTRT2": 963}
    h.update(kw)
    return h


def test_mode_geometry_from_headers():
    nrs = modes.from_header(_hdr(), (32, 2048))
    assert (nrs.fast_axis, nrs.stripes, nrs.dispersion_axis, nrs.orders, nrs.trace_order) == ("y", "columns", "x",
                                                                                              (1,), 2)
    soss = modes.from_header(_hdr(INSTRUME="NIRISS", EXP_TYPE="NIS_SOSS", SUBARRAY="SUBSTRIP256", FASTAXIS=-2,
                                  SLOWAXIS=-1), (256, 2048))
    assert (soss.stripes, soss.orders, soss.trace_order, soss.multi_order, soss.background_template) == (
        "columns", (1, 2), 4, True, True)
    s96 = modes.from_header(_hdr(INSTRUME="NIRISS", EXP_TYPE="NIS_SOSS", FASTAXIS=-2, SLOWAXIS=-1), (96, 2048))
    assert s96.orders == (1,)
    grism = modes.from_header(_hdr(INSTRUME="NIRCAM", EXP_TYPE="NRC_TSGRISM", FASTAXIS=-1, SLOWAXIS=2, NOUTPUTS=4),
                              (64, 2048))
    assert (grism.fast_axis, grism.stripes, grism.fast_index, grism.noutputs) == ("x", "rows", 1, 4)
    img = modes.from_header(_hdr(EXP_TYPE="NRC_TSIMAGE", FASTAXIS=1, SLOWAXIS=-2), (64, 64), imaging=True)
    assert img.dispersion_axis is None
    with pytest.raises(ValueError, match="FASTAXIS is missing"):
        modes.from_header(_hdr(FASTAXIS=None), (32, 2048), require_readout=True)


def _two_orders(ny=120, nx=200):
    """Order 1 at y = 30 + 10 s^2 (bright), order 2 at y = 34 + 70 s (0.3x), s = x / (nx - 1):
    they overlap for small x and separate to ~35 rows by the right edge."""
    x = np.arange(nx)
    s = x / (nx - 1)
    y = np.arange(ny)[:, None]
    c1, c2 = 30 + 10 * s ** 2, 34 + 70 * s
    f = 100 * np.exp(-0.5 * ((y - c1) / 1.5) ** 2) + 30 * np.exp(-0.5 * ((y - c2) / 1.5) ** 2) + 1.0
    return f, c1, c2


def test_find_orders_follows_both_and_extracts_order_2_where_clear():
    f, c1, c2 = _two_orders()
    hw, gap = 3, 2
    tr = find_orders(f, (1, 2), fit_order=2, window=3, hw=hw, gap=gap)
    assert [t.order for t in tr] == [1, 2]
    clear = np.abs(np.rint(c2) - np.rint(c1)) > 2 * hw + gap + 2
    assert np.max(np.abs(tr[0].center - c1)[clear]) < 0.1
    assert np.max(np.abs(tr[1].center - c2)[clear]) < 0.2
    # order 2 extracted only where its box is clear of order 1's box and gap
    sep = np.abs(np.rint(tr[1].center) - np.rint(tr[0].center))
    np.testing.assert_array_equal(tr[1].columns, sep > 2 * hw + gap)
    assert 0 < tr[1].columns.sum() < f.shape[1]
    src = source_mask(f, tr, hw, gap, multi_order=True)
    assert src[np.rint(c2).astype(int)[clear], np.arange(200)[clear]].all()


def _soss_frame(nx=512, seed=3):
    """A SOSS-like median frame on SUBSTRIP256 rows: the simulator's order 1 and order 2 centres
    (order 2 starts 3 rows from order 1 and separates to ~40 rows by column 511), both with the
    simulator's two-horned profile (Gaussians of sigma 2.5 at +-4 rows), order 2 at 0.35x,
    a flat background and Gaussian noise."""
    from rampflow.simulate.niriss import order_center

    x = np.arange(nx)
    y = np.arange(256)[:, None]
    c1, c2 = order_center(1, x), order_center(2, x)

    def prof(d):
        return np.exp(-0.5 * ((d - 4.0) / 2.5) ** 2) + np.exp(-0.5 * ((d + 4.0) / 2.5) ** 2)
    f = 1000.0 * prof(y - c1) + 350.0 * prof(y - c2) + 5.0
    f += np.random.default_rng(seed).normal(0.0, 1.0, f.shape) * np.sqrt(f / 50 + 1)
    return f, c1, c2


def test_soss_order_1_trace_is_not_pulled_by_order_2():
    """Where order 2 overlaps order 1's centroid window a flux-weighted centroid is pulled by
    up to ~2.6 rows towards order 2; with the two-order profile fit order 1's trace follows the
    truth to 0.2 rows on every column, overlap included."""
    from rampflow.lightcurves.deblend import deblend_order1

    f, c1, c2 = _soss_frame()
    plain = lightcurves.fit_trace(f, order=4, window=12)
    assert np.max(np.abs(plain["center"] - c1)) > 1.5           # the pull the fit removes
    tr = find_orders(f, (1, 2), fit_order=4, window=12, hw=12, gap=3)
    assert [t.order for t in tr] == [1, 2]
    assert np.max(np.abs(tr[0].center - c1)) < 0.2
    # the deblended columns are the overlapped ones, and their centroids are the truth's
    res = deblend_order1(f, plain, c2, window=12, fit_order=4)
    near = np.abs(c2 - c1) <= 24                                # (the first fit is pulled by up to 3 rows)
    assert res["deblended"].sum() > 0.8 * near.sum() and not (res["deblended"] & (np.abs(c2 - c1) > 27)).any()
    d = res["deblended"]
    assert np.max(np.abs(res["centroids"][d] - c1[d])) < 0.2
    # order 2 is extracted only where its box is clear of order 1's
    sep = np.abs(np.rint(tr[1].center) - np.rint(tr[0].center))
    assert not (tr[1].columns & (sep <= 2 * 12 + 3)).any() and tr[1].columns.sum() > 100


def test_soss_order_2_trace_follows_the_truth_next_to_order_1():
    """Next to the overlap order 1's blanked box hides order 2's light: the blanked frame's
    centroids there are truncated, pushed away from order 1 (the trace was off by up to ~7
    rows). Order 2's trace takes the two-order fit's centres there and leaves the truncated
    columns out: within 0.15 row of the simulator's order 2 on every column it lights."""
    from rampflow.lightcurves.deblend import deblend_order1

    f, c1, c2 = _soss_frame()
    tr = find_orders(f, (1, 2), fit_order=4, window=12, hw=12, gap=3)
    assert [t.order for t in tr] == [1, 2]
    assert np.max(np.abs(tr[1].center - c2)) < 0.15, np.max(np.abs(tr[1].center - c2))
    # the two-order fit gives order 2's centre on the overlapped columns it separates
    plain = lightcurves.fit_trace(f, order=4, window=12)
    res = deblend_order1(f, plain, c2, window=12, fit_order=4)
    got = np.isfinite(res["order2_centroids"])
    assert got.sum() > 100 and not (got & (np.abs(c2 - c1) > 27)).any()
    assert np.max(np.abs(res["order2_centroids"][got] - c2[got])) < 0.3
    assert np.all(res["order2_flux"][got] > 0)


def test_deblending_leaves_a_clear_order_alone():
    from rampflow.lightcurves.deblend import deblend_order1

    f, c1, c2 = _two_orders()
    plain = lightcurves.fit_trace(f, order=2, window=3)
    far = c1 + 40.0                                              # no column within 2 windows
    res = deblend_order1(f, plain, far, window=3, fit_order=2)
    assert not res["deblended"].any()
    np.testing.assert_array_equal(res["center"], plain["center"])


def test_single_order_is_unchanged_by_orders():
    f, c1, _ = _two_orders()
    one = find_orders(f, (1,), fit_order=2, window=3, hw=3, gap=2)
    ref = lightcurves.fit_trace(f, order=2, window=3)
    assert len(one) == 1
    np.testing.assert_array_equal(one[0].center, ref["center"])


def test_template_cut_and_scale(tmp_path):
    from astropy.io import fits

    tmpl = np.ones((1, 256, 2048), np.float32)
    tmpl[0, :, 700:] = 1.4
    path = tmp_path / "bkg.fits"
    hdu = fits.ImageHDU(tmpl, name="SCI")
    hdu.header.update(SUBSTRT1=1, SUBSTRT2=1793)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    geom = modes.mode_geometry(instrument="NIRISS", exp_type="NIS_SOSS", subarray="SUBSTRIP96", fastaxis=-2,
                               slowaxis=-1, noutputs=1, shape=(96, 1024), origin=(1, 1803))
    cut = load_template(path, geom, (96, 1024))
    assert cut.shape == (96, 1024) and cut[0, 699] == 1.0 and cut[0, 700] == pytest.approx(1.4)
    sci = 3.0 * cut[None].repeat(2, axis=0)
    sci[1] *= 2
    np.testing.assert_allclose(template_scale(sci, cut, np.ones(cut.shape, bool)), [3.0, 6.0], rtol=1e-6)
    bad = modes.mode_geometry(instrument="NIRISS", exp_type="NIS_SOSS", subarray="X", fastaxis=-2, slowaxis=-1,
                              noutputs=1, shape=(96, 1024), origin=(1, 2000))
    with pytest.raises(LightCurveError, match="does not cover the frame"):
        load_template(path, bad, (96, 1024))


def test_lightcurve_config_checks_new_keys():
    with pytest.raises(LightCurveError, match="lightcurves.orders"):
        lightcurves.check_config({"orders": [2]})
    with pytest.raises(LightCurveError, match="lightcurves.line_background"):
        lightcurves.check_config({"line_background": "rows"})


def test_soss_bkg_reference_opens_as_jwst_reads_it(tmp_path):
    from stdatamodels.jwst import datamodels

    from rampflow.simulate import simulate_exposure

    sim = simulate_exposure(tmp_path, kind="niriss_soss", detector="NIS", size=[96, 2048], nints=1, ngroups=2,
                            seed=1)
    with datamodels.SossBkgModel(str(sim.refs["bkg"])) as m:
        assert m.data.shape == (1, 256, 2048)
        assert np.median(m.data) == pytest.approx(1.0, rel=0.1)
        # the template's step, as in the real one
        assert m.data[0, 100, 701] / m.data[0, 100, 699] == pytest.approx(1.4, rel=1e-5)


def test_dispersion_shift_recovers_a_subpixel_drift():
    from rampflow.lightcurves.extraction import dispersion_shift

    x = np.arange(300, dtype=float)
    spec = lambda dx: 100 + 40 * np.sin((x - dx) / 9.0) + 25 * np.cos((x - dx) / 4.0)  # noqa: E731
    flux = np.stack([spec(0.0), 1.02 * spec(0.3), 0.99 * spec(-0.2)])
    got = dispersion_shift(flux, spec(0.0), np.ones(300, bool))
    np.testing.assert_allclose(got, [0.0, 0.3, -0.2], atol=0.01)
