import numpy as np
import pytest
from astropy.table import Table

from rampflow import dq


def test_flags_identical_to_jwst_definitions():
    dqflags = pytest.importorskip("stdatamodels.jwst.datamodels.dqflags")
    assert dq.FLAGS == dqflags.pixel


def test_decode_encode_round_trip_all_bits():
    for bit in range(32):
        names = dq.decode(2**bit)
        assert len(names) == 1
        assert dq.encode(names) == 2**bit
    assert dq.decode(2**31 + 2 + 1) == ["DO_NOT_USE", "SATURATED", "REFERENCE_PIXEL"]
    assert dq.encode("saturated, jump_det") == 6
    with pytest.raises(ValueError, match="NOT_A_FLAG"):
        dq.encode(["NOT_A_FLAG"])
    with pytest.raises(ValueError, match="outside"):
        dq.decode(2**32)


def test_dynamic_mask_translates_through_dq_def():
    # reference file uses bit 1 for DEAD and bit 4 for HOT (not the pipeline's values)
    dq_def = Table({"BIT": [0, 2], "VALUE": [1, 4], "NAME": ["DEAD", "HOT"], "DESCRIPTION": ["", ""]})
    ref = np.array([[0, 1], [4, 5]], dtype=np.uint32)
    out = dq.dynamic_mask(ref, dq_def)
    assert out.tolist() == [[0, 1024], [2048, 1024 + 2048]]
    np.testing.assert_array_equal(dq.dynamic_mask(ref, None), ref)
