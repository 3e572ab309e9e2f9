"""Ramp fitting (stcal OLS_C) on hand-built pixels, with expected values worked out by hand.

Conventions of every test unless stated: TGROUP = TFRAME = 10 s, NFRAMES = 1, GROUPGAP = 0,
gain G = 2 e-/DN, CDS read noise 20 DN, so stcal's read noise is
``rn = 20 * 2 / sqrt(2 * NFRAMES)`` (rounded to float32). For a segment of n groups:

* read-noise variance  vr(n) = 12 (rn / t)^2 / ((n^3 - n) G^2)      (n^3 - n -> 6 for n <= 2)
* Poisson variance     vp(n) = (median_rate + dark) / (t G (n - 1))  (n - 1 -> 1 for n <= 2)
* Fixsen weights       w_k = |(k - m) / m| ** P, m = (n - 1) / 2, P from the segment's
  S/N = (d_last - d_first) G / sqrt(rn^2 + (d_last - d_first) G):
  P = 0, 0.4, 1, 3, 6, 10 for S/N < 5, 10, 20, 50, 100, >= 100  (Fixsen et al. 2000)
* integration: SCI = sum(s_i / vr_i) / sum(1 / vr_i), VAR_RNOISE = 1 / sum(1 / vr_i),
  VAR_POISSON = 1 / sum(1 / vp_i), ERR = sqrt(1 / sum(1 / (vp_i + vr_i)));
  exposure: the same sums over integrations, ERR = sqrt(VAR_POISSON + VAR_RNOISE).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from rampflow import dq as dqf
from rampflow.meta import ExposureMeta
from rampflow.steps import ramp_fit as rf

T = 10.0
G = 2.0
RN_CDS = 20.0
DNU, SAT, JUMP = dqf.DO_NOT_USE, dqf.SATURATED, dqf.JUMP_DET
RTOL = 2e-6


def rn_eff(nframes=1):
    return float(np.float32(RN_CDS * (G / math.sqrt(2.0 * nframes))))


def vr(n, t=T, nframes=1):
    rn = rn_eff(nframes)
    den = 6.0 if n <= 2 else float(n ** 3 - n)
    return 12.0 * (rn / t) ** 2 / (den * G * G)


def vp(mr, n, dark=0.0, t=T):
    return (mr + dark) / (t * G * max(n - 1, 1))


def fixsen_slope(y, power, x0=0, t=T):
    """Weighted least-squares slope with Fixsen weights, written out from the paper."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    m = (n - 1) / 2.0
    k = np.arange(n, dtype=np.float64)
    w = np.abs((k - m) / m) ** power
    x = k + x0
    s0, sx, sxx, sy, sxy = w.sum(), (w * x).sum(), (w * x * x).sum(), (w * y).sum(), (w * x * y).sum()
    return (s0 * sxy - sx * sy) / (s0 * sxx - sx * sx) / t


def make_meta(nints, ngroups, ny=1, nx=1, nframes=1, groupgap=0, tframe=T, tgroup=T, instrument="NIRSPEC"):
    return ExposureMeta.from_headers(
        {"INSTRUME": instrument, "DETECTOR": "NRS1", "NFRAMES": nframes, "GROUPGAP": groupgap,
         "TFRAME": tframe, "TGROUP": tgroup, "NINTS": nints, "NGROUPS": ngroups,
         "SUBSIZE1": nx, "SUBSIZE2": ny},
        {}, filename="test", shape=(nints, ngroups, ny, nx))


def fit(data, gdq=None, pdq=0, gain=G, nframes=1, tgroup=T, dark=None, zeroframe=None, **params):
    """Fit one pixel: data (nints, ngroups) or (ngroups,); returns the RampFitResult."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[None]
    nints, ngroups = data.shape
    sci = data.reshape(nints, ngroups, 1, 1).copy()
    g = np.zeros(sci.shape, np.uint8) if gdq is None else np.asarray(gdq, np.uint8).reshape(sci.shape).copy()
    p = np.full((1, 1), pdq, np.uint32)
    meta = make_meta(nints, ngroups, nframes=nframes, tgroup=tgroup)
    setup = rf.prepare_ramp_fit(meta, np.full((1, 1), RN_CDS, np.float32), np.full((1, 1), gain, np.float32),
                                average_dark_current=dark, **params)
    zf = None if zeroframe is None else np.asarray(zeroframe, np.float32).reshape(nints, 1, 1)
    return rf.fit_ramps(sci, g, p, setup, slice(0, 1), zeroframe=zf)


def px(res, which, key, i=None):
    arr = getattr(res, which)[key]
    return arr[..., 0, 0] if i is None else arr[i, 0, 0]


# ------------------------------------------------------------------------------------------

def test_noiseless_linear_ramp_exact_slope_and_variances():
    data = 1000.0 + 5.0 * T * np.arange(10)          # 5 DN/s
    res = fit(data)
    assert px(res, "rate", "SCI") == np.float32(5.0)
    assert px(res, "rateints", "SCI", 0) == np.float32(5.0)
    # median rate = 5 (every first difference / t); one segment of 10 groups
    exp_vp, exp_vr = vp(5.0, 10), vr(10)
    np.testing.assert_allclose(px(res, "rate", "VAR_POISSON"), exp_vp, rtol=RTOL)   # 5 / 180
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), exp_vr, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "ERR"), math.sqrt(exp_vp + exp_vr), rtol=RTOL)
    np.testing.assert_allclose(px(res, "rateints", "ERR", 0), math.sqrt(exp_vp + exp_vr), rtol=RTOL)
    assert px(res, "rate", "DQ") == 0 and px(res, "rateints", "DQ", 0) == 0
    assert res.rate["slope"] is res.rate["SCI"]       # stcal's names work too


def jump_ramp():
    seg1 = [100.0, 131.0, 158.0, 192.0]                 # groups 0..3, S/N = 184/sqrt(800+184) = 5.9
    seg2 = [700.0, 765.0, 790.0, 820.0, 860.0, 920.0]   # groups 4..9, S/N = 440/sqrt(800+440) = 12.5
    gdq = np.zeros(10, np.uint8)
    gdq[4] = JUMP
    return np.array(seg1 + seg2), gdq, seg1, seg2


def test_one_jump_two_segments_fixsen_weights_by_hand():
    data, gdq, seg1, seg2 = jump_ramp()
    rn = rn_eff()
    snr1 = (seg1[-1] - seg1[0]) * G / math.sqrt(rn ** 2 + (seg1[-1] - seg1[0]) * G)
    snr2 = (seg2[-1] - seg2[0]) * G / math.sqrt(rn ** 2 + (seg2[-1] - seg2[0]) * G)
    assert 5 <= snr1 < 10 and 10 <= snr2 < 20      # -> P = 0.4 and P = 1
    s1 = fixsen_slope(seg1, 0.4, x0=0)
    s2 = fixsen_slope(seg2, 1.0, x0=4)
    # the weights matter here: unweighted slopes differ by far more than the tolerance
    assert abs(fixsen_slope(seg1, 0.0) / s1 - 1) > 1e-3 and abs(fixsen_slope(seg2, 0.0, 4) / s2 - 1) > 1e-3
    vr1, vr2 = vr(4), vr(6)
    exp_sci = (s1 / vr1 + s2 / vr2) / (1 / vr1 + 1 / vr2)
    res = fit(data, gdq)
    np.testing.assert_allclose(px(res, "rateints", "SCI", 0), exp_sci, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "SCI"), exp_sci, rtol=RTOL)
    assert px(res, "rate", "DQ") == JUMP and px(res, "rateints", "DQ", 0) == JUMP


def test_two_segment_variances_by_hand():
    data, gdq, seg1, seg2 = jump_ramp()
    # first differences / t, the one ending on the JUMP group excluded:
    # 3.1 2.7 3.4 | 6.5 2.5 3.0 4.0 6.0 -> sorted 2.5 2.7 3.0 3.1 3.4 4.0 6.0 6.5 -> median 3.25
    mr, dark = 3.25, 0.25
    vp1, vp2 = vp(mr, 4, dark), vp(mr, 6, dark)      # 3.5/60, 3.5/100
    vr1, vr2 = vr(4), vr(6)
    exp_vp = 1 / (1 / vp1 + 1 / vp2)
    exp_vr = 1 / (1 / vr1 + 1 / vr2)
    exp_err_int = math.sqrt(1 / (1 / (vp1 + vr1) + 1 / (vp2 + vr2)))
    res = fit(data, gdq, dark=dark)
    for which in ("rate", "rateints"):
        def arr(k, which=which):
            return px(res, which, k) if which == "rate" else px(res, which, k, 0)

        np.testing.assert_allclose(arr("VAR_POISSON"), exp_vp, rtol=RTOL)
        np.testing.assert_allclose(arr("VAR_RNOISE"), exp_vr, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rateints", "ERR", 0), exp_err_int, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "ERR"), math.sqrt(exp_vp + exp_vr), rtol=RTOL)
    assert abs(exp_err_int / math.sqrt(exp_vp + exp_vr) - 1) > 1e-3   # the two ERR definitions differ


def test_save_opt_segment_arrays_by_hand():
    data, gdq, seg1, seg2 = jump_ramp()
    res = fit(data, gdq, save_opt=True)
    opt = res.opt
    assert opt["slope"].shape == (1, 2, 1, 1) and opt["crmag"].shape == (1, 1, 1, 1)
    assert opt["pedestal"].shape == (1, 1, 1)
    rn = rn_eff()
    for s, (seg, power, x0) in enumerate(((seg1, 0.4, 0), (seg2, 1.0, 4))):
        y = np.array(seg)
        n = y.size
        m = (n - 1) / 2
        w = np.abs((np.arange(n) - m) / m) ** power / rn ** 2
        x = np.arange(n) + x0
        s0, sx, sxx, sy, sxy = w.sum(), (w * x).sum(), (w * x * x).sum(), (w * y).sum(), (w * x * y).sum()
        den = s0 * sxx - sx * sx
        np.testing.assert_allclose(opt["slope"][0, s, 0, 0], (s0 * sxy - sx * sy) / den / T, rtol=RTOL)
        np.testing.assert_allclose(opt["sigslope"][0, s, 0, 0], math.sqrt(s0 / den), rtol=RTOL)
        np.testing.assert_allclose(opt["yint"][0, s, 0, 0], (sxx * sy - sx * sxy) / den, rtol=1e-5)
        np.testing.assert_allclose(opt["sigyint"][0, s, 0, 0], math.sqrt(sxx / den), rtol=RTOL)
        np.testing.assert_allclose(opt["var_rnoise"][0, s, 0, 0], vr(n), rtol=RTOL)
        np.testing.assert_allclose(opt["weights"][0, s, 0, 0], 1 / vr(n), rtol=RTOL)
        np.testing.assert_allclose(opt["var_poisson"][0, s, 0, 0], vp(3.25, n), rtol=RTOL)
    assert opt["crmag"][0, 0, 0, 0] == np.float32(700.0 - 192.0)
    # pedestal = first group - slope * ((NFRAMES + 1) / 2 + DRPFRMS1) / (NFRAMES + GROUPGAP)
    np.testing.assert_allclose(opt["pedestal"][0, 0, 0], 100.0 - px(res, "rateints", "SCI", 0) * 1.0, rtol=RTOL)
    assert opt["SLOPE"] is opt["slope"]


def test_saturated_from_group_0():
    res = fit(np.full(6, 60000.0), np.full(6, SAT))
    for which in ("rate", "rateints"):
        def get(k, which=which):
            return px(res, which, k) if which == "rate" else px(res, which, k, 0)

        assert math.isnan(get("SCI"))
        assert get("DQ") == SAT | DNU
        assert get("ERR") == 0 and get("VAR_POISSON") == 0 and get("VAR_RNOISE") == 0


def test_partial_saturation_uses_unsaturated_groups_and_flags_saturated():
    data = 500.0 + 7.0 * T * np.arange(10)
    gdq = np.zeros(10, np.uint8)
    gdq[6:] = SAT
    data[6:] = 99999.0                                  # never used
    res = fit(data, gdq)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 7.0, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), vr(6), rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_POISSON"), vp(7.0, 6), rtol=RTOL)
    assert px(res, "rate", "DQ") == SAT and px(res, "rateints", "DQ", 0) == SAT


def one_good_group():
    data = np.array([250.0, 60000.0, 60000.0, 60000.0, 60000.0])
    gdq = np.array([0, SAT, SAT, SAT, SAT], np.uint8)
    return data, gdq


def test_one_good_group_suppressed():
    data, gdq = one_good_group()
    res = fit(data, gdq, suppress_one_group=True)
    for which in ("rate", "rateints"):
        def get(k, which=which):
            return px(res, which, k) if which == "rate" else px(res, which, k, 0)

        assert math.isnan(get("SCI"))
        assert get("DQ") == DNU | SAT
        assert get("ERR") == 0 and get("VAR_POISSON") == 0 and get("VAR_RNOISE") == 0
    assert np.array_equal(gdq, one_good_group()[1])     # input not modified


@pytest.mark.parametrize("nframes", [1, 4])
def test_one_good_group_not_suppressed(nframes):
    data, gdq = one_good_group()
    tgroup = T * nframes
    res = fit(data, gdq, suppress_one_group=False, nframes=nframes, tgroup=tgroup)
    t0 = (nframes + 1) * T / 2.0                # the 0th group's time: (NFRAMES + 1) TFRAME / 2
    slope = 250.0 / t0
    # median rate = that same value; a one-group segment: vp = mr / (t0 G), vr = 12 (rn/t0)^2 / (6 G^2)
    exp_vp = slope / (t0 * G)
    exp_vr = vr(1, t=t0, nframes=nframes)
    np.testing.assert_allclose(px(res, "rate", "SCI"), slope, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_POISSON"), exp_vp, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), exp_vr, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rateints", "ERR", 0), math.sqrt(exp_vp + exp_vr), rtol=RTOL)
    assert px(res, "rate", "DQ") == SAT and px(res, "rateints", "DQ", 0) == SAT


def test_one_good_group_not_group0_uses_group_value_over_tgroup():
    """stcal quirk: a lone one-group segment that is not group 0 gets data / TGROUP."""
    data = np.array([10.0, 250.0, 60000.0, 60000.0])
    gdq = np.array([DNU, 0, SAT, SAT], np.uint8)
    res = fit(data, gdq, suppress_one_group=False)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 250.0 / T, rtol=RTOL)


def test_single_group_exposure():
    """NGROUPS = 1: suppression is off whatever the parameter; slope = data / ((NFRAMES+1) TFRAME / 2)."""
    data = np.array([[300.0], [340.0]])                 # two integrations
    res = fit(data, suppress_one_group=True)
    t0 = T                                              # (1 + 1) * 10 / 2
    mr = (300.0 / t0 + 340.0 / t0) / 2                  # plain mean over integrations
    np.testing.assert_allclose(px(res, "rateints", "SCI"), [30.0, 34.0], rtol=RTOL)
    exp_vp_i = mr / (t0 * G)
    exp_vr_i = vr(1, t=t0)
    np.testing.assert_allclose(px(res, "rateints", "VAR_POISSON"), [exp_vp_i] * 2, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 32.0, rtol=RTOL)   # equal read-noise weights
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), exp_vr_i / 2, rtol=RTOL)


def test_length_two_segment():
    data = np.array([400.0, 436.0, 60000.0, 60000.0, 60000.0])
    gdq = np.array([0, 0, SAT, SAT, SAT], np.uint8)
    res = fit(data, gdq)
    s = 36.0 / T
    np.testing.assert_allclose(px(res, "rate", "SCI"), s, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), vr(2), rtol=RTOL)   # 12 (rn/t)^2 / (6 G^2)
    np.testing.assert_allclose(px(res, "rate", "VAR_POISSON"), s / (T * G), rtol=RTOL)


def test_one_group_segments_dropped_when_longer_exist():
    # good runs: [0, 3), [4, 5) (one group, dropped), [6, 10)
    data = 100.0 + 3.0 * T * np.arange(10)
    data[6:] += 1000.0                                   # jump-like offset, no effect on slopes
    gdq = np.array([0, 0, 0, DNU, 0, DNU, 0, 0, 0, 0], np.uint8)
    res = fit(data, gdq)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), 1 / (1 / vr(3) + 1 / vr(4)), rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 3.0, rtol=RTOL)


def test_jump_group_also_do_not_use_is_not_a_segment_start():
    data = 100.0 + 3.0 * T * np.arange(10)
    gdq = np.zeros(10, np.uint8)
    gdq[4] = JUMP | DNU                                  # segments [0, 4) and [5, 10)
    res = fit(data, gdq)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), 1 / (1 / vr(4) + 1 / vr(5)), rtol=RTOL)
    assert px(res, "rate", "DQ") == JUMP


def test_persistence_groups_are_fitted_but_flagged():
    data = 100.0 + 3.0 * T * np.arange(8)
    gdq = np.zeros(8, np.uint8)
    gdq[3] = dqf.FLAGS["PERSISTENCE"]
    res = fit(data, gdq)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), vr(8), rtol=RTOL)
    assert px(res, "rate", "DQ") == dqf.FLAGS["PERSISTENCE"]


@pytest.mark.parametrize("first,last,expected_groups", [
    (2, 7, (2, 8)),          # groups 2..7 used
    (None, 7, (0, 8)),
    (-3, 7, (0, 8)),         # negative firstgroup -> 0
    (2, None, (2, 10)),
    (2, 15, (2, 10)),        # lastgroup beyond the ramp: no effect at the end
    (7, 2, (0, 10)),         # firstgroup >= lastgroup: both ignored
])
def test_firstgroup_lastgroup(first, last, expected_groups):
    rng = np.random.default_rng(3)
    data = 2000.0 + 4.0 * T * np.arange(10) + rng.normal(0, 20, 10)
    g0, g1 = expected_groups
    gdq = np.zeros(10, np.uint8)
    gdq[:g0] = DNU
    gdq[g1:] = DNU
    ref = fit(data, gdq)                                 # the same groups flagged by hand
    res = fit(data, firstgroup=first, lastgroup=last)
    for key in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE"):
        np.testing.assert_array_equal(res.rate[key], ref.rate[key])
        np.testing.assert_array_equal(res.rateints[key], ref.rateints[key])
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), vr(g1 - g0), rtol=RTOL)


def test_firstgroup_lastgroup_noiseless_slope():
    data = 100.0 + 3.0 * T * np.arange(10)
    data[[0, 1, 8, 9]] = [5000.0, 9.0, 0.0, 40000.0]   # garbage outside the selected groups
    res = fit(data, firstgroup=2, lastgroup=7)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 3.0, rtol=RTOL)
    assert px(res, "rate", "DQ") == 0


def test_firstgroup_lastgroup_case_of_jwst():
    # jwst's test_set_groups: data = group number squared, groups 3..11 fitted; any weights
    # symmetric about the segment's middle give the slope first + last (DN per group)
    data = np.array([k * k for k in range(20)], np.float32)
    res = fit(data, tgroup=1.0, firstgroup=3, lastgroup=11)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 3 + 11, rtol=1e-6)


@pytest.mark.parametrize("first,last,message", [
    (-10, None, "first group < 0, reset to 0"),                    # jwst's three warnings
    (3, 20, "last group number >= #groups (20)"),
    (10, 6, "firstgroup (10) cannot be >= lastgroup (6)"),
])
def test_firstgroup_lastgroup_warnings_of_jwst(first, last, message, caplog):
    with caplog.at_level(logging.WARNING):
        rf.validate_params({"firstgroup": first, "lastgroup": last}, 20)
    assert any(message in r.getMessage() for r in caplog.records)


def test_two_integrations_combined_by_inverse_variance():
    d0 = 300.0 + 4.0 * T * np.arange(10)                 # 4 DN/s, 10 groups
    d1 = 300.0 + 6.0 * T * np.arange(10)                 # 6 DN/s, groups 5.. unusable
    gdq = np.zeros((2, 10), np.uint8)
    gdq[1, 5:] = DNU
    res = fit(np.stack([d0, d1]), gdq)
    mr = (4.0 + 6.0) / 2                                 # mean of the integrations' median rates
    vr0, vr1 = vr(10), vr(5)
    vp0, vp1 = vp(mr, 10), vp(mr, 5)
    np.testing.assert_allclose(px(res, "rateints", "SCI"), [4.0, 6.0], rtol=RTOL)
    np.testing.assert_allclose(px(res, "rateints", "VAR_POISSON"), [vp0, vp1], rtol=RTOL)
    np.testing.assert_allclose(px(res, "rateints", "ERR"), [math.sqrt(vp0 + vr0), math.sqrt(vp1 + vr1)], rtol=RTOL)
    exp_sci = (4.0 / vr0 + 6.0 / vr1) / (1 / vr0 + 1 / vr1)
    exp_vr = 1 / (1 / vr0 + 1 / vr1)
    exp_vp = 1 / (1 / vp0 + 1 / vp1)
    np.testing.assert_allclose(px(res, "rate", "SCI"), exp_sci, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), exp_vr, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_POISSON"), exp_vp, rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "ERR"), math.sqrt(exp_vp + exp_vr), rtol=RTOL)


def test_unusable_integration_is_excluded_from_rate():
    d = 300.0 + 4.0 * T * np.arange(6)
    gdq = np.zeros((2, 6), np.uint8)
    gdq[0] = DNU
    res = fit(np.stack([d, d]), gdq)
    assert math.isnan(px(res, "rateints", "SCI", 0)) and px(res, "rateints", "DQ", 0) == DNU
    assert px(res, "rateints", "ERR", 0) == 0
    np.testing.assert_allclose(px(res, "rate", "SCI"), 4.0, rtol=RTOL)
    assert px(res, "rate", "DQ") == 0                    # DO_NOT_USE only if every integration is
    # median rate: (0 [no usable difference -> 0] + 4) / 2 = 2
    np.testing.assert_allclose(px(res, "rate", "VAR_POISSON"), vp(2.0, 6), rtol=RTOL)


@pytest.mark.parametrize("gain", [np.nan, 0.0, -1.0])
def test_bad_gain_pixel(gain):
    res = fit(100.0 + 40.0 * np.arange(5), gain=gain)
    assert math.isnan(px(res, "rate", "SCI")) and math.isnan(px(res, "rateints", "SCI", 0))
    assert px(res, "rate", "DQ") == DNU | dqf.NO_GAIN_VALUE
    assert px(res, "rateints", "DQ", 0) == DNU | dqf.NO_GAIN_VALUE
    assert px(res, "rate", "ERR") == 0 and px(res, "rate", "VAR_RNOISE") == 0


def test_pixeldq_do_not_use_and_other_bits_carried():
    res = fit(100.0 + 40.0 * np.arange(5), pdq=DNU | dqf.HOT)
    assert math.isnan(px(res, "rate", "SCI"))
    assert px(res, "rate", "DQ") == DNU | dqf.HOT and px(res, "rateints", "DQ", 0) == DNU | dqf.HOT
    res = fit(100.0 + 40.0 * np.arange(5), pdq=dqf.HOT)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 4.0, rtol=RTOL)
    assert px(res, "rate", "DQ") == dqf.HOT


def test_chargeloss_recomputes_read_noise_only():
    data = 100.0 + 3.0 * T * np.arange(10)
    gdq = np.zeros(10, np.uint8)
    gdq[5] = dqf.CHARGELOSS | DNU                        # fit: segments [0, 5), [6, 10)
    res = fit(data, gdq)
    vp5, vp4, vr5, vr4 = vp(3.0, 5), vp(3.0, 4), vr(5), vr(4)
    np.testing.assert_allclose(px(res, "rate", "SCI"), 3.0, rtol=RTOL)
    # VAR_RNOISE recomputed with group 5 usable again: one 10-group segment
    np.testing.assert_allclose(px(res, "rateints", "VAR_RNOISE", 0), vr(10), rtol=RTOL)
    np.testing.assert_allclose(px(res, "rate", "VAR_RNOISE"), vr(10), rtol=RTOL)
    # ERR keeps the values from the fitted segments
    np.testing.assert_allclose(px(res, "rateints", "ERR", 0),
                               math.sqrt(1 / (1 / (vp5 + vr5) + 1 / (vp4 + vr4))), rtol=RTOL)
    exp_vp = 1 / (1 / vp5 + 1 / vp4)
    np.testing.assert_allclose(px(res, "rate", "ERR"), math.sqrt(exp_vp + 1 / (1 / vr5 + 1 / vr4)), rtol=RTOL)


def test_high_snr_power_10_weights_endpoints():
    """S/N >= 100 -> P = 10: the interior groups get almost no weight."""
    y = 1000.0 + 800.0 * np.arange(9)
    y[2] += 300.0                                        # an interior group off the line: ~no effect
    diff = (y[-1] - y[0]) * G
    assert diff / math.sqrt(rn_eff() ** 2 + diff) >= 100
    res = fit(y)
    np.testing.assert_allclose(px(res, "rate", "SCI"), fixsen_slope(y, 10.0), rtol=RTOL)
    assert abs(fixsen_slope(y, 10.0) - 80.0) < 0.005 < abs(fixsen_slope(y, 6.0) - 80.0)


def test_zeroframe_used_for_fully_saturated_ramp():
    data = np.full(4, 60000.0)
    gdq = np.full(4, SAT, np.uint8)
    res = fit(data, gdq, suppress_one_group=False, zeroframe=[500.0])
    np.testing.assert_allclose(px(res, "rate", "SCI"), 500.0 / T, rtol=RTOL)    # ZEROFRAME / TFRAME
    assert px(res, "rate", "DQ") == SAT
    res = fit(data, gdq, suppress_one_group=True, zeroframe=[500.0])           # only without suppression
    assert math.isnan(px(res, "rate", "SCI"))


def test_chunks_give_the_same_result_and_opt_assembles():
    rng = np.random.default_rng(7)
    nints, ngroups, ny, nx = 2, 7, 6, 9
    sci = (1000 + rng.uniform(0, 50, (ny, nx)) * T * np.arange(ngroups)[:, None, None]
           + rng.normal(0, 15, (nints, ngroups, ny, nx))).astype(np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[:, :, 1] = np.where(rng.random((nints, ngroups, nx)) < 0.1, JUMP, 0)
    gdq[:, [2, 4], 0, 0] = JUMP                          # three segments in row 0
    gdq[:, 3, 4, 5] = JUMP                               # at most two below row 2
    pdq = np.zeros((ny, nx), np.uint32)
    meta = make_meta(nints, ngroups, ny, nx)
    setup = rf.prepare_ramp_fit(meta, np.full((ny, nx), RN_CDS, np.float32), np.full((ny, nx), G, np.float32),
                                save_opt=True)
    whole = rf.fit_ramps(sci, gdq, pdq, setup, slice(0, ny))
    parts = [(rows, rf.fit_ramps(np.ascontiguousarray(sci[:, :, rows]), np.ascontiguousarray(gdq[:, :, rows]),
                                 pdq[rows], setup, rows))
             for rows in (slice(0, 2), slice(2, ny))]
    for key in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
        np.testing.assert_array_equal(np.concatenate([p.rate[key] for _, p in parts]), whole.rate[key])
        np.testing.assert_array_equal(np.concatenate([p.rateints[key] for _, p in parts], axis=1),
                                      whole.rateints[key])
    assert parts[1][1].opt["slope"].shape[1] < whole.opt["slope"].shape[1]
    opt = rf.assemble_opt([(rows, p.opt) for rows, p in parts], (ny, nx))
    assert list(opt) == ["SLOPE", "SIGSLOPE", "VAR_POISSON", "VAR_RNOISE", "YINT", "SIGYINT",
                         "PEDESTAL", "WEIGHTS", "CRMAG"]
    for name, ext in rf.OPT_NAMES.items():
        np.testing.assert_array_equal(opt[ext], whole.opt[name])
    assert rf.count_opt_sizes(gdq, setup) == whole.opt["slope"].shape[1:2] + whole.opt["crmag"].shape[1:2]
    sized = rf.fit_ramps(np.ascontiguousarray(sci[:, :, 2:]), np.ascontiguousarray(gdq[:, :, 2:]), pdq[2:],
                         setup, slice(2, ny),
                         opt_sizes=rf.count_opt_sizes(gdq, setup))
    np.testing.assert_array_equal(sized.opt["slope"], whole.opt["slope"][:, :, 2:])
    with pytest.raises(ValueError, match="opt_sizes"):
        rf.fit_ramps(sci, gdq, pdq, setup, slice(0, ny), opt_sizes=(1, 0))


def test_parameters_and_validation():
    meta = make_meta(1, 5, 2, 3)
    rn = np.ones((2, 3), np.float32)
    setup = rf.prepare_ramp_fit(meta, rn, rn)
    assert setup.params == rf.DEFAULTS
    with pytest.raises(ValueError, match="unknown parameter"):
        rf.prepare_ramp_fit(meta, rn, rn, rejection_threshold=4)
    with pytest.raises(ValueError, match="OLS_C"):
        rf.prepare_ramp_fit(meta, rn, rn, algorithm="WLS")
    assert rf.prepare_ramp_fit(meta, rn, rn, algorithm="likely").params["algorithm"] == "LIKELY"
    with pytest.raises(ValueError, match="firstgroup"):
        rf.prepare_ramp_fit(meta, rn, rn, firstgroup=1.5)
    with pytest.raises(ValueError, match="maximum_cores"):
        rf.prepare_ramp_fit(meta, rn, rn, maximum_cores="many")
    with pytest.raises(ValueError, match="readnoise"):
        rf.prepare_ramp_fit(meta, np.ones((3, 3), np.float32), rn)
    sci = np.zeros((1, 5, 2, 3), np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    pdq = np.zeros((2, 3), np.uint32)
    with pytest.raises(ValueError, match="sci"):
        rf.fit_ramps(sci.astype(np.float64), gdq, pdq, setup, slice(0, 2))
    with pytest.raises(ValueError, match="gdq"):
        rf.fit_ramps(sci, gdq.astype(np.uint16), pdq, setup, slice(0, 2))
    with pytest.raises(ValueError, match="pdq"):
        rf.fit_ramps(sci, gdq, pdq[:1], setup, slice(0, 2))
    with pytest.raises(ValueError, match="rows"):
        rf.fit_ramps(sci, gdq, pdq, setup, slice(0, 1))
    res = rf.fit_ramps(sci, gdq, pdq, setup, slice(0, 2))
    assert res.rate["SCI"].dtype == np.float32 and res.rate["DQ"].dtype == np.uint32
    assert res.rateints["SCI"].shape == (1, 2, 3) and res.opt is None


def test_gain_factor_recorded_from_gain_reference():
    from rampflow.references import Reference

    meta = make_meta(1, 5, 1, 1)
    arr = np.ones((1, 1), np.float32)
    gain = Reference(reftype="gain", path="hand_gain.fits", header={"GAINFACT": 1.5}, arrays={"SCI": arr})
    rn = Reference(reftype="readnoise", path="hand_rn.fits", header={}, arrays={"SCI": arr})
    setup = rf.prepare_ramp_fit(meta, rn, gain)
    assert setup.gain_factor == 1.5
    assert setup.header_updates()["GAINFACT"][0] == 1.5
    gain = Reference(reftype="gain", path="hand_gain.fits", header={}, arrays={"SCI": arr})
    assert rf.prepare_ramp_fit(meta, rn, gain).header_updates() == {}
