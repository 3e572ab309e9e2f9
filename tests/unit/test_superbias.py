"""superbias: hand-computed subtraction, NaN bias -> 0, DQ propagation."""

import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.superbias import prepare_bias, subtract_superbias


def test_subtract_every_group_nan_to_zero():
    bias = prepare_bias(np.array([[100.0, np.nan], [50.5, -20.0]]))
    assert bias.dtype == np.float32
    sci = np.full((2, 3, 2, 2), 1000.0, dtype=np.float32)
    sci[1, 2, 0, 0] = 10.0
    pdq = np.array([[dq.HOT, 0], [0, 0]], dtype=np.uint32)
    bdq = np.array([[0, dq.DO_NOT_USE], [dq.FLAGS["UNRELIABLE_BIAS"], 0]], dtype=np.uint32)
    zf = np.array([[[0.0, 500.0], [300.0, 0.0]]], dtype=np.float32)
    subtract_superbias(sci, pdq, bias, bdq, zframe=zf)
    expected = np.array([[900.0, 1000.0], [949.5, 1020.0]], dtype=np.float32)  # 1000-100, 1000-0, ...
    for i in range(2):
        for g in range(3):
            if (i, g) != (1, 2):
                np.testing.assert_array_equal(sci[i, g], expected)
    assert sci[1, 2, 0, 0] == -90.0                      # 10 - 100
    assert sci[1, 2, 1, 1] == 1020.0
    np.testing.assert_array_equal(pdq, [[dq.HOT, dq.DO_NOT_USE], [2**22, 0]])
    # zero-frame: 0 stays 0 (bad data), others have the bias removed: 500-0, 300-50.5
    np.testing.assert_array_equal(zf, [[[0.0, 500.0], [249.5, 0.0]]])


def test_shape_checks():
    with pytest.raises(ValueError, match="bias must be float32"):
        subtract_superbias(np.zeros((1, 1, 2, 2), np.float32), np.zeros((2, 2), np.uint32),
                           np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        prepare_bias(np.zeros((1, 2, 2)))


def test_step():
    meta = ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NGROUPS": 2, "NFRAMES": 1,
                                      "TFRAME": 10.73677, "TGROUP": 10.73677}, {}, "test", shape=(1, 2, 2, 3))
    ref = Reference(reftype="superbias", path="hand", header={},
                    arrays={"SCI": np.array([[1, 2, 3], [4, np.nan, 6]], np.float32),
                            "DQ": np.array([[0, 0, 1], [0, 0, 0]], np.uint32)}, tables={})
    step = get_step_class("superbias")(meta, {"superbias": ref})
    assert step.keyword == "S_SUPERB" and step.reftypes == ("superbias",)
    sci = np.full((1, 2, 2, 3), 10.0, np.float32)
    pdq = np.zeros((2, 3), np.uint32)
    step.process(sci, np.zeros(sci.shape, np.uint8), pdq, slice(0, 1), slice(0, 2))
    np.testing.assert_array_equal(sci[0, 1], [[9, 8, 7], [6, 10, 4]])
    # the NaN bias is subtracted as 0 (as jwst) and flagged (unlike jwst)
    np.testing.assert_array_equal(pdq, [[0, 0, 1], [0, dq.DO_NOT_USE | dq.UNRELIABLE_BIAS, 0]])
