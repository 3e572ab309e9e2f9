"""rampflow.simulate: layout, determinism and physics checked against independent expectations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rampflow import dq as dqflags
from rampflow.simulate import DETECTORS, REFTYPES, read_truth, simulate_exposure, transit_model
from rampflow.simulate.geometry import geometry, readout_coords

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")

NOISELESS = dict(poisson=False, read_noise_scale=0.0, one_over_f_rms=0.0, odd_even_rms=0.0,
                 amp_offset_rms=0.0)


def _sci(path):
    with fits.open(path) as h:
        return np.array(h["SCI"].data)


def _ref(path, ext="SCI"):
    with fits.open(path) as h:
        return np.array(h[ext].data, dtype=np.float64)


def _true_measured(linear, c2, c3):
    """Independent inverse of L = M + c2 M^2 + c3 M^3: real root in [0, L] by numpy.roots."""
    if linear == 0:
        return 0.0
    roots = np.roots([c3, c2, 1.0, -linear]) if c3 != 0 else np.roots([c2, 1.0, -linear])
    real = [r.real for r in roots if abs(r.imag) < 1e-9 * max(1.0, abs(r)) and -1e-9 <= r.real <= linear + 1e-9]
    assert len(real) == 1, roots
    return real[0]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """Default physics, NIRSpec SUB2048, 2 segments of a 6-integration exposure."""
    out = tmp_path_factory.mktemp("noisy")
    seg1 = simulate_exposure(out, detector="NRS1", segment=1, nsegments=2, nints=6, ngroups=5, seed=7)
    seg2 = simulate_exposure(out, detector="NRS1", segment=2, nsegments=2, nints=6, ngroups=5, seed=7,
                             write_refs=False, refs=seg1.refs)
    return seg1, seg2


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    """Noiseless NIRSpec exposure (no Poisson, read, 1/f, odd/even or amplifier noise) with
    cosmic rays, non-linearity, dark current, a bright trace and a transit."""
    out = tmp_path_factory.mktemp("quiet")
    return simulate_exposure(out, detector="NRS2", nints=9, ngroups=6, seed=11, cr_rate=2e-4,
                             peak_well_fraction=3.0, transit_depth=0.02, **NOISELESS)


# ---------------------------------------------------------------------------------------- layout

def test_uncal_layout_and_keywords(noisy):
    seg1, seg2 = noisy
    from stdatamodels.jwst import datamodels

    with datamodels.open(str(seg1.uncal)) as m:
        assert isinstance(m, datamodels.Level1bModel)
        assert m.data.dtype == np.uint16 and m.data.shape == (3, 5, 32, 2048)
        assert len(m.int_times) == 3
        assert list(m.int_times["integration_number"]) == [1, 2, 3]
        assert m.meta.exposure.type == "NRS_BRIGHTOBJ"
    assert seg1.uncal.name == "jw09999001001_04101_00001-seg001_nrs1_uncal.fits"
    assert seg2.uncal.name == "jw09999001001_04101_00001-seg002_nrs1_uncal.fits"
    with fits.open(seg2.uncal) as h:
        names = [x.name for x in h]
        assert {"SCI", "INT_TIMES", "GROUP", "ASDF"} <= set(names)
        p = h[0].header
    expected = {"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_BRIGHTOBJ",
                "SUBARRAY": "SUB2048", "SUBSTRT1": 1, "SUBSTRT2": 963, "SUBSIZE1": 2048, "SUBSIZE2": 32,
                "FASTAXIS": 2, "SLOWAXIS": 1, "NOUTPUTS": 1, "READPATT": "NRSRAPID", "NINTS": 6,
                "NGROUPS": 5, "NFRAMES": 1, "GROUPGAP": 0, "FRMDIVSR": 1, "TFRAME": 0.90156,
                "TGROUP": 0.90156, "TSOVISIT": True, "INTSTART": 4, "INTEND": 6, "EXSEGNUM": 2,
                "EXSEGTOT": 2, "FILTER": "F290LP", "GRATING": "G395H", "PROGRAM": "09999",
                "ZEROFRAM": False, "DATAMODL": "Level1bModel"}
    for key, value in expected.items():
        assert p[key] == value, key
    for key in ("DATE-OBS", "TIME-OBS", "EXPSTART", "EXPMID", "EXPEND", "TARGNAME"):
        assert key in p, key
    assert p["EXPSTART"] < p["EXPMID"] < p["EXPEND"]
    # meta as the rest of rampflow reads it
    assert seg2.meta.detector == "NRS1" and seg2.meta.subarray == "SUB2048"
    assert seg2.meta.fastaxis == 2 and seg2.meta.tgroup == pytest.approx(0.90156)
    assert set(seg1.refs) == set(REFTYPES) | {"sirskernel"}


def test_nircam_layout(tmp_path):
    exp = simulate_exposure(tmp_path, kind="nircam_image", detector="NRCB1", nints=1, ngroups=3,
                            size=[64, 64], seed=1)
    with fits.open(exp.uncal) as h:
        p = h[0].header
        assert h["SCI"].data.shape == (1, 3, 64, 64)
    assert exp.uncal.name == "jw09999002001_02101_00001_nrcb1_uncal.fits"
    assert (p["INSTRUME"], p["DETECTOR"], p["EXP_TYPE"], p["READPATT"]) == ("NIRCAM", "NRCB1", "NRC_IMAGE", "RAPID")
    assert (p["SUBARRAY"], p["SUBSTRT1"], p["SUBSTRT2"], p["NOUTPUTS"]) == ("SUB64P", 1, 1, 1)
    assert (p["FASTAXIS"], p["SLOWAXIS"]) == (1, -2)
    assert (p["MODULE"], p["CHANNEL"], p["FILTER"], p["PUPIL"]) == ("B", "SHORT", "F150W", "CLEAR")
    # full-frame references, subarray dark
    assert _ref(exp.refs["superbias"]).shape == (2048, 2048)
    assert _ref(exp.refs["dark"]).shape == (3, 64, 64)
    assert fits.getheader(exp.refs["dark"])["SUBARRAY"] == "SUB64P"


def test_full_frame_geometry_and_amplifiers():
    g = geometry("nircam_image", "NRCA1", None, 5, None)
    assert (g.subarray, g.nx, g.ny, g.noutputs, g.tframe) == ("FULL", 2048, 2048, 4, 10.73677)
    amp, parity, line, nlines = readout_coords(g)
    # NRCA1 reads its fast axis right-to-left (FASTAXIS = -1): DMS column 0 is in the last output
    assert amp[0, 0] == 3 and amp[0, 2047] == 0 and amp[0, 1536] == 0 and amp[0, 1535] == 1
    assert np.all(np.bincount(amp[0]) == 512)
    assert nlines == 2048 and np.all(line == np.arange(2048)[:, None])      # SLOWAXIS = +2: line = row
    g2 = geometry("nirspec_tso", "NRS2", None, 5, None)
    assert (g2.subarray, g2.ystart, g2.tframe, g2.noutputs) == ("SUB2048", 1055, 0.90156, 1)
    assert DETECTORS["NRS2"][1:] == (-2, -1)
    with pytest.raises(ValueError, match="readpatt"):
        geometry("nirspec_tso", "NRS1", None, 5, "RAPID")


def test_reference_files_are_crds_format(noisy):
    seg1, _ = noisy
    from stdatamodels.jwst import datamodels

    classes = {"mask": datamodels.MaskModel, "saturation": datamodels.SaturationModel,
               "superbias": datamodels.SuperBiasModel, "linearity": datamodels.LinearityModel,
               "dark": datamodels.DarkNirspecModel, "readnoise": datamodels.ReadnoiseModel,
               "gain": datamodels.GainModel, "ipc": datamodels.IPCModel}
    for reftype in REFTYPES:
        path = seg1.refs[reftype]
        h = fits.getheader(path)
        assert h["REFTYPE"] == reftype.upper()
        assert (h["INSTRUME"], h["DETECTOR"]) == ("NIRSPEC", "NRS1")
        # IPC kernels have no subarray keywords (IPCModel has none)
        keys = ("AUTHOR", "PEDIGREE", "USEAFTER", "DESCRIP") + (() if reftype == "ipc" else
                                                                ("SUBARRAY", "SUBSTRT1", "SUBSIZE1"))
        for key in keys:
            assert key in h, (reftype, key)
        with classes[reftype](str(path)) as m:
            assert m.meta.reftype.lower() == reftype
    with datamodels.IPCModel(str(seg1.refs["ipc"])) as m:
        assert m.data.shape == (3, 3) and m.data[1, 1] == np.float32(1.02) and m.data[0, 1] == np.float32(-0.005)
    dh = fits.getheader(seg1.refs["dark"])
    assert (dh["NFRAMES"], dh["GROUPGAP"], dh["NGROUPS"], dh["SUBARRAY"]) == (1, 0, 5, "SUB2048")
    with datamodels.MaskModel(str(seg1.refs["mask"])) as m:
        assert m.dq.shape == (2048, 2048)
        assert set(np.char.strip(m.dq_def["NAME"].astype(str))) >= {"DEAD", "HOT", "REFERENCE_PIXEL"}
        ref = dqflags.REFERENCE_PIXEL
        assert np.all(m.dq[:, :4] & ref) and np.all(m.dq[:4, :] & ref) and not np.any(m.dq[4:-4, 4:-4] & ref)


# ---------------------------------------------------------------------------------------- determinism

def test_same_seed_byte_identical_and_segmentation_invariant(noisy, tmp_path):
    seg1, seg2 = noisy
    again = simulate_exposure(tmp_path / "a", detector="NRS1", segment=2, nsegments=2, nints=6, ngroups=5,
                              seed=7, write_refs=False, refs={})
    assert _sci(again.uncal).tobytes() == _sci(seg2.uncal).tobytes()
    whole = simulate_exposure(tmp_path / "b", detector="NRS1", segment=1, nsegments=1, nints=6, ngroups=5,
                              seed=7, write_refs=False, refs={})
    assert np.array_equal(_sci(whole.uncal)[3:], _sci(seg2.uncal))
    other = simulate_exposure(tmp_path / "c", detector="NRS1", segment=2, nsegments=2, nints=6, ngroups=5,
                              seed=8, write_refs=False, refs={})
    assert not np.array_equal(_sci(other.uncal), _sci(seg2.uncal))


def test_segments_have_consecutive_int_times(noisy):
    seg1, seg2 = noisy
    with fits.open(seg1.uncal) as a, fits.open(seg2.uncal) as b:
        t1, t2 = np.array(a["INT_TIMES"].data), np.array(b["INT_TIMES"].data)
        assert a[0].header["EXPSTART"] == b[0].header["EXPSTART"]
    n = np.concatenate([t1["integration_number"], t2["integration_number"]])
    assert list(n) == [1, 2, 3, 4, 5, 6]
    for scale in ("MJD_UTC", "BJD_TDB"):
        start = np.concatenate([t1[f"int_start_{scale}"], t2[f"int_start_{scale}"]])
        mid = np.concatenate([t1[f"int_mid_{scale}"], t2[f"int_mid_{scale}"]])
        end = np.concatenate([t1[f"int_end_{scale}"], t2[f"int_end_{scale}"]])
        assert np.all(start < mid) and np.all(mid < end) and np.all(end[:-1] < start[1:])
        period = np.diff(start) * 86400
        # integration = 5 frames + 1 reset frame
        assert np.allclose(period, 6 * 0.90156, atol=2e-3)
    # barycentric correction of a few minutes, constant over minutes
    dt = (t1["int_mid_BJD_TDB"] - t1["int_mid_MJD_UTC"]) * 86400
    assert np.all(np.abs(dt) < 600) and np.ptp(dt) < 0.05


# ---------------------------------------------------------------------------------------- physics

def test_noiseless_pixels_match_hand_computation(quiet):
    """raw = superbias + M, where M solves L = M + c2 M^2 + c3 M^3 (LINEARITY coefficients) and
    L = rate * t + DARK(t), capped at the full well (SATURATION - superbias + margin)."""
    data = _sci(quiet.uncal).astype(np.float64)
    truth = read_truth(quiet.truth)
    g = fits.getheader(quiet.uncal)
    y0, x0 = g["SUBSTRT2"] - 1, g["SUBSTRT1"] - 1
    cut = (slice(y0, y0 + 32), slice(x0, x0 + 2048))
    bias = _ref(quiet.refs["superbias"])[cut]
    sat = _ref(quiet.refs["saturation"])[cut]
    coeffs = _ref(quiet.refs["linearity"], "COEFFS")[(slice(None),) + cut]
    dark = _ref(quiet.refs["dark"])                        # per-frame cumulative dark [DN]
    margin = truth["header"]["SIM SAT_MARGIN"]
    jumped = {(int(r["integration"]), int(r["y"]), int(r["x"])) for r in truth["jumps"]}
    t = (np.arange(6) + 1) * 0.90156
    src = truth["source"]
    # the brightest trace pixel (saturates), a moderately bright one, a faint one, a dark one
    yb, xb = np.unravel_index(np.argmax(src[:, 300:1800]), (32, 1500))
    ym, xm = np.unravel_index(np.argmin(np.abs(src - 0.2 * src.max())), src.shape)
    cases = [(0, yb, xb + 300), (5, ym, xm), (8, 2, 1000), (4, 31, 40)]
    saturated = 0
    for i, y, x in cases:
        assert (i, y, x) not in jumped
        c2, c3 = coeffs[2, y, x], coeffs[3, y, x]
        m_fw = sat[y, x] - bias[y, x] + margin
        l_fw = m_fw + c2 * m_fw ** 2 + c3 * m_fw ** 3
        linear = np.minimum(truth["rateints"][i, y, x] * t + dark[:, y, x], l_fw)
        saturated += int(np.sum(linear == l_fw))
        expected = np.array([bias[y, x] + _true_measured(L, c2, c3) for L in linear])
        assert np.all(np.abs(data[i, :, y, x] - expected) <= 0.5 + 0.02), (i, y, x, data[i, :, y, x], expected)
    assert saturated > 0
    # reference columns and dead pixels see only the bias
    assert np.all(data[:, :, :, :4] == np.rint(bias[:, :4]))
    assert np.all(data[:, :, :, -4:] == np.rint(bias[:, -4:]))
    for y, x in zip(truth["dead"]["y"], truth["dead"]["x"]):
        assert np.all(data[:, :, y, x] == np.rint(bias[y, x]))


def test_linearity_coefficients_invert_injected_nonlinearity(quiet):
    """Linearising raw - superbias with the LINEARITY reference recovers the injected linear
    signal to < 0.1 % wherever the raw value is below the SATURATION reference."""
    data = _sci(quiet.uncal).astype(np.float64)
    truth = read_truth(quiet.truth)
    g = fits.getheader(quiet.uncal)
    y0 = g["SUBSTRT2"] - 1
    cut = (slice(y0, y0 + 32), slice(0, 2048))
    bias = _ref(quiet.refs["superbias"])[cut]
    sat = _ref(quiet.refs["saturation"])[cut]
    coeffs = _ref(quiet.refs["linearity"], "COEFFS")[(slice(None),) + cut]
    dark = _ref(quiet.refs["dark"])
    t = (np.arange(6) + 1) * 0.90156
    linear_true = truth["rateints"][:, None] * t[None, :, None, None] + dark[None]
    for r in truth["jumps"]:
        linear_true[r["integration"], r["group"]:, r["y"], r["x"]] += r["amplitude"]
    meas = data - bias
    lin = sum(coeffs[k] * meas ** k for k in range(coeffs.shape[0]))
    unsat = (data < sat) & (linear_true > 2000)
    assert unsat.sum() > 1000
    rel = np.abs(lin[unsat] - linear_true[unsat]) / linear_true[unsat]
    assert rel.max() < 1e-3
    # non-linearity is really there (several % near full well) and saturation happens
    assert np.max((linear_true - meas)[unsat] / linear_true[unsat]) > 0.04
    # pixels saturated early sit at the full well (SATURATION + margin) by the last group, or
    # at the A/D limit when that comes first
    early = data[:, 2] >= sat
    assert early.sum() > 10
    margin = truth["header"]["SIM SAT_MARGIN"]
    full = np.broadcast_to(np.minimum(sat + margin, 65535), early.shape)[early]
    assert np.allclose(data[:, -1][early], full, atol=1.0)


def test_truth_light_curve_has_configured_depth(quiet):
    truth = read_truth(quiet.truth)
    lc = truth["lightcurve"]
    assert truth["transit"]["depth"] == pytest.approx(0.02)
    white = np.asarray(lc["white_flux"])
    assert white.max() == pytest.approx(1.0) and white.min() == pytest.approx(0.98, abs=1e-9)
    expected = transit_model(np.asarray(lc["int_mid_BJD_TDB"]), truth["transit"]["t0"],
                             truth["transit"]["duration"], 0.02, truth["transit"]["ingress"])
    assert np.allclose(white, expected, atol=1e-12)
    # and the data carry it: first-to-second group signal of the trace, in vs out of transit
    data = _sci(quiet.uncal).astype(np.float64)
    src = truth["source"]
    trace = (src > 0.02 * src.max()) & (src < 0.3 * src.max())       # far from saturation
    jumped = np.zeros(data.shape[0:1] + src.shape, bool)
    for r in truth["jumps"]:
        jumped[r["integration"], r["y"], r["x"]] = True
    signal = np.array([(data[i, 1] - data[i, 0])[trace & ~jumped[i]].sum() /
                       src[trace & ~jumped[i]].sum() for i in range(data.shape[0])])
    assert np.sum(white == 1.0) >= 3
    ratio = signal / np.median(signal[white == 1.0])
    assert np.allclose(ratio, white, atol=2e-3)


def test_jumps_in_truth_are_in_the_data(quiet):
    truth = read_truth(quiet.truth)
    data = _sci(quiet.uncal).astype(np.float64)
    jumps = truth["jumps"]
    assert len(jumps) > 5
    keys = list(zip(jumps["integration"], jumps["y"], jumps["x"]))
    single = np.array([keys.count(k) == 1 for k in keys])
    big = jumps[(jumps["amplitude"] > 200) & (truth["rate"][jumps["y"], jumps["x"]] < 1) & single]
    assert len(big) > 0
    for r in big:
        i, g, y, x, a = r["integration"], r["group"], r["y"], r["x"], r["amplitude"]
        step = data[i, g, y, x] - data[i, g - 1, y, x]
        # below 2000 DN the non-linearity is < 1 %
        assert step == pytest.approx(a, rel=0.02, abs=2), (i, g, y, x)


def test_hot_pixels_have_high_dark(quiet):
    truth = read_truth(quiet.truth)
    hot = truth["hot"]
    assert len(hot) > 0 and np.all(hot["dark_rate"] >= 0.5)
    dark = _ref(quiet.refs["dark"])
    assert np.allclose(dark[:, hot["y"], hot["x"]][-1], hot["dark_rate"] * 6 * 0.90156, rtol=1e-5)
    mask = _ref(quiet.refs["mask"], "DQ").astype(np.uint32)
    g = fits.getheader(quiet.uncal)
    y0 = g["SUBSTRT2"] - 1
    assert np.all(mask[hot["y"] + y0, hot["x"]] & dqflags.HOT)
    assert np.all(mask[truth["dead"]["y"] + y0, truth["dead"]["x"]] & dqflags.DEAD)


def test_read_noise_is_the_cds_noise_of_the_reference(tmp_path):
    """With only read noise on, group-to-group differences of unilluminated pixels scatter
    by the READNOISE reference (a CDS noise)."""
    exp = simulate_exposure(tmp_path, detector="NRS1", nints=4, ngroups=6, seed=3, poisson=False,
                            one_over_f_rms=0.0, odd_even_rms=0.0, amp_offset_rms=0.0, cr_rate=0.0,
                            dark_rate=0.0, hot_fraction=0.0, peak_well_fraction=0.0)
    data = _sci(exp.uncal).astype(np.float64)
    g = fits.getheader(exp.uncal)
    rn = _ref(exp.refs["readnoise"])[g["SUBSTRT2"] - 1:g["SUBSTRT2"] + 31, :]
    cds = np.diff(data, axis=1) / rn[None, None]
    # unit variance (+ 1/12 of rounding per read over rn**2, negligible)
    assert np.std(cds) == pytest.approx(1.0, abs=0.01)


def test_one_over_f_stripes_follow_the_fast_read_lines(tmp_path):
    """NRS1 reads along DMS columns (FASTAXIS=2): a stripe is constant down a column, also in
    the reference columns, and differs between columns and groups."""
    exp = simulate_exposure(tmp_path, detector="NRS1", nints=1, ngroups=4, seed=5, poisson=False,
                            read_noise_scale=0.0, odd_even_rms=0.0, amp_offset_rms=0.0, cr_rate=0.0,
                            one_over_f_rms=5.0)
    data = _sci(exp.uncal).astype(np.float64)[0]
    g = fits.getheader(exp.uncal)
    bias = _ref(exp.refs["superbias"])[g["SUBSTRT2"] - 1:g["SUBSTRT2"] + 31]
    off = data[:, :, :4] - bias[None, :, :4]                    # reference columns: no signal
    assert np.all(np.ptp(off, axis=1) <= 1.0 + 1e-9)             # constant down a column (+-rounding)
    allcols = np.concatenate([data[:, :, :4] - bias[:, :4], data[:, :, -4:] - bias[:, -4:]], axis=2)
    assert np.std(allcols.mean(axis=1)) > 1.0                    # varies column to column / group


def test_frame_averaging_and_groupgap(tmp_path):
    """NIRCam BRIGHT1 (NFRAMES=1, GROUPGAP=1) and BRIGHT2 (NFRAMES=2): group g of a noiseless linear
    pixel sits at the mean time of its frames."""
    for patt, nf, gap in (("BRIGHT1", 1, 1), ("BRIGHT2", 2, 0)):
        exp = simulate_exposure(tmp_path / patt, kind="nircam_image", detector="NRCA2", nints=1, ngroups=4,
                                size=[64, 64], seed=2, readpatt=patt, nonlinearity=0.0, cr_rate=0.0,
                                **NOISELESS)
        h = fits.getheader(exp.uncal)
        assert (h["READPATT"], h["NFRAMES"], h["GROUPGAP"], h["FRMDIVSR"]) == (patt, nf, gap, nf)
        assert h["TGROUP"] == pytest.approx((nf + gap) * h["TFRAME"], abs=1e-5)
        data = _sci(exp.uncal).astype(np.float64)[0]
        truth = read_truth(exp.truth)
        bias = _ref(exp.refs["superbias"])[:64, :64]
        dark_ref = _ref(exp.refs["dark"])                       # NFRAMES=1 frames
        assert dark_ref.shape[0] == 4 * (nf + gap)
        rate = truth["rate"] + truth["darkrate"]
        y, x = np.unravel_index(np.argmax(np.where(rate < 300, rate, 0)), rate.shape)
        frames = np.arange(4)[:, None] * (nf + gap) + np.arange(nf)[None, :]
        tmean = ((frames + 1) * h["TFRAME"]).mean(axis=1)
        assert np.allclose(data[:, y, x], np.rint(bias[y, x] + rate[y, x] * tmean), atol=0.5)
        # the dark averaged as jwst averages it matches the injected dark
        assert np.allclose(dark_ref[frames].mean(axis=1)[:, y, x], truth["darkrate"][y, x] * tmean, rtol=1e-5)


def test_unknown_physics_key_is_named():
    with pytest.raises(ValueError, match="transit_dept"):
        simulate_exposure("/nonexistent", transit_dept=0.1)


# ---------------------------------------------------------------------------------------- cli

def test_cli_simulate(tmp_path):
    from rampflow.cli import main

    cfg = tmp_path / "config.yaml"
    cfg.write_text("program: clitest\ninputs:\n  source: simulate\n  simulate:\n    kind: nircam_image\n"
                   "    detectors: [nrca3]\n    segments: 1\n    nints: 1\n    ngroups: 3\n    size: [64, 64]\n"
                   "    seed: 4\n")
    rc = main(["simulate", "--config", str(cfg), "--outdir", str(tmp_path / "out"),
               "--crds-path", str(tmp_path / "crds"), "--nints", "2", "--set", "cr_rate=0"])
    assert rc == 0
    uncal = tmp_path / "out" / "jw09999002001_02101_00001_nrca3_uncal.fits"
    h = fits.getheader(uncal)
    assert (h["NINTS"], h["NGROUPS"], h["TITLE"]) == (2, 3, "clitest")
    assert (tmp_path / "crds" / "mappings" / "jwst" / "jwst_0001.pmap").exists()
    assert len(read_truth(str(uncal).replace("_uncal", "_truth"))["jumps"]) == 0


# ---------------------------------------------------------------------------------------- jwst

_JWST_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
from jwst.dq_init import DQInitStep
from jwst.saturation import SaturationStep
from jwst.superbias import SuperBiasStep
from jwst.refpix import RefPixStep
from jwst.linearity import LinearityStep
from jwst.dark_current import DarkCurrentStep
from jwst.jump import JumpStep
from jwst.ramp_fitting import RampFitStep
out = {}
for uncal, refs, truth in json.loads(sys.argv[1]):
    m = DQInitStep.call(uncal, override_mask=refs["mask"])
    m = SaturationStep.call(m, override_saturation=refs["saturation"], override_superbias=refs["superbias"])
    m = SuperBiasStep.call(m, override_superbias=refs["superbias"])
    m = RefPixStep.call(m, override_refpix="N/A", override_sirskernel="N/A")
    m = LinearityStep.call(m, override_linearity=refs["linearity"])
    m = DarkCurrentStep.call(m, override_dark=refs["dark"])
    m = JumpStep.call(m, override_readnoise=refs["readnoise"], override_gain=refs["gain"])
    rate, rateints = RampFitStep.call(m, override_readnoise=refs["readnoise"], override_gain=refs["gain"])
    steps = {k: getattr(rate.meta.cal_step, k) for k in
             ("dq_init", "saturation", "superbias", "refpix", "linearity", "dark_sub", "jump", "ramp_fit")}
    from astropy.io import fits
    with fits.open(truth) as t:
        true_rate = np.array(t["RATEINTS"].data)
    h = fits.getheader(uncal)
    good = (true_rate * (h["NGROUPS"] - 1) * h["TGROUP"] > 500) & (rateints.dq == 0)
    ratio = float(np.median(rateints.data[good] / true_rate[good]))
    out[uncal] = {"steps": steps, "ratio": ratio, "ngood": int(good.sum()),
                  "saturated": int(((m.groupdq & 2) > 0).sum())}
print("RESULT" + json.dumps(out))
"""


def test_jwst_steps_accept_simulated_files(tmp_path, monkeypatch):
    pytest.importorskip("jwst")
    nrs = simulate_exposure(tmp_path / "nrs", detector="NRS1", nints=1, ngroups=4, seed=9)
    nrc = simulate_exposure(tmp_path / "nrc", kind="nircam_image", detector="NRCA1", nints=1, ngroups=5,
                            size=[64, 64], seed=9)
    cache = tmp_path / "crds_empty"
    (cache / "config" / "jwst").mkdir(parents=True)
    (cache / "mappings" / "jwst").mkdir(parents=True)
    (cache / "config" / "jwst" / "server_config").write_text(
        "{'observatory': 'jwst', 'operational_context': 'jwst_0000.pmap', 'edit_context': 'jwst_0000.pmap',"
        " 'effective_mode': 'local', 'status': 'cache', 'connected': False, 'force_remote_mode': False,"
        " 'last_synced': '2024-01-01 00:00:00', 'bad_files': '', 'bad_files_list': [], 'mappings': []}")
    (cache / "mappings" / "jwst" / "jwst_0000.pmap").write_text("")
    for k, v in {"CRDS_PATH": str(cache), "CRDS_MODE": "local", "STPIPE_DISABLE_CRDS_STEPPARS": "True",
                 "CRDS_IGNORE_MAPPING_CHECKSUM": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    todo = [(str(e.uncal), {k: str(v) for k, v in e.refs.items()}, str(e.truth)) for e in (nrs, nrc)]
    proc = subprocess.run([sys.executable, "-c", _JWST_SCRIPT, json.dumps(todo)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    res = json.loads(line[0][len("RESULT"):])
    for uncal, r in res.items():
        assert all(v == "COMPLETE" for v in r["steps"].values()), (uncal, r["steps"])
        assert r["ngood"] > 10
        assert r["ratio"] == pytest.approx(1.0, abs=0.03), uncal
