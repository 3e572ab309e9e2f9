"""MIRI files: a Level1bModel uncal written by stdatamodels (uint16 SCI, INT_TIMES, REFOUT, MIRI
keywords) read by rampflow, REFOUT carried into ramp products as float32, GROUPDQ read alone
for ramp_fit's scan; saturation without a superbias; bad MIRI input stops naming the file
and the mismatch (a NIR reference for a MIRI exposure, a reference that does not cover the
subarray, a 3-D dark)."""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import dq
from rampflow.io import RampWriter, open_ramp
from rampflow.references import ReferenceError, load_reference
from rampflow.steps import get_step_class
from tests.miri_models import make_miri_case


@pytest.fixture(scope="module")
def prism(tmp_path_factory):
    return make_miri_case(tmp_path_factory.mktemp("miri_io"), "slitlessprism", nints=2, ngroups=4, seed=2)


def test_uncal_read_with_miri_keywords_and_refout(prism):
    with open_ramp(prism.uncal) as rf:
        m = rf.meta
        assert (m.instrument, m.detector, m.exp_type, m.subarray) == ("MIRI", "MIRIMAGE", "MIR_LRS-SLITLESS",
                                                                      "SLITLESSPRISM")
        assert (m.substrt1, m.substrt2, m.subsize1, m.subsize2) == (1, 529, 72, 416)
        assert (m.readpatt, m.nframes, m.tframe) == ("FASTR1", 1, 0.15904)
        assert rf.is_uncal and rf.shape == (2, 4, 416, 72)
        sci, gdq = rf.read()
        np.testing.assert_array_equal(sci, prism.data.astype(np.float32))
        assert not gdq.any()
        assert rf.refout_shape == (2, 4, 104, 72)
        np.testing.assert_array_equal(rf.refout(), prism.refout.astype(np.float32))
        np.testing.assert_array_equal(rf.refout(slice(1, 2)), prism.refout[1:2].astype(np.float32))
        assert len(rf.meta.extra["INT_START_MJD_UTC"]) == 2
        assert not rf.read_groupdq().any() and rf.read_groupdq(slice(0, 1)).shape == (1, 4, 416, 72)


def test_ramp_product_carries_refout_and_groupdq_reads_alone(prism, tmp_path):
    from stdatamodels.jwst import datamodels as dm

    out = tmp_path / "x_dq_init.fits"
    with open_ramp(prism.uncal) as rf:
        sci, gdq = rf.read()
        gdq[:, 0] = dq.DO_NOT_USE
        with RampWriter(out, rf) as w:
            w.write(slice(None), slice(None), sci, gdq)
            w.write_pixeldq(np.zeros((416, 72), np.uint32))
    with dm.open(str(out)) as m:
        assert isinstance(m, dm.RampModel)
        assert m.refout.dtype.type is np.float32
        np.testing.assert_array_equal(m.refout, prism.refout.astype(np.float32))
    # a product of a product: REFOUT (now float32) goes on unchanged
    out2 = tmp_path / "x_saturation.fits"
    with open_ramp(out) as rf:
        np.testing.assert_array_equal(rf.read_groupdq()[:, 0], dq.DO_NOT_USE)
        assert not rf.read_groupdq(slice(1, 2))[:, 1:].any()
        with RampWriter(out2, rf) as w:
            w.write(slice(None), slice(None), *rf.read())
            w.write_pixeldq(rf.pixeldq())
    with dm.RampModel(str(out2)) as m:
        np.testing.assert_array_equal(m.refout, prism.refout.astype(np.float32))


def test_refout_of_the_wrong_shape_is_refused(prism, tmp_path):
    from astropy.io import fits

    bad = tmp_path / "bad_uncal.fits"
    with fits.open(prism.uncal) as h:
        h["REFOUT"].data = h["REFOUT"].data[:1]
        h.writeto(bad)
    with pytest.raises(ValueError, match=r"bad_uncal.fits: REFOUT shape \(1, 4, 104, 72\)"):
        open_ramp(bad)


def test_saturation_without_superbias(prism):
    """MIRI has no superbias: the step takes none (optional reference), as jwst's with N/A."""
    cls = get_step_class("saturation")
    assert "superbias" in cls.optional_reftypes
    with open_ramp(prism.uncal) as rf:
        meta = rf.meta
        sci, gdq = rf.read()
    step = cls(meta, {"saturation": load_reference("saturation", prism.refs["saturation"], meta)})
    assert step.bias is None and not step.skipped
    pdq = np.zeros((416, 72), np.uint32)
    step.process(sci, gdq, pdq, slice(0, 2), slice(0, 416))
    thresh = load_reference("saturation", prism.refs["saturation"], meta)["SCI"]
    expect = (sci >= thresh) & ~np.isnan(thresh)
    # flagged where the threshold is reached (or grown from a neighbour), never below it alone
    assert (gdq[expect] & dq.SATURATED).all()


def test_nir_reference_for_miri_exposure(prism, tmp_path):
    from stdatamodels.jwst import datamodels as dm

    nir = dm.GainModel(data=np.ones((416, 72), np.float32))
    nir.meta.instrument.name = "NIRSPEC"
    nir.meta.instrument.detector = "NRS1"
    nir.meta.reftype = "GAIN"
    nir.meta.subarray.xstart, nir.meta.subarray.ystart = 1, 529
    path = tmp_path / "nirspec_gain.fits"
    nir.save(str(path))
    with open_ramp(prism.uncal) as rf:
        meta = rf.meta
    with pytest.raises(ReferenceError, match=r"nirspec_gain.fits: gain reference is for instrument NIRSPEC, "
                                             r"exposure is MIRI"):
        load_reference("gain", path, meta)


def test_reference_not_covering_the_subarray(tmp_path):
    """A SLITLESSPRISM reference (rows 529-944) for a FULL exposure does not cover it."""
    prism_refs = make_miri_case(tmp_path / "p", "slitlessprism", nints=1, ngroups=2, seed=3).refs
    from rampflow.meta import ExposureMeta

    full = ExposureMeta.from_headers(
        {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "SUBARRAY": "FULL", "SUBSIZE1": 1032, "SUBSIZE2": 1024,
         "NGROUPS": 2, "NFRAMES": 1, "TFRAME": 2.775, "TGROUP": 2.775}, {}, "full_uncal.fits", (1, 2, 1024, 1032))
    with pytest.raises(ReferenceError, match=r"miri_mask.fits \[DQ\]: reference covers columns 1..72, rows "
                                             r"529..944 .* does not contain the exposure's subarray FULL"):
        load_reference("mask", prism_refs["mask"], full)


def test_three_d_dark_for_miri(prism, tmp_path):
    from stdatamodels.jwst import datamodels as dm

    d3 = dm.DarkModel(data=np.zeros((4, 416, 72), np.float32), dq=np.zeros((416, 72), np.uint32))
    d3.meta.instrument.name = "MIRI"
    d3.meta.instrument.detector = "MIRIMAGE"
    d3.meta.reftype = "DARK"
    d3.meta.subarray.xstart, d3.meta.subarray.ystart = 1, 529
    path = tmp_path / "dark3d.fits"
    d3.save(str(path))
    with open_ramp(prism.uncal) as rf:
        meta = rf.meta
    with pytest.raises(ValueError, match=r"dark3d.fits: a MIRI exposure needs a 4-D .* shape \(4, 416, 72\)"):
        get_step_class("dark_current")(meta, {"dark": load_reference("dark", path, meta)})
