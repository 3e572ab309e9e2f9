import numpy as np
import pytest
from astropy.io import fits

from rampflow.meta import ExposureMeta
from rampflow.references import ReferenceError, cut_to_subarray, load_reference, resolve


def _meta(**kw):
    prim = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "SUBARRAY": "SUB2048", "SUBSTRT1": 1,
            "SUBSTRT2": 1013, "SUBSIZE1": 2048, "SUBSIZE2": 32, "NINTS": 2, "NGROUPS": 3,
            "NFRAMES": 1, "TFRAME": 10.73677, "TGROUP": 10.73677}
    prim.update(kw)
    return ExposureMeta.from_headers(prim, {}, "exp_uncal.fits")


def _ref(path, reftype="saturation", detector="NRS1", shape=(2048, 2048), corner=(1, 1)):
    prim = fits.PrimaryHDU()
    prim.header.update({"INSTRUME": "NIRSPEC", "DETECTOR": detector, "REFTYPE": reftype.upper(),
                        "SUBSTRT1": corner[0], "SUBSTRT2": corner[1]})
    y, x = np.indices(shape)
    sci = (y * 10000 + x).astype(np.float32)
    fits.HDUList([prim, fits.ImageHDU(sci, name="SCI"),
                  fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ", uint=True)]).writeto(path)
    return path


def test_cut_full_frame_to_subarray(tmp_path):
    ref = load_reference("saturation", _ref(tmp_path / "sat.fits"), _meta())
    sci = ref["SCI"]
    assert sci.shape == (32, 2048)
    # row 0 of the subarray is detector row SUBSTRT2 - 1 = 1012 (0-based)
    assert sci[0, 0] == 1012 * 10000 and sci[31, 2047] == 1043 * 10000 + 2047
    assert ref.dq().dtype == np.uint32
    # the cut owns its memory: the 2048 x 2048 frame it came from is not kept alive
    for arr in (sci, ref["DQ"]):
        assert arr.base is None and arr.flags.c_contiguous and arr.nbytes == 32 * 2048 * 4


def test_subarray_reference_offset(tmp_path):
    ref = load_reference("saturation", _ref(tmp_path / "s.fits", shape=(64, 2048), corner=(1, 1001)), _meta())
    assert ref["SCI"][0, 5] == (1013 - 1001) * 10000 + 5


def test_wrong_detector_names_file(tmp_path):
    p = _ref(tmp_path / "nrs2_sat.fits", detector="NRS2")
    with pytest.raises(ReferenceError, match=r"nrs2_sat.fits.*NRS2.*NRS1"):
        load_reference("saturation", p, _meta())


def test_reference_not_covering_subarray(tmp_path):
    p = _ref(tmp_path / "small.fits", shape=(16, 2048), corner=(1, 1))
    with pytest.raises(ReferenceError, match=r"small.fits.*SUBSTRT2=1013"):
        load_reference("saturation", p, _meta())


def test_wrong_reftype_names_file(tmp_path):
    p = _ref(tmp_path / "gain.fits", reftype="gain")
    with pytest.raises(ReferenceError, match=r"gain.fits.*GAIN.*SATURATION"):
        load_reference("saturation", p, _meta())


def test_cut_returns_view_when_same_shape():
    a = np.zeros((3, 32, 2048))
    assert cut_to_subarray(a, (1, 1013), _meta(), "x") is a


def test_override_missing_file_names_key(tmp_path):
    with pytest.raises(ReferenceError, match=r"overrides.mask.*nope.fits"):
        resolve(_meta(), ["mask"], {"mask": str(tmp_path / "nope.fits")})


def test_overrides_win(tmp_path):
    p = _ref(tmp_path / "sat.fits")
    paths, ctx = resolve(_meta(), ["saturation"], {"saturation": str(p)})
    assert paths == {"saturation": str(p)} and ctx is None


def test_miri_optional_superbias_needs_no_crds(tmp_path, monkeypatch):
    """MIRI has no superbias (N/A in CRDS): saturation's optional SUPERBIAS is not applicable
    without asking CRDS, so a MIRI run with references.overrides alone needs no cache; for a
    near-infrared exposure the same request goes to CRDS (and fails without one, naming it)."""
    from rampflow.references import NOT_APPLICABLE, MissingReferenceError

    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT"):
        monkeypatch.delenv(k, raising=False)
    sat = tmp_path / "sat.fits"
    sat.write_bytes(b"")
    miri = _meta(INSTRUME="MIRI", DETECTOR="MIRIMAGE", SUBARRAY="FULL", SUBSTRT2=1, SUBSIZE1=1032, SUBSIZE2=1024)
    paths, ctx = resolve(miri, ["saturation", "superbias"], {"saturation": str(sat)}, optional=("superbias",))
    assert paths == {"saturation": str(sat), "superbias": NOT_APPLICABLE} and ctx is None
    # a superbias given anyway wins
    paths, _ = resolve(miri, ["superbias"], {"superbias": str(sat)}, optional=("superbias",))
    assert paths == {"superbias": str(sat)}
    with pytest.raises(MissingReferenceError, match="SUPERBIAS"):
        resolve(_meta(), ["superbias"], {}, optional=("superbias",))


def test_float64_reference_cut_before_conversion_keeps_float64_values(tmp_path):
    """A float64 image is cut to the subarray as stored, then made native float64 (the values
    numpy gives cutting the whole frame read by astropy); a big-endian uint32 DQ with BZERO too."""
    path = tmp_path / "dark64.fits"
    prim = fits.PrimaryHDU()
    prim.header.update({"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "REFTYPE": "DARK", "SUBSTRT1": 1,
                        "SUBSTRT2": 1})
    sci = np.random.default_rng(2).normal(0, 1, (3, 2048, 2048))
    dq = np.random.default_rng(3).integers(0, 2**32, (2048, 2048), dtype=np.uint32)
    fits.HDUList([prim, fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(dq, name="DQ", uint=True)]).writeto(path)
    ref = load_reference("dark", path, _meta())
    assert ref["SCI"].dtype == np.float64 and ref["SCI"].dtype.isnative
    np.testing.assert_array_equal(ref["SCI"], sci[:, 1012:1044, :])
    assert ref["DQ"].dtype == np.uint32
    np.testing.assert_array_equal(ref["DQ"], dq[1012:1044])
