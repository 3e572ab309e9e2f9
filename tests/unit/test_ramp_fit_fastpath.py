"""The OLS_C kernel's short paths against independent answers.

* ramps without any GROUPDQ flag skip the DQ scans and the segment search, and the median
  rate uses a quickselect that never branches on the data: stcal 1.20's own OLS_C
  (``stcal.ramp_fitting.ramp_fit.ramp_fit``, its C extension) on the same small exposures
  with clean ramps mixed with jumps, saturation (part-way and from group 0), DO_NOT_USE
  groups and pixels, one and two good groups, CHARGELOSS, PERSISTENCE, firstgroup/lastgroup,
  ZEROFRAME and both settings of suppress_one_group. The kernel computes stcal's float64
  quantities in stcal's order of operations, so every output is compared exactly (values,
  DQ, NaN placement).
* without the fitopt arrays the kernel reads the cube once: it fits the clean ramps in its
  first pass and keeps the flagged ones aside (as many as its room allows; integrations with
  more are read again): both cases against stcal.
* the median (the quickselect, and the bracketed selection that the median rate uses) is
  compared with the sorted values' middle and numpy's median, ties, short runs, skewed
  values (the bracket misses) and infinite values included.

The hand-computed cases of test_ramp_fit.py (noiseless ramps, Fixsen weights, variances)
run through the same short path for their unflagged pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import dq as dqf
from rampflow.kernels.order_stats import _sort16
from rampflow.kernels.ramp_segments import _median, _median_bracketed, _median_rate_clean
from rampflow.meta import ExposureMeta
from rampflow.steps import ramp_fit as rf
from rampflow.steps import ramp_fit_chunks as rf_chunks

DNU, SAT, JUMP = dqf.DO_NOT_USE, dqf.SATURATED, dqf.JUMP_DET
CHG, PERS = dqf.CHARGELOSS, dqf.FLAGS["PERSISTENCE"]
TGROUP = 10.6


def exact_median(x):
    if x.size == 0:
        return np.nan
    s = np.sort(x)
    k = x.size // 2
    return s[k] if x.size % 2 else (s[k] + s[k - 1]) / 2.0


@pytest.mark.parametrize("kind", ["normal", "ties", "sorted", "reversed", "constant"])
def test_median_is_the_middle_of_the_sorted_values(kind):
    rng = np.random.default_rng(3)
    for m in range(0, 90):
        for _ in range(20):
            if kind == "normal":
                x = rng.normal(5.0, 2.0, m)
            elif kind == "ties":
                x = rng.integers(-2, 3, m).astype(np.float64)
            elif kind == "sorted":
                x = np.sort(rng.normal(size=m))
            elif kind == "reversed":
                x = np.sort(rng.normal(size=m))[::-1].copy()
            else:
                x = np.full(m, 7.25)
                x[: rng.integers(0, m + 1)] = rng.choice([-1.0, 7.25, 9.0])
            buf = np.concatenate([x, [np.nan]])
            got = _median(buf, m, np.empty(m + 1))
            exp = exact_median(x)
            assert got == exp or (np.isnan(got) and np.isnan(exp)), (kind, m, x)


@pytest.mark.parametrize("kind", ["normal", "ties", "skewed", "outliers", "tiny spread", "inf", "huge",
                                  "constant", "sorted"])
def test_bracketed_median_is_numpys(kind):
    """_median_bracketed (a bracket around the mean, rank counting inside it; _median when it
    misses or m < 16) gives the sorted values' middle, as numpy's median, bit for bit."""
    rng = np.random.default_rng(5)
    for m in list(range(0, 40)) + [68, 69, 70, 155, 300]:
        for _ in range(12):
            if kind == "normal":
                x = rng.normal(40.0, 15.0, m)
            elif kind == "ties":
                x = rng.integers(-3, 4, m).astype(np.float64)
            elif kind == "skewed":  # most values far below the mean: the bracket misses
                x = np.where(rng.random(m) < 0.8, rng.normal(0.0, 1.0, m), rng.uniform(1e3, 1e4, m))
            elif kind == "outliers":
                x = rng.normal(10.0, 2.0, m)
                x[rng.random(m) < 0.1] = 5e4
            elif kind == "tiny spread":
                x = 1000.0 + rng.normal(0.0, 1e-12, m)
            elif kind == "inf":
                x = rng.normal(0.0, 1.0, m)
                x[rng.random(m) < 0.2] = rng.choice([np.inf, -np.inf])
            elif kind == "huge":  # the sum of squares overflows
                x = rng.normal(0.0, 1e300, m)
            elif kind == "constant":
                x = np.full(m, 3.5)
                x[: rng.integers(0, m + 1)] = rng.choice([2.0, 3.5, 4.0])
            else:
                x = np.sort(rng.normal(size=m))
            buf = np.concatenate([x, [np.nan]])
            got = _median_bracketed(buf, m, np.empty(m + 1))
            exp = exact_median(x)
            assert got == exp or (np.isnan(got) and np.isnan(exp)), (kind, m, x)
            if m and np.isfinite(x).all() and np.abs(x).max() < 1e300:
                assert got == np.median(x), (kind, m)


def test_sort16_sorts_every_zero_one_input_and_random_values():
    """The 16-input sorting network: every one of the 2**16 inputs of zeros and ones (the
    0-1 principle: a network that sorts them sorts anything), then random values with ties
    and infinities, against numpy's sort."""
    a = np.empty(16)
    for bits in range(1 << 16):
        a[:] = (bits >> np.arange(16)) & 1
        ones = int(a.sum())
        _sort16(a)
        assert not a[: 16 - ones].any() and a[16 - ones:].all(), bits
    rng = np.random.default_rng(11)
    for _ in range(500):
        x = rng.choice([rng.normal(), -np.inf, np.inf, 0.0, -0.0, 2.5], 16, p=[0.6, 0.05, 0.15, 0.1, 0.05, 0.05])
        a = x.copy()
        _sort16(a)
        np.testing.assert_array_equal(a, np.sort(x))


@pytest.mark.parametrize("kind", ["noise", "nan groups", "inf group", "all nan", "flat", "steep"])
@pytest.mark.parametrize("ngroups", [2, 5, 16, 17, 18, 40, 70, 71])
def test_median_rate_of_a_clean_ramp_is_the_median_of_its_rate_differences(kind, ngroups):
    """_median_rate_clean (vectorised differences and a bracket at their mean when there
    are 17 groups or more and every difference is finite) against stcal's definition
    written with numpy: the median of the finite differences of float32 data / group time
    (in float64), or the first group's rate when no difference is finite."""
    rng = np.random.default_rng(ngroups)
    for trial in range(40):
        rate = rng.uniform(0.0, 300.0)
        d = np.cumsum(rng.poisson(rate, ngroups)).astype(np.float32) + rng.normal(0, 9, ngroups).astype(np.float32)
        d = d.astype(np.float32)
        if kind == "nan groups":
            d[rng.random(ngroups) < 0.2] = np.nan
        elif kind == "inf group":
            d[rng.integers(0, ngroups)] = np.inf
        elif kind == "all nan":
            d[1:] = np.nan
            if trial % 2:
                d[0] = np.nan
        elif kind == "flat":
            d[:] = np.float32(1234.5)
        elif kind == "steep":
            d = (np.arange(ngroups) * 3e4 + rng.normal(0, 1, ngroups)).astype(np.float32)
        q = d.astype(np.float64) / TGROUP
        diffs = np.diff(q)
        diffs = diffs[~np.isnan(diffs)]
        exp = exact_median(diffs) if diffs.size else q[0]
        got = _median_rate_clean(d, ngroups, TGROUP, np.empty(ngroups + 1), np.empty(ngroups + 1))
        assert got == exp or (np.isnan(got) and np.isnan(exp)), (kind, ngroups, trial, d)


def mixed_exposure(nints, ngroups, nx, seed):
    """Ramps (float32), GROUPDQ and PIXELDQ: every third pixel clean, the rest with one of the
    flag patterns the general path handles (chosen per pixel and integration)."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.5, 400.0, nx)
    sci = np.empty((nints, ngroups, 1, nx), np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    for i in range(nints):
        ramp = 1000.0 + np.cumsum(rng.poisson(np.broadcast_to(rate, (ngroups, nx))), axis=0)
        sci[i, :, 0] = ramp + rng.normal(0.0, 15.0, (ngroups, nx))
        for c in range(nx):
            if c % 3 == 0:
                continue
            q = gdq[i, :, 0, c]
            g = rng.integers(0, ngroups)
            case = rng.integers(0, 11)
            if case == 0:                                  # a jump (its step in the data)
                q[g] = JUMP
                sci[i, g:, 0, c] += 2000.0
            elif case == 1:                                # two jumps, maybe adjacent
                q[g] = JUMP
                q[min(ngroups - 1, g + rng.integers(1, 3))] |= JUMP
            elif case == 2:                                # saturating part-way
                q[g:] = SAT
            elif case == 3:                                # saturated from group 0
                q[:] = SAT
            elif case == 4:                                # DO_NOT_USE groups
                q[rng.random(ngroups) < 0.3] = DNU
            elif case == 5:                                # one good group
                q[:] = DNU
                q[g] = 0
            elif case == 6:                                # two good groups
                q[:] = SAT
                q[:2] = 0
            elif case == 7:                                # CHARGELOSS (with DO_NOT_USE, as jwst sets it)
                q[g:] = CHG | DNU
            elif case == 8:                                # PERSISTENCE only (does not split the ramp)
                q[g] = PERS
            elif case == 9:                                # every group DO_NOT_USE
                q[:] = DNU
            else:                                          # a jump that is also DO_NOT_USE
                q[g] = JUMP | DNU
    pdq = np.zeros((1, nx), np.uint32)
    pdq[0, 1::17] = DNU | dqf.FLAGS["HOT"]
    return sci, gdq, pdq


def stcal_fit(sci, gdq, pdq, rn, gain, zeroframe, suppress_one_group):
    from stcal.ramp_fitting.ramp_fit import ramp_fit
    from stdatamodels.jwst.datamodels import RampModel, dqflags

    model = RampModel(data=sci.copy(), groupdq=gdq.copy(), pixeldq=pdq.copy())
    ex = model.meta.exposure
    ex.frame_time, ex.group_time, ex.groupgap, ex.nframes, ex.drop_frames1 = TGROUP, TGROUP, 0, 1, 0
    model.meta.instrument.name = "NIRSPEC"
    if zeroframe is not None:
        model.zeroframe = zeroframe.copy()
    image, integ, _ = ramp_fit(model, False, rn.copy(), gain.copy(), "OLS_C", "optimal", "none",
                               dict(dqflags.pixel), suppress_one_group=suppress_one_group)
    return image, integ


def our_fit(sci, gdq, pdq, rn, gain, zeroframe, **params):
    nints, ngroups, ny, nx = sci.shape
    meta = ExposureMeta.from_headers(
        {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1, "GROUPGAP": 0, "TFRAME": TGROUP,
         "TGROUP": TGROUP, "NINTS": nints, "NGROUPS": ngroups, "SUBSIZE1": nx, "SUBSIZE2": ny},
        {}, filename="test", shape=sci.shape)
    setup = rf.prepare_ramp_fit(meta, rn.copy(), gain.copy(), **params)
    return rf.fit_ramps(sci, gdq, pdq, setup, slice(0, ny), zeroframe=zeroframe)


def assert_same(ours, theirs, what):
    names = {"SCI": "slope", "DQ": "dq", "VAR_POISSON": "var_poisson", "VAR_RNOISE": "var_rnoise", "ERR": "err"}
    for k, key in names.items():
        a = ours[k]
        b = np.asarray(theirs[key])
        if k == "DQ":
            np.testing.assert_array_equal(a, b.astype(np.uint32), err_msg=f"{what} DQ")
            continue
        b = b.astype(np.float32)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what} {k}: NaN placement")
        fin = np.isfinite(b)
        np.testing.assert_array_equal(a[fin], b[fin], err_msg=f"{what} {k}")


@pytest.mark.parametrize("ngroups", [3, 4, 12, 40])
@pytest.mark.parametrize("suppress_one_group", [True, False])
@pytest.mark.parametrize("with_zeroframe", [False, True])
@pytest.mark.parametrize("side", ["all kept", "one per column"])
def test_mixed_ramps_match_stcal_ols_c(ngroups, suppress_one_group, with_zeroframe, side, monkeypatch):
    """``side``: the kernel keeps every flagged ramp from its first read of the cube, or
    room for only one per column, so that later integrations are read a second time."""
    if side != "all kept":
        monkeypatch.setattr(rf_chunks, "SIDE_BYTES", 0)
    nints, nx = 3, 96
    sci, gdq, pdq = mixed_exposure(nints, ngroups, nx, seed=ngroups)
    rng = np.random.default_rng(11)
    rn = rng.uniform(5.0, 25.0, (1, nx)).astype(np.float32)
    gain = rng.uniform(0.8, 2.5, (1, nx)).astype(np.float32)
    gain[0, 5] = 0.0
    zf = None
    if with_zeroframe:
        zf = (sci[:, 0] - rng.uniform(1.0, 50.0, (nints, 1, nx))).astype(np.float32)
        zf[:, :, ::7] = 0.0                                # no zero frame for these pixels
    assert (np.bitwise_or.reduce(gdq, axis=1) == 0).sum() >= nints * nx // 3   # the short path is taken
    image, integ = stcal_fit(sci, gdq, pdq, rn, gain, zf, suppress_one_group)
    ours = our_fit(sci, gdq, pdq, rn, gain, zf, suppress_one_group=suppress_one_group)
    assert_same(ours.rateints, integ, "rateints")
    assert_same(ours.rate, image, "rate")


@pytest.mark.parametrize("first,last", [(1, None), (None, 9), (2, 8)])
def test_group_selection_matches_stcal(first, last):
    """firstgroup / lastgroup flag groups DO_NOT_USE (jwst's set_groupdq), so no ramp is
    clean; stcal gets the flags in its GROUPDQ."""
    nints, ngroups, nx = 2, 12, 48
    sci, gdq, pdq = mixed_exposure(nints, ngroups, nx, seed=5)
    rn = np.full((1, nx), 12.0, np.float32)
    gain = np.full((1, nx), 1.5, np.float32)
    theirs_gdq = gdq.copy()
    f = 0 if first is None else first
    lst = ngroups - 1 if last is None else last
    theirs_gdq[:, :f] |= DNU
    theirs_gdq[:, lst + 1:] |= DNU
    image, integ = stcal_fit(sci, theirs_gdq, pdq, rn, gain, None, True)
    ours = our_fit(sci, gdq, pdq, rn, gain, None, firstgroup=first, lastgroup=last)
    assert_same(ours.rateints, integ, "rateints")
    assert_same(ours.rate, image, "rate")


def test_clean_ramps_with_nan_group_match_stcal():
    """A NaN in an unflagged group: the median skips its differences, the fit counts it as 0."""
    nints, ngroups, nx = 2, 10, 24
    sci, gdq, pdq = mixed_exposure(nints, ngroups, nx, seed=9)
    gdq[:] = 0
    sci[0, 4, 0, ::4] = np.nan
    sci[1, 0, 0, 1::4] = np.nan
    rn = np.full((1, nx), 10.0, np.float32)
    gain = np.full((1, nx), 2.0, np.float32)
    image, integ = stcal_fit(sci, gdq, pdq, rn, gain, None, True)
    ours = our_fit(sci, gdq, pdq, rn, gain, None)
    assert_same(ours.rateints, integ, "rateints")
    assert_same(ours.rate, image, "rate")


@pytest.mark.parametrize("ngroups", [20, 70])
def test_long_ramps_with_nan_groups_match_stcal(ngroups):
    """Ramps long enough for the bracketed median (>= 16 differences): clean ones, some with a
    NaN group (its differences are skipped), next to flagged ones (jumps, saturation,
    DO_NOT_USE, one or two good groups), against stcal's OLS_C."""
    nints, nx = 3, 64
    sci, gdq, pdq = mixed_exposure(nints, ngroups, nx, seed=ngroups + 1)
    sci[0, 3, 0, ::5] = np.nan
    sci[2, ngroups - 1, 0, 2::6] = np.nan
    rng = np.random.default_rng(2)
    rn = rng.uniform(5.0, 25.0, (1, nx)).astype(np.float32)
    gain = rng.uniform(0.8, 2.5, (1, nx)).astype(np.float32)
    image, integ = stcal_fit(sci, gdq, pdq, rn, gain, None, True)
    ours = our_fit(sci, gdq, pdq, rn, gain, None)
    assert_same(ours.rateints, integ, "rateints")
    assert_same(ours.rate, image, "rate")
