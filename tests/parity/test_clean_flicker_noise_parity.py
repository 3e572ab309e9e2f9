"""clean_flicker_noise parity with jwst 3.0's CleanFlickerNoiseStep on simulated NIRSpec BOTS and
NIRCam imaging ramps (after jwst's own steps up to jump): SCI to float32 rounding, DQ exactly,
for the median and fft fits and the background methods; and the runner's two passes (draft
rate, then chunks of integrations) with the optional mask / background / noise products
against jwst's saved ones.

jwst's draft rate comes from a ``RampFitStep()`` it builds inside the step, which asks CRDS for
GAIN and READNOISE; here that class is given the simulation's references as overrides.
"""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, draft_ramp_fit, jwst_stage, run_our_flicker, run_our_step

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]


@pytest.fixture
def jwst_flicker(monkeypatch):
    """Run jwst's CleanFlickerNoiseStep (skip=False) with the case's references for its draft rate."""
    import jwst.clean_flicker_noise.clean_flicker_noise as cfn
    from jwst.clean_flicker_noise import CleanFlickerNoiseStep

    def run(case, model, **params):
        monkeypatch.setattr(cfn, "RampFitStep", draft_ramp_fit(case.refs))
        return CleanFlickerNoiseStep.call(model, skip=False, **params)

    return run


def ours(case, model, tmp_path, **params):
    """Our step on jwst's ramp (saved to a file: the draft rate is a pass over a file)."""
    return run_our_flicker(case.refs, model, tmp_path, **params)


@pytest.fixture(scope="session")
def nirspec_small_case(tmp_path_factory):
    """A NIRSpec BOTS NRS2 exposure small enough for the FFT fit (32 x 512, 2 integrations)."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrs_fft")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS2", nints=2, ngroups=3, size=[32, 512], seed=5)


@pytest.mark.parametrize("params", [
    {},
    {"single_mask": False},
    {"background_method": None, "n_sigma": 1.5},
    {"background_method": "model", "fit_histogram": True},
], ids=["default", "per-integration-mask", "no-background", "model-background"])
def test_nirspec_bots_median(jwst_offline, nirspec_case, jwst_flicker, tmp_path, params):
    model = jwst_stage(nirspec_case, PREV)
    theirs = jwst_flicker(nirspec_case, model, **params)
    assert theirs.meta.cal_step.clean_flicker_noise == "COMPLETE"
    mine = ours(nirspec_case, model, tmp_path, **params)
    assert not np.array_equal(mine[0], np.asarray(model.data))  # something was cleaned
    assert_ramp_parity(mine, theirs, rtol=1e-6)


def test_nirspec_bots_fft(jwst_offline, nirspec_small_case, jwst_flicker, tmp_path):
    model = jwst_stage(nirspec_small_case, PREV)
    theirs = jwst_flicker(nirspec_small_case, model, fit_method="fft")
    assert theirs.meta.cal_step.clean_flicker_noise == "COMPLETE"
    mine = ours(nirspec_small_case, model, tmp_path, fit_method="fft")
    assert not np.array_equal(mine[0], np.asarray(model.data))
    assert_ramp_parity(mine, theirs, rtol=1e-6)


@pytest.mark.parametrize("params", [{}, {"fit_by_channel": True}], ids=["median", "by-channel"])
def test_nircam_full_frame_median(jwst_offline, nircam_case, jwst_flicker, tmp_path, params):
    model = jwst_stage(nircam_case, PREV)
    theirs = jwst_flicker(nircam_case, model, **params)
    mine = ours(nircam_case, model, tmp_path, **params)
    assert_ramp_parity(mine, theirs, rtol=1e-6)


def test_fft_refused_for_nircam_as_jwst(jwst_offline, nircam_case, jwst_flicker, tmp_path):
    model = jwst_stage(nircam_case, PREV)
    theirs = jwst_flicker(nircam_case, model, fit_method="fft")
    assert theirs.meta.cal_step.clean_flicker_noise == "FAILED"
    sci, _, _, step = run_our_step("clean_flicker_noise", model, nircam_case.meta, nircam_case.refs,
                                   fit_method="fft")
    assert step.skipped and step.failed
    np.testing.assert_array_equal(sci, np.asarray(theirs.data))


def test_runner_products_match_jwst_saved_ones(jwst_offline, nirspec_case, jwst_flicker, tmp_path):
    """Through rampflow.runner.run (draft-rate pass, then chunks of one integration): the ramp
    and the optional mask, background and noise products, as jwst writes them."""
    from stdatamodels.jwst import datamodels

    from rampflow.runner import run

    model = jwst_stage(nirspec_case, PREV)
    src = tmp_path / "in_jump.fits"
    model.save(str(src))
    theirs_dir = tmp_path / "jwst"
    theirs_dir.mkdir()
    theirs = jwst_flicker(nirspec_case, str(src), save_mask=True, save_background=True, save_noise=True,
                          output_dir=str(theirs_dir))
    outs = {s: tmp_path / f"ours_{s}.fits" for s in ("clean_flicker_noise", "mask", "flicker_bkg", "flicker_noise")}
    overrides = {rt: str(nirspec_case.refs[rt]) for rt in ("gain", "readnoise")}
    run(["clean_flicker_noise"], {"ramp": src}, outs, overrides=overrides, use_crds_pars=False, chunk_mb=0.01)
    with datamodels.open(str(outs["clean_flicker_noise"])) as m:
        assert m.meta.cal_step.clean_flicker_noise == "COMPLETE"
        assert_ramp_parity((m.data, m.groupdq, m.pixeldq), theirs, rtol=1e-6)
    for suffix, name in (("mask", "in_mask.fits"), ("flicker_bkg", "in_flicker_bkg.fits"),
                         ("flicker_noise", "in_flicker_noise.fits")):
        with datamodels.open(str(outs[suffix])) as m, datamodels.open(str(theirs_dir / name)) as t:
            np.testing.assert_allclose(np.asarray(m.data, np.float32), np.asarray(t.data, np.float32), rtol=1e-6,
                                       atol=1e-6 if suffix == "flicker_noise" else 0, err_msg=suffix)
