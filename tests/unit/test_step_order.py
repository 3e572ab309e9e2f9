"""calwebb_detector1's order by instrument: the pure functions of rampflow.steps.order, the
config check built on them and the per-exposure chain of the wiring."""

import pytest

from rampflow import config as rfconfig
from rampflow.steps import order
from rampflow.wiring import exposure_chain, stem_family

MIRI_JWST = ["group_scale", "dq_init", "emicorr", "saturation", "ipc", "firstframe", "lastframe", "reset",
             "linearity", "rscd", "dark_current", "refpix", "charge_migration", "jump", "clean_flicker_noise",
             "persistence", "ramp_fit", "gain_scale"]


def test_orders_are_jwst_3_0s():
    assert list(order.DETECTOR1_ORDERS["MIRI"]) == MIRI_JWST
    assert order.ONLY["MIRI"] == ("emicorr", "firstframe", "lastframe", "reset", "rscd")
    assert order.ONLY["NIR"] == ("superbias",)
    assert order.family("MIRI") == order.family("mirimage") == "MIRI"
    assert order.family("NIRSPEC") == order.family("nrs1") == order.family("NIRCAM") == "NIR"


def test_default_steps_leave_out_what_jwst_skips_by_default():
    assert order.default_steps("MIRI") == ["group_scale", "dq_init", "saturation", "ipc", "lastframe", "reset",
                                           "linearity", "rscd", "dark_current", "refpix", "jump", "ramp_fit",
                                           "gain_scale"]
    assert "superbias" in order.default_steps("NIRSPEC") and "reset" not in order.default_steps("NIRSPEC")


@pytest.mark.parametrize("steps, instrument, message", [
    (["dq_init", "superbias", "linearity"], "MIRI", "superbias is not a calwebb_detector1 step for MIRI"),
    (["dq_init", "refpix", "linearity"], "MIRI", "linearity must come before refpix for MIRI"),
    (["dq_init", "linearity", "refpix"], "NIRSPEC", "refpix must come before linearity for NIR"),
    (["dq_init", "rscd"], "NIRCAM", "rscd is not a calwebb_detector1 step for NIR"),
    (["dq_init", "reset", "lastframe"], "MIRI", "lastframe must come before reset"),
])
def test_check_order_names_the_step(steps, instrument, message):
    with pytest.raises(order.StepOrderError, match=message):
        order.check_order(steps, instrument)


def test_list_family():
    assert order.list_family(MIRI_JWST) == "MIRI"
    assert order.list_family(["dq_init", "superbias"]) == "NIR"
    assert order.list_family(["dq_init", "linearity", "refpix"]) == "MIRI"   # only MIRI's order fits
    assert order.list_family(["dq_init", "saturation", "jump", "ramp_fit"]) is None
    with pytest.raises(order.StepOrderError, match="superbias .* and reset"):
        order.list_family(["superbias", "reset"])


def test_exposure_steps_give_each_instrument_its_order():
    nir = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "destripe",
           "jump", "ramp_fit", "gain_scale"]
    assert order.exposure_steps(nir, "NIRSPEC") == nir
    assert order.exposure_steps(nir, "MIRI") == ["group_scale", "dq_init", "saturation", "linearity", "dark_current",
                                                 "refpix", "destripe", "jump", "ramp_fit", "gain_scale"]
    assert order.exposure_steps(MIRI_JWST, "NIRCAM") == [
        "group_scale", "dq_init", "saturation", "ipc", "refpix", "linearity", "dark_current", "charge_migration",
        "jump", "clean_flicker_noise", "persistence", "ramp_fit", "gain_scale"]


def test_wiring_chain_per_exposure():
    cfg = {"steps": ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "lastframe",
                     "jump", "ramp_fit"]}
    assert stem_family("jw01366002001_04103_00001-seg001_mirimage") == "MIRI"
    assert exposure_chain(cfg, "jw01366002001_04103_00001-seg001_mirimage") == [
        "group_scale", "dq_init", "saturation", "lastframe", "linearity", "refpix", "jump"]
    assert exposure_chain(cfg, "jw01366003001_04101_00001-seg001_nrs1") == [
        "group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "jump"]


def _cfg(**kw):
    cfg = {"program": "t", "inputs": {"source": "simulate", "simulate": {"kind": "nirspec_tso"}}, "step_params": {}}
    cfg.update(kw)
    return cfg


def test_config_accepts_miri_order_and_rejects_contradictions():
    cfg = _cfg(inputs={"source": "simulate", "simulate": {"kind": "miri_lrs_tso"}})
    rfconfig.prepare(cfg)
    # jwst's default steps, and clean_flicker_noise (which CRDS parameter files turn on per mode)
    # with skip: null, jwst's rule
    assert cfg["steps"] == order.default_steps("MIRI", with_crds_enabled=True)
    assert [s for s in cfg["steps"] if s not in order.default_steps("MIRI")] == ["clean_flicker_noise"]
    assert cfg["step_params"]["clean_flicker_noise"] == {"skip": None}
    rfconfig.check(cfg)
    cfg["steps"] = ["dq_init", "saturation", "refpix", "linearity", "jump", "ramp_fit"]
    with pytest.raises(rfconfig.ConfigError, match="linearity must come before refpix for MIRI"):
        rfconfig.check(cfg)
    cfg["steps"] = ["dq_init", "superbias", "jump", "ramp_fit"]
    with pytest.raises(rfconfig.ConfigError, match="superbias is not a calwebb_detector1 step for MIRI"):
        rfconfig.check(cfg)
    local = _cfg(inputs={"source": "local"}, steps=list(MIRI_JWST))
    rfconfig.check(local)   # written for MIRI (holds MIRI-only steps): checked against MIRI's order
    local["steps"] = ["dq_init", "reset", "superbias", "ramp_fit"]
    with pytest.raises(rfconfig.ConfigError, match="cannot be in one list"):
        rfconfig.check(local)
    nir = _cfg(steps=["dq_init", "lastframe", "ramp_fit"])
    with pytest.raises(rfconfig.ConfigError, match="lastframe is not a calwebb_detector1 step for NIR"):
        rfconfig.check(nir)
    assert rfconfig.program_family(_cfg(inputs={"source": "mast", "mast": {"instrument_name": "MIRI/SLITLESS"}})) \
        == "MIRI"


JWST_NIR = ["group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity", "dark_current", "jump",
            "ramp_fit", "gain_scale"]


@pytest.mark.parametrize("instrument, exp_type", [("NIRSPEC", "NRS_BRIGHTOBJ"), ("NIRISS", "NIS_SOSS"),
                                                  ("NIRCAM", "NRC_TSIMAGE"), ("NIRCAM", "NRC_IMAGE")])
def test_default_steps_are_jwsts_for_modes_it_serves(instrument, exp_type):
    # jwst 3.0's calwebb_detector1 default for the near-infrared family, written out by hand
    assert order.default_steps(instrument, exp_types=[exp_type]) == JWST_NIR == order.default_steps(instrument)
    assert order.default_step_params([exp_type]) == {}


def test_default_steps_add_destripe_before_jump_for_nircam_grism_time_series():
    grism = order.default_steps("NIRCAM", exp_types=["nrc_tsgrism"])
    assert grism == JWST_NIR[:8] + ["destripe"] + JWST_NIR[8:]
    assert order.default_step_params(["NRC_TSGRISM"]) == {"destripe": {"trace_radius": 6, "per_amplifier": False}}
    # a program of grism and imaging exposures: the grism ones' addition; a MIRI list takes none
    assert order.default_steps("NIRCAM", exp_types=["NRC_TSIMAGE", "NRC_TSGRISM"]) == grism
    assert "destripe" not in order.default_steps("MIRI", exp_types=["NRC_TSGRISM"])


def test_config_default_steps_follow_the_simulated_mode_and_an_explicit_list_is_kept():
    grism = _cfg(inputs={"source": "simulate", "simulate": {"kind": "nircam_grism_tso"}},
                 step_params={"destripe": {"trace_radius": 8}})
    rfconfig.prepare(grism)
    assert grism["steps"] == order.default_steps("NIRCAM", with_crds_enabled=True, exp_types=["NRC_TSGRISM"])
    assert grism["steps"].index("destripe") == grism["steps"].index("jump") - 1
    # the mode's parameters under the config's own
    assert grism["step_params"]["destripe"] == {"trace_radius": 8, "per_amplifier": False}
    rfconfig.check(grism)
    chain = exposure_chain(grism, "jw01366004001_03103_00001-seg001_nrcalong")
    assert chain[chain.index("dark_current"):chain.index("jump") + 1] == ["dark_current", "destripe", "jump"]
    for kind in ("niriss_soss", "nircam_imaging_tso", "nirspec_tso"):
        cfg = _cfg(inputs={"source": "simulate", "simulate": {"kind": kind}})
        rfconfig.prepare(cfg)
        assert cfg["steps"] == order.default_steps("NIR", with_crds_enabled=True)
        assert "destripe" not in cfg["step_params"]
    # an explicit list is obeyed as written, jwst's exactly
    mine = _cfg(inputs={"source": "simulate", "simulate": {"kind": "nircam_grism_tso"}}, steps=list(JWST_NIR))
    rfconfig.prepare(mine)
    assert mine["steps"] == JWST_NIR and "destripe" not in mine["step_params"]
    # the workflow logs what the default added, with the parameters the step will get
    assert rfconfig.mode_steps_note(grism) == "; destripe added for NRC_TSGRISM (trace_radius=8, per_amplifier=False)"
    assert rfconfig.mode_steps_note(mine) == ""
    # exposures from MAST or a folder: their EXP_TYPE is not known when the workflow is planned
    assert rfconfig.program_exp_types({"inputs": {"source": "mast", "mast": {"instrument_name": "NIRCAM*"}}}) == ()
