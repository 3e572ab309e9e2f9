"""clean_flicker_noise with the FLAT reference: ``apply_flat_field``, ``autoparam`` and MIRI
imaging's ``mask_science_regions``. The cases of jwst 3.0's own tests (test_autoparam.py and the
flat parts of test_clean_flicker_noise.py / test_clean_flicker_noise_step.py), in our words,
against rampflow's functions; hand-computed DQ for the flat_field flags; the simulator's FLAT."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import flicker_mask
from rampflow.steps.clean_flicker_noise import CleanFlickerNoise, wants_flat
from rampflow.steps.flicker_autoparam import image_parameters, line_fit, max_channel_offset
from rampflow.steps.flicker_flat import flat_field_dq, flat_image
from rampflow.steps.flicker_mask import check_science_regions, create_mask

NO_REFS = {"readnoise": None, "gain": None}


def _meta(exp_type="NRC_IMAGE", ny=10, nx=10, nints=3, ngroups=5, subarray="SUB64", slowaxis=-2):
    inst = {"NRC": "NIRCAM", "NIS": "NIRISS", "MIR": "MIRI", "NRS": "NIRSPEC"}[exp_type[:3]]
    det = {"NIRCAM": "NRCA1", "NIRISS": "NIS", "MIRI": "MIRIMAGE", "NIRSPEC": "NRS1"}[inst]
    return ExposureMeta(filename="x_uncal.fits", instrument=inst, detector=det, exp_type=exp_type,
                        subarray=subarray, substrt1=1, substrt2=1, subsize1=nx, subsize2=ny, nints=nints,
                        ngroups=ngroups, nframes=1, groupgap=0, frmdivsr=1, tframe=1.0, tgroup=1.0,
                        readpatt="RAPID", fastaxis=1 if abs(slowaxis) == 2 else 2, slowaxis=slowaxis, noutputs=1,
                        date_obs="2024-01-01", time_obs="00:00:00")


def _flat_ref(sci, dq_arr=None, err=None):
    arrays = {"SCI": np.asarray(sci, np.float32)}
    if dq_arr is not None:
        arrays["DQ"] = np.asarray(dq_arr, np.uint32)
    if err is not None:
        arrays["ERR"] = np.asarray(err, np.float32)
    return Reference(reftype="flat", path="flat.fits", header={}, arrays=arrays)


def _gradient_flat(shape=(10, 10)):
    """jwst's test flat: 0, 1, 2, ... row by row (its first pixel is 0, a bad value)."""
    return np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape)


def _constant_ramp(shape=(3, 5, 10, 10)):
    sci = np.zeros(shape, np.float32)
    sci[:] = np.arange(shape[1], dtype=np.float32)[None, :, None, None]
    return sci


def _run(meta, refs, sci, monkeypatch, rate=None, rate_dq=None, **params):
    """The step on ``sci`` with a draft rate given by hand (``rate``; default the ramp's
    constant rate of 1), through prepare and process."""
    nints, ngroups, ny, nx = sci.shape
    if rate is None:
        rate = np.ones((ny, nx), np.float32)
    calls = []

    def fake_draft_rate(ramp, refs_, return_cube, chunk_mb=256):
        calls.append(return_cube)
        r = np.broadcast_to(rate, (nints, ny, nx)).copy() if return_cube else rate.copy()
        d = np.zeros(r.shape, np.uint32) if rate_dq is None else np.broadcast_to(rate_dq, r.shape).copy()
        return r, d

    monkeypatch.setattr(flicker_mask, "draft_rate", fake_draft_rate)
    step = CleanFlickerNoise(meta, refs, **params)
    step.prepare(SimpleNamespace(shape=sci.shape, meta=meta))
    step.process(sci, np.zeros(sci.shape, np.uint8), np.zeros((ny, nx), np.uint32), slice(0, nints), slice(0, ny))
    step.draft_calls = calls
    return step


# --------------------------------------------------------------------------- reading the flat

def test_flat_zeros_and_nans_get_the_smoothed_level():
    flat = np.full((64, 64), 2.0, np.float32)
    flat[10, 10] = 0.0
    flat[20, 30] = np.nan
    flat[40, 5] = np.inf
    out = flat_image(_flat_ref(flat))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, 2.0)  # a uniform flat's smoothed level is its value
    assert flat_image(None) is None


def test_flat_subarray_is_cut_by_the_reference_loader(tmp_path):
    """jwst's test_do_correction_with_flat_subarray: a 50 x 50 flat for a 20 x 20 corner."""
    from rampflow.io import simfiles
    from rampflow.references import load_reference

    path = simfiles.write_reference(tmp_path / "flat.fits", "flat", {"SCI": _gradient_flat((50, 50))},
                                    {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "SUBARRAY": "GENERIC",
                                     "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": 50, "SUBSIZE2": 50,
                                     "REFTYPE": "FLAT", "AUTHOR": "test", "PEDIGREE": "DUMMY",
                                     "USEAFTER": "2020-01-01T00:00:00", "DESCRIP": "test"})
    flat = flat_image(load_reference("flat", path, _meta(ny=20, nx=20)))
    assert flat.shape == (20, 20)
    np.testing.assert_array_equal(flat[1:], _gradient_flat((50, 50))[1:20, :20])
    assert flat[0, 0] > 0  # the 0 was replaced


# --------------------------------------------------------------------------- apply_flat_field

def test_flat_requested_only_when_needed():
    cls = CleanFlickerNoise
    nrc, mir, nrs = _meta("NRC_IMAGE"), _meta("MIR_IMAGE"), _meta("NRS_BRIGHTOBJ", slowaxis=1)
    assert cls.reftypes_for(nrc, cls.defaults) == ("readnoise", "gain")
    assert "flat" in cls.reftypes_for(nrc, dict(cls.defaults, apply_flat_field=True))
    assert "flat" in cls.reftypes_for(nrc, dict(cls.defaults, autoparam=True))
    assert "flat" not in cls.reftypes_for(nrs, dict(cls.defaults, autoparam=True))
    assert wants_flat(mir, dict(cls.defaults, mask_science_regions=True))
    assert not wants_flat(mir, dict(cls.defaults, mask_science_regions=True, user_mask="m.fits"))
    assert not wants_flat(nrc, dict(cls.defaults, mask_science_regions=True))
    assert "flat" in cls.optional_reftypes


def test_uniform_flat_without_background_leaves_zeros(monkeypatch, caplog):
    """jwst's test_do_correction_with_flat_unity (ramp input): a constant-rate ramp, a flat of 1,
    no background: every difference's row medians remove it all."""
    sci = _constant_ramp((3, 5, 20, 20))
    with caplog.at_level(logging.INFO):
        step = _run(_meta(ny=20, nx=20), dict(NO_REFS, flat=_flat_ref(np.ones((20, 20)))), sci, monkeypatch,
                    apply_flat_field=True, background_method=None)
    assert "Using FLAT reference file" in caplog.text
    assert step.flat is not None
    np.testing.assert_array_equal(sci, 0.0)


@pytest.mark.parametrize("apply_flat", [True, False])
def test_flat_structure_is_kept_only_with_the_flat(monkeypatch, apply_flat):
    """jwst's test_do_correction_with_flat_structure: the ramp carries the flat's gradient; with
    the flat it is divided out before the fits and put back (output = input), without it the
    fits take the gradient for background and noise."""
    flat = _gradient_flat((20, 20))
    sci = _constant_ramp((3, 5, 20, 20)) * flat
    orig = sci.copy()
    refs = dict(NO_REFS, flat=_flat_ref(flat)) if apply_flat else NO_REFS
    _run(_meta(ny=20, nx=20), refs, sci, monkeypatch, rate=flat.copy(), apply_flat_field=apply_flat)
    if apply_flat:
        np.testing.assert_array_equal(sci, orig)
    else:
        assert not np.array_equal(sci, orig)


def test_flat_not_available_goes_on_without(monkeypatch, caplog):
    """jwst's test_apply_flat_not_available: CRDS has no FLAT (N/A): a warning, no flat."""
    sci = _constant_ramp()
    with caplog.at_level(logging.WARNING):
        step = _run(_meta("NRS_BRIGHTOBJ", slowaxis=1), NO_REFS, sci, monkeypatch, apply_flat_field=True)
    assert "Flat correction is not available" in caplog.text and step.flat is None
    np.testing.assert_allclose(sci, _constant_ramp())


def test_crds_parameter_files_may_turn_the_flat_options_on():
    """A pars-cleanflickernoisestep asking for the flat options is applied (not refused as an
    unimplemented value)."""
    from rampflow.references import _implemented_value

    for name in ("apply_flat_field", "autoparam", "mask_science_regions"):
        assert _implemented_value(CleanFlickerNoise, name, True)


# --------------------------------------------------------------------------- MIRI science regions

def test_flat_field_dq_by_hand():
    """What jwst's flat_field step ORs into a MIRI rate (test_postprocess_rate_miri's check,
    with the flags worked out pixel by pixel)."""
    flat = np.ones((4, 5), np.float32)
    fdq = np.zeros((4, 5), np.uint32)
    err = np.zeros((4, 5), np.float32)
    flat[0, 0] = np.nan                                   # -> DO_NOT_USE | NO_FLAT_FIELD
    flat[0, 1] = 0.0                                      # -> DO_NOT_USE | NO_FLAT_FIELD
    fdq[1, 0] = dq.FLAGS["NO_FLAT_FIELD"]                 # -> + DO_NOT_USE
    fdq[1, 1] = dq.FLAGS["NON_SCIENCE"] | dq.DO_NOT_USE   # kept as is
    fdq[1, 2] = dq.FLAGS["UNRELIABLE_FLAT"]               # kept, no DO_NOT_USE
    err[2, 0] = np.nan                                    # NaN flat variance -> DO_NOT_USE
    rate = np.ones((4, 5), np.float32)
    rate[3, 4] = np.nan                                   # NaN rate -> DO_NOT_USE
    out = flat_field_dq(_flat_ref(flat, fdq, err), rate)
    both = dq.DO_NOT_USE | dq.FLAGS["NO_FLAT_FIELD"]
    expect = np.zeros((4, 5), np.uint32)
    expect[0, 0] = expect[0, 1] = expect[1, 0] = both
    expect[1, 1] = dq.FLAGS["NON_SCIENCE"] | dq.DO_NOT_USE
    expect[1, 2] = dq.FLAGS["UNRELIABLE_FLAT"]
    expect[2, 0] = expect[3, 4] = dq.DO_NOT_USE
    np.testing.assert_array_equal(out, expect)
    cube = flat_field_dq(_flat_ref(flat, fdq, err), np.ones((2, 4, 5), np.float32))
    assert cube.shape == (2, 4, 5) and cube[1, 1, 0] == both and cube[0, 3, 4] == 0
    np.testing.assert_array_equal(flat_field_dq(None, rate), 0)


def test_create_mask_miri_science_regions():
    """jwst's test_create_mask_miri: a DO_NOT_USE pixel is background unless science regions
    are masked."""
    rate = np.ones((10, 10), np.float32)
    rate_dq = np.zeros((10, 10), np.uint32)
    rate_dq[5, 5] = dq.DO_NOT_USE
    rate_dq[2, 3] = dq.FLAGS["NON_SCIENCE"]
    assert create_mask(rate, rate_dq, "MIR_IMAGE").all()
    mask = create_mask(rate, rate_dq, "MIR_IMAGE", mask_science_regions=True)
    assert not mask[5, 5] and not mask[2, 3] and mask.sum() == mask.size - 2
    check_science_regions("MIR_IMAGE", True)  # implemented now: no error


@pytest.mark.parametrize("mask_science", [True, False])
def test_miri_uniform_ramp_is_unchanged(monkeypatch, mask_science):
    """jwst's test_do_correction_miri_imaging_ramp: a constant-rate ramp is left as it is; with
    science regions the FLAT's non-science columns are out of the mask."""
    sci = _constant_ramp()
    fdq = np.zeros((10, 10), np.uint32)
    fdq[:, :3] = dq.FLAGS["NON_SCIENCE"] | dq.DO_NOT_USE
    refs = dict(NO_REFS, flat=_flat_ref(np.ones((10, 10)), fdq))
    step = _run(_meta("MIR_IMAGE", slowaxis=2), refs, sci, monkeypatch, mask_science_regions=mask_science)
    np.testing.assert_allclose(sci, _constant_ramp())
    assert step.mask[:, :3].any() != mask_science and step.mask[:, 3:].all()


# --------------------------------------------------------------------------- autoparam (test_autoparam.py)

def _small_sources(image, n, value=10.0):
    rng = np.random.default_rng(seed=42)
    ny, nx = image.shape
    image[rng.choice(ny, n), rng.choice(nx, n)] += value


def _large_source(image, center=None, radius=3.0, value=10.0):
    ny, nx = image.shape
    cy, cx = (ny // 2, nx // 2) if center is None else center
    y, x = np.mgrid[:ny, :nx]
    image[(y - cy) ** 2 + (x - cx) ** 2 < radius ** 2] += value


def _auto(exp, rate, flat, caplog):
    with caplog.at_level(logging.DEBUG, logger="rampflow.steps.flicker_autoparam"):
        out = image_parameters(exp, rate, None if flat is None else flat_image(_flat_ref(flat)),
                               1 if exp == "NIS_IMAGE" else 2)
    return out


@pytest.mark.parametrize("exp", ["NIS_IMAGE", "NRC_IMAGE"])
def test_autoparam_high_mask_high_slope(exp, caplog):
    out = _auto(exp, np.ones((10, 10), np.float32), _gradient_flat(), caplog)
    assert "High mask, low offset, high slope" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "model", "fit_by_channel": False}


@pytest.mark.parametrize("exp", ["NIS_IMAGE", "NRC_IMAGE"])
def test_autoparam_high_mask_low_slope(exp, caplog):
    rate = np.ones((10, 10), np.float32)
    _large_source(rate)
    out = _auto(exp, rate, np.ones((10, 10)), caplog)
    assert "High mask, low offset, low slope" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "median", "fit_by_channel": False}


@pytest.mark.parametrize("exp", ["NIS_IMAGE", "NRC_IMAGE"])
def test_autoparam_low_mask(exp, caplog):
    out = _auto(exp, np.ones((10, 10), np.float32), np.ones((10, 10)), caplog)
    assert "Low mask, low offset, low slope" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "median", "fit_by_channel": False}
    assert _auto(exp, np.ones((10, 10), np.float32), None, caplog)["apply_flat_field"] is False


def _offset_frame(along_rows: bool, levels):
    rate = np.ones((2048, 2048), np.float32)
    for c, v in enumerate(levels):
        if along_rows:
            rate[c * 512:(c + 1) * 512] += v
        else:
            rate[:, c * 512:(c + 1) * 512] += v
    return rate


def test_autoparam_channel_offsets(caplog):
    """Full frames with channel offsets (NIRISS's channels are rows, NIRCam's columns): low
    mask, high offset -> median background, fit by channel."""
    levels = (1.0, 10.0, 100.0, 100.0)
    out = _auto("NIS_IMAGE", _offset_frame(True, levels), np.ones((2048, 2048)), caplog)
    assert "Low mask, high offset" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "median", "fit_by_channel": True}
    out = _auto("NRC_IMAGE", _offset_frame(False, levels), None, caplog)
    assert out == {"apply_flat_field": False, "background_method": "median", "fit_by_channel": True}


def test_autoparam_niriss_high_mask_high_offset(caplog):
    rate = _offset_frame(True, (1.0, 10.0, 100.0, 100.0))
    _large_source(rate, radius=500.0, value=10000.0)
    flat = _gradient_flat((2048, 2048))
    flat /= np.nanmedian(flat)
    out = _auto("NIS_IMAGE", rate, flat, caplog)
    assert "High mask, high offset, high slope" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "model", "fit_by_channel": False}
    caplog.clear()
    rate = _offset_frame(True, (10.0, 10.0, 10.08, 10.08))
    _large_source(rate, radius=500.0, value=10000.0, center=(520, 520))
    out = _auto("NIS_IMAGE", rate, np.ones((2048, 2048)), caplog)
    assert "High mask, high offset, low slope" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "median", "fit_by_channel": False}


def test_autoparam_niriss_low_mask_high_slope_noisy_channel(caplog):
    rate = np.ones((2048, 2048), np.float32)
    _small_sources(rate, 2000)
    for center, value in (((600, 600), 0.2), ((600, 1480), -0.2), ((1480, 600), 0.2), ((1480, 1480), -0.2)):
        _large_source(rate, radius=700, value=value, center=center)
    rate[1537:] += 0.1 * np.sin(np.arange(2048))
    out = _auto("NIS_IMAGE", rate, np.ones((2048, 2048)), caplog)
    assert "Low mask, low offset, high slope" in caplog.text and "High channel sigma" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "model", "fit_by_channel": True}


def test_autoparam_niriss_medium_slope(caplog):
    rate = np.ones((100, 100), np.float32)
    _small_sources(rate, 100)
    rate[:50] += 0.001
    out = _auto("NIS_IMAGE", rate, np.ones((100, 100)), caplog)
    assert "Low mask, low offset, medium slope, high slope ratio" in caplog.text
    assert "Low channel sigma" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "median", "fit_by_channel": False}
    caplog.clear()
    rate = np.ones((100, 100), np.float32)
    _small_sources(rate, 100)
    _large_source(rate, radius=40, value=0.01, center=(47, 47))
    _large_source(rate, radius=40, value=0.01, center=(53, 53))
    out = _auto("NIS_IMAGE", rate, np.ones((100, 100)), caplog)
    assert "Low mask, low offset, medium slope, low slope ratio" in caplog.text
    assert out == {"apply_flat_field": True, "background_method": "model", "fit_by_channel": False}


def test_line_fit_and_channel_offset():
    intercept, slope, sigma = line_fit(np.arange(10))
    assert np.isclose(slope, 1) and np.isclose(intercept, 0) and np.isclose(sigma, 0)
    intercept, slope, sigma = line_fit(np.ones(10))
    assert np.isclose(slope, 0) and np.isclose(intercept, 1) and np.isclose(sigma, 0)
    assert max_channel_offset(np.ones(100)) == 0.0
    assert max_channel_offset(np.repeat([1.0, 3.0, 2.5, 7.0], 512)) == pytest.approx(4.5)


def test_line_fit_with_one_coefficient(monkeypatch):
    """numpy may return a flat line's fit with its intercept only (numpy issue 26617)."""
    monkeypatch.setattr(np.polynomial.Polynomial, "convert", lambda *a: np.polynomial.Polynomial(coef=[1.0]))
    intercept, slope, sigma = line_fit(np.ones(10))
    assert slope == 0.0 and np.isclose(intercept, 1) and np.isclose(sigma, 0)


# --------------------------------------------------------------------------- autoparam in the step

@pytest.mark.parametrize("exp", ["NIS_IMAGE", "NRC_IMAGE"])
def test_step_autoparam_sets_parameters_and_uses_the_flat(monkeypatch, caplog, exp):
    """jwst's test_autoparam_niriss_image / _nircam_image: a uniform rate and a flat of 1 give
    the median background, the flat applied."""
    sci = _constant_ramp()
    meta = _meta(exp, slowaxis=-1 if exp == "NIS_IMAGE" else -2)
    with caplog.at_level(logging.INFO):
        step = _run(meta, dict(NO_REFS, flat=_flat_ref(np.ones((10, 10)))), sci, monkeypatch, autoparam=True)
    assert f"Auto parameters set for {exp}" in caplog.text and "apply_flat_field: True" in caplog.text
    assert "Using FLAT reference file" in caplog.text and "background_method: median" in caplog.text
    assert step.params["apply_flat_field"] is True and step.flat is not None
    assert step.draft_calls == [False, False]  # autoparam's draft rate, then the scene mask's
    np.testing.assert_allclose(sci, _constant_ramp())


def test_step_autoparam_not_available(monkeypatch, caplog):
    with caplog.at_level(logging.INFO):
        step = _run(_meta("MIR_IMAGE", slowaxis=2), NO_REFS, _constant_ramp(), monkeypatch, autoparam=True)
    assert "Auto parameters are not available for exposure type MIR_IMAGE" in caplog.text
    assert step.draft_calls == [False]


def test_step_autoparam_failed_keeps_the_input(monkeypatch, caplog):
    from rampflow.steps import flicker_autoparam

    monkeypatch.setattr(flicker_autoparam, "image_parameters", lambda *a: None)
    with caplog.at_level(logging.INFO):
        step = _run(_meta("NIS_IMAGE", slowaxis=-1), dict(NO_REFS, flat=_flat_ref(np.ones((10, 10)))),
                    _constant_ramp(), monkeypatch, autoparam=True, apply_flat_field=False)
    assert "Auto parameter setting failed" in caplog.text and "apply_flat_field: True" not in caplog.text
    assert step.params["apply_flat_field"] is False and step.flat is None


# --------------------------------------------------------------------------- the simulator's FLAT

def test_simulated_flats_open_in_flatmodel(tmp_path):
    from stdatamodels.jwst import datamodels

    from rampflow.simulate import simulate_exposure
    from rampflow.simulate.flats import MIRI_NON_SCIENCE_COLUMNS, NAN_PATCH, NO_FLAT_PATCH

    nrc = simulate_exposure(tmp_path / "nrc", kind="nircam_image", detector="NRCA1", nints=1, ngroups=2,
                            size=[64, 64], seed=1)
    mir = simulate_exposure(tmp_path / "mir", kind="miri_image", detector="MIRIMAGE", nints=1, ngroups=3,
                            size=[16, 400], seed=1)
    for case, shape in ((nrc, (2048, 2048)), (mir, (1024, 1032))):
        with datamodels.FlatModel(str(case.refs["flat"])) as f:
            assert f.data.shape == shape and f.meta.reftype.upper() == "FLAT"
            assert np.isnan(f.data).any() and (f.data == 0).any()
            assert np.all(f.dq[NAN_PATCH] & dq.DO_NOT_USE) and np.all(np.isnan(f.data[NAN_PATCH]))
            assert np.all(f.dq[NO_FLAT_PATCH] == dq.FLAGS["NO_FLAT_FIELD"])
            good = np.isfinite(f.data) & (f.data > 0)
            assert 0.85 < np.median(f.data[good]) < 1.15
            non_science = (f.dq & dq.FLAGS["NON_SCIENCE"]) > 0
            assert non_science[:, MIRI_NON_SCIENCE_COLUMNS].all() == (case is mir)


_PREFETCH = r"""
import json, sys
from rampflow.prefetch import prefetch
out = {}
for name, params in json.loads(sys.argv[2]).items():
    lines = prefetch([sys.argv[1]], ["clean_flicker_noise"], step_params={"clean_flicker_noise": params},
                     use_crds_pars=False)
    # the reference types resolved (the list's context and parameter-file lines aside)
    out[name] = {ln.split()[1]: ln.split()[2] for ln in lines
                 if ln.split()[1] != "context" and not ln.split()[1].startswith("pars-")}
print("RESULT" + json.dumps(out))
"""


@pytest.mark.parametrize("kind,detector,size,case", [
    ("nircam_image", "NRCA1", [64, 64], {"apply_flat_field": True}),
    ("miri_image", "MIRIMAGE", [16, 400], {"mask_science_regions": True}),
])
def test_prefetch_asks_crds_for_the_flat_only_when_needed(tmp_path, monkeypatch, kind, detector, size, case):
    """The simulated CRDS cache resolves the FLAT; prefetch (and so the step's job) asks for it
    only with the parameters that need it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("crds")
    from rampflow.simulate import simulate_program

    crds_path = tmp_path / "crds"
    uncals = simulate_program(tmp_path / "uncal", {"kind": kind, "detectors": [detector], "nints": 1,
                                                   "ngroups": 2, "size": size, "seed": 1}, crds_path)
    src = str(Path(__file__).resolve().parents[2] / "src")
    for k, v in {"CRDS_PATH": str(crds_path), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "0",
                 "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    proc = subprocess.run([sys.executable, "-c", _PREFETCH, str(uncals[0]), json.dumps({"plain": {}, "flat": case})],
                          capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    got = json.loads(line[0][len("RESULT"):])
    assert set(got["plain"]) == {"readnoise", "gain"}
    instr = "nircam" if kind == "nircam_image" else "miri"
    assert got["flat"]["flat"] == str(crds_path / "references" / "jwst" / instr
                                      / f"jwst_{instr}_flat_{detector.lower()}.fits")
