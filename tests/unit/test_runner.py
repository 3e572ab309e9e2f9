"""The file runner (runner.run): chunked processing equals whole-cube processing; fused jobs equal
step by step."""

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
        runner.run([step], {"ramp": prev_small}, {step: small}, overrides=refs, chunk_mb=0.05)  # one int a chunk
        runner.run([step], {"ramp": prev_big}, {step: big}, overrides=refs, chunk_mb=512)       # all at once
        a, b = _arrays(small), _arrays(big)
        for x, y in zip(a[:3], b[:3]):
            np.testing.assert_array_equal(x, y, err_msg=step)
        prev_small, prev_big = small, big


def test_fused_chain_equals_step_by_step(sim, tmp_path):
    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in CHAIN:
        out = tmp_path / f"single_{step}.fits"
        runner.run([step], {"ramp": prev}, {step: out}, overrides=refs,
                   params={"saturation": {}} if step == "saturation" else None)
        prev = out
    outs = {"saturation": tmp_path / "fused_saturation.fits", "dark_current": tmp_path / "fused_dark_current.fits"}
    runner.run(CHAIN, {"ramp": sim.uncal}, outs, overrides=refs, chunk_mb=0.05)
    for step in ("saturation", "dark_current"):
        a, b = _arrays(tmp_path / f"single_{step}.fits"), _arrays(outs[step])
        for x, y in zip(a[:3], b[:3]):
            np.testing.assert_array_equal(x, y, err_msg=step)
        for key in ("S_DQINIT", "S_SATURA", "R_MASK", "R_SATURA"):
            assert a[3][key] == b[3][key]
    assert "S_DARK" not in _arrays(outs["saturation"])[3]
    assert not (tmp_path / "fused_linearity.fits").exists()


def test_job_refuses_missing_last_output_and_foreign_parameters(sim, tmp_path):
    with pytest.raises(ValueError, match="last step"):
        runner.run(["dq_init", "saturation"], {"ramp": sim.uncal}, {"dq_init": tmp_path / "a.fits"})
    with pytest.raises(ValueError, match="unknown steps.*saturation"):
        runner.run(["jump", "ramp_fit"], {"ramp": sim.uncal}, {"rate": tmp_path / "r.fits",
                                                              "rateints": tmp_path / "ri.fits"},
                   params={"saturation": {}})
    with pytest.raises(ValueError, match="not products"):
        runner.run(["dq_init"], {"ramp": sim.uncal}, {"dq_init": tmp_path / "a.fits", "jump": tmp_path / "j.fits"})
    assert not list(tmp_path.glob("*.fits"))


def test_integration_and_row_steps_in_one_job(sim, tmp_path):
    """[dq_init, jump]: two passes; the dq_init product, not asked for, goes to a temporary file
    that is removed; the jump product equals the one of the steps run one by one."""
    refs = {k: str(v) for k, v in sim.refs.items()}
    runner.run(["dq_init"], {"ramp": sim.uncal}, {"dq_init": tmp_path / "s_dq_init.fits"}, overrides=refs)
    runner.run(["jump"], {"ramp": tmp_path / "s_dq_init.fits"}, {"jump": tmp_path / "s_jump.fits"}, overrides=refs)
    out = tmp_path / "fused"
    runner.run(["dq_init", "jump"], {"ramp": sim.uncal}, {"jump": out / "f_jump.fits"}, overrides=refs)
    assert sorted(p.name for p in out.iterdir()) == ["f_jump.fits"]
    a, b = _arrays(tmp_path / "s_jump.fits"), _arrays(out / "f_jump.fits")
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x, y)
    for key in ("S_DQINIT", "S_JUMP", "R_MASK", "PRIMECRS"):
        assert a[3][key] == b[3][key]


def test_keywords_computed_while_processing_reach_the_product(sim, tmp_path):
    """jump's PRIMECRS/EXTNCRS are known only after the last chunk; they land in the header."""
    from stdatamodels.jwst import datamodels

    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in CHAIN + ["jump"]:
        out = tmp_path / f"k_{step}.fits"
        runner.run([step], {"ramp": prev}, {step: out}, overrides=refs, chunk_mb=0.2)
        prev = out
    with io.open_ramp(prev) as rf:
        hdr = rf.primary_header
    assert "PRIMECRS" in hdr and "EXTNCRS" in hdr
    assert hdr["S_JUMP"] == "COMPLETE"
    with datamodels.open(str(prev)) as m:
        assert m.meta.exposure.primary_cosmic_rays == pytest.approx(hdr["PRIMECRS"])
        assert m.data.shape == (5, 5, 16, 128)


def _products(paths):
    from astropy.io import fits

    out = {}
    for p in paths:
        with fits.open(p) as h:
            for hdu in h[1:]:
                if hdu.data is not None and hdu.name != "ASDF" and hdu.is_image:
                    out[(p.name.split("_", 1)[1], hdu.name)] = np.array(hdu.data)
            out[(p.name.split("_", 1)[1], "primary")] = h[0].header.copy()
    return out


@pytest.mark.parametrize("jump_params", [{}, {"rejection_threshold": 3.0, "flag_4_neighbors": False}])
def test_jump_fused_into_ramp_fit_equals_separate_steps(sim, tmp_path, jump_params):
    """jump + ramp_fit on shared row chunks gives the products of jump then ramp_fit, with any
    chunk size, the jump product written or not."""
    from rampflow import dq

    refs = {k: str(v) for k, v in sim.refs.items()}
    dark = tmp_path / "x_dark_current.fits"
    runner.run(CHAIN, {"ramp": sim.uncal}, {"dark_current": dark}, overrides=refs)
    sep = tmp_path / "sep"
    runner.run(["jump"], {"ramp": dark}, {"jump": sep / "s_jump.fits"}, overrides=refs,
               params={"jump": jump_params}, chunk_mb=0.2)
    runner.run(["ramp_fit"], {"ramp": sep / "s_jump.fits"},
               {k: sep / f"s_{k}.fits" for k in ("rate", "rateints", "fitopt")}, overrides=refs, chunk_mb=0.3)
    a = _products([sep / f"s_{n}.fits" for n in ("jump", "rate", "rateints", "fitopt")])
    assert (a[("jump.fits", "GROUPDQ")] & dq.JUMP_DET).any(), "the simulation must have jumps to compare"
    # jump leaves SCI alone (its product's SCI is copied from the input)
    with io.open_ramp(dark) as rf:
        np.testing.assert_array_equal(a[("jump.fits", "SCI")], rf.read()[0])
    for chunk_mb, keep in ((0.2, True), (0.05, False)):
        fus = tmp_path / f"fused_{chunk_mb}"
        names = ("jump", "rate", "rateints", "fitopt") if keep else ("rate", "rateints", "fitopt")
        runner.run(["jump", "ramp_fit"], {"ramp": dark}, {k: fus / f"f_{k}.fits" for k in names}, overrides=refs,
                   chunk_mb=chunk_mb, params={"jump": jump_params})
        assert (fus / "f_jump.fits").exists() == keep
        b = _products([fus / f"f_{n}.fits" for n in names])
        assert set(b) == {k for k in a if keep or k[0] != "jump.fits"}
        for key in b:
            if key[1] == "primary":
                for card in ("S_JUMP", "PRIMECRS", "EXTNCRS", "R_READNO", "R_GAIN", "S_RAMP", "DATAMODL"):
                    if card in a[key]:
                        assert b[key][card] == a[key][card], (key, card)
                assert [h for h in a[key]["HISTORY"] if "rampflow" in h] == \
                       [h for h in b[key]["HISTORY"] if "rampflow" in h]
            else:
                np.testing.assert_array_equal(b[key], a[key], err_msg=str(key))


def test_rate_steps_in_one_job_equal_separate_jobs(sim, tmp_path):
    """[ramp_fit, gain_scale] with only gain_scale's products asked for: rate / rateints go to
    temporary files; the products equal ramp_fit's then gain_scale's jobs."""
    refs = {k: str(v) for k, v in sim.refs.items()}
    dark = tmp_path / "x_dark_current.fits"
    runner.run(CHAIN, {"ramp": sim.uncal}, {"dark_current": dark}, overrides=refs)
    sep = tmp_path / "sep"
    runner.run(["ramp_fit"], {"ramp": dark}, {k: sep / f"s_{k}.fits" for k in ("rate", "rateints")}, overrides=refs)
    runner.run(["gain_scale"], {k: sep / f"s_{k}.fits" for k in ("rate", "rateints")},
               {k: sep / f"s_{k}.fits" for k in ("gain_scale", "gain_scaleints")}, overrides=refs)
    job = tmp_path / "job"
    runner.run(["ramp_fit", "gain_scale"], {"ramp": dark},
               {k: job / f"j_{k}.fits" for k in ("gain_scale", "gain_scaleints")}, overrides=refs)
    assert sorted(p.name for p in job.iterdir()) == ["j_gain_scale.fits", "j_gain_scaleints.fits"]
    a = _products([sep / f"s_{k}.fits" for k in ("gain_scale", "gain_scaleints")])
    b = _products([job / f"j_{k}.fits" for k in ("gain_scale", "gain_scaleints")])
    assert set(a) == set(b)
    for key in a:
        if key[1] == "primary":
            for card in ("S_RAMP", "S_GANSCL", "R_GAIN", "DATAMODL"):
                assert a[key][card] == b[key][card], (key, card)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))


def test_one_pass_from_the_uncal_equals_step_by_step(sim, tmp_path):
    """The whole chain, destripe included, in one runner job: one row pass over the uncal
    (refpix's plane corrections, destripe's mask and column medians from pre-passes), kept
    ramps written from the same pass; every array equals the step-by-step run's, for chunks of
    one row (halo rows recomputed) and of several."""
    from astropy.io import fits

    from rampflow.custom.destripe import write_mask
    from rampflow.io import custom as io_custom
    from rampflow.runner.plan import plan_passes

    chain = CHAIN + ["destripe", "jump", "ramp_fit"]
    assert [p.mode for p in plan_passes(chain, {"ramp": "x"})] == ["rows"]
    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in chain[:-1]:
        inputs = {"ramp": prev}
        if step == "destripe":
            write_mask(prev, tmp_path / "s_mask.fits")
            inputs["destripe_mask"] = str(tmp_path / "s_mask.fits")
        runner.run([step], inputs, {step: tmp_path / f"s_{step}.fits"}, overrides=refs)
        prev = tmp_path / f"s_{step}.fits"
    rates = ("rate", "rateints", "fitopt")
    runner.run(["ramp_fit"], {"ramp": prev}, {k: tmp_path / f"s_{k}.fits" for k in rates}, overrides=refs)
    for chunk_mb in (0.05, 0.2):
        out = tmp_path / f"one_{chunk_mb}"
        outs = {k: out / f"{k}.fits" for k in rates + ("saturation", "refpix", "destripe", "destripe_mask")}
        runner.run(chain, {"ramp": sim.uncal}, outs, overrides=refs, chunk_mb=chunk_mb)
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in outs.values())
        for k in rates:
            with fits.open(tmp_path / f"s_{k}.fits") as a, fits.open(outs[k]) as b:
                exts = [h.name for h in a if h.is_image and h.data is not None and h.name != "ASDF"]
                assert len(exts) >= 4
                for ext in exts:
                    assert np.array_equal(a[ext].data, b[ext].data, equal_nan=True), (chunk_mb, k, ext)
        for step in ("saturation", "refpix", "destripe"):
            a, b = _arrays(tmp_path / f"s_{step}.fits"), _arrays(outs[step])
            for x, y in zip(a[:3], b[:3]):
                assert np.array_equal(x, y, equal_nan=True), (chunk_mb, step)
            for key in ("S_REFPIX", "S_SATURA", "DSTRNBKG"):
                if key in a[3]:
                    assert a[3][key] == b[3][key], (step, key)
        ma, _, ia = io_custom.read_mask_product(tmp_path / "s_mask.fits")
        mb, _, ib = io_custom.read_mask_product(outs["destripe_mask"])
        assert np.array_equal(ma, mb) and np.array_equal(ia, ib, equal_nan=True)


def test_plan_keeps_steps_out_of_the_one_pass_when_a_step_cannot_share_it():
    """A step that cannot share the one pass for this exposure (jump with snowball flagging
    reads its input ramp first; MIRI's refpix corrects whole frames) keeps itself, and the
    steps before it, out of the row pass: they run as the fused layout does."""
    from rampflow.runner.plan import plan_passes

    chain = CHAIN + ["destripe", "jump", "ramp_fit", "gain_scale"]
    one = plan_passes(chain, {"ramp": "x"})
    assert [(p.mode, p.steps) for p in one] == [("rows", chain[:-1]), ("products", ["gain_scale"])]
    split = plan_passes(chain, {"ramp": "x"}, no_join={"jump"})
    assert [(p.mode, p.steps) for p in split] == [("integrations", CHAIN), ("integrations", ["destripe"]),
                                                  ("rows", ["jump", "ramp_fit"]), ("products", ["gain_scale"])]
    assert plan_passes(chain, {"ramp": "x"}, no_join={"ramp_fit"})[:3] == split[:3]
    part = plan_passes(chain, {"ramp": "x"}, no_join={"refpix"})
    assert [(p.mode, p.steps) for p in part][:2] == [("integrations", CHAIN[:5]), ("rows", chain[5:-1])]


def test_one_pass_with_snowball_flagging_equals_step_by_step(sim, tmp_path, caplog):
    """jump with expand_large_events looks at its whole input before its row chunks; in the
    one pass that input is recomputed from the uncal file in a pre-pass (no ramp between the
    steps is written): one row pass, at any chunk size (the row stream carries halo rows).
    Every product equals the step-by-step run's, bit for bit. (min_jump_area 1 on a 16-row frame, all within
    edge_size: every jump is a snowball.)"""
    import logging

    from astropy.io import fits

    from rampflow.custom.destripe import write_mask
    from rampflow.io import custom as io_custom

    chain = CHAIN + ["destripe", "jump", "ramp_fit"]
    params = {"jump": {"expand_large_events": True, "min_sat_area": 1.0, "min_jump_area": 1.0}}
    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in chain[:-1]:
        inputs = {"ramp": prev}
        if step == "destripe":
            write_mask(prev, tmp_path / "s_mask.fits")
            inputs["destripe_mask"] = str(tmp_path / "s_mask.fits")
        runner.run([step], inputs, {step: tmp_path / f"s_{step}.fits"}, overrides=refs,
                   params={k: v for k, v in params.items() if k == step})
        prev = tmp_path / f"s_{step}.fits"
    rates = ("rate", "rateints")
    runner.run(["ramp_fit"], {"ramp": prev}, {k: tmp_path / f"s_{k}.fits" for k in rates}, overrides=refs)
    # 0.3 MB: row chunks of several rows; 0.05 MB: one new row a chunk, the halo rows carried
    # by the row stream: one pass either way, jump's input recomputed in its pre-pass
    for chunk_mb in (0.3, 0.05):
        caplog.clear()
        out = tmp_path / f"one_{chunk_mb}"
        outs = {k: out / f"{k}.fits" for k in rates + ("refpix", "jump", "destripe_mask")}
        with caplog.at_level(logging.INFO, logger="rampflow"):
            runner.run(chain, {"ramp": sim.uncal}, outs, overrides=refs, params=params, chunk_mb=chunk_mb)
        assert "cannot share" not in caplog.text
        assert " + ".join(chain) + " on " in caplog.text  # one pass over the uncal file
        assert "input of a pre-pass" in caplog.text  # jump's, over the uncal file
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in outs.values())
        for k in rates:
            with fits.open(tmp_path / f"s_{k}.fits") as a, fits.open(outs[k]) as b:
                for ext in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
                    assert np.array_equal(a[ext].data, b[ext].data, equal_nan=True), (chunk_mb, k, ext)
        for step in ("refpix", "jump"):
            a, b = _arrays(tmp_path / f"s_{step}.fits"), _arrays(outs[step])
            for x, y in zip(a[:3], b[:3]):
                assert np.array_equal(x, y, equal_nan=True), (chunk_mb, step)
            assert a[3].get("EXTNCRS") == b[3].get("EXTNCRS")
        ma, _, ia = io_custom.read_mask_product(tmp_path / "s_mask.fits")
        mb, _, ib = io_custom.read_mask_product(outs["destripe_mask"])
        assert np.array_equal(ma, mb) and np.array_equal(ia, ib, equal_nan=True)


def test_steps_that_read_their_input_first_cannot_share_the_one_pass():
    """ramp_fit on a MIRI ramp of several groups says why it cannot share the one pass; jump
    with snowballs or showers can."""
    from types import SimpleNamespace

    from rampflow.steps import get_step_class

    jump, fit = get_step_class("jump"), get_step_class("ramp_fit")
    nir = SimpleNamespace(instrument="NIRSPEC", ngroups=5)
    # jump's snowballs and showers recompute its input in a pre-pass: they share it, whatever
    # the chunk size (the row stream carries halo rows)
    assert jump.one_pass_conflict(nir, {"expand_large_events": True}) is None
    assert jump.one_pass_conflict(nir, {"find_showers": True}) is None
    assert jump.one_pass_conflict(nir, {"expand_large_events": False, "find_showers": False}) is None
    assert "MIRI" in fit.one_pass_conflict(SimpleNamespace(instrument="MIRI", ngroups=5), {})
    assert fit.one_pass_conflict(nir, {}) is None


def test_rateints_from_scratch_maps_equal_arrays_in_memory(sim, tmp_path, monkeypatch):
    """A row pass keeps a rate step's rateints in arrays memory-mapped onto unnamed scratch
    files; the products equal those made from ordinary arrays, open as jwst's models, and
    nothing but the products is left in their folder."""
    from stdatamodels.jwst import datamodels

    from rampflow.runner import rate_products
    from rampflow.steps.ramp_fit import RampFit

    refs = {k: str(v) for k, v in sim.refs.items()}
    made = []
    real = rate_products.scratch_array

    def spy(folder):
        new = real(folder)

        def alloc(shape, dtype):
            made.append(new(shape, dtype))
            return made[-1]
        return alloc

    monkeypatch.setattr(rate_products, "scratch_array", spy)
    chain = CHAIN + ["jump", "ramp_fit"]
    mapped = tmp_path / "mapped"
    runner.run(chain, {"ramp": sim.uncal}, {k: mapped / f"m_{k}.fits" for k in ("rate", "rateints")},
               overrides=refs, chunk_mb=0.05)
    assert len(made) == 5 and all(isinstance(a, np.memmap) for a in made)
    assert sorted(p.name for p in mapped.iterdir()) == ["m_rate.fits", "m_rateints.fits"]
    monkeypatch.setattr(rate_products, "scratch_array", lambda folder: RampFit.new_ints_array)
    plain = tmp_path / "plain"
    runner.run(chain, {"ramp": sim.uncal}, {k: plain / f"p_{k}.fits" for k in ("rate", "rateints")},
               overrides=refs, chunk_mb=0.05)
    assert RampFit.new_ints_array is np.empty
    with datamodels.CubeModel(str(mapped / "m_rateints.fits")) as a, \
            datamodels.CubeModel(str(plain / "p_rateints.fits")) as b:
        assert a.data.shape == (5, 16, 128)
        for ext in ("data", "err", "dq", "var_poisson", "var_rnoise"):
            np.testing.assert_array_equal(getattr(a, ext), getattr(b, ext), err_msg=ext)
        assert np.isfinite(a.data[a.dq == 0]).all() and (a.data != 0).any()
