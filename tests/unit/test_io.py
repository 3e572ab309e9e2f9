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


@pytest.mark.parametrize("threads", [1, 3])
def test_uncal_blocks_convert_one_integration_at_a_time(uncal_factory, threads):
    """An uncal's uint16 SCI (signed storage, BZERO 32768) read as float32 through the
    per-integration conversion: integration blocks, row blocks, and rows read into a window
    of a larger array (the row stream's), all equal the file's values as astropy reads them."""
    path, data = uncal_factory(shape=(5, 3, 7, 6))
    expect = data.astype(np.float32)
    io.set_io_threads(threads)
    try:
        with io.open_ramp(path) as rf:
            with fits.open(path) as h:
                assert h["SCI"].header["BZERO"] == 32768
                np.testing.assert_array_equal(h["SCI"].data, data)
            for ints, rows in [(slice(None), slice(None)), (slice(1, 4), slice(None)), (slice(2, 3), slice(2, 5))]:
                sci, gdq = rf.read(ints, rows, reuse=True)
                np.testing.assert_array_equal(sci, expect[ints, :, rows])
                assert not gdq.any()
            win = np.full((5, 3, 9, 6), -1.0, np.float32)   # rows 3..5 into window rows 4..6
            gdq = np.ones((5, 3, 3, 6), np.uint8)
            rf.read_into(slice(3, 6), win[:, :, 4:7], gdq)
            np.testing.assert_array_equal(win[:, :, 4:7], expect[:, :, 3:6])
            assert (win[:, :, :4] == -1).all() and (win[:, :, 7:] == -1).all() and not gdq.any()
    finally:
        io.set_io_threads(1)


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
            raise ZeroDivisionError  # an error in the middle of writing
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


# --------------------------------------------------------------------------- block I/O

@pytest.mark.parametrize("threads", [1, 3])
def test_row_and_integration_blocks_match_astropy(uncal_factory, tmp_path, threads):
    """Chunks read by system calls equal astropy's view of the same file, for row blocks,
    integration blocks and both, with buffer reuse and several I/O threads."""
    path, data = uncal_factory(shape=(4, 3, 9, 6))
    out = tmp_path / "x_ramp.fits"
    rng = np.random.default_rng(3)
    sci_all = rng.normal(100, 30, size=data.shape).astype(np.float32)
    gdq_all = rng.integers(0, 255, size=data.shape, dtype=np.uint8)
    io.set_io_threads(threads)
    try:
        with io.open_ramp(path) as rf:
            with io.RampWriter(out, rf) as w:
                # write in row blocks of uneven sizes, then check every block shape reads back
                for rows in (slice(0, 2), slice(2, 7), slice(7, 9)):
                    w.write(slice(None), rows, sci_all[:, :, rows], gdq_all[:, :, rows])
                w.write_pixeldq(np.arange(54, dtype=np.uint32).reshape(9, 6) * 2**26)
        with fits.open(out) as h:
            np.testing.assert_array_equal(h["SCI"].data, sci_all)
            np.testing.assert_array_equal(h["GROUPDQ"].data, gdq_all)
            np.testing.assert_array_equal(h["PIXELDQ"].data, np.arange(54).reshape(9, 6) * 2**26)
        with io.open_ramp(out) as rf:
            for ints, rows in [(slice(None), slice(None)), (slice(1, 3), slice(None)),
                               (slice(None), slice(3, 8)), (slice(2, 4), slice(0, 1))]:
                sci, gdq = rf.read(ints, rows, reuse=True)
                assert sci.flags.c_contiguous and sci.dtype == np.float32 and sci.dtype.isnative
                np.testing.assert_array_equal(sci, sci_all[ints, :, rows])
                np.testing.assert_array_equal(gdq, gdq_all[ints, :, rows])
            # reused buffers: a later read overwrites an earlier one's arrays
            a, _ = rf.read(slice(0, 1), slice(0, 2), reuse=True)
            first = a.copy()
            rf.read(slice(1, 2), slice(0, 2), reuse=True)
            assert not np.array_equal(a, first)
            fresh, _ = rf.read(slice(0, 1), slice(0, 2))
            np.testing.assert_array_equal(fresh, first)
            assert rf.prefetch() is True
            assert rf.prefetch(max_fraction=1e-15) is False  # larger than the memory allowed
    finally:
        io.set_io_threads(1)


def test_truncated_ramp_names_file_and_extension(uncal_factory, tmp_path):
    import os

    path, data = uncal_factory(shape=(2, 3, 4, 5))
    cut = tmp_path / "cut_uncal.fits"
    raw = open(path, "rb").read()
    with fits.open(path) as h:
        start = h["SCI"].fileinfo()["datLoc"]
    # the headers and one integration only, as an interrupted download leaves it
    cut.write_bytes(raw[:start + 3 * 4 * 5 * 2 + 7])
    with pytest.raises(io.ProductError, match=r"cut_uncal\.fits: truncated file: it has \d+ bytes, "
                                              r"but extension 1 \(SCI\) needs"):
        io.open_ramp(cut)
    # cut short after it was opened: the read names the file and the byte
    whole = tmp_path / "whole_uncal.fits"
    whole.write_bytes(raw)
    with io.open_ramp(whole) as rf:
        os.truncate(whole, start + 100)
        with pytest.raises(io.ProductError, match=r"whole_uncal\.fits: file ends at byte \d+"):
            rf.read(slice(1, 2))


def test_row_chunks_of_a_ramp_product_cut_short_name_the_file(uncal_factory, tmp_path):
    """Row chunks of a float32 ramp product (read plane by plane from compiled code) equal
    the planes as written, for every row and integration range, and a product cut short
    after it was opened gives a ProductError naming the file, not a crash or stale data."""
    import os

    path, data = uncal_factory(shape=(3, 4, 5, 6))
    out = tmp_path / "x_ramp.fits"
    with io.open_ramp(path) as rf:
        _write_chunks(rf, out)
    with fits.open(out) as h:
        sci_all = h["SCI"].data.astype(np.float32)
        gdq_all = h["GROUPDQ"].data.copy()
        start = h["SCI"].fileinfo()["datLoc"]
    np.testing.assert_array_equal(sci_all, data.astype(np.float32) * 0.5)
    with io.open_ramp(out) as rf:
        for ints in (slice(None), slice(1, 2), slice(2, 3)):
            for r0 in range(5):
                for r1 in range(r0 + 1, 5):  # fewer rows than the frame: the plane-by-plane path
                    sci, gdq = rf.read(ints, slice(r0, r1), reuse=True)
                    assert sci.dtype == np.float32 and sci.dtype.isnative and sci.flags.c_contiguous
                    np.testing.assert_array_equal(sci, sci_all[ints, :, r0:r1])
                    np.testing.assert_array_equal(gdq, gdq_all[ints, :, r0:r1])
        os.truncate(out, start + 3 * 4 * 5 * 6 * 4 // 2)  # half of SCI left
        with pytest.raises(io.ProductError, match=r"x_ramp\.fits: file ends at byte \d+"):
            rf.read(slice(None), slice(1, 2))


def test_empty_asdf_extension_opens_without_warnings(uncal_factory, tmp_path):
    import warnings

    import asdf

    path, _ = uncal_factory(shape=(1, 2, 3, 4))
    out = tmp_path / "x_ramp.fits"
    with io.open_ramp(path) as rf:
        _write_chunks(rf, out)
    with fits.open(out) as h:
        blob = h["ASDF"].data["ASDF_METADATA"][0].tobytes()
    import io as pyio

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with asdf.open(pyio.BytesIO(blob)) as af:
            assert {k for k in af.tree if not k.startswith("asdf_")} == set()


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_copy_sci_passes_the_input_through(uncal_factory, tmp_path, monkeypatch, kernel_copy):
    """A product whose SCI is copied from its input (steps that only flag DQ) has the input's
    SCI exactly, with the GROUPDQ written chunk by chunk; also without copy_file_range."""
    import os

    path, data = uncal_factory(shape=(3, 4, 6, 5))
    first = tmp_path / "x_first.fits"
    with io.open_ramp(path) as rf:
        _write_chunks(rf, first)             # a float32 ramp (uncal SCI is uint16: no byte copy)
        with io.RampWriter(tmp_path / "no.fits", rf) as w:
            assert not w.can_copy_sci()
            w.write_pixeldq(np.zeros((6, 5), np.uint32))
    if not kernel_copy:
        def refuse(*a, **k):
            raise OSError(18, "Invalid cross-device link")
        monkeypatch.setattr(os, "copy_file_range", refuse)
    out = tmp_path / "x_second.fits"
    with io.open_ramp(first) as rf:
        with io.RampWriter(out, rf) as w:
            assert w.can_copy_sci()
            w.copy_sci()
            for rows in (slice(0, 4), slice(4, 6)):
                sci, gdq = rf.read(slice(None), rows)
                w.write(slice(None), rows, sci, gdq + 1)
            w.write_pixeldq(rf.pixeldq())
    with fits.open(first) as a, fits.open(out) as b:
        np.testing.assert_array_equal(b["SCI"].data, a["SCI"].data)
        np.testing.assert_array_equal(b["SCI"].data, data * 0.5)
        np.testing.assert_array_equal(b["GROUPDQ"].data, a["GROUPDQ"].data + 1)
