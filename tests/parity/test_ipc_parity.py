"""ipc parity with jwst's IPCStep: the simulator's 3 x 3 kernel on the NIRSpec subarray and
the NIRCam full frame (after jwst's steps up to saturation), and a per-pixel 4-D kernel with
random weights on the NIRSpec subarray. SCI bit for bit (the same float32 sums in the same
order), DQ unchanged."""

import numpy as np
from parity_helpers import assert_ramp_parity, jwst_stage, run_jwst_step, run_our_step

from rampflow.io import simfiles

PREV = ["group_scale", "dq_init", "saturation"]


def test_ipc_small_kernel(jwst_offline, sim_case):
    model = jwst_stage(sim_case, PREV)
    theirs = run_jwst_step("ipc", model, sim_case.refs)
    assert theirs.meta.cal_step.ipc == "COMPLETE"
    ours = run_our_step("ipc", model, sim_case.meta, sim_case.refs)
    assert not np.array_equal(ours[0], np.asarray(model.data))     # the kernel changed the data
    assert_ramp_parity(ours, theirs, rtol=0)


def test_ipc_per_pixel_kernel(jwst_offline, nirspec_case, tmp_path):
    rng = np.random.default_rng(5)
    k = rng.uniform(-0.01, 0.01, (3, 3, 2048, 2048)).astype(np.float32)
    k[1, 1] += 1.0
    path = simfiles.write_reference(
        tmp_path / "jwst_nirspec_ipc_4d.fits", "ipc", {"SCI": k},
        {"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "DETECTOR": nirspec_case.meta.detector, "REFTYPE": "IPC",
         "AUTHOR": "test", "PEDIGREE": "DUMMY", "USEAFTER": "2020-01-01T00:00:00", "DESCRIP": "per-pixel IPC"})
    del k
    refs = {**nirspec_case.refs, "ipc": path}
    model = jwst_stage(nirspec_case, PREV)
    theirs = run_jwst_step("ipc", model, refs)
    ours = run_our_step("ipc", model, nirspec_case.meta, refs)
    assert_ramp_parity(ours, theirs, rtol=0)
