"""Missing or impossible readout timing keywords stop with the file and the keyword.

TFRAME and TGROUP turn DN into DN/s and set the jump step's flagging times; NFRAMES and
NGROUPS define the readout. jwst reads them from the header and never guesses; rampflow used
to fill a missing TFRAME / TGROUP with a NIRSpec frame time. Now opening such an exposure (or
running any step on it) stops naming the file and keyword, and no product is written.
"""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits

from rampflow import io, runner
from rampflow.meta import ExposureMeta


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("timing")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=2, ngroups=4, size=[16, 64], seed=2)


# keyword -> bad value (None: removed) -> words the message must hold
CASES = [
    ("TFRAME", None, "required timing keyword TFRAME is missing"),
    ("TGROUP", None, "required timing keyword TGROUP is missing"),
    ("NFRAMES", None, "required timing keyword NFRAMES is missing"),
    ("NGROUPS", None, "required timing keyword NGROUPS is missing"),
    ("TFRAME", 0.0, "timing keyword TFRAME = 0.0 is invalid; it must be > 0"),
    ("TGROUP", -10.7, "timing keyword TGROUP = -10.7 is invalid; it must be > 0"),
    ("NFRAMES", 0, "timing keyword NFRAMES = 0 is invalid; it must be >= 1"),
    ("NGROUPS", -3, "timing keyword NGROUPS = -3 is invalid; it must be >= 1"),
    ("GROUPGAP", -1, "timing keyword GROUPGAP = -1 is invalid; it must be >= 0"),
]
IDS = [f"{k}={'missing' if v is None else v}" for k, v, _ in CASES]


def _broken_copy(src, dst, key, value):
    """A copy of uncal ``src`` whose primary header lacks ``key`` (value None) or holds ``value``."""
    shutil.copy(src, dst)
    with fits.open(dst, mode="update") as h:
        for hdu in h:
            if key in hdu.header:
                del hdu.header[key]
        if value is not None:
            h[0].header[key] = value
    return dst


@pytest.mark.parametrize("key,value,words", CASES, ids=IDS)
def test_opening_the_exposure_names_file_and_keyword(sim, tmp_path, key, value, words):
    bad = _broken_copy(sim.uncal, tmp_path / sim.uncal.name, key, value)
    with pytest.raises(io.ProductError) as err:
        io.open_ramp(bad)
    msg = str(err.value)
    assert str(bad) in msg and words in msg, msg


@pytest.mark.parametrize("key,value,words", CASES, ids=IDS)
def test_a_step_on_it_writes_nothing(sim, tmp_path, key, value, words):
    """group_scale needs no reference file: with a default frame time it used to succeed."""
    bad = _broken_copy(sim.uncal, tmp_path / sim.uncal.name, key, value)
    out = tmp_path / "stage1" / sim.uncal.name.replace("_uncal", "_group_scale")
    with pytest.raises(ValueError) as err:
        runner.run(["group_scale"], {"ramp": bad}, {"group_scale": out})
    assert str(bad) in str(err.value) and words in str(err.value), str(err.value)
    assert not out.exists()
    assert not (out.parent.exists() and list(out.parent.iterdir()))


def test_headers_in_memory_name_keyword_too():
    head = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NGROUPS": 4, "NFRAMES": 1, "TGROUP": 1.0}
    with pytest.raises(KeyError, match="seg001_uncal.fits: required timing keyword TFRAME is missing"):
        ExposureMeta.from_headers(head, {}, "seg001_uncal.fits", shape=(2, 4, 8, 8))
    meta = ExposureMeta.from_headers({**head, "TFRAME": 1.0}, {}, "seg001_uncal.fits", shape=(2, 4, 8, 8))
    assert (meta.tframe, meta.tgroup, meta.nframes, meta.ngroups, meta.groupgap) == (1.0, 1.0, 1, 4, 0)
