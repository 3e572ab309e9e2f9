"""dark_current: frame averaging to the science pattern, extrapolation, skip, AVDRKCUR."""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.dark_current import (
    average_dark_current,
    average_frames,
    extrapolate_dark,
    prepare_dark,
    subtract_dark,
    total_frames,
)


def _dark(nframes_total=16, ny=2, nx=2):
    """Dark frame k holds 10*k DN everywhere."""
    return (10.0 * np.arange(nframes_total, dtype=np.float32))[:, None, None] * np.ones((1, ny, nx), np.float32)


def test_frame_average_nframes4_groupgap1():
    """Science NFRAMES=4, GROUPGAP=1: group g averages dark frames 5g .. 5g+3, i.e.
    10*(5g + 1.5) = 15, 65, 115 DN. With frame 1 NaN at (0, 0): (0 + 0 + 20 + 30)/4 = 12.5."""
    assert total_frames(3, 4, 1) == 14
    dark = _dark()
    dark[1, 0, 0] = np.nan
    d = prepare_dark(dark, 1, 0, ngroups=3, nframes=4, groupgap=1)
    assert d.dtype == np.float32 and d.shape == (3, 2, 2)
    np.testing.assert_array_equal(d[:, 1, 1], [15.0, 65.0, 115.0])
    assert d[0, 0, 0] == 12.5 and d[1, 0, 0] == 65.0
    assert np.isnan(dark[1, 0, 0])                  # reference array untouched
    sci = np.full((2, 3, 2, 2), 1000.0, np.float32)
    pdq = np.zeros((2, 2), np.uint32)
    ddq = np.array([[0, dq.HOT], [0, 0]], np.uint32)
    subtract_dark(sci, pdq, d, ddq)
    for i in range(2):
        np.testing.assert_array_equal(sci[i, :, 1, 1], [985.0, 935.0, 885.0])
        np.testing.assert_array_equal(sci[i, :, 0, 0], [987.5, 935.0, 885.0])
    np.testing.assert_array_equal(pdq, ddq)


def test_average_frames_nframes2():
    # frames 0,1 -> 5 ; gap of 2 frames; frames 4,5 -> 45
    np.testing.assert_array_equal(average_frames(_dark(6), 2, 2, 2)[:, 0, 0], [5.0, 45.0])


def test_matching_pattern_uses_groups_directly():
    dark = _dark(5)
    dark[2, 1, 0] = np.nan
    d = prepare_dark(dark, 1, 0, ngroups=3, nframes=1, groupgap=0)
    np.testing.assert_array_equal(d[:, 0, 0], [0.0, 10.0, 20.0])
    assert d[2, 1, 0] == 0.0                        # NaN -> 0


def test_extrapolation():
    """Dark groups 2, 5, 9; the science needs 5 groups: ceil((5-3+0)/(1+0)) = 2 more groups,
    continued with the last difference 4: 13, 17 (float64, as stcal promotes it)."""
    dark = np.array([2.0, 5.0, 9.0], np.float32)[:, None, None] * np.ones((1, 1, 2), np.float32)
    ext = extrapolate_dark(dark, 2)
    np.testing.assert_array_equal(ext[:, 0, 0], [2, 5, 9, 13, 17])
    d = prepare_dark(dark, 1, 0, ngroups=5, nframes=1, groupgap=0)
    assert d.dtype == np.float64
    np.testing.assert_array_equal(d[:, 0, 1], [2, 5, 9, 13, 17])
    sci = np.full((1, 5, 1, 2), 100.0, np.float32)
    subtract_dark(sci, np.zeros((1, 2), np.uint32), d)
    np.testing.assert_array_equal(sci[0, :, 0, 0], [98, 95, 91, 87, 83])


def test_skip_when_dark_pattern_coarser():
    assert prepare_dark(_dark(10), 2, 0, ngroups=3, nframes=1, groupgap=0) is None
    assert prepare_dark(_dark(10), 1, 1, ngroups=3, nframes=1, groupgap=0) is None


def test_average_dark_current_priority():
    img = np.array([[0.1, 0.2]], np.float32)
    np.testing.assert_array_equal(average_dark_current((1, 2), 0.5, img, 0.02), [[0.5, 0.5]])
    np.testing.assert_array_equal(average_dark_current((1, 2), None, img, 0.02), img)
    np.testing.assert_array_equal(average_dark_current((1, 2), None, np.zeros((1, 2)), 0.02),
                                  np.float32([[0.02, 0.02]]))
    np.testing.assert_array_equal(average_dark_current((1, 2), None, None, None), [[0.0, 0.0]])
    assert average_dark_current((1, 2), None, None, None).dtype == np.float32


def _meta(nframes=4, groupgap=1):
    return ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NFRAMES": nframes,
                                      "GROUPGAP": groupgap, "NGROUPS": 3,
                                      "TFRAME": 10.73677, "TGROUP": 10.73677}, {}, "test", shape=(1, 3, 2, 2))


def test_step():
    cls = get_step_class("dark_current")
    assert cls.defaults == {"dark_output": None, "average_dark_current": None}
    assert cls.keyword == "S_DARK" and cls.reftypes == ("dark",)
    ddq = np.array([[0, 0], [dq.FLAGS["UNRELIABLE_DARK"], 0]], np.uint32)
    ref = Reference("dark", "hand", {"NFRAMES": 1, "GROUPGAP": 0, "AVDRKCUR": 0.003},
                    {"SCI": _dark(), "DQ": ddq})
    step = cls(_meta(), {"dark": ref})
    assert step.skipped is None
    sci = np.full((1, 3, 2, 2), 500.0, np.float32)
    pdq = np.zeros((2, 2), np.uint32)
    step.process(sci, np.zeros(sci.shape, np.uint8), pdq, slice(0, 1), slice(0, 2))
    np.testing.assert_array_equal(sci[0, :, 0, 1], [485.0, 435.0, 385.0])
    np.testing.assert_array_equal(pdq, ddq)
    np.testing.assert_array_equal(step.extra_arrays()["AVDRKCUR"], np.float32(0.003))
    step = cls(_meta(), {"dark": ref}, average_dark_current=0.25)
    assert np.all(step.average_dark_current == 0.25)
    coarse = Reference("dark", "hand", {"NFRAMES": 8}, {"SCI": _dark(), "DQ": ddq})
    assert cls(_meta(), {"dark": coarse}).skipped


def test_checks():
    with pytest.raises(ValueError, match="dark must be"):
        subtract_dark(np.zeros((1, 3, 2, 2), np.float32), np.zeros((2, 2), np.uint32), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="3-D"):
        prepare_dark(np.zeros((2, 2)), 1, 0, 1, 1, 0)
