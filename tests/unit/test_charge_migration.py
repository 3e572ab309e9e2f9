"""charge_migration: jwst's own unit cases (jwst/charge_migration/tests), hand-computed pixels,
and the step wrapper (defaults, skipping with fewer than 3 groups)."""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.steps import get_step_class
from rampflow.steps.charge_migration import flag_charge_migration

DNU = dq.DO_NOT_USE
CHLO_DNU = dq.CHARGELOSS | dq.DO_NOT_USE



def _timing(ngroups: int) -> dict:
    """The readout timing keywords every header must carry (NIRCam RAPID frame time)."""
    return {"NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 10.73676, "TGROUP": 10.73676}

def _ramp(ngroups, nrows=1, ncols=1, nints=1):
    return (np.zeros((nints, ngroups, nrows, ncols), np.float32),
            np.zeros((nints, ngroups, nrows, ncols), np.uint8))


def test_below_threshold_only_input_flags_remain():
    """jwst test_pix_0: all groups below the threshold; DO_NOT_USE flags pass through."""
    sci, gdq = _ramp(10)
    sci[:] = 30000.0 - 100.0
    gdq[0, :, 0, 0] = [0, DNU, 0, DNU, DNU, 0, 0, 0, 0, DNU]
    before_sci, before_gdq = sci.copy(), gdq.copy()
    flag_charge_migration(sci, gdq, 30000.0)
    np.testing.assert_array_equal(sci, before_sci)
    np.testing.assert_array_equal(gdq, before_gdq)


def test_do_not_use_exceedance_does_not_start_flagging():
    """jwst test_pix_1: an exceedance in a DO_NOT_USE group does not count; the first good one
    flags it and every later group."""
    thr = 20000.0
    sci, gdq = _ramp(10)
    sci[0, 1, 0, 0] = 0.5 * thr
    sci[0, 2, 0, 0] = 0.8 * thr
    gdq[0, 2, 0, 0] = DNU
    sci[0, 3, 0, 0] = thr + 5000.0
    gdq[0, 3, 0, 0] = DNU
    sci[0, 4:, 0, 0] = thr + 6000.0
    flag_charge_migration(sci, gdq, thr)
    np.testing.assert_array_equal(gdq[0, :, 0, 0], [0, 0, DNU, DNU] + [CHLO_DNU] * 6)


def test_later_group_below_threshold_still_flagged():
    """jwst test_pix_2: flagging runs to the end of the ramp even where the signal drops."""
    sci, gdq = _ramp(10)
    sci[0, :, 0, 0] = [1000.0, 2000.0, 4005.0, 4500.0, 5000.0, 5500.0, 3500.0, 6000.0, 6500.0, 3700.0]
    gdq[0, 1, 0, 0] = DNU
    flag_charge_migration(sci, gdq, 4000.0)
    np.testing.assert_array_equal(gdq[0, :, 0, 0], [0, DNU] + [CHLO_DNU] * 8)


def _neighbour_case(pixel, thr=4000.0):
    """jwst nearest_neighbor_base: 5 x 5, 10 groups, every pixel ramps by 0.05*thr per group;
    ``pixel`` exceeds the threshold from group 3 on."""
    sci, gdq = _ramp(10, 5, 5)
    sci[0] = (np.arange(1, 11, dtype=np.float64) * thr * 0.05).astype(np.float32)[:, None, None]
    sci[0, 3:, pixel[0], pixel[1]] += thr
    return sci, gdq


@pytest.mark.parametrize("pixel, pattern", [
    ((2, 2), [(1, 2), (2, 1), (2, 2), (2, 3), (3, 2)]),   # centre: a cross
    ((0, 0), [(0, 0), (0, 1), (1, 0)]),                   # corner
    ((2, 4), [(1, 4), (2, 3), (2, 4), (3, 4)]),           # right edge
])
def test_four_neighbours_flagged_from_the_first_exceedance(pixel, pattern):
    """jwst test_nearest_neighbor_1/2/3."""
    sci, gdq = _neighbour_case(pixel)
    before = sci.copy()
    flag_charge_migration(sci, gdq, 4000.0)
    expected = np.zeros((5, 5), np.uint8)
    for y, x in pattern:
        expected[y, x] = CHLO_DNU
    for g in range(10):
        np.testing.assert_array_equal(gdq[0, g], expected if g >= 3 else 0, err_msg=f"group {g}")
    np.testing.assert_array_equal(sci, before)


def test_neighbour_flagging_starts_at_the_earliest_exceedance():
    """Two exceeding pixels next to each other: a pixel between gets the earlier start; the
    other integration is independent; other input flags are kept (OR)."""
    sci, gdq = _ramp(6, 1, 4, nints=2)
    sci[0, 4:, 0, 0] = 100.0     # (0,0) exceeds from group 4
    sci[0, 2:, 0, 2] = 100.0     # (0,2) exceeds from group 2
    gdq[0, 1, 0, 1] = dq.JUMP_DET
    flag_charge_migration(sci, gdq, 99.5)
    j = dq.JUMP_DET
    np.testing.assert_array_equal(gdq[0, :, 0, 0], [0, 0, 0, 0, CHLO_DNU, CHLO_DNU])
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, j, CHLO_DNU, CHLO_DNU, CHLO_DNU, CHLO_DNU])
    np.testing.assert_array_equal(gdq[0, :, 0, 3], [0, 0, CHLO_DNU, CHLO_DNU, CHLO_DNU, CHLO_DNU])
    assert not gdq[1].any()


def test_threshold_compared_in_float32():
    """numpy 2 compares float32 SCI with a Python float in float32: 1.0 > 0.99999999 is False."""
    sci, gdq = _ramp(3)
    sci[:] = 1.0
    flag_charge_migration(sci, gdq, 0.99999999)
    assert not gdq.any()


def test_step_defaults_and_skip():
    cls = get_step_class("charge_migration")
    assert cls.defaults == {"signal_threshold": 25000.0}
    assert cls.keyword == "S_CHGMIG" and cls.reftypes == () and cls.kind == "ramp" and cls.official
    meta = ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", **_timing(2)}, {}, "t",
                                      shape=(1, 2, 1, 1))
    assert "too few groups" in cls(meta, {}).skipped         # jwst test_too_few_groups
    meta = ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", **_timing(4)}, {}, "t",
                                      shape=(1, 4, 1, 1))
    step = cls(meta, {}, signal_threshold=100.0)
    sci, gdq = _ramp(4)
    sci[0, 2:, 0, 0] = 150.0
    step.process(sci, gdq, np.zeros((1, 1), np.uint32), slice(0, 1), slice(0, 1))
    np.testing.assert_array_equal(gdq[0, :, 0, 0], [0, 0, CHLO_DNU, CHLO_DNU])
    with pytest.raises(ValueError, match="unknown parameter"):
        cls(meta, {}, threshold=3)


def test_shape_checks():
    with pytest.raises(ValueError, match="sci must be float32"):
        flag_charge_migration(np.zeros((2, 2, 2)), np.zeros((2, 2, 2), np.uint8), 1.0)
    with pytest.raises(ValueError, match="gdq must be uint8"):
        flag_charge_migration(np.zeros((1, 2, 2, 2), np.float32), np.zeros((1, 2, 2, 2), np.uint16), 1.0)
