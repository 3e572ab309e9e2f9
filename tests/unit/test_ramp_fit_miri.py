"""MIRI's group discarding in ramp_fit (stcal 1.20 ``discard_miri_groups``).

The cases of stcal's own tests (tests/test_ramp_fitting_cases.py ``test_miri_0..3`` and
tests/test_ramp_fitting.py's JP-2326 ramps) with stcal's expected values, and hand-built
pixels: which groups are discarded, JUMP_DET taken off the first kept group, the pedestal
extrapolated from the first kept group, and the exposures stcal refuses.
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import dq as dqf
from rampflow.meta import ExposureMeta
from rampflow.steps import ramp_fit as rf
from rampflow.steps import ramp_fit_miri as miri

DNU, JUMP, SAT = dqf.DO_NOT_USE, dqf.JUMP_DET, dqf.SATURATED


def miri_meta(nints, ngroups, ny=1, nx=1, t=10.0, instrument="MIRI"):
    return ExposureMeta.from_headers(
        {"INSTRUME": instrument, "DETECTOR": "MIRIMAGE" if instrument == "MIRI" else "NRS1",
         "NFRAMES": 1, "GROUPGAP": 0, "TFRAME": t, "TGROUP": t, "NINTS": nints, "NGROUPS": ngroups,
         "SUBSIZE1": nx, "SUBSIZE2": ny},
        {}, filename="miri_test", shape=(nints, ngroups, ny, nx))


def fit_miri(sci, gdq, gain, rnoise, t=10.0, instrument="MIRI", **params):
    """Fit a whole exposure as the step does: discard found from the exposure's GROUPDQ first."""
    sci = np.asarray(sci, np.float32)
    gdq = np.asarray(gdq, np.uint8)
    nints, ngroups, ny, nx = sci.shape
    meta = miri_meta(nints, ngroups, ny, nx, t, instrument)
    setup = rf.prepare_ramp_fit(meta, np.full((ny, nx), rnoise, np.float32), np.full((ny, nx), gain, np.float32),
                                **params)
    if instrument == "MIRI" and ngroups > 1:
        setup.discard = miri.discarded_groups(
            miri.all_dnu_groups(gdq, setup.firstgroup, setup.lastgroup, setup.suppress_one_group))
    return rf.fit_ramps(sci, gdq, np.zeros((ny, nx), np.uint32), setup, slice(0, ny)), setup


def one_pixel(values, dq):
    sci = np.asarray(values, np.float32).reshape(1, -1, 1, 1)
    gdq = np.asarray(dq, np.uint8).reshape(sci.shape)
    return sci, gdq


# ---- stcal tests/test_ramp_fitting_cases.py: MIRI, one segment, gain 5.5, read noise 10.34, t = 10 s

STCAL_PRI = [1.025854, 0, 0.12379601, 0.0025974, 0.01272805]
STCAL_OPT = [1.025854, 6.450687, 0.0025974, 0.01272805, 26.439266, 27.842508, 23.974146, 78.56665]


@pytest.mark.parametrize("values, dq, pri, opt", [
    ([8888.0, 25, 35, 54, 55, 65, 75, 94, 95, 888], [DNU] + [0] * 8 + [DNU], STCAL_PRI, STCAL_OPT),
    ([7777.0, 125, 135, 154, 165, 175, 185, 204, 205, 777], [DNU | JUMP] + [0] * 8 + [DNU],
     [1.1996487, 0, 0.12379601, 0.0025974, 0.01272805],
     [1.1996487, 6.450687, 0.0025974, 0.01272805, 126.110214, 27.842508, 123.800354, 78.56665]),
    ([4444.0, 25, 35, 54, 55, 65, 75, 94, 95, 444], [DNU | JUMP] + [0] * 8 + [DNU | JUMP], STCAL_PRI, STCAL_OPT),
    ([6666.0, 25, 35, 54, 55, 65, 75, 94, 95, 666], [DNU] + [0] * 8 + [DNU | JUMP], STCAL_PRI, STCAL_OPT),
], ids=["miri_0", "miri_1", "miri_2", "miri_3"])
def test_stcal_miri_cases(values, dq, pri, opt):
    sci, gdq = one_pixel(values, dq)
    res, setup = fit_miri(sci, gdq, 5.5, 10.34, save_opt=True)
    assert setup.discard == (1, 1)
    tol = dict(atol=2e-5, rtol=2e-5)
    np.testing.assert_allclose(res.rate["SCI"][0, 0], pri[0], **tol)
    assert res.rate["DQ"][0, 0] == pri[1]
    np.testing.assert_allclose(res.rate["ERR"][0, 0], pri[2], **tol)
    np.testing.assert_allclose(res.rate["VAR_POISSON"][0, 0], pri[3], **tol)
    np.testing.assert_allclose(res.rate["VAR_RNOISE"][0, 0], pri[4], **tol)
    o = res.opt
    np.testing.assert_allclose(o["slope"][0, 0, 0, 0], opt[0], **tol)
    np.testing.assert_allclose(o["sigslope"][0, 0, 0, 0], opt[1], **tol)
    np.testing.assert_allclose(o["var_poisson"][0, 0, 0, 0], opt[2], **tol)
    np.testing.assert_allclose(o["var_rnoise"][0, 0, 0, 0], opt[3], **tol)
    np.testing.assert_allclose(o["yint"][0, 0, 0, 0], opt[4], atol=2e-2)
    np.testing.assert_allclose(o["sigyint"][0, 0, 0, 0], opt[5], **tol)
    np.testing.assert_allclose(o["pedestal"][0, 0, 0], opt[6], atol=2e-5, rtol=3e-5)
    np.testing.assert_allclose(o["weights"][0, 0, 0, 0], opt[7], **tol)


# ---- stcal tests/test_ramp_fitting.py, JP-2326: gain 5.5, read noise 1000, t = 2.77504 s

JP2326 = [120.133545, 117.85222, 87.38832, 66.90588, 51.392555, 41.65941, 32.15081, 24.25277, 15.955284, 9.500946]


@pytest.mark.parametrize("dq1, answer, tol", [(DNU, -4.1035075, 1e-5), (JUMP, -4.9032097, 1e-6)])
def test_stcal_jp2326_dnu_then_dnu_or_jump(dq1, answer, tol):
    dq = [DNU, dq1] + [0] * 7 + [DNU]
    sci, gdq = one_pixel(JP2326, dq)
    res, setup = fit_miri(sci, gdq, 5.5, 1000.0, t=2.77504, save_opt=True)
    assert setup.discard == ((2, 1) if dq1 == DNU else (1, 1))
    assert abs(res.rate["SCI"][0, 0] - answer) < tol


# ---- hand-built pixels

def test_which_groups_are_discarded():
    d = miri.discarded_groups
    assert d(np.array([True, True, False, False, False, True])) == (2, 1)
    assert d(np.array([False, False, True, True])) == (0, 1)  # only one trailing group
    assert d(np.array([True, False, False, False])) == (1, 0)
    assert d(np.array([False, True, False])) == (0, 0)          # a middle group is never cut
    with pytest.raises(miri.NoUsableGroupsError, match="every group is DO_NOT_USE"):
        d(np.array([True, True, True]))
    with pytest.raises(miri.NoUsableGroupsError, match="1 group left"):
        d(np.array([True, False, True]))


def test_all_dnu_scan_needs_every_pixel_and_integration():
    gdq = np.zeros((2, 5, 2, 3), np.uint8)
    gdq[:, 0] = DNU
    gdq[:, -1] = DNU
    assert list(miri.all_dnu_groups(gdq, 0, 4, True)) == [True, False, False, False, True]
    gdq[1, 0, 1, 2] = 0  # one pixel of one integration keeps group 0
    assert list(miri.all_dnu_groups(gdq, 0, 4, True)) == [False, False, False, False, True]
    # firstgroup / lastgroup count as DO_NOT_USE (jwst sets them before stcal looks)
    assert list(miri.all_dnu_groups(gdq, 2, 3, True)) == [True, True, False, False, True]
    # a ramp with one good group is suppressed first: its groups are all DO_NOT_USE
    one = np.zeros((1, 3, 1, 1), np.uint8)
    one[0, 1:, 0, 0] = DNU
    assert list(miri.all_dnu_groups(one, 0, 2, True)) == [True, True, True]
    assert list(miri.all_dnu_groups(one, 0, 2, False)) == [False, True, True]


def test_pedestal_and_yint_from_first_kept_group_and_jump_flag_cleared():
    """Noiseless 5 DN/group ramp at 100 DN in group 1; groups 0 and 5 are DO_NOT_USE everywhere,
    group 1 also JUMP_DET. After discarding, group 1 is the ramp's start: slope 0.5 DN/s, yint
    100 (the value at the first kept group), pedestal 100 - 0.5 * 1 = 99.5 (stcal's
    ``data[0] - slope ((NFRAMES + 1) / 2) / (NFRAMES + GROUPGAP)``, slope in DN/s, from the
    first kept group), and no JUMP_DET in the rate DQ."""
    values = [7000.0, 100, 105, 110, 115, -30]
    sci, gdq = one_pixel(values, [DNU, JUMP, 0, 0, 0, DNU])
    res, setup = fit_miri(sci, gdq, 2.0, 5.0, save_opt=True)
    assert setup.discard == (1, 1)
    np.testing.assert_allclose(res.rate["SCI"][0, 0], 0.5, rtol=1e-6)
    assert res.rate["DQ"][0, 0] == 0 and res.rateints["DQ"][0, 0, 0] == 0
    np.testing.assert_allclose(res.opt["yint"][0, 0, 0, 0], 100.0, rtol=1e-6)
    np.testing.assert_allclose(res.opt["pedestal"][0, 0, 0], 99.5, rtol=1e-6)
    # the same ramp in a NIR exposure: nothing is discarded, group 1's jump starts a segment
    # and flags the integration; the pedestal extrapolates from group 0 (7000)
    res_nir, setup_nir = fit_miri(sci, gdq, 2.0, 5.0, instrument="NIRSPEC", save_opt=True)
    assert setup_nir.discard == (0, 0)
    assert res_nir.rate["DQ"][0, 0] & JUMP
    np.testing.assert_allclose(res_nir.opt["pedestal"][0, 0, 0], 6999.5)  # group 0 (DO_NOT_USE) - 0.5


def test_jump_on_first_kept_group_of_a_pixel_not_discarded_elsewhere_stays():
    """Two pixels: only pixel 0 has group 0 DO_NOT_USE, so no group is discarded and pixel 1's
    group-1 jump is kept (the integration is flagged JUMP_DET)."""
    sci = np.array([0.0, 10, 20, 30, 40], np.float32)[None, :, None, None] * np.ones((1, 5, 1, 2), np.float32)
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[0, 0, 0, 0] = DNU
    gdq[0, 1, 0, 1] = JUMP
    res, setup = fit_miri(sci, gdq, 2.0, 5.0)
    assert setup.discard == (0, 0)
    assert res.rate["DQ"][0, 1] & JUMP


def test_nothing_left_raises():
    """[DNU, good, DNU]: one group would be left (stcal: MIRI needs 2); with one-group
    suppression (the default) the ramp is suppressed first and every group is DO_NOT_USE."""
    sci, gdq = one_pixel([1.0, 2.0, 3.0], [DNU, 0, DNU])
    with pytest.raises(miri.NoUsableGroupsError, match="at least 2 groups"):
        fit_miri(sci, gdq, 2.0, 5.0, suppress_one_group=False)
    with pytest.raises(miri.NoUsableGroupsError, match="every group is DO_NOT_USE"):
        fit_miri(sci, gdq, 2.0, 5.0)


def test_firstgroup_discards_for_miri():
    """firstgroup=2 makes groups 0-1 DO_NOT_USE everywhere: they are cut, and the pedestal is
    then extrapolated from group 2 (70 - 0.5 * 1)."""
    values = [50.0, 60, 70, 75, 80, 85]
    sci, gdq = one_pixel(values, [0] * 6)
    res, setup = fit_miri(sci, gdq, 2.0, 5.0, save_opt=True, firstgroup=2)
    assert setup.discard == (2, 0)
    np.testing.assert_allclose(res.rate["SCI"][0, 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(res.opt["pedestal"][0, 0, 0], 69.5, rtol=1e-6)
