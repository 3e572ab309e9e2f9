"""linearity parity with jwst: classic correction on the simulated NIRSpec subarray and NIRCam
full-frame cases, and jwst 3.0's read-level correction (INV_COEFFS, NFRAMES > 1) on the
frame-averaged NIRCam case."""

import numpy as np
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step

from rampflow import dq

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix"]


def test_classic(jwst_offline, sim_case):
    model = jwst_stage(sim_case, PREV)
    ours = run_our_step("linearity", model, sim_case.meta, sim_case.refs)
    theirs = jwst_stage(sim_case, PREV + ["linearity"])
    assert theirs.meta.cal_step.linearity == "COMPLETE"
    assert not np.allclose(np.asarray(model.data), np.asarray(theirs.data))
    assert_ramp_parity(ours, theirs)  # bit-identical today; float32 rounding allowed (numba kernel)


def _with_inverse(path, out):
    """The simulated LINEARITY file plus INV_COEFFS: the series inverse of x + c2 x^2 + c3 x^3
    to third order, (0, 1, -c2, 2 c2^2 - c3); NaN coefficients on a few pixels."""
    from astropy.io import fits

    with fits.open(path) as h:
        c = h["COEFFS"].data.astype(np.float64)
        inv = np.zeros_like(c)
        inv[1] = 1.0
        inv[2] = -c[2]
        inv[3] = 2 * c[2] ** 2 - c[3]
        inv[2, 10, 10:13] = np.nan
        h.append(fits.ImageHDU(inv.astype(np.float32), name="INV_COEFFS"))
        h.writeto(out)
    return out


def test_read_level(jwst_offline, nircam_averaged_case, tmp_path):
    case = nircam_averaged_case
    assert case.meta.nframes > 1
    refs = dict(case.refs)
    refs["linearity"] = _with_inverse(case.refs["linearity"], tmp_path / "lin_inv.fits")
    model = jwst_stage(case, PREV)
    ours = run_our_step("linearity", model, case.meta, refs)
    assert ours[3].inv_coeffs is not None
    theirs = run_jwst_step("linearity", model, refs)
    classic = jwst_stage(case, PREV + ["linearity"])
    # the read-level path really differs from the classic one
    assert not np.array_equal(np.asarray(theirs.data), np.asarray(classic.data))
    # the NaN inverse coefficients: NO_LIN_CORR in both, DO_NOT_USE too in ours (a documented
    # difference); everything else bit-identical today, float32 rounding allowed (numba kernel)
    extra = np.zeros(np.shape(theirs.pixeldq), np.uint32)
    extra[10, 10:13] = dq.DO_NOT_USE
    assert np.all(np.asarray(theirs.pixeldq)[10, 10:13] & dq.NO_LIN_CORR)
    assert_ramp_parity(ours, theirs, extra_pixeldq=extra)
