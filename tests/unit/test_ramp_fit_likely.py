"""ramp_fit with algorithm='LIKELY' (stcal 1.20's likelihood fit).

Two kinds of expectation:
* stcal's own LIKELY unit tests (tests/test_ramp_fitting_likely_fit.py in its source), carried
  over with their inputs and expected values: linear ramps, flagged ramps, a noisy ramp with an
  unflagged jump, long and short ramps, a zero frame, too few groups;
* a dense generalised-least-squares fit built here from first principles (the covariance of
  the resultant differences from the read times, Poisson and read noise; solved with
  numpy.linalg), which the tridiagonal recursions of the kernel must reproduce: rate, its
  variance split into Poisson and read-noise parts, chi square; with a jump (the difference
  it sits in left out), with saturation, with 4 and 5 groups.
"""

import logging

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.steps import ramp_fit as rf
from rampflow.steps import ramp_fit_likely as lk

DNU, SAT, JMP = dq.DO_NOT_USE, dq.SATURATED, dq.JUMP_DET


def make_meta(nints, ngroups, ny=1, nx=1, nframes=1, groupgap=0, tframe=10.736):
    return ExposureMeta.from_headers(
        {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": nframes, "GROUPGAP": groupgap,
         "TFRAME": tframe, "TGROUP": tframe * (nframes + groupgap), "NINTS": nints, "NGROUPS": ngroups,
         "SUBSIZE1": nx, "SUBSIZE2": ny},
        {}, filename="test", shape=(nints, ngroups, ny, nx))


def run(data, gdq=None, *, rn=10.0, gain=5.0, nframes=4, groupgap=1, tframe=10.736, zeroframe=None,
        algorithm="LIKELY", **params):
    """Fit ``data`` (nints, ngroups, ny, nx) as stcal's tests set it up (read noise 10 DN,
    gain 5, NFRAMES 4, GROUPGAP 1, TFRAME 10.736 s unless given)."""
    data = np.asarray(data, np.float32)
    nints, ngroups, ny, nx = data.shape
    gdq = np.zeros(data.shape, np.uint8) if gdq is None else np.asarray(gdq, np.uint8)
    meta = make_meta(nints, ngroups, ny, nx, nframes, groupgap, tframe)
    setup = rf.prepare_ramp_fit(meta, np.full((ny, nx), rn, np.float32), np.full((ny, nx), gain, np.float32),
                                algorithm=algorithm, **params)
    zf = None if zeroframe is None else np.asarray(zeroframe, np.float32)
    return rf.fit_ramps(data, gdq, np.zeros((ny, nx), np.uint32), setup, slice(0, ny), zeroframe=zf), setup


def linear_ramp(nints=1, ngroups=10, ny=1, nx=1):
    """stcal's create_linear_ramp: 10, 30, 50, ... DN."""
    ramp = np.arange(ngroups) * 20.0 + 10.0
    return np.broadcast_to(ramp[None, :, None, None], (nints, ngroups, ny, nx)).astype(np.float32).copy()


GROUP_TIME = 10.736 * 5


# ------------------------------------------------------------------ stcal's cases


def test_basic_ramp():
    res, _ = run(linear_ramp())
    check = (190.0 - 10.0) / 9 / GROUP_TIME
    np.testing.assert_allclose(res.rateints["SCI"][0, 0, 0], check, rtol=1e-5)
    np.testing.assert_allclose(res.rate["SCI"][0, 0], res.rateints["SCI"][0, 0, 0], rtol=1e-5)
    ols, _ = run(linear_ramp(), algorithm="OLS_C")
    np.testing.assert_allclose(res.rateints["SCI"], ols.rateints["SCI"], rtol=1e-5)


def test_basic_ramp_multi_pixel_and_two_integrations():
    res, _ = run(linear_ramp(ny=2, nx=2))
    ols, _ = run(linear_ramp(ny=2, nx=2), algorithm="OLS_C")
    np.testing.assert_allclose(res.rate["SCI"], ols.rate["SCI"], rtol=1e-4)
    np.testing.assert_array_equal(res.rate["DQ"], ols.rate["DQ"])
    for key in ("VAR_POISSON", "VAR_RNOISE", "ERR"):   # stcal's tolerance: 10%
        np.testing.assert_allclose(res.rate[key], ols.rate[key], rtol=0.1)
    res2, _ = run(linear_ramp(nints=2))
    ols2, _ = run(linear_ramp(nints=2), algorithm="OLS_C")
    np.testing.assert_allclose(res2.rateints["SCI"], ols2.rateints["SCI"], rtol=1e-5)


def test_flagged_ramp():
    """A DO_NOT_USE group, a flagged jump (150 DN from group 10) and saturation from group 17:
    the same rate and DQ as OLS_C."""
    data = linear_ramp(ngroups=20)
    data[0, 10:] += 150.0
    g = np.zeros(data.shape, np.uint8)
    g[0, 2], g[0, 17:], g[0, 10] = DNU, SAT, JMP
    res, _ = run(data, g)
    ols, _ = run(data, g, algorithm="OLS_C")
    np.testing.assert_allclose(res.rateints["SCI"], ols.rateints["SCI"], rtol=1e-5)
    np.testing.assert_array_equal(res.rateints["DQ"], ols.rateints["DQ"])
    assert res.rateints["DQ"][0, 0, 0] == JMP | SAT


def test_random_ramp_with_unflagged_jump():
    """stcal's test_random_ramp: slope 150 DN/group with Poisson noise and an unflagged jump
    of ~1100 DN at group 4 (NFRAMES 5, GROUPGAP 2); its expected values."""
    ramp = np.array([153.0, 307.0, 457.0, 604.0, 1853.0, 2002.0, 2159.0, 2308.0, 2459.0, 2601.0])
    res, _ = run(ramp.reshape(1, 10, 1, 1), nframes=5, groupgap=2)
    assert abs(res.rate["SCI"][0, 0] - 1.9960526) < 1e-4
    assert res.rate["DQ"][0, 0] == JMP
    assert abs(res.rate["VAR_POISSON"][0, 0] - 0.00064461) < 1e-4
    assert abs(res.rate["VAR_RNOISE"][0, 0] - 0.00018037) < 1e-4


def test_long_ramp():
    res, _ = run(linear_ramp(ngroups=200))
    np.testing.assert_allclose(res.rateints["SCI"][0, 0, 0], 20.0 / GROUP_TIME, rtol=1e-5)


@pytest.mark.parametrize("nframes", [1, 2, 4, 8])
def test_short_ramp(nframes):
    res, _ = run(linear_ramp(ngroups=4), nframes=nframes)
    gt = 10.736 * (nframes + 1)
    np.testing.assert_allclose(res.rateints["SCI"][0, 0, 0], 60.0 / (3 * gt), rtol=1e-5)
    ols, _ = run(linear_ramp(ngroups=4), nframes=nframes, algorithm="OLS_C")
    np.testing.assert_allclose(res.rateints["SCI"], ols.rateints["SCI"], rtol=1e-5)


def test_two_good_groups():
    """Only groups 0 and 1 unsaturated: one difference, the same rate as OLS_C."""
    g = np.full((1, 10, 1, 1), SAT, np.uint8)
    g[0, :2] = 0
    res, _ = run(linear_ramp(), g)
    ols, _ = run(linear_ramp(), g, algorithm="OLS_C")
    np.testing.assert_allclose(res.rate["SCI"], ols.rate["SCI"], rtol=1e-4)


def test_jump_detect():
    """stcal's test_jump_detect: a 1000 DN jump at group 6 (one pixel), and one in group 5
    only (a one-group spike, another pixel): both flagged, rates still the clean slope."""
    ngroups, base, cr, loc = 10, 15.0, 1000.0, 6
    ramp = np.array([(k + 1) * base for k in range(ngroups)])
    data = np.zeros((1, ngroups, 2, 2), np.float32)
    data[0, :, 0, 1] = ramp
    data[0, :, 1, 0] = ramp
    ramp[loc:] += cr
    data[0, :, 0, 0] = ramp
    ramp[loc - 1] += cr
    data[0, :, 1, 1] = ramp
    res, _ = run(data, nframes=5)
    np.testing.assert_allclose(res.rate["SCI"], base / (10.736 * 6), rtol=1e-4)
    np.testing.assert_array_equal(res.rate["DQ"], [[JMP, 0], [0, JMP]])


def test_jump_count_and_uniform_errors():
    """stcal's test_flag_large_events (without snowball expansion, which jwst does not ask
    LIKELY for): a 300 DN jump from group 10 on an 11 x 11 square (the inner 3 x 3 saturated):
    the 112 jump pixels are all found, rates all equal, and their errors all equal."""
    data = linear_ramp(ngroups=20, ny=100, nx=100)
    data[0, 10:, 46:57, 46:57] += 300
    data[0, 10:, 50:53, 50:53] = 1e5
    g = np.zeros(data.shape, np.uint8)
    g[0, 10:, 50:53, 50:53] = SAT
    res, _ = run(data, g, nframes=4)
    r = res.rate
    assert np.std(r["SCI"]) < 1e-5
    jumped = r["DQ"] == JMP
    assert np.count_nonzero(jumped) == 112
    assert np.std(r["ERR"][jumped]) < 1e-6


def test_too_few_groups_falls_back_to_ols(caplog):
    with caplog.at_level(logging.INFO):
        res, setup = run(linear_ramp(ngroups=3))
    assert setup.params["algorithm"] == "OLS_C" and setup.likely is None
    assert "using OLS_C" in caplog.text
    with pytest.raises(ValueError, match="at least 4 groups"):
        lk.prepare_likely(make_meta(1, 2), np.ones((1, 1), np.float32), np.ones((1, 1), np.float32),
                          average_dark_current=None, firstgroup=0, lastgroup=1)


def test_zeroframe():
    """stcal's test_zeroframe: a zero frame of 5 DN (NFRAMES 4) becomes a resultant: 0.372503 DN/s."""
    data = linear_ramp(nints=2, ny=2, nx=2)
    res, _ = run(data, zeroframe=np.full((2, 2, 2), 5.0, np.float32))
    np.testing.assert_allclose(res.rate["SCI"], 0.372503, rtol=1e-5)


def test_zeroframe_ignored_with_one_read_groups(caplog):
    data = linear_ramp(nints=2, ny=2, nx=2)
    with caplog.at_level(logging.WARNING):
        res, _ = run(data, nframes=1, zeroframe=np.full((2, 2, 2), 5.0, np.float32))
    assert "first group has < 2 reads" in caplog.text
    plain, _ = run(data, nframes=1)
    np.testing.assert_allclose(res.rate["SCI"], plain.rate["SCI"], rtol=1e-7)


# ------------------------------------------------------------------ first principles


def dense_fit(data, use, rate_guess, rn_read, gain, nframes, groupgap, tframe):
    """GLS on resultant differences with the covariance built from the reads: each read is
    the accumulated signal (Poisson: Cov = rate / gain * min(t_i, t_j) DN**2) plus independent
    read noise (rn_read**2); a resultant is the mean of its NFRAMES reads. Returns (rate,
    var_poisson, var_rnoise, chisq) over the differences with ``use``."""
    ng = len(data)
    times = np.array([[(j + 1 + k * (nframes + groupgap)) * tframe for j in range(nframes)] for k in range(ng)])
    t = times.ravel()
    P = rate_guess / gain * np.minimum.outer(t, t)
    R = rn_read**2 * np.eye(len(t))
    M = np.kron(np.eye(ng), np.full((1, nframes), 1.0 / nframes))          # reads -> resultants
    mean_t = times.mean(axis=1)
    D = (np.eye(ng)[1:] - np.eye(ng)[:-1]) / np.diff(mean_t)[:, None]     # resultants -> rates
    keep = np.flatnonzero(use)
    A = (D @ M)[keep]
    Sp, Sr = A @ P @ A.T, A @ R @ A.T
    Si = np.linalg.inv(Sp + Sr)
    d = (D @ data)[keep]
    one = np.ones(len(keep))
    C = one @ Si @ one
    w = Si @ one / C
    rate = w @ d
    r = d - rate
    return rate, w @ Sp @ w, w @ Sr @ w, r @ Si @ r


@pytest.mark.parametrize("ngroups", [4, 5, 12])
@pytest.mark.parametrize("nframes,groupgap", [(1, 0), (4, 1)])
def test_matches_dense_gls(ngroups, nframes, groupgap):
    """A noisy ramp, no jump: rate, variances and chi square equal the dense GLS with the
    covariance evaluated at the first fit's rate plus the dark current (stcal's debiasing)."""
    rng = np.random.default_rng(ngroups * 10 + nframes)
    tframe, rn_cds, gain, rate, dark = 10.0, 14.0, 1.5, 8.0, 0.05
    gt = tframe * (nframes + groupgap)
    data = rate * gt * (np.arange(ngroups) + 1) + rng.normal(0, 12, ngroups)
    res, setup = run(data.reshape(1, ngroups, 1, 1), rn=rn_cds, gain=gain, nframes=nframes, groupgap=groupgap,
                     tframe=tframe, average_dark_current=np.full((1, 1), dark, np.float32))
    rn_read = rn_cds / np.sqrt(2)
    d32 = data.astype(np.float32).astype(np.float64)
    use = np.ones(ngroups - 1)
    # the first fit (jump search) uses the median difference as its rate guess
    med = max(np.median(np.diff(d32) / np.diff(setup.likely.covar.mean_t)), 0.0)
    first = dense_fit(d32, use, med, rn_read, gain, nframes, groupgap, tframe)[0]
    rate_e, vp, vr, chi = dense_fit(d32, use, max(first, 0) + dark, rn_read, gain, nframes, groupgap, tframe)
    np.testing.assert_allclose(res.rateints["SCI"][0, 0, 0], rate_e, rtol=1e-6)
    np.testing.assert_allclose(res.rateints["VAR_POISSON"][0, 0, 0], vp, rtol=1e-5)
    np.testing.assert_allclose(res.rateints["VAR_RNOISE"][0, 0, 0], vr, rtol=1e-5)
    np.testing.assert_allclose(res.rateints["ERR"][0, 0, 0] ** 2, vp + vr, rtol=1e-5)
    np.testing.assert_allclose(res.chisq_ints[0, 0, 0], chi, rtol=1e-4, atol=1e-6)
    assert res.rateints["DQ"][0, 0, 0] == 0


@pytest.mark.parametrize("ngroups,where", [(5, 2), (8, 5)])
def test_one_jump_left_out(ngroups, where):
    """A 500 DN jump between groups where-1 and where: that difference is left out, JUMP_DET
    is set on group ``where`` (seen in the DQ), and the rate is the dense GLS without it."""
    tframe, rn_cds, gain, rate = 10.0, 10.0, 2.0, 5.0
    rng = np.random.default_rng(where)
    data = rate * tframe * (np.arange(ngroups) + 1) + rng.normal(0, 7, ngroups)
    data[where:] += 500.0
    res, setup = run(data.reshape(1, ngroups, 1, 1), rn=rn_cds, gain=gain, nframes=1, groupgap=0, tframe=tframe)
    assert res.rateints["DQ"][0, 0, 0] == JMP
    d32 = data.astype(np.float32).astype(np.float64)
    use = np.ones(ngroups - 1)
    use[where - 1] = 0
    # the debiasing rate: the one-omit rate of the jump search, i.e. the GLS without the jump
    # with the covariance at the median difference
    med = max(np.median(np.diff(d32) / tframe), 0.0)
    first = dense_fit(d32, use, med, rn_cds / np.sqrt(2), gain, 1, 0, tframe)[0]
    expect = dense_fit(d32, use, max(first, 0), rn_cds / np.sqrt(2), gain, 1, 0, tframe)[0]
    np.testing.assert_allclose(res.rateints["SCI"][0, 0, 0], expect, rtol=1e-6)
    assert abs(res.rateints["SCI"][0, 0, 0] - rate) < 1.0


def test_saturation_and_group_selection():
    """Saturation from group 4 of 7 and lastgroup: only differences between good groups count;
    the integration DQ gets SATURATED; firstgroup/lastgroup act as DO_NOT_USE groups."""
    tframe, rn_cds, gain = 10.0, 10.0, 2.0
    data = 40.0 * (np.arange(7) + 1) + np.array([0.0, 3.0, -2.0, 1.0, 0.0, 0.0, 0.0])
    g = np.zeros((1, 7, 1, 1), np.uint8)
    g[0, 4:] = SAT
    res, _ = run(data.reshape(1, 7, 1, 1), g, rn=rn_cds, gain=gain, nframes=1, groupgap=0, tframe=tframe)
    d32 = data.astype(np.float32).astype(np.float64)
    use = np.array([1, 1, 1, 0, 0, 0])
    med = max(np.median(np.diff(d32) / tframe), 0.0)
    first = dense_fit(d32, use, med, rn_cds / np.sqrt(2), gain, 1, 0, tframe)[0]
    expect = dense_fit(d32, use, first, rn_cds / np.sqrt(2), gain, 1, 0, tframe)[0]
    np.testing.assert_allclose(res.rateints["SCI"][0, 0, 0], expect, rtol=1e-6)
    assert res.rateints["DQ"][0, 0, 0] == SAT
    sel, _ = run(data.reshape(1, 7, 1, 1), rn=rn_cds, gain=gain, nframes=1, groupgap=0, tframe=tframe,
                 lastgroup=3)
    np.testing.assert_allclose(sel.rateints["SCI"], res.rateints["SCI"], rtol=1e-7)
    assert sel.rateints["DQ"][0, 0, 0] == 0
    # every group unusable: DO_NOT_USE, NaN rate (as jwst writes it)
    allsat, _ = run(data.reshape(1, 7, 1, 1), np.full((1, 7, 1, 1), SAT, np.uint8), nframes=1, groupgap=0)
    assert allsat.rateints["DQ"][0, 0, 0] == DNU | SAT and np.isnan(allsat.rateints["SCI"][0, 0, 0])


def test_covariance_coefficients_by_hand():
    """Paper I eqs. 4, 11, 28, 29 for NFRAMES 2, GROUPGAP 0, TFRAME 1: resultants (1, 2),
    (3, 4), (5, 6): mean times 1.5, 3.5, 5.5; tau = (3 t1 + t2) / 4 = 1.25, 3.25, 5.25."""
    cov = lk.covariance(lk.read_pattern(3, 2, 0, 1.0))
    np.testing.assert_allclose(cov.mean_t, [1.5, 3.5, 5.5])
    np.testing.assert_allclose(cov.tau, [1.25, 3.25, 5.25])
    np.testing.assert_allclose(cov.delta_t, [2.0, 2.0])
    np.testing.assert_allclose(cov.alpha_rn, [(0.5 + 0.5) / 4] * 2)
    np.testing.assert_allclose(cov.beta_rn, [-1 / (2 * 4)])
    np.testing.assert_allclose(cov.alpha_ph, [(1.25 + 3.25 - 3.0) / 4, (3.25 + 5.25 - 7.0) / 4])
    np.testing.assert_allclose(cov.beta_ph, [(3.5 - 3.25) / 4])


def test_read_times_switch_to_likely(caplog):
    """jwst 3.0: explicit (uneven) read times switch OLS_C to LIKELY; groups of 1, 2 and 3 reads."""
    rt = [[1.0], [2.0, 3.0], [4.0, 5.0, 6.0], [7.0], [9.0, 10.0]]
    meta = make_meta(1, 5, nframes=1, tframe=1.0)
    one = np.ones((1, 1), np.float32)
    with caplog.at_level(logging.WARNING):
        setup = rf.prepare_ramp_fit(meta, one * 5, one, read_times=rt)
    assert setup.params["algorithm"] == "LIKELY" and "unevenly sampled" in caplog.text
    np.testing.assert_allclose(setup.likely.covar.nreads, [1, 2, 3, 1, 2])
    means = np.array([np.mean(t) for t in rt])
    data = (3.0 * means).astype(np.float32).reshape(1, 5, 1, 1)
    res = rf.fit_ramps(data, np.zeros(data.shape, np.uint8), np.zeros((1, 1), np.uint32), setup, slice(0, 1))
    np.testing.assert_allclose(res.rate["SCI"][0, 0], 3.0, rtol=1e-6)
    with pytest.raises(ValueError, match="read_times has 2 groups"):
        rf.prepare_ramp_fit(meta, one, one, read_times=rt[:2])


def test_work_split_does_not_change_results():
    """The kernel deals (row, integration) tasks to the threads and fits 64-pixel blocks: a
    3 x 8 x 3 x 70 exposure (a partial second block) with jumps and saturation gives the same
    arrays, bit for bit, on one thread and on two, fitted whole or one row at a time, as each
    pixel's ramp fitted on its own (a 1 x 1 frame: one block, one task)."""
    import numba

    rng = np.random.default_rng(5)
    nints, ngroups, ny, nx = 3, 8, 3, 70
    rate = rng.uniform(0.5, 40, (ny, nx))
    data = (rate[None, None] * GROUP_TIME * (np.arange(ngroups)[None, :, None, None] + 1)
            + rng.normal(0, 8, (nints, ngroups, ny, nx))).astype(np.float32)
    hit = rng.random((nints, ny, nx)) < 0.1
    data[:, 4:] += np.where(hit, 800.0, 0.0)[:, None].astype(np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[1, 6:, 2, 60:] = SAT
    meta = make_meta(nints, ngroups, ny, nx, 4, 1)
    rn, gain = np.full((ny, nx), 10.0, np.float32), np.full((ny, nx), 5.0, np.float32)
    setup = rf.prepare_ramp_fit(meta, rn, gain, algorithm="LIKELY")
    pdq = np.zeros((ny, nx), np.uint32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = rf.fit_ramps(data, gdq, pdq, setup, slice(0, ny))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = [rf.fit_ramps(data[:, :, [r]], gdq[:, :, [r]], pdq[[r]], setup, slice(r, r + 1)) for r in range(ny)]
    finally:
        numba.set_num_threads(before)
    m1 = make_meta(nints, ngroups, 1, 1, 4, 1)
    for key in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "DQ"):
        rows = np.concatenate([t.rateints[key] for t in two], axis=1)
        np.testing.assert_array_equal(rows, one.rateints[key], err_msg=key)
    for r, c in [(0, 0), (1, 63), (1, 64), (2, 69), (2, 61)]:
        s1 = rf.prepare_ramp_fit(m1, rn[:1, :1], gain[:1, :1], algorithm="LIKELY")
        alone = rf.fit_ramps(data[:, :, r:r + 1, c:c + 1].copy(), gdq[:, :, r:r + 1, c:c + 1].copy(),
                             np.zeros((1, 1), np.uint32), s1, slice(0, 1))
        for key in ("SCI", "ERR", "DQ"):
            np.testing.assert_array_equal(alone.rateints[key][:, 0, 0], one.rateints[key][:, r, c], err_msg=key)
    # teeth: jumps were found and the saturated pixels are flagged
    assert (one.rateints["DQ"] & JMP).sum() >= hit.sum() // 2
    assert (one.rateints["DQ"][1, 2, 60:] & SAT).all()
