"""Explicit read times (jwst's ``meta.exposure.read_times``, uneven groups) in the ASDF extension:
read from a ramp file, carried forward into our ramp products, readable by ``asdf`` and by
stdatamodels as jwst reads them, and handed to ramp_fit (which then switches to LIKELY)."""

import io as pyio
import warnings

import numpy as np
import pytest
from astropy.io import fits

from rampflow import io
from rampflow.steps import ramp_fit as rf

#: groups of 1, 1, 2, 3 reads (seconds): an uneven pattern
READ_TIMES = [[10.737], [21.474], [32.211, 42.948], [53.685, 64.422, 75.159]]


def _with_read_times(path, read_times):
    """Replace the file's ASDF extension by one holding ``read_times``."""
    with fits.open(path) as h:
        hdus = [x.copy() for x in h if x.name != "ASDF"]
    fits.HDUList(hdus + [io.asdf_hdu(read_times)]).writeto(path, overwrite=True)


def _asdf_tree(path):
    import asdf

    with fits.open(path) as h:
        blob = h["ASDF"].data["ASDF_METADATA"][0].tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with asdf.open(pyio.BytesIO(blob)) as af:
            return af.tree


def test_read_times_are_read_carried_forward_and_seen_by_stdatamodels(uncal_factory, tmp_path):
    from stdatamodels.jwst import datamodels

    path, _ = uncal_factory(shape=(2, 4, 3, 5))
    _with_read_times(path, READ_TIMES)
    out = tmp_path / "x_ramp.fits"
    with io.open_ramp(path) as f:
        got = f.meta.extra["READ_TIMES"]
        assert [list(g) for g in got] == READ_TIMES      # exactly (floats round-trip through YAML)
        with io.RampWriter(out, f, updates={"S_DQINIT": "COMPLETE"}) as w:
            sci, gdq = f.read()
            w.write(slice(None), slice(None), sci, gdq)
            w.write_pixeldq(np.zeros((3, 5), np.uint32))
    assert _asdf_tree(out)["meta"]["exposure"]["read_times"] == READ_TIMES
    with io.open_ramp(out) as f:
        assert [list(g) for g in f.meta.extra["READ_TIMES"]] == READ_TIMES
    with datamodels.RampModel(str(out)) as m:      # as jwst's RampFitStep sees it
        assert [list(g) for g in m.meta.exposure.read_times] == READ_TIMES
        assert m.meta.exposure.nframes is not None     # the FITS keywords still fill the rest


def test_files_without_read_times(uncal_factory, tmp_path):
    path, _ = uncal_factory(shape=(1, 4, 3, 5))
    with io.open_ramp(path) as f:
        assert "READ_TIMES" not in f.meta.extra
    assert io.asdf_hdu(None).data["ASDF_METADATA"][0].tobytes() == io.asdf_hdu([]).data["ASDF_METADATA"][0].tobytes()


def test_unreadable_read_times_name_the_file(uncal_factory):
    path, _ = uncal_factory(shape=(1, 4, 3, 5))
    _with_read_times(path, [[1.0], [2.0]])
    with fits.open(path, mode="update") as h:      # corrupt the YAML after the key
        raw = h["ASDF"].data["ASDF_METADATA"][0].tobytes().replace(b"- [2.0]", b"- [two]")
        h["ASDF"].data["ASDF_METADATA"][0] = np.frombuffer(raw, np.uint8)
    with pytest.raises(ValueError, match=r"uncal\.fits: cannot read meta\.exposure\.read_times.*two"):
        io.open_ramp(path)


def test_ramp_fit_step_takes_the_files_read_times(caplog):
    """RampFit.start hands the ramp's read times to the setup: OLS_C becomes LIKELY with the
    uneven pattern's covariance (its delta_t are the differences of the groups' mean times)."""
    from test_ramp_fit_likely import make_meta

    meta = make_meta(1, 4, ny=2, nx=3)
    meta.extra["READ_TIMES"] = [np.array(g) for g in READ_TIMES]
    one = np.ones((2, 3), np.float32)
    step = rf.RampFit(meta, {"readnoise": one * 5, "gain": one})
    step.start({}, fits.Header())
    assert step.params["algorithm"] == "LIKELY" and "unevenly sampled" in caplog.text
    means = [np.mean(g) for g in READ_TIMES]
    np.testing.assert_allclose(step.setup.likely.covar.delta_t, np.diff(means), rtol=1e-15)
