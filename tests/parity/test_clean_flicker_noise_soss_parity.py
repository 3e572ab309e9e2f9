"""clean_flicker_noise parity with jwst 3.0's CleanFlickerNoiseStep on a small simulated NIRISS
SOSS exposure (SUBSTRIP96, after jwst's own steps up to jump): the trace mask from the
simulator's PASTASOSS reference (``mask_science_regions``) and the TSO median-image background
(``background_method='median_image'``, with the BKG reference's background and the trace's
box flux), SCI equal bit for bit, DQ exactly.

jwst's inner steps get the case's references as overrides: the draft rate's RampFitStep
(GAIN, READNOISE), the median image's BackgroundStep (BKG) and WhiteLightStep (no
WAVELENGTHRANGE, as in the simulator's CRDS cache).
"""

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, draft_ramp_fit, jwst_stage, run_our_flicker, with_overrides

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]


@pytest.fixture(scope="module")
def soss_case(tmp_path_factory):
    """NIRISS SOSS SUBSTRIP96, 4 integrations of 3 groups, a transit, with its PASTASOSS and BKG references."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_soss_cfn")
    return simulate_exposure(out, kind="niriss_soss", detector="NIS", nints=4, ngroups=3, size=[96, 2048], seed=21)


@pytest.fixture
def jwst_soss_flicker(monkeypatch):
    import jwst.clean_flicker_noise.clean_flicker_noise as cfn
    import jwst.clean_flicker_noise.tso_median_image as tmi
    from jwst.background import BackgroundStep
    from jwst.clean_flicker_noise import CleanFlickerNoiseStep
    from jwst.white_light import WhiteLightStep

    def run(case, model, wavelengthrange="N/A", **params):
        refs = case.refs
        monkeypatch.setattr(cfn, "RampFitStep", draft_ramp_fit(refs))
        monkeypatch.setattr(tmi, "BackgroundStep", with_overrides(BackgroundStep, override_bkg=str(refs["bkg"]),
                                                                  override_wavelengthrange="N/A"))
        monkeypatch.setattr(tmi, "WhiteLightStep", with_overrides(WhiteLightStep,
                                                                  override_wavelengthrange=str(wavelengthrange)))
        return CleanFlickerNoiseStep.call(model, skip=False, override_pastasoss=str(refs["pastasoss"]), **params)

    return run


def ours(case, model, tmp_path, extra_refs=None, **params):
    return run_our_flicker({**case.refs, **(extra_refs or {})}, model, tmp_path, **params)


@pytest.mark.parametrize("params", [
    {"mask_science_regions": True},
    {"background_method": "median_image"},
    {"background_method": "median_image", "mask_science_regions": True, "n_sigma": 1.5},
], ids=["trace-mask", "median-image", "median-image-trace-mask"])
def test_soss_parity(jwst_offline, soss_case, jwst_soss_flicker, tmp_path, params):
    model = jwst_stage(soss_case, PREV)
    theirs = jwst_soss_flicker(soss_case, model, **params)
    assert theirs.meta.cal_step.clean_flicker_noise == "COMPLETE"
    mine = ours(soss_case, model, tmp_path, **params)
    assert not np.array_equal(mine[0], np.asarray(model.data))  # something was cleaned
    assert_ramp_parity(mine, theirs, rtol=0)


def test_soss_median_image_with_a_wavelength_range(jwst_offline, soss_case, jwst_soss_flicker, tmp_path):
    """With a WAVELENGTHRANGE reference (as CRDS has for NIRISS) the white light keeps the
    columns of order 1 whose box wavelength is in its range: jwst and rampflow agree bit for bit,
    and the scaling differs from the all-wavelength one."""
    from stdatamodels.jwst import datamodels

    wr = datamodels.WavelengthrangeModel()
    wr.meta.instrument.name, wr.meta.instrument.detector = "NIRISS", "NIS"
    wr.meta.exposure.type, wr.meta.reftype = "NIS_SOSS", "WAVELENGTHRANGE"
    wr.meta.author, wr.meta.pedigree, wr.meta.useafter = "test", "DUMMY", "2022-01-01T00:00:00"
    wr.meta.description = "order 1 and 2 ranges for the test"
    wr.wavelengthrange = [[1, "CLEAR", 1.2, 2.0], [2, "CLEAR", 0.6, 1.0]]
    wr.waverange_selector = ["CLEAR"]
    wr.order = [1, 2]
    path = tmp_path / "jwst_niriss_wavelengthrange_test.asdf"
    wr.save(str(path))
    model = jwst_stage(soss_case, PREV)
    params = {"background_method": "median_image"}
    theirs = jwst_soss_flicker(soss_case, model, wavelengthrange=str(path), **params)
    assert theirs.meta.cal_step.clean_flicker_noise == "COMPLETE"
    mine = ours(soss_case, model, tmp_path, extra_refs={"wavelengthrange": path}, **params)
    assert_ramp_parity(mine, theirs, rtol=0)
    full = ours(soss_case, model, tmp_path, **params)
    assert not np.array_equal(mine[3].median.norm, full[3].median.norm)


def test_soss_trace_mask_matches_jwst(jwst_offline, soss_case, tmp_path):
    """The mask itself: jwst's mask_soss_traces on the simulator's reference and exposure."""
    import jwst.clean_flicker_noise.clean_flicker_noise as cfn
    from stdatamodels.jwst import datamodels

    from rampflow import io
    from rampflow.references import load_reference
    from rampflow.steps.flicker_mask import soss_trace_mask

    model = jwst_stage(soss_case, PREV)
    with datamodels.PastasossModel(str(soss_case.refs["pastasoss"])) as ref:
        theirs = ~cfn.mask_soss_traces(model, np.ones(model.data.shape[-2:], bool), soss_refmodel=ref)
    with io.open_ramp(soss_case.uncal) as rf:
        meta = rf.meta
    mine = soss_trace_mask(meta, {"pastasoss": load_reference("pastasoss", soss_case.refs["pastasoss"], meta)},
                           model.data.shape[-2:])
    np.testing.assert_array_equal(mine, theirs)
    assert 0.3 < mine.mean() < 0.9  # every row of SUBSTRIP96 near order 1, order 2 at the red end


def test_soss_median_image_through_the_runner(jwst_offline, soss_case, jwst_soss_flicker, tmp_path):
    """Through rampflow.runner.run (draft rateints pass, then chunks of one integration, the
    PASTASOSS and BKG references resolved for NIS_SOSS): the ramp and the saved background (the
    median image), as jwst writes them."""
    from stdatamodels.jwst import datamodels

    from rampflow.runner import run

    model = jwst_stage(soss_case, PREV)
    src = tmp_path / "in_jump.fits"
    model.save(str(src))
    theirs_dir = tmp_path / "jwst"
    theirs_dir.mkdir()
    params = {"background_method": "median_image", "save_background": True}
    theirs = jwst_soss_flicker(soss_case, str(src), output_dir=str(theirs_dir), **params)
    outs = {s: tmp_path / f"ours_{s}.fits" for s in ("clean_flicker_noise", "flicker_bkg")}
    overrides = {rt: str(soss_case.refs[rt]) for rt in ("gain", "readnoise", "pastasoss", "bkg")}
    overrides["wavelengthrange"] = "N/A"
    run(["clean_flicker_noise"], {"ramp": src}, outs, params={"clean_flicker_noise": params}, overrides=overrides,
        use_crds_pars=False, chunk_mb=0.5)
    with datamodels.open(str(outs["clean_flicker_noise"])) as m:
        assert m.meta.cal_step.clean_flicker_noise == "COMPLETE"
        assert_ramp_parity((m.data, m.groupdq, m.pixeldq), theirs, rtol=0)
    with datamodels.open(str(outs["flicker_bkg"])) as m, \
            datamodels.open(str(theirs_dir / "in_flicker_bkg.fits")) as t:
        np.testing.assert_array_equal(np.asarray(m.data, np.float32), np.asarray(t.data, np.float32))
