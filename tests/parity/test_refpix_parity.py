"""refpix parity with jwst's RefPixStep.

Input: jwst's own output up to superbias on the simulated NIRSpec SUB2048 (NRS1, one output,
3 integrations) and NIRCam full-frame (NRCA1, 4 outputs) cases, plus small hand-built
RampModels for geometries the simulations do not cover (NRS2 orientation, a 4-output
NIRCam subarray over 2 integrations processed in integration chunks, NIRSpec's edgeless
SUB32, a subarray without reference pixels, one that does not fit).

SCI is required to be bit-identical (rtol=0): rampflow reproduces numpy's pairwise float32 /
float64 summation, scipy's sigma-clip arithmetic and jwst's per-group working precision, so
no summation-order tolerance is needed. PIXELDQ and GROUPDQ exactly.

The simulator's MASK flags reference pixels REFERENCE_PIXEL | DO_NOT_USE; with that, jwst
excludes every reference pixel and the step changes nothing. Real CRDS masks flag them
REFERENCE_PIXEL only, so the "refmask" tests clear DO_NOT_USE on REFERENCE_PIXEL pixels
of the superbias output before running both implementations (the as-simulated input is
tested too).
"""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step

from rampflow.dq import DO_NOT_USE, REFERENCE_PIXEL
from rampflow.meta import ExposureMeta

PREV = ["group_scale", "dq_init", "saturation", "superbias"]

PARAMS = [
    {},
    {"use_side_ref_pixels": False},
    {"odd_even_columns": False},
    {"side_smoothing_length": 5},
    {"side_smoothing_length": 10},
    {"side_gain": 0.5},
    {"odd_even_rows": False},
    {"siglimit": 2.0},
]


def _real_mask(model):
    """Copy of ``model`` with DO_NOT_USE cleared on REFERENCE_PIXEL pixels (as in real masks)."""
    m = model.copy()
    pdq = np.array(m.pixeldq, dtype=np.uint32)
    ref = (pdq & np.uint32(REFERENCE_PIXEL)) != 0
    pdq[ref] &= ~np.uint32(DO_NOT_USE)
    m.pixeldq = pdq
    return m


def _check(model, meta, **params):
    ours = run_our_step("refpix", model, meta, {}, **params)
    theirs = run_jwst_step("refpix", model.copy(), {}, **params)
    status = "SKIPPED" if ours[3].skipped else "COMPLETE"
    assert theirs.meta.cal_step.refpix == status
    assert_ramp_parity(ours, theirs, rtol=0)
    return ours, theirs


def test_refpix_as_simulated(jwst_offline, sim_case):
    model = jwst_stage(sim_case, PREV)
    _check(model, sim_case.meta)


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_refpix_refmask(jwst_offline, sim_case, params):
    model = _real_mask(jwst_stage(sim_case, PREV))
    ours, theirs = _check(model, sim_case.meta, **params)
    changed = np.asarray(theirs.data) != np.asarray(model.data)
    assert changed.mean() > 0.99                       # the correction really acted


def test_refpix_refmask_chunked(jwst_offline, nirspec_case):
    """The Step fed one integration at a time (chunking='integrations') equals jwst."""
    from rampflow.steps import get_step_class

    model = _real_mask(jwst_stage(nirspec_case, PREV))
    theirs = run_jwst_step("refpix", model.copy(), {})
    step = get_step_class("refpix")(nirspec_case.meta, {})
    sci = np.array(model.data, dtype=np.float32)
    gdq = np.array(model.groupdq, dtype=np.uint8)
    pdq = np.array(model.pixeldq, dtype=np.uint32)
    for i in range(sci.shape[0]):
        part = sci[i:i + 1].copy()
        step.process(part, gdq[i:i + 1], pdq, slice(i, i + 1), slice(0, sci.shape[2]))
        sci[i] = part[0]
    assert_ramp_parity((sci, gdq, pdq), theirs, rtol=0)


# --- hand-built geometries ------------------------------------------------------------------

def _ramp(det, instrument, subarray, xstart, ystart, ny, nx, fast, slow, noutputs, nints=1,
          ngroups=2, seed=0, flag_refs=True):
    from stdatamodels.jwst import datamodels

    from rampflow.steps.refpix import dms_to_detector

    rng = np.random.default_rng(seed)
    data = (rng.normal(0, 6, (nints, ngroups, ny, nx)) + 40).astype(np.float32)
    data[..., ::2, :] += 3.0
    data[..., :, ::3] -= 2.0
    data += (rng.normal(0, 5, (nints, ngroups, 1, 1))).astype(np.float32)
    hits = rng.random((ny, nx)) < 0.002
    data[..., hits] += 3000.0
    full = np.zeros((2048, 2048), np.uint32)
    d = dms_to_detector(full, fast, slow)
    d[:4] = d[-4:] = REFERENCE_PIXEL
    d[:, :4] = d[:, -4:] = REFERENCE_PIXEL
    full = np.pad(full, ((0, 256), (0, 256)))           # room for a subarray that does not fit
    pdq = full[ystart - 1:ystart - 1 + ny, xstart - 1:xstart - 1 + nx].copy()
    if not flag_refs:
        pdq[:] = 0
    pdq[rng.random((ny, nx)) < 0.01] |= DO_NOT_USE
    pdq[rng.random((ny, nx)) < 0.01] |= 2048
    gdq = np.zeros(data.shape, np.uint8)
    gdq[..., rng.random((ny, nx)) < 0.01] = 2
    model = datamodels.RampModel(data=data, pixeldq=pdq, groupdq=gdq)
    hdr = {"INSTRUME": instrument, "DETECTOR": det, "SUBARRAY": subarray, "SUBSTRT1": xstart,
           "SUBSTRT2": ystart, "SUBSIZE1": nx, "SUBSIZE2": ny, "FASTAXIS": fast, "SLOWAXIS": slow,
           "NOUTPUTS": noutputs, "NINTS": nints, "NGROUPS": ngroups,
           "NFRAMES": 1, "TFRAME": 10.73677, "TGROUP": 10.73677}
    m = model.meta
    m.instrument.name, m.instrument.detector = instrument, det
    m.subarray.name, m.subarray.xstart, m.subarray.ystart = subarray, xstart, ystart
    m.subarray.xsize, m.subarray.ysize = nx, ny
    m.subarray.fastaxis, m.subarray.slowaxis = fast, slow
    m.exposure.noutputs = noutputs
    m.exposure.nints, m.exposure.ngroups = nints, ngroups
    m.exposure.zero_frame = False
    return model, ExposureMeta.from_headers(hdr, {}, filename="hand", shape=data.shape)


CASES = {
    "nrs2_sub2048": dict(det="NRS2", instrument="NIRSPEC", subarray="SUB2048", xstart=1, ystart=1055,
                         ny=32, nx=2048, fast=-2, slow=-1, noutputs=1, nints=2, ngroups=3),
    "nrca1_4out_sub": dict(det="NRCA1", instrument="NIRCAM", subarray="SUBGRISM64", xstart=1,
                           ystart=1, ny=64, nx=2048, fast=-1, slow=2, noutputs=4, nints=2, ngroups=3),
    "nrcb1_4out_top": dict(det="NRCB1", instrument="NIRCAM", subarray="SUBGRISM64", xstart=1,
                           ystart=1985, ny=64, nx=2048, fast=1, slow=-2, noutputs=4),
    "nrs1_sub32_edgeless": dict(det="NRS1", instrument="NIRSPEC", subarray="SUB32", xstart=1001,
                                ystart=301, ny=32, nx=32, fast=2, slow=1, noutputs=1, flag_refs=False),
    "nrcb1_sub160_norefs": dict(det="NRCB1", instrument="NIRCAM", subarray="SUB160", xstart=901,
                                ystart=901, ny=160, nx=160, fast=1, slow=-2, noutputs=1),
    "nrca2_corner": dict(det="NRCA2", instrument="NIRCAM", subarray="SUB160", xstart=1,
                         ystart=1889, ny=160, nx=160, fast=1, slow=-2, noutputs=1),
    # columns 1980..2059: beyond the detector -> SKIPPED
    "nis_doesnt_fit": dict(det="NIS", instrument="NIRISS", subarray="SUB80", xstart=1980,
                           ystart=1, ny=80, nx=80, fast=-2, slow=-1, noutputs=1),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("params", [{}, {"odd_even_columns": False, "side_smoothing_length": 4}],
                         ids=["default", "no_oddeven_L4"])
def test_refpix_hand_built(jwst_offline, name, params):
    model, meta = _ramp(**CASES[name])
    ours, theirs = _check(model, meta, **params)
    if name == "nrcb1_sub160_norefs":
        np.testing.assert_array_equal(ours[0], model.data)   # no reference pixels: unchanged
    elif name != "nis_doesnt_fit":
        assert np.mean(ours[0] != model.data) > 0.99


def test_refpix_hand_built_chunked(jwst_offline):
    """4-output subarray with side pixels, 2 integrations, fed one integration at a time: the
    float32 first group / float64 later groups of jwst must follow the absolute index."""
    from rampflow.steps import get_step_class

    model, meta = _ramp(**CASES["nrca1_4out_sub"])
    theirs = run_jwst_step("refpix", model.copy(), {})
    step = get_step_class("refpix")(meta, {})
    sci = np.array(model.data, dtype=np.float32)
    gdq = np.array(model.groupdq, dtype=np.uint8)
    pdq = np.array(model.pixeldq, dtype=np.uint32)
    for i in range(sci.shape[0]):
        part = sci[i:i + 1].copy()
        step.process(part, gdq[i:i + 1], pdq, slice(i, i + 1), slice(0, sci.shape[2]))
        sci[i] = part[0]
    assert_ramp_parity((sci, gdq, pdq), theirs, rtol=0)


@pytest.mark.parametrize("params", [
    {"refpix_algorithm": "sirs"},
    {"refpix_algorithm": "sirs", "side_smoothing_length": 7, "side_gain": 0.8, "odd_even_rows": False},
    {"refpix_algorithm": "sirs", "use_side_ref_pixels": False},
])
def test_refpix_sirs_without_kernel_full_frame(jwst_offline, nircam_case, params):
    """jwst 3.0 with refpix_algorithm='sirs' on a full frame and no SIRSKERNEL (N/A): its
    running-median fallback; rampflow's matches bit for bit."""
    model = _real_mask(jwst_stage(nircam_case, PREV))
    ours, theirs = _check(model, nircam_case.meta, **params)
    assert ours[3].sirs_fallback
    assert not np.array_equal(ours[0], np.asarray(model.data))
