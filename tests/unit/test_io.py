"""FITS I/O: genuine uncal reading, ramp/rate products, atomic writes, stdatamodels compatibility."""

import numpy as np
import pytest
from astropy.io import fits

from rampflow import io


def test_read_uncal_values_and_meta(uncal_factory):
    path, data = uncal_factory(shape=(3, 4, 6, 7))
    with io.open_ramp(path) as rf:
        assert rf.is_uncal
        assert rf.shape == (3, 4, 6, 7)
        assert rf.meta.detector == "NRS1" and rf.meta.nints == 3 and rf.meta.ngroups == 4
        sci, gdq = rf.read(slice(1, 3), slice(2, 5))
        assert sci.dtype == np.float32 and sci.dtype.isnative
        np.testing.assert_array_equal(sci, data[1:3, :, 2:5].astype(np.float32))
        assert gdq.dtype == np.uint8 and not gdq.any()
        assert rf.pixeldq().dtype == np.uint32 and not rf.pixeldq().any()
        assert list(rf.int_times["integration_number"]) == [1, 2, 3]


def test_uint16_extremes_survive(tmp_path):
    from tests.conftest import make_uncal

    data = np.array([0, 1, 32767, 32768, 65534, 65535] * 2, dtype=np.uint16).reshape(1, 2, 2, 3)
    make_uncal(tmp_path / "x_uncal.fits", data)
    with io.open_ramp(tmp_path / "x_uncal.fits") as rf:
        sci, _ = rf.read()
    np.testing.assert_array_equal(sci, data.astype(np.float32))


def _write_chunks(rf, out, updates=None):
    nints = rf.shape[0]
    pdq = np.zeros(rf.shape[2:], np.uint32)
    pdq[0, 0] = 2**31 + 2**21 + 1
    with io.RampWriter(out, rf, updates=updates or {"S_DQINIT": "COMPLETE"}, history=["made in a test"]) as w:
        for i in range(nints):
            sci, gdq = rf.read(slice(i, i + 1))
            gdq[:] = 4
            w.write(slice(i, i + 1), slice(None), sci * 0.5, gdq)
        w.write_pixeldq(pdq)
    return pdq


def test_ramp_round_trip_and_stdatamodels(uncal_factory, tmp_path):
    from stdatamodels.jwst import datamodels

    path, data = uncal_factory(shape=(3, 2, 4, 5))
    out = tmp_path / "x_dq_init.fits"
    with io.open_ramp(path) as rf:
        pdq = _write_chunks(rf, out)
    with io.open_ramp(out) as r2:
        assert not r2.is_uncal
        sci, gdq = r2.read()
        np.testing.assert_array_equal(sci, data.astype(np.float32) * 0.5)
        assert (gdq == 4).all()
        np.testing.assert_array_equal(r2.pixeldq(), pdq)
        assert r2.primary_header["S_DQINIT"] == "COMPLETE"
        assert r2.primary_header["INSTRUME"] == "NIRSPEC"
    with datamodels.open(str(out)) as m:
        assert type(m).__name__ == "RampModel"
        assert m.meta.cal_step.dq_init == "COMPLETE"
        assert m.meta.instrument.detector == "NRS1"
        assert m.pixeldq.dtype == np.uint32 and m.pixeldq[0, 0] == pdq[0, 0]
        np.testing.assert_array_equal(m.data, data.astype(np.float32) * 0.5)
        assert len(m.int_times) == 3


def test_writer_is_atomic_on_error(uncal_factory, tmp_path):
    path, _ = uncal_factory()
    out = tmp_path / "x_saturation.fits"
    with io.open_ramp(path) as rf, pytest.raises(ZeroDivisionError):
        with io.RampWriter(out, rf) as w:
            sci, gdq = rf.read(slice(0, 1))
            w.write(slice(0, 1), slice(None), sci, gdq)
            1 / 0
    assert not out.exists()
    assert list(tmp_path.glob("*.part")) == []


def test_writer_requires_pixeldq(uncal_factory, tmp_path):
    path, _ = uncal_factory()
    out = tmp_path / "x_sat.fits"
    with io.open_ramp(path) as rf, pytest.raises(RuntimeError, match="PIXELDQ"):
        with io.RampWriter(out, rf) as w:
            w.write(slice(None), slice(None), *rf.read())
    assert not out.exists()


def test_not_fits_names_file(tmp_path):
    bad = tmp_path / "bad_uncal.fits"
    bad.write_text("this is not FITS")
    with pytest.raises(io.ProductError, match="bad_uncal.fits"):
        io.open_ramp(bad)


def test_wrong_dimensionality_names_shape(tmp_path):
    p = tmp_path / "flat_uncal.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 5), np.float32), name="SCI")]).writeto(p)
    with pytest.raises(io.ProductError, match=r"flat_uncal.fits.*4-D.*\(4, 5\)"):
        io.open_ramp(p)


def test_image_product_opens_as_models(uncal_factory, tmp_path):
    from stdatamodels.jwst import datamodels

    path, _ = uncal_factory(shape=(2, 3, 4, 5))
    with io.open_ramp(path) as rf:
        arrays2 = {k: np.full((4, 5), 1.5, np.float32) for k in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE")}
        arrays2["DQ"] = np.full((4, 5), 2**31, np.uint32)
        io.write_image_product(tmp_path / "r_rate.fits", arrays2, rf.primary_header, rf.sci_header,
                               updates={"S_RAMP": "COMPLETE"})
        arrays3 = {k: np.full((2, 4, 5), 2.5, np.float32) for k in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE")}
        arrays3["DQ"] = np.ones((2, 4, 5), np.uint32)
        io.write_image_product(tmp_path / "r_rateints.fits", arrays3, rf.primary_header, rf.sci_header,
                               datamodel="CubeModel", tables={"INT_TIMES": rf.tables["INT_TIMES"]})
    with datamodels.open(str(tmp_path / "r_rate.fits")) as m:
        assert type(m).__name__ == "ImageModel" and m.dq[0, 0] == 2**31 and m.data[1, 1] == 1.5
        assert m.meta.cal_step.ramp_fit == "COMPLETE"
    with datamodels.open(str(tmp_path / "r_rateints.fits")) as m:
        assert type(m).__name__ == "CubeModel" and m.var_rnoise.shape == (2, 4, 5)
        assert len(m.int_times) == 2
    back = io.read_image_product(tmp_path / "r_rate.fits")
    assert back["DQ"].dtype == np.uint32 and back["DQ"][0, 0] == 2**31
