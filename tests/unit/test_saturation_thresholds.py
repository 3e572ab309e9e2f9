"""Custom saturation thresholds: the modified SATURATION reference and what the step flags with it."""

import logging

import numpy as np
import pytest

from rampflow import dq as dqflags
from rampflow.custom import saturation_thresholds as cst
from rampflow.meta import ExposureMeta

NAN = np.nan


# --------------------------------------------------------------------------- config

def test_options_exactly_one_operation():
    assert cst.threshold_options({"scale": 0.5, "n_pix_grow_sat": 2}) == {"scale": 0.5}
    assert cst.threshold_options({"level": 50000}) == {"level": 50000.0}
    assert cst.threshold_options({"map": "m.fits"}) == {"map_path": "m.fits"}
    with pytest.raises(ValueError, match="exactly one of scale, level, map"):
        cst.threshold_options({"scale": 0.5, "level": 1000})
    with pytest.raises(ValueError, match="exactly one of scale, level, map"):
        cst.threshold_options({"n_pix_grow_sat": 1})
    with pytest.raises(ValueError, match=r"custom.saturation.scale must be > 0"):
        cst.threshold_options({"scale": 0})
    with pytest.raises(ValueError, match=r"custom.saturation.level must be > 0"):
        cst.threshold_options({"level": -5})
    with pytest.raises(ValueError, match="unknown key.*'scal'"):
        cst.threshold_options({"scal": 0.5})


# --------------------------------------------------------------------------- arrays

def test_modified_thresholds_exact():
    ref = np.array([[100.0, NAN], [200.0, 300.0]], np.float32)
    np.testing.assert_array_equal(cst.modified_thresholds(ref, scale=0.5), [[50, NAN], [100, 150]])
    np.testing.assert_array_equal(cst.modified_thresholds(ref, level=250), [[250, NAN], [250, 250]])
    m = np.array([[NAN, 5.0], [150.0, 400.0]])
    # NaN in the map keeps the reference; NaN in the reference stays NaN
    np.testing.assert_array_equal(cst.modified_thresholds(ref, new_map=m), [[100, NAN], [150, 400]])
    with pytest.raises(ValueError, match="exactly one"):
        cst.modified_thresholds(ref)
    with pytest.raises(ValueError, match=r"map shape \(1, 2\) != reference SCI shape \(2, 2\)"):
        cst.modified_thresholds(ref, new_map=np.zeros((1, 2)))


# --------------------------------------------------------------------------- files

KEYWORDS = dict(INSTRUME="NIRSPEC", DETECTOR="NRS1", SUBARRAY="FULL", SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=5,
                SUBSIZE2=5, REFTYPE="SATURATION", AUTHOR="test", PEDIGREE="DUMMY",
                USEAFTER="2022-01-01T00:00:00", DESCRIP="hand-made saturation reference")


def _reference(tmp_path, thresh=60000.0):
    from rampflow.io.simfiles import write_reference

    sci = np.full((5, 5), thresh, np.float32)
    sci[4, 4] = NAN
    dq = np.zeros((5, 5), np.uint32)
    dq[0, 4] = dqflags.NO_SAT_CHECK
    path = tmp_path / "jwst_nirspec_saturation_test.fits"
    write_reference(path, "saturation", {"SCI": sci, "DQ": dq}, KEYWORDS,
                    dq_def=[(21, dqflags.NO_SAT_CHECK, "NO_SAT_CHECK", "no saturation check")])
    return path


def test_reference_layout_and_provenance(tmp_path, caplog):
    from astropy.io import fits
    from stdatamodels.jwst import datamodels

    from rampflow import io

    src = _reference(tmp_path)
    out = tmp_path / "custom.fits"
    with caplog.at_level(logging.WARNING):
        cst.make_threshold_reference(src, out, scale=0.5)
    assert "above the reference" not in caplog.text          # halving never exceeds the reference
    p0, im0, tab0, _ = io.read_reference_hdus(src)
    p1, im1, tab1, _ = io.read_reference_hdus(out)
    expected = im0["SCI"] * np.float32(0.5)
    np.testing.assert_array_equal(im1["SCI"], expected)      # 30000, NaN kept
    np.testing.assert_array_equal(im1["DQ"], im0["DQ"])
    assert list(tab1["DQ_DEF"]["NAME"]) == list(tab0["DQ_DEF"]["NAME"])
    with fits.open(src) as a, fits.open(out) as b:
        assert [h.name for h in a] == [h.name for h in b]
        assert b["SCI"].data.dtype == a["SCI"].data.dtype
    for key in ("REFTYPE", "INSTRUME", "DETECTOR", "SUBARRAY", "USEAFTER"):
        assert p1[key] == p0[key]
    assert p1["CSATSRC"] == src.name and p1["CSATOP"] == "scale" and p1["CSATVAL"] == 0.5
    assert any("custom saturation thresholds: scale = 0.5" in h for h in p1["HISTORY"])
    with datamodels.open(str(out)) as m:                     # still a SaturationModel
        assert type(m).__name__ == "SaturationModel"
        assert m.data[0, 0] == 30000


def test_warns_with_pixel_count_when_above_reference(tmp_path, caplog):
    from astropy.io import fits

    src = _reference(tmp_path)
    m = np.full((5, 5), np.nan)
    m[1, 1] = 70000.0                                         # above 60000
    m[2, 2] = 61000.0                                         # above 60000
    m[3, 3] = 10000.0                                         # below: no warning for it
    fits.PrimaryHDU(m).writeto(tmp_path / "map.fits")
    out = tmp_path / "custom.fits"
    with caplog.at_level(logging.WARNING):
        cst.make_threshold_reference(src, out, map_path=tmp_path / "map.fits")
    assert "2 of 25 pixels get a threshold above the reference" in caplog.text
    from rampflow import io

    p1, im1, _, _ = io.read_reference_hdus(out)
    assert im1["SCI"][1, 1] == 70000 and im1["SCI"][3, 3] == 10000 and im1["SCI"][0, 0] == 60000
    assert p1["CSATOP"] == "map" and p1["CSATVAL"] == "map.fits" and p1["CSATNABV"] == 2


def test_exactly_one_operation_and_reftype_checked(tmp_path):
    src = _reference(tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        cst.make_threshold_reference(src, tmp_path / "o.fits", scale=0.5, level=3)
    from rampflow.io.simfiles import write_reference

    gain = tmp_path / "gain.fits"
    write_reference(gain, "gain", {"SCI": np.ones((5, 5), np.float32)}, {**KEYWORDS, "REFTYPE": "GAIN"})
    with pytest.raises(ValueError, match="is a GAIN reference, not SATURATION"):
        cst.make_threshold_reference(gain, tmp_path / "o.fits", scale=0.5)
    assert not (tmp_path / "o.fits").exists()


# --------------------------------------------------------------------------- with the saturation step

def _meta():
    head = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_BRIGHTOBJ", "SUBSTRT1": 1,
            "SUBSTRT2": 1, "NFRAMES": 1, "READPATT": "NRSRAPID", "NGROUPS": 4, "TFRAME": 10.73677, "TGROUP": 10.73677}
    return ExposureMeta.from_headers(head, {}, filename="test", shape=(1, 4, 5, 5))


def _run_saturation(ref_path, n_pix_grow_sat, use_readpatt=False):
    from rampflow.references import Reference, load_reference
    from rampflow.steps.saturation import Saturation

    meta = _meta()
    refs = {"saturation": load_reference("saturation", ref_path, meta),
            "superbias": Reference(reftype="superbias", path="hand", header={},
                                   arrays={"SCI": np.zeros((5, 5), np.float32)})}
    step = Saturation(meta, refs, n_pix_grow_sat=n_pix_grow_sat, use_readpatt=use_readpatt)
    # every pixel ramps 1000, 2000, 3000, 4000 DN; pixel (2, 2) ramps 10000 .. 40000 DN
    g = np.arange(1, 5, dtype=np.float32)[:, None, None]
    data = np.broadcast_to(1000 * g, (4, 5, 5)).copy()[None]
    data[0, :, 2, 2] = [10000, 20000, 30000, 40000]
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros((5, 5), np.uint32)
    step.process(data, gdq, pdq, slice(0, 1), slice(0, 5))
    return gdq[0], pdq


@pytest.mark.parametrize("grow", [0, 1])
def test_step_flags_exactly_above_scaled_level(tmp_path, grow):
    src = _reference(tmp_path)
    # with the reference's own 60000 DN nothing saturates
    gdq, _ = _run_saturation(src, grow)
    assert not (gdq & dqflags.SATURATED).any()
    out = tmp_path / "custom.fits"
    cst.make_threshold_reference(src, out, scale=0.5)         # 30000 DN
    gdq, pdq = _run_saturation(out, grow)
    # pixel (2, 2) reaches 30000 in group index 2 (>= threshold) and stays flagged in group 3;
    # with growth 1 the 3 x 3 box around it is flagged in the same groups
    expected = np.zeros((4, 5, 5), np.uint8)
    box = slice(2 - grow, 3 + grow)
    expected[2:, box, box] = dqflags.SATURATED
    np.testing.assert_array_equal(gdq, expected)
    # the reference DQ is carried into PIXELDQ (NO_SAT_CHECK from DQ); the NaN threshold gives
    # NO_SAT_CHECK and, unlike jwst, DO_NOT_USE too (README, "Differences from jwst")
    assert pdq[0, 4] == dqflags.NO_SAT_CHECK
    assert pdq[4, 4] == dqflags.NO_SAT_CHECK | dqflags.DO_NOT_USE


def test_level_threshold_flags_at_equality(tmp_path):
    src = _reference(tmp_path)
    out = tmp_path / "custom.fits"
    cst.make_threshold_reference(src, out, level=3000)
    gdq, _ = _run_saturation(out, 0)
    sat = (gdq & dqflags.SATURATED) != 0
    # every pixel reaches 3000 at group index 2 (>=), (2, 2) already at group 0 (10000);
    # NO_SAT_CHECK (0, 4) and the NaN-threshold pixel (4, 4) are never flagged
    expected = np.zeros((4, 5, 5), bool)
    expected[2:] = True
    expected[:, 2, 2] = True
    expected[:, 0, 4] = False
    expected[:, 4, 4] = False
    np.testing.assert_array_equal(sat, expected)


# --------------------------------------------------------------------------- workflow wiring

def _wcfg(**kw):
    cfg = {"program": "p", "results": "results", "references": {"overrides": {"mask": "m.fits"}},
           "step_params": {}, "custom": {}}
    cfg.update(kw)
    return cfg


def test_wiring_saturation_override_and_growth():
    from rampflow import wiring

    cfg = _wcfg(custom={"saturation": {"scale": 0.5, "n_pix_grow_sat": 2}})
    assert cst.threshold_options(wiring.custom_saturation(cfg)) == {"scale": 0.5}
    assert wiring.step_needs(cfg, "saturation") == {
        "saturation_reference": "results/p/references/{stem}_saturation_custom.fits"}
    assert wiring.step_needs(cfg, "dq_init") == {}
    assert wiring.step_params(cfg, "saturation") == {"n_pix_grow_sat": 2}
    assert wiring.step_overrides(cfg, "saturation") == {
        "mask": "m.fits", "saturation": "results/p/references/{stem}_saturation_custom.fits"}
    assert wiring.step_overrides(cfg, "dq_init") == {"mask": "m.fits"}
    # without custom thresholds nothing changes
    plain = _wcfg(step_params={"saturation": {"n_pix_grow_sat": 0}})
    assert wiring.step_needs(plain, "saturation") == {}
    assert wiring.step_params(plain, "saturation") == {"n_pix_grow_sat": 0}
    assert wiring.step_overrides(plain, "saturation") == {"mask": "m.fits"}


def test_wiring_rejects_inconsistent_config():
    from rampflow import config as rfconfig

    with pytest.raises(ValueError, match="disagree"):
        rfconfig.check_custom(_wcfg(custom={"saturation": {"level": 4e4, "n_pix_grow_sat": 2}},
                                    step_params={"saturation": {"n_pix_grow_sat": 1}}), ["saturation"])
    with pytest.raises(ValueError, match="'saturation' is not in steps"):
        rfconfig.check_custom(_wcfg(custom={"saturation": {"level": 4e4}}), ["dq_init"])
    with pytest.raises(ValueError, match="exactly one"):
        rfconfig.check_custom(_wcfg(custom={"saturation": {"level": 4e4, "map": "x.fits"}}), ["saturation"])
