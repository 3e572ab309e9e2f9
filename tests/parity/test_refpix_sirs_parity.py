"""refpix with ``refpix_algorithm='sirs'`` and the simulator's SIRSKERNEL reference, against
jwst 3.0's RefPixStep given the same file (``override_sirskernel``).

Inputs: jwst's own output up to superbias on small simulated full frames, NIRCam NRCA1
(FASTAXIS -1) and NIRISS NIS (FASTAXIS -2: detector columns along DMS rows), with the
reference pixels' DO_NOT_USE cleared as in real CRDS masks (and once as simulated, where jwst
has no top/bottom reference pixel but SIRS still reads every side pixel). SCI is required to
be bit-identical (the kernels and templates are computed with jwst's numpy calls, the pixel
arithmetic in jwst's per-group precision); PIXELDQ and GROUPDQ exactly.
"""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step

from rampflow.dq import DO_NOT_USE, REFERENCE_PIXEL
from rampflow.references import load_reference
from rampflow.steps import get_step_class

PREV = ["group_scale", "dq_init", "saturation", "superbias"]


@pytest.fixture(scope="module")
def niriss_full_case(tmp_path_factory):
    """A NIRISS full frame (2048 x 2048, 4 outputs), 2 integrations of 2 groups."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nis_full")
    return simulate_exposure(out, kind="niriss_soss", detector="NIS", nints=2, ngroups=2, size=[2048, 2048],
                             seed=13)


def _real_mask(model):
    m = model.copy()
    pdq = np.array(m.pixeldq, dtype=np.uint32)
    ref = (pdq & np.uint32(REFERENCE_PIXEL)) != 0
    pdq[ref] &= ~np.uint32(DO_NOT_USE)
    m.pixeldq = pdq
    return m


def _ours(case, model, ints=None, **params):
    """rampflow's RefPixStep with the case's SIRSKERNEL, fed ``ints`` (a list of integration
    slices; default the whole exposure at once)."""
    kernel = load_reference("sirskernel", case.refs["sirskernel"], case.meta)
    step = get_step_class("refpix")(case.meta, {"sirskernel": kernel}, refpix_algorithm="sirs", **params)
    sci = np.array(model.data, dtype=np.float32, copy=True)
    gdq = np.array(model.groupdq, dtype=np.uint8, copy=True)
    pdq = np.array(model.pixeldq, dtype=np.uint32, copy=True)
    for s in ints or [slice(0, sci.shape[0])]:
        chunk = np.ascontiguousarray(sci[s])
        step.process(chunk, gdq[s], pdq, s, slice(0, sci.shape[2]))
        sci[s] = chunk
    return sci, gdq, pdq, step


def _check(case, model, ints=None, **params):
    ours = _ours(case, model, ints, **params)
    theirs = run_jwst_step("refpix", model.copy(), {}, refpix_algorithm="sirs",
                           override_sirskernel=str(case.refs["sirskernel"]), **params)
    assert theirs.meta.cal_step.refpix == "COMPLETE"
    assert_ramp_parity(ours, theirs, rtol=0)
    return ours, theirs


NIRCAM_PARAMS = [
    {},
    {"odd_even_columns": False},
    {"sigreject": 2.0, "gaussmooth": 2.5, "halfwidth": 12},
    {"siglimit": 2.0, "side_gain": 0.5, "side_smoothing_length": 5},   # the last two unused by SIRS
]


@pytest.mark.parametrize("params", NIRCAM_PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_nircam_full_frame(jwst_offline, nircam_case, params):
    assert nircam_case.meta.subarray == "FULL" and "sirskernel" in nircam_case.refs
    model = _real_mask(jwst_stage(nircam_case, PREV))
    ours, theirs = _check(nircam_case, model, **params)
    assert ours[3]._sirs is not None
    median = run_jwst_step("refpix", model.copy(), {}, **params)          # SIRS really differs
    assert not np.array_equal(ours[0], np.asarray(median.data, np.float32))


def test_nircam_as_simulated(jwst_offline, nircam_case):
    """Every reference pixel DO_NOT_USE: no top/bottom correction, SIRS still acts."""
    model = jwst_stage(nircam_case, PREV)
    _, theirs = _check(nircam_case, model)
    assert not np.array_equal(np.asarray(theirs.data), np.asarray(model.data))


def test_niriss_full_frame_in_integration_chunks(jwst_offline, niriss_full_case):
    """Transposed orientation, 2 integrations fed one at a time (the exposure's first group
    is jwst's float32 one, the others float64)."""
    model = _real_mask(jwst_stage(niriss_full_case, PREV))
    _check(niriss_full_case, model, ints=[slice(0, 1), slice(1, 2)])


def test_niriss_without_side_pixels(jwst_offline, niriss_full_case):
    model = _real_mask(jwst_stage(niriss_full_case, PREV))
    ours, _ = _check(niriss_full_case, model, use_side_ref_pixels=False)
    assert ours[3]._sirs is None


@pytest.fixture(scope="module")
def nircam_zeroframe_case(tmp_path_factory):
    """A NIRCam NRCB1 full frame with a ZEROFRAME extension, 2 integrations of 2 groups."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrc_zf")
    return simulate_exposure(out, kind="nircam_image", detector="NRCB1", nints=2, ngroups=2, size=[2048, 2048],
                             seed=14, zeroframe=True)


@pytest.mark.parametrize("algorithm", ["median", "sirs"])
def test_zeroframe_of_a_full_frame(jwst_offline, nircam_zeroframe_case, algorithm):
    """jwst corrects ZEROFRAME after the groups, in its re-used group buffer, which the side
    correction has made float64: no ZEROFRAME plane is worked in float32, for either
    side-pixel algorithm."""
    case = nircam_zeroframe_case
    assert case.meta.zeroframe
    model = _real_mask(jwst_stage(case, PREV))
    kw = {"override_sirskernel": str(case.refs["sirskernel"])} if algorithm == "sirs" else {}
    theirs = run_jwst_step("refpix", model.copy(), {}, refpix_algorithm=algorithm, **kw)
    refs = {}
    if algorithm == "sirs":
        refs["sirskernel"] = load_reference("sirskernel", case.refs["sirskernel"], case.meta)
    step = get_step_class("refpix")(case.meta, refs, refpix_algorithm=algorithm)
    sci = np.array(model.data, dtype=np.float32, copy=True)
    zf = np.array(model.zeroframe, dtype=np.float32, copy=True)
    step.process(sci, None, np.array(model.pixeldq, dtype=np.uint32), slice(0, 2), slice(0, 2048))
    step.process_zeroframe(zf, slice(0, 2), slice(0, 2048))
    np.testing.assert_array_equal(sci, np.asarray(theirs.data, np.float32))
    np.testing.assert_array_equal(zf, np.asarray(theirs.zeroframe, np.float32))
    assert not np.array_equal(zf, np.asarray(model.zeroframe, np.float32))
