"""The MIRI simulator kinds: geometry, uncal layout, injected physics against hand computation,
reference files opened by their stdatamodels models, and the CRDS cache resolving them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rampflow.simulate import miri, simulate_exposure, simulate_program
from rampflow.simulate.detector import measured_to_linear
from rampflow.simulate.geometry import geometry, readout_coords
from rampflow.simulate.miri_refs import MIRI_REFTYPES, raw_domain_coeffs

SRC = str(Path(__file__).resolve().parents[2] / "src")
#: every noise term off, so the ramps are the model's expectation rounded to integer DN
QUIET = {"poisson": False, "read_noise_scale": 0.0, "amp_offset_rms": 0.0, "odd_even_rms": 0.0,
         "cr_rate": 0.0, "one_over_f_rms": 0.0}


@pytest.fixture(scope="module")
def quiet_lrs(tmp_path_factory):
    """A noiseless SLITLESSPRISM exposure (3 integrations x 8 groups) and one with EMI added."""
    root = tmp_path_factory.mktemp("miri_quiet")
    kw = dict(kind="miri_lrs_tso", detector="MIRIMAGE", nints=3, ngroups=8, seed=5, **QUIET)
    base = simulate_exposure(root / "base", **kw)
    emi = simulate_exposure(root / "emi", emi_amplitude=5.0, **kw)
    return base, emi


def _sci(path):
    with fits.open(path) as h:
        return h["SCI"].data.astype(np.float64)


def test_geometry_subarray_frame_time_and_interleaved_amplifiers():
    g = geometry("miri_lrs_tso", "MIRIMAGE", None, 10, None)
    assert (g.subarray, g.xstart, g.ystart, g.nx, g.ny) == ("SLITLESSPRISM", 1, 529, 72, 416)
    assert (g.readpatt, g.nframes, g.groupgap, g.noutputs) == ("FASTR1", 1, 0, 4)
    assert g.tframe == pytest.approx(0.15904)
    full = geometry("miri_image", "MIRIMAGE", None, 5, None)
    assert (full.subarray, full.nx, full.ny, full.tframe) == ("FULL", 1032, 1024, pytest.approx(2.77504))
    amp, _, line, nlines = readout_coords(full)
    assert np.array_equal(amp[0, :12], np.arange(12) % 4) and np.array_equal(amp[:, 7], np.full(1024, 3))
    assert nlines == 1024 and line[5, 0] == 5
    with pytest.raises(ValueError, match="1..1024 x 8..1032"):
        geometry("miri_image", "MIRIMAGE", [1024, 2048], 5, None)


def test_clocking_matches_jwst_emicorr_table():
    emicorr = pytest.importorskip("jwst.emicorr.emicorr")
    table = emicorr.subarray_clocks
    for name, (ny, nx) in {"SLITLESSPRISM": (416, 72), "SUB128": (128, 136), "SUB64": (64, 72),
                           "FULL_FAST": (1024, 1032)}.items():
        assert miri.clocks(name, ny, nx) == (table[name]["rowclocks"], table[name]["frameclocks"]), name


def test_uncal_is_a_miri_level1b_with_refout(quiet_lrs):
    from stdatamodels.jwst import datamodels

    base, _ = quiet_lrs
    with datamodels.Level1bModel(str(base.uncal)) as m:
        assert m.data.dtype == np.uint16 and m.data.shape == (3, 8, 416, 72)
        assert m.refout.dtype == np.uint16 and m.refout.shape == (3, 8, 104, 72)
        assert len(m.int_times) == 3
        assert (m.meta.instrument.name, m.meta.instrument.detector, m.meta.instrument.filter) == \
            ("MIRI", "MIRIMAGE", "P750L")
        assert (m.meta.exposure.type, m.meta.exposure.readpatt, m.meta.exposure.nsamples) == \
            ("MIR_LRS-SLITLESS", "FASTR1", 1)
        assert (m.meta.subarray.fastaxis, m.meta.subarray.slowaxis, m.meta.visit.tsovisit) == (1, 2, True)
        assert m.meta.aperture.name == "MIRIM_SLITLESSPRISM"
    assert base.uncal.name == "jw09999003001_03101_00001-seg001_mirimage_uncal.fits"


def test_raw_domain_linearity_coefficients_by_hand():
    # c2 = 1e-6, c3 = 2e-11, bias 10000: P(10000 + 20000) - 10000 = 20000 + 400 + 160
    coeffs = np.array([0.0, 1.0, 1e-6, 2e-11], dtype=np.float32).reshape(4, 1, 1)
    raw = raw_domain_coeffs(coeffs, np.full((1, 1), 10000.0, dtype=np.float32))
    assert measured_to_linear(np.array([[30000.0]]), raw.astype(np.float64))[0, 0] - 10000.0 == \
        pytest.approx(20560.0, abs=0.02)


def test_noiseless_ramps_follow_the_injected_physics(quiet_lrs):
    """P(raw - RESET) from the reference files is bias + (rate + dark) t: the middle groups of the
    first integration lie on that line; the first and last groups carry the frame anomalies;
    the first groups of integration 2 carry RSCD (negative, decaying)."""
    from stdatamodels.jwst import datamodels

    base, _ = quiet_lrs
    raw = _sci(base.uncal)
    refs = base.refs
    with datamodels.ResetModel(str(refs["reset"])) as r:
        reset = r.data.astype(np.float64)
    with datamodels.LinearityModel(str(refs["linearity"])) as lin:
        coeffs = lin.coeffs.astype(np.float64)[:, 528:944, :]
    with datamodels.DarkMIRIModel(str(refs["dark"])) as d:
        dark = d.data.astype(np.float64)
        assert d.data.shape == (2, 8, 416, 72)
    truth = fits.open(base.truth)
    rate = truth["RATEINTS"].data.astype(np.float64)
    tframe = fits.getheader(base.uncal)["TFRAME"]
    t = (np.arange(8) + 1) * tframe
    y, x = np.unravel_index(np.argmax(rate[0]), rate[0].shape)        # the brightest pixel
    lin1 = measured_to_linear(raw[0, :, y, x] - reset[0, :, y, x], coeffs[:, y, x])
    expect = rate[0, y, x] * t + dark[0, :, y, x]
    resid = lin1 - expect
    mid = resid[1:-1]
    assert np.ptp(mid) < 2.0                              # on the line to the DN rounding
    bias = np.mean(mid)
    assert 5000 < bias < 20000
    assert abs(resid[0] - bias) > 3.0                    # first-frame anomaly
    assert abs(resid[-1] - bias) > 3.0                   # last-frame anomaly
    # integration 2: the reset anomaly of later integrations, RSCD in the first groups
    lin2 = measured_to_linear(raw[1, :, y, x] - reset[1, :, y, x], coeffs[:, y, x])
    resid2 = lin2 - (rate[1, y, x] * t + dark[1, :, y, x])
    bias2 = np.mean(resid2[4:-1])
    assert np.ptp(resid2[4:-1]) < 2.0
    s_prev = rate[1, y, x] * t[-1]
    assert resid2[0] - bias2 == pytest.approx(-0.002 * s_prev + (resid[0] - bias), abs=2.0)
    assert resid2[0] - bias2 < resid2[1] - bias2 < 0.5


def test_emi_follows_jwst_emicorr_clock(quiet_lrs):
    """EMI-on minus EMI-off is two sines in the pixel clock as jwst's emicorr counts it."""
    base, emi = quiet_lrs
    diff = _sci(emi.uncal) - _sci(base.uncal)
    nints, ngroups, ny, nx = diff.shape
    rowclocks, frameclocks = 28, ny * 28 + (1024 - ny) * 7      # jwst: rows, then (1024 - ny) * 7
    t = np.zeros(diff.shape)
    start = 0
    for i in range(nints):                    # the loop of jwst's emicorr, one reset frame per int
        for k in range(ngroups):
            for j in range(ny):
                t[i, k, j] = np.arange(nx) // 4 + start
                start += rowclocks
            start += (1024 - ny) * 7
        start += frameclocks
    cols = []
    for f in miri.EMI_FREQUENCIES.values():
        ph = 2 * np.pi * t.ravel() * 10e-6 * f
        cols += [np.sin(ph), np.cos(ph)]
    a = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(a, diff.ravel(), rcond=None)
    resid = diff.ravel() - a @ coef
    assert np.std(resid) < 0.5                               # integer rounding only
    amps = np.hypot(coef[0::2], coef[1::2])
    assert amps == pytest.approx([5.0, 5.0], abs=0.05)


def test_reference_files_open_in_their_models(quiet_lrs):
    from stdatamodels.jwst import datamodels

    base, _ = quiet_lrs
    refs = base.refs
    assert set(refs) == set(MIRI_REFTYPES)
    models = {"mask": "MaskModel", "saturation": "SaturationModel", "linearity": "LinearityModel",
              "readnoise": "ReadnoiseModel", "gain": "GainModel", "dark": "DarkMIRIModel",
              "reset": "ResetModel", "rscd": "RSCDModel", "emicorr": "EmiModel"}
    for reftype, cls in models.items():
        with getattr(datamodels, cls)(str(refs[reftype])) as m:
            m.validate()
            assert m.meta.instrument.name == "MIRI" and m.meta.reftype.lower() == reftype
    with datamodels.MaskModel(str(refs["mask"])) as m:
        assert m.dq.shape == (1024, 1032)
        ref_cols = (m.dq & 2**31) != 0
        assert ref_cols[:, [0, 3, 1028, 1031]].all() and not ref_cols[:, 4:1028].any()
    with datamodels.RSCDModel(str(refs["rscd"])) as m:
        rows = {(r["subarray"], r["readpatt"]): (r["group_skip1"], r["group_skip"]) for r in m.rscd_group_skip_table}
        assert rows[("SLITLESSPRISM", "FASTR1")] == miri.RSCD_SKIP["FASTR1"]
    with datamodels.EmiModel(str(refs["emicorr"])) as m:
        assert m.frequencies.Hz390.frequency == 390.625
        assert m.subarray_cases.SLITLESSPRISM.frameclocks == 15904


_CLIENT = r"""
import json, sys
import crds
from astropy.io import fits
from rampflow.meta import ExposureMeta
uncal, reftypes = sys.argv[1], json.loads(sys.argv[2])
meta = ExposureMeta.from_headers(fits.getheader(uncal), fits.getheader(uncal, "SCI"), uncal)
got = crds.getreferences(meta.crds_parameters, reftypes=reftypes, observatory="jwst", context="jwst_0001.pmap")
print("RESULT" + json.dumps({k: str(v) for k, v in got.items()}))
"""


def test_crds_cache_resolves_every_miri_type(tmp_path, monkeypatch):
    pytest.importorskip("crds")
    crds_path = tmp_path / "crds"
    uncals = simulate_program(tmp_path / "uncal", {"kind": "miri_lrs_tso", "nints": 2, "ngroups": 4,
                                                   "size": [32, 72], "seed": 1}, crds_path)
    for k, v in {"CRDS_PATH": str(crds_path), "CRDS_MODE": "local", "CRDS_IGNORE_MAPPING_CHECKSUM": "0",
                 "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    reftypes = [*MIRI_REFTYPES, "pars-jumpstep"]
    proc = subprocess.run([sys.executable, "-c", _CLIENT, str(uncals[0]), json.dumps(reftypes)],
                          capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    got = json.loads(line[0][len("RESULT"):])
    refdir = crds_path / "references" / "jwst" / "miri"
    expected = {"dark": "jwst_miri_dark_mirimage-generic32x72.fits",
                "reset": "jwst_miri_reset_mirimage-generic32x72.fits",
                "emicorr": "jwst_miri_emicorr_mirimage.asdf", "pars-jumpstep": "jwst_miri_pars-jumpstep_0002.asdf"}
    for reftype in reftypes:
        name = expected.get(reftype, f"jwst_miri_{reftype}_mirimage.fits")
        assert got[reftype] == str(refdir / name), reftype


def test_segmentation_invariant_sci_and_refout(tmp_path):
    """Integration i's ramps (RSCD, reset and dark of integration i included) and REFOUT do not
    depend on how the exposure is cut into segments."""
    kw = dict(kind="miri_lrs_tso", detector="MIRIMAGE", nints=4, ngroups=5, size=[32, 72], seed=9)
    whole = simulate_exposure(tmp_path / "one", **kw)
    parts = [simulate_exposure(tmp_path / "two", segment=s, nsegments=2, **kw) for s in (1, 2)]

    def read(p, ext):
        with fits.open(p) as h:
            return np.array(h[ext].data)

    for ext in ("SCI", "REFOUT"):
        joined = np.concatenate([read(p.uncal, ext) for p in parts])
        np.testing.assert_array_equal(joined, read(whole.uncal, ext), err_msg=ext)
    assert fits.getheader(parts[1].uncal)["INTSTART"] == 3
