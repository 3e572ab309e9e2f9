"""group_scale: hand-computed factors FRMDIVSR/NFRAMES and jwst's skip conditions."""

import numpy as np
import pytest

from rampflow.meta import ExposureMeta
from rampflow.steps import get_step_class
from rampflow.steps.group_scale import group_scale_factor, scale_groups


def _meta(**kw):
    prim = {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NGROUPS": 3, "NFRAMES": 1,
            "TFRAME": 10.73677, "TGROUP": 10.73677}
    prim.update(kw)
    return ExposureMeta.from_headers(prim, {}, filename="test", shape=(2, 3, 2, 2))


def test_factor_values():
    # 5 frames summed, divided on board by 4: data are 5/4 too high -> multiply by 4/5
    assert group_scale_factor(5, 4) == 0.8
    assert group_scale_factor(3, 2) == 2 / 3
    assert group_scale_factor(4, 4) is None          # equal: nothing to do
    assert group_scale_factor(None, 4) is None       # no NFRAMES: jwst skips
    assert group_scale_factor(3, None) is None       # no FRMDIVSR: jwst skips even for 3 frames


def test_scale_groups_float32():
    sci = np.full((1, 2, 2, 2), 300.0, dtype=np.float32)
    scale_groups(sci, 2 / 3)
    # float32(2/3) = 0.66666669; 300 * 0.66666669 = 200.0000060 -> nearest float32 is 200.0
    np.testing.assert_array_equal(sci, np.float32(200.0))
    sci = np.array([[[[100.0, 7.0]]]], dtype=np.float32)
    scale_groups(sci, 0.8)
    # 100 * float32(0.8) = 80.0000012 -> 80.0;  7 * 0.80000001 = 5.6000001 -> float32(5.6)
    np.testing.assert_array_equal(sci, np.array([[[[80.0, 5.6]]]], dtype=np.float32))
    with pytest.raises(ValueError, match="float32"):
        scale_groups(np.zeros(3), 2.0)


def test_step_scales_and_skips():
    cls = get_step_class("group_scale")
    assert cls.keyword == "S_GRPSCL" and cls.reftypes == () and cls.defaults == {}
    step = cls(_meta(NFRAMES=5, FRMDIVSR=4), {})
    assert step.skipped is None
    sci = np.full((2, 3, 2, 2), 50.0, dtype=np.float32)
    step.process(sci, np.zeros(sci.shape, np.uint8), np.zeros((2, 2), np.uint32), slice(0, 2), slice(0, 2))
    np.testing.assert_array_equal(sci, np.float32(40.0))   # 50 * 4/5
    assert cls(_meta(NFRAMES=4, FRMDIVSR=4), {}).skipped
    assert cls(_meta(NFRAMES=3), {}).skipped                # FRMDIVSR missing
    assert cls(_meta(), {}).skipped                         # neither keyword
    with pytest.raises(ValueError, match="unknown parameter"):
        cls(_meta(), {}, scale=2)
