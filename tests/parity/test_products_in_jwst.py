"""Our files are genuine JWST products: jwst's own steps run on them by path, and the
file-to-file chain (runner + io) agrees with jwst's chain on rate and rateints."""

import numpy as np
import pytest
from parity_helpers import jwst_chain, run_jwst_step

from rampflow import io, runner

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]


@pytest.fixture(scope="module")
def ours(nirspec_case, tmp_path_factory):
    out = tmp_path_factory.mktemp("ours")
    refs = {k: str(v) for k, v in nirspec_case.refs.items()}
    prev = str(nirspec_case.uncal)
    for step in CHAIN:
        nxt = str(out / f"x_{step}.fits")
        runner.run([step], {"ramp": prev}, {step: nxt}, overrides=refs, chunk_mb=1)
        prev = nxt
    runner.run(["ramp_fit"], {"ramp": prev}, {"rate": out / "x_rate.fits", "rateints": out / "x_rateints.fits"},
               overrides=refs, chunk_mb=1)
    return out


def test_jwst_steps_run_on_our_files_by_path(ours, nirspec_case, jwst_offline):
    """jwst's JumpStep reads our dark_current product from disk and flags the same groups."""
    refs = nirspec_case.refs
    theirs = run_jwst_step("jump", str(ours / "x_dark_current.fits"), refs)
    with io.open_ramp(ours / "x_jump.fits") as rf:
        sci, gdq = rf.read()
    np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq))
    rate, rateints = run_jwst_step("ramp_fit", str(ours / "x_jump.fits"), refs)
    mine = io.read_image_product(ours / "x_rate.fits")
    np.testing.assert_allclose(mine["SCI"], rate.data, rtol=1e-4, equal_nan=True)
    np.testing.assert_array_equal(mine["DQ"], rate.dq)


def test_file_chain_matches_jwst_chain(ours, nirspec_case, jwst_offline):
    rate, rateints = jwst_chain(nirspec_case.uncal, nirspec_case.refs, CHAIN + ["ramp_fit"])
    for path, model in ((ours / "x_rate.fits", rate), (ours / "x_rateints.fits", rateints)):
        mine = io.read_image_product(path)
        for ext, attr in (("SCI", "data"), ("ERR", "err"), ("VAR_POISSON", "var_poisson"),
                          ("VAR_RNOISE", "var_rnoise")):
            np.testing.assert_allclose(mine[ext], getattr(model, attr), rtol=1e-4, equal_nan=True,
                                       err_msg=f"{path.name} {ext}")
        np.testing.assert_array_equal(mine["DQ"], model.dq, err_msg=f"{path.name} DQ")
