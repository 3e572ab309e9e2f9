"""Explicit, uneven read times (jwst's ``meta.exposure.read_times``) outside ramp_fit's own use
of them, as jwst 3.0 (stcal 1.20) treats them:

* jump: JumpStep hands the read times to stcal's ``JumpData`` only after it was built, and
  stcal derives the group time differences and reads per group in its constructor (from a
  ``meta.exposure.read_pattern`` that jwst models do not have), so the two-point difference
  search runs on evenly spaced groups whatever the read times say. Our jump reads the same
  file and flags the same groups; the read times are carried into the jump product.
* rate and rateints: RampFitStep builds them with ``update`` from the ramp model, which
  copies only metadata that has a FITS keyword; ``read_times`` has none, so jwst's products
  carry no read times. Ours neither.

Each assertion compares with the official step on the same file.
"""

import numpy as np
from parity_helpers import jwst_stage, run_jwst_step

from rampflow import dq, io, runner

BEFORE_JUMP = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]
#: frames per group (1, 1, 2, 3, 1, 2): an uneven pattern for the 6-group NIRSpec case
FRAMES = [[1], [2], [3, 4], [5, 6, 7], [8], [9, 10]]


def _uneven(model):
    out = model.copy()
    tf = float(out.meta.exposure.frame_time)
    out.meta.exposure.read_times = [[f * tf for f in g] for g in FRAMES]
    return out


def test_jump_flags_do_not_depend_on_read_times_as_in_jwst(jwst_offline, nirspec_case, tmp_path):
    even = jwst_stage(nirspec_case, BEFORE_JUMP)
    uneven = _uneven(even)
    theirs_even = jwst_stage(nirspec_case, BEFORE_JUMP + ["jump"])
    theirs = run_jwst_step("jump", uneven, nirspec_case.refs)
    np.testing.assert_array_equal(np.asarray(theirs.groupdq), np.asarray(theirs_even.groupdq),
                                  err_msg="jwst's jump flags changed with the read times")
    path = tmp_path / "x_dark_current.fits"
    uneven.save(str(path))
    out = tmp_path / "x_jump.fits"
    refs = {k: str(v) for k, v in nirspec_case.refs.items()}
    runner.run(["jump"], {"ramp": str(path)}, {"jump": str(out)}, overrides=refs, chunk_mb=0.05)
    with io.open_ramp(out) as f:
        _, gdq = f.read()
        carried = [list(g) for g in f.meta.extra["READ_TIMES"]]
    np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq, dtype=np.uint8))
    assert carried == uneven.meta.exposure.read_times
    assert (gdq & dq.JUMP_DET).any()      # teeth: the search did flag jumps


def test_rate_products_carry_read_times_as_jwst(jwst_offline, nirspec_case, tmp_path):
    from stdatamodels.jwst import datamodels

    model = _uneven(jwst_stage(nirspec_case, BEFORE_JUMP + ["jump"]))
    path = tmp_path / "x_jump.fits"
    model.save(str(path))
    rate, rateints = run_jwst_step("ramp_fit", str(path), nirspec_case.refs)
    refs = {k: str(v) for k, v in nirspec_case.refs.items()}
    outs = {s: str(tmp_path / f"x_{s}.fits") for s in ("rate", "rateints")}
    runner.run(["ramp_fit"], {"ramp": str(path)}, outs, overrides=refs)
    for theirs, suffix in ((rate, "rate"), (rateints, "rateints")):
        theirs_path = tmp_path / f"jwst_{suffix}.fits"
        theirs.save(str(theirs_path))
        with datamodels.open(str(theirs_path)) as t, datamodels.open(outs[suffix]) as o:
            want = t.meta.exposure.read_times
            got = o.meta.exposure.read_times
            assert (None if want is None else [list(g) for g in want]) == \
                (None if got is None else [list(g) for g in got]), suffix
            assert not want, f"jwst's {suffix} now carries read times"     # what the docstring states
            assert t.meta.exposure.nframes == o.meta.exposure.nframes      # the keywords do carry over
