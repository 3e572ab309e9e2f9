"""The file runner: chunked processing equals whole-cube processing; fused chains equal step by step."""

import numpy as np
import pytest

from rampflow import io, runner

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("runner")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=5, ngroups=5, size=[16, 128],
                             seed=4)


def _arrays(path):
    with io.open_ramp(path) as rf:
        sci, gdq = rf.read()
        return sci, gdq, rf.pixeldq(), rf.primary_header


def test_chunk_size_does_not_change_results(sim, tmp_path):
    refs = {k: str(v) for k, v in sim.refs.items()}
    prev_small = prev_big = str(sim.uncal)
    for step in CHAIN:
        small = tmp_path / f"small_{step}.fits"
        big = tmp_path / f"big_{step}.fits"
        runner.run_step(step, prev_small, small, overrides=refs, chunk_mb=0.05)   # one integration a chunk
        runner.run_step(step, prev_big, big, overrides=refs, chunk_mb=512)       # everything at once
        a, b = _arrays(small), _arrays(big)
        for x, y in zip(a[:3], b[:3]):
            np.testing.assert_array_equal(x, y, err_msg=step)
        prev_small, prev_big = small, big


def test_fused_chain_equals_step_by_step(sim, tmp_path):
    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in CHAIN:
        out = tmp_path / f"single_{step}.fits"
        runner.run_step(step, prev, out, overrides=refs, params={"saturation": {}}.get(step))
        prev = out
    outs = {"saturation": tmp_path / "fused_saturation.fits", "dark_current": tmp_path / "fused_dark_current.fits"}
    runner.run_chain(CHAIN, sim.uncal, outs, overrides=refs, chunk_mb=0.05)
    for step in ("saturation", "dark_current"):
        a, b = _arrays(tmp_path / f"single_{step}.fits"), _arrays(outs[step])
        for x, y in zip(a[:3], b[:3]):
            np.testing.assert_array_equal(x, y, err_msg=step)
        for key in ("S_DQINIT", "S_SATURA", "R_MASK", "R_SATURA"):
            assert a[3][key] == b[3][key]
    assert "S_DARK" not in _arrays(outs["saturation"])[3]
    assert not (tmp_path / "fused_linearity.fits").exists()


def test_chain_refuses_row_steps_and_missing_last(sim, tmp_path):
    with pytest.raises(ValueError, match="last step"):
        runner.run_chain(["dq_init", "saturation"], sim.uncal, {"dq_init": tmp_path / "a.fits"})
    refs = {k: str(v) for k, v in sim.refs.items()}
    with pytest.raises(ValueError, match="jump"):
        runner.run_chain(["dq_init", "jump"], sim.uncal, {"jump": tmp_path / "j.fits"}, overrides=refs)
    assert not list(tmp_path.glob("*.fits"))


def test_keywords_computed_while_processing_reach_the_product(sim, tmp_path):
    """jump's PRIMECRS/EXTNCRS are known only after the last chunk; they land in the header."""
    from stdatamodels.jwst import datamodels

    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in CHAIN + ["jump"]:
        out = tmp_path / f"k_{step}.fits"
        runner.run_step(step, prev, out, overrides=refs, chunk_mb=0.2)
        prev = out
    with io.open_ramp(prev) as rf:
        hdr = rf.primary_header
    assert "PRIMECRS" in hdr and "EXTNCRS" in hdr
    assert hdr["S_JUMP"] == "COMPLETE"
    with datamodels.open(str(prev)) as m:
        assert m.meta.exposure.primary_cosmic_rays == pytest.approx(hdr["PRIMECRS"])
        assert m.data.shape == (5, 5, 16, 128)
