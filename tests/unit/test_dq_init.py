"""dq_init: DQ_DEF translation of the mask, DO_NOT_USE into GROUPDQ, user-supplied DQ."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.dq_init import combine_mask, init_dq

# reference-file bits -> pipeline mnemonics (a CRDS MASK's DQ_DEF)
DQ_DEF = Table({"BIT": [0, 1, 2, 3], "VALUE": [1, 2, 4, 8],
                "NAME": ["DO_NOT_USE", "DEAD", "REFERENCE_PIXEL", "HOT"],
                "DESCRIPTION": ["bad", "dead", "ref", "hot"]})


def _meta():
    return ExposureMeta.from_headers({"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NGROUPS": 3, "NFRAMES": 1,
                                      "TFRAME": 10.73677, "TGROUP": 10.73677}, {}, "test", shape=(2, 3, 3, 3))


def _mask_ref():
    raw = np.zeros((3, 3), np.uint32)
    raw[0, 0] = 4        # reference pixel
    raw[0, 1] = 3        # DO_NOT_USE + DEAD
    raw[1, 1] = 8        # hot
    raw[2, 2] = 16       # a bit DQ_DEF does not define: dropped by the translation
    return Reference(reftype="mask", path="hand", header={}, arrays={"DQ": raw}, tables={"DQ_DEF": DQ_DEF})


def test_step_translates_mask_and_flags_groups():
    step = get_step_class("dq_init")(_meta(), {"mask": _mask_ref()})
    assert step.keyword == "S_DQINIT" and step.defaults == {"user_supplied_dq": None}
    gdq = np.zeros((2, 3, 3, 3), np.uint8)
    gdq[1, 2, 2, 0] = dq.JUMP_DET                       # existing flags are kept
    pdq = np.zeros((3, 3), np.uint32)
    pdq[2, 1] = dq.FLAGS["OUTLIER"]
    step.process(np.zeros(gdq.shape, np.float32), gdq, pdq, slice(0, 2), slice(0, 3))
    expected_pdq = np.zeros((3, 3), np.uint32)
    expected_pdq[0, 0] = 2**31                          # REFERENCE_PIXEL
    expected_pdq[0, 1] = 1 + 1024                       # DO_NOT_USE | DEAD
    expected_pdq[1, 1] = 2048                           # HOT
    expected_pdq[2, 1] = 16                             # untouched OUTLIER
    np.testing.assert_array_equal(pdq, expected_pdq)
    expected_gdq = np.zeros_like(gdq)
    expected_gdq[:, :, 0, 1] = 1                        # DO_NOT_USE in every group of every int
    expected_gdq[1, 2, 2, 0] = 4
    np.testing.assert_array_equal(gdq, expected_gdq)


def test_user_supplied_dq(tmp_path):
    user = np.zeros((3, 3), np.int32)
    user[2, 0] = 2048                                   # raw pipeline bits, no DQ_DEF translation
    user[0, 1] = 1
    path = tmp_path / "user_dq.fits"
    fits.PrimaryHDU(user).writeto(path)
    step = get_step_class("dq_init")(_meta(), {"mask": _mask_ref()}, user_supplied_dq=str(path))
    assert step.mask[2, 0] == 2048 and step.mask[0, 1] == 1025 and step.mask[0, 0] == 2**31
    assert combine_mask(np.ones((2, 2)), np.full((2, 2), 4))[1, 1] == 5
    with pytest.raises(ValueError, match="user_dq has shape"):
        combine_mask(np.zeros((3, 3)), np.zeros((2, 3)))


def test_checks():
    with pytest.raises(ValueError, match="gdq must be uint8"):
        init_dq(np.zeros((1, 1, 2, 2), np.uint16), np.zeros((2, 2), np.uint32), np.zeros((2, 2), np.uint32))
    with pytest.raises(KeyError, match="missing reference"):
        get_step_class("dq_init")(_meta(), {})
