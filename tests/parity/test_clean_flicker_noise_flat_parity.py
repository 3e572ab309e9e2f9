"""clean_flicker_noise with the FLAT reference, against jwst 3.0's CleanFlickerNoiseStep on small
simulated exposures: ``apply_flat_field`` and ``autoparam`` on NIRCam imaging (the simulator's
FLAT has zero and NaN pixels and flagged patches inside the subarrays used), and MIRI imaging's
``mask_science_regions`` (the FLAT flags the area left of the imager NON_SCIENCE |
DO_NOT_USE). SCI to float32 rounding, DQ exactly, the saved scene mask exactly.

jwst's draft rate comes from a ``RampFitStep()`` and, for MIRI's science regions, a
``FlatFieldStep()`` built inside the step; here those classes are given the simulation's
references as overrides (the FLAT step's NIRSpec flats as N/A), and the step itself its FLAT.
"""

import logging

import numpy as np
import pytest
from parity_helpers import assert_ramp_parity, draft_ramp_fit, jwst_stage, run_our_flicker, with_overrides

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]
#: MIRI: a ramp after dq_init is enough input (both sides clean the same groups)
MIRI_PREV = ["group_scale", "dq_init"]


@pytest.fixture
def jwst_flicker(monkeypatch):
    """Run jwst's CleanFlickerNoiseStep (skip=False) with the case's references for its draft
    rate, its flat_field DQ and its own FLAT."""
    import jwst.clean_flicker_noise.clean_flicker_noise as cfn
    from jwst.clean_flicker_noise import CleanFlickerNoiseStep
    from jwst.flatfield import FlatFieldStep

    def run(case, model, **params):
        flat = str(case.refs["flat"])
        monkeypatch.setattr(cfn, "RampFitStep", draft_ramp_fit(case.refs))
        no_parts = dict(override_fflat="N/A", override_sflat="N/A", override_dflat="N/A")
        monkeypatch.setattr(cfn, "FlatFieldStep", with_overrides(FlatFieldStep, override_flat=flat, **no_parts))
        return CleanFlickerNoiseStep.call(model, skip=False, override_flat=flat, **params)

    return run


def ours(case, model, tmp_path, **params):
    """Our step on jwst's ramp, with the references the runner would resolve for it."""
    return run_our_flicker(case.refs, model, tmp_path, **params)


@pytest.fixture(scope="session")
def nircam_sub_case(tmp_path_factory):
    """NIRCam SUB400P (corner of NRCA1), 1 integration of 4 groups, many stars."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrc_flat")
    return simulate_exposure(out, kind="nircam_image", detector="NRCA1", nints=1, ngroups=4, size=[400, 400],
                             seed=31, n_stars=400)


@pytest.fixture(scope="session")
def miri_case(tmp_path_factory):
    """MIRI imaging, a 128 x 512 corner: reference columns, the non-science area, the imager."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_miri_flat")
    return simulate_exposure(out, kind="miri_image", detector="MIRIMAGE", nints=2, ngroups=5, size=[128, 512],
                             seed=32)


@pytest.mark.parametrize("params", [{}, {"background_method": "model"}, {"single_mask": False}],
                         ids=["median", "model", "per-integration"])
def test_apply_flat_field_nircam(jwst_offline, nircam_sub_case, jwst_flicker, tmp_path, params):
    model = jwst_stage(nircam_sub_case, PREV)
    theirs = jwst_flicker(nircam_sub_case, model, apply_flat_field=True, **params)
    assert theirs.meta.cal_step.clean_flicker_noise == "COMPLETE"
    mine = ours(nircam_sub_case, model, tmp_path, apply_flat_field=True, **params)
    assert mine[3].flat is not None
    assert_ramp_parity(mine, theirs, rtol=1e-6)
    # the flat changes the result: without it the cleaning differs
    plain = ours(nircam_sub_case, model, tmp_path, **params)
    assert not np.allclose(plain[0], mine[0], rtol=1e-6, atol=0)


def test_autoparam_nircam(jwst_offline, nircam_sub_case, jwst_flicker, tmp_path, caplog):
    model = jwst_stage(nircam_sub_case, PREV)
    with caplog.at_level(logging.INFO):
        theirs = jwst_flicker(nircam_sub_case, model, autoparam=True)
    chosen = {k: v for k, v in ((line.split(":")[0].strip(), line.split(":", 1)[1].strip())
                                for line in list(caplog.messages) if line.startswith("  ") and ":" in line)
              if k in ("apply_flat_field", "background_method", "fit_by_channel")}
    assert chosen["apply_flat_field"] == "True"
    mine = ours(nircam_sub_case, model, tmp_path, autoparam=True)
    step = mine[3]
    assert {k: str(step.params[k]) for k in chosen} == chosen
    assert step.flat is not None
    assert_ramp_parity(mine, theirs, rtol=1e-6)


@pytest.mark.parametrize("params", [{}, {"single_mask": False}], ids=["one-mask", "per-integration"])
def test_miri_mask_science_regions(jwst_offline, miri_case, jwst_flicker, tmp_path, params):
    from stdatamodels.jwst import datamodels

    from rampflow.simulate.flats import MIRI_NON_SCIENCE_COLUMNS

    model = jwst_stage(miri_case, MIRI_PREV)
    theirs = jwst_flicker(miri_case, model, mask_science_regions=True, save_mask=True,
                          output_dir=str(tmp_path), **params)
    assert theirs.meta.cal_step.clean_flicker_noise == "COMPLETE"
    mine = ours(miri_case, model, tmp_path, mask_science_regions=True, **params)
    assert_ramp_parity(mine, theirs, rtol=1e-6)
    with datamodels.open(str(next(tmp_path.glob("*_mask.fits")))) as m:
        np.testing.assert_array_equal(mine[3].mask, np.asarray(m.data).astype(bool))
    assert not mine[3].mask[..., MIRI_NON_SCIENCE_COLUMNS].any()
    assert mine[3].mask[..., 400:].any()


def test_autoparam_through_the_runner(jwst_offline, nircam_sub_case, jwst_flicker, tmp_path):
    """rampflow.runner.run resolves the FLAT because autoparam asks for it (an override here),
    records it in R_FLAT as jwst does, and writes jwst's ramp."""
    from stdatamodels.jwst import datamodels

    from rampflow.runner import run

    model = jwst_stage(nircam_sub_case, PREV)
    src = tmp_path / "in_jump.fits"
    model.save(str(src))
    theirs = jwst_flicker(nircam_sub_case, str(src), autoparam=True)
    out = tmp_path / "ours_clean_flicker_noise.fits"
    overrides = {rt: str(nircam_sub_case.refs[rt]) for rt in ("gain", "readnoise", "flat")}
    run(["clean_flicker_noise"], {"ramp": src}, {"clean_flicker_noise": out},
        params={"clean_flicker_noise": {"autoparam": True}}, overrides=overrides, use_crds_pars=False,
        chunk_mb=0.5)
    with datamodels.open(str(out)) as m:
        assert m.meta.cal_step.clean_flicker_noise == "COMPLETE"
        assert m.meta.ref_file.flat.name == theirs.meta.ref_file.flat.name == overrides["flat"]
        assert_ramp_parity((m.data, m.groupdq, m.pixeldq), theirs, rtol=1e-6)


def test_autoparam_nircam_full_frame(jwst_offline, nircam_case, jwst_flicker, tmp_path, caplog):
    """On a full frame the channel offsets of the cleaned draft rate enter the decision."""
    model = jwst_stage(nircam_case, PREV)
    with caplog.at_level(logging.INFO):
        theirs = jwst_flicker(nircam_case, model, autoparam=True)
    assert "Auto parameters set for NRC_IMAGE" in caplog.text
    jwst_messages = list(caplog.messages)
    mine = ours(nircam_case, model, tmp_path, autoparam=True)
    for name in ("apply_flat_field", "background_method", "fit_by_channel"):
        assert f"  {name}: {mine[3].params[name]}" in jwst_messages
    assert_ramp_parity(mine, theirs, rtol=1e-6)
