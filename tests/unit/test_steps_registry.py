"""The step registry (contract A) and what is checked against it: the config schema's step
names and parameters, the configs shipped in config/, and parameters stated once per step."""

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from rampflow.steps import DETECTOR1_ORDER, OFFICIAL_STEPS, get_step_class, step_names

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONFIGS = [ROOT / "config" / "config.yaml", *sorted((ROOT / "config").glob("demo_*.yaml")),
           *sorted((ROOT / "config" / "programs").glob("*.yaml"))]


def _schema():
    return yaml.safe_load(SCHEMA.read_text())


def test_registry_has_every_step_with_the_contract_attributes():
    assert DETECTOR1_ORDER == ("group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity",
                               "dark_current", "charge_migration", "jump", "clean_flicker_noise", "persistence",
                               "ramp_fit", "gain_scale")
    assert OFFICIAL_STEPS == DETECTOR1_ORDER + ("emicorr", "firstframe", "lastframe", "reset", "rscd")
    names = step_names()
    assert names[:len(OFFICIAL_STEPS)] == OFFICIAL_STEPS and "destripe" in names
    for name in names:
        cls = get_step_class(name)
        assert cls.name == name
        assert cls.keyword.startswith("S_") and len(cls.keyword) <= 8
        assert all(rt == rt.lower() for rt in cls.reftypes)
        assert isinstance(cls.defaults, dict)
        assert cls.kind in ("ramp", "rate")
        assert cls.official == (name in OFFICIAL_STEPS)
        assert cls.products and isinstance(cls.inputs, tuple)
        assert cls.chunking in ("integrations", "rows", "whole", "products")
    assert get_step_class("ramp_fit").products == ("rate", "rateints", "fitopt", "likely_chisq")
    assert get_step_class("gain_scale").products == ("gain_scale", "gain_scaleints")
    assert get_step_class("destripe").inputs == ("destripe_mask",)
    assert get_step_class("saturation").products == ("saturation",)
    assert {n for n in names if get_step_class(n).kind == "rate"} == {"ramp_fit", "gain_scale"}
    with pytest.raises(KeyError, match="unknown step 'nope'"):
        get_step_class("nope")


def test_schema_step_names_are_the_registry():
    props = _schema()["properties"]
    steps_enum = props["steps"]["items"]["enum"]
    assert set(steps_enum) == set(step_names())
    assert set(props["step_params"]["propertyNames"]["enum"]) == set(step_names())
    # official steps appear in the schema's default list in jwst's order
    default = props["steps"]["default"]
    assert [s for s in default if s in DETECTOR1_ORDER] == [s for s in DETECTOR1_ORDER if s in default]


def test_schema_parameter_properties_match_step_defaults():
    """Where the schema lists a step's parameters, their names (and defaults) are the step's.
    (The schema may leave them open: each Step checks its parameter names at run time.)"""
    sp = _schema()["properties"]["step_params"]
    listed = (sp.get("properties") or {})
    for name, spec in listed.items():
        defaults = get_step_class(name).defaults
        props = (spec or {}).get("properties") or {}
        assert set(props) <= set(defaults), (name, sorted(set(props) - set(defaults)))
        for key, p in props.items():
            if "default" in p:
                assert p["default"] == defaults[key], (name, key)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_use_registered_steps_and_parameters(path):
    cfg = yaml.safe_load(path.read_text()) or {}
    for step in cfg.get("steps") or []:
        get_step_class(step)
    for step, params in (cfg.get("step_params") or {}).items():
        unknown = set(params or {}) - set(get_step_class(step).defaults)
        assert not unknown, (path.name, step, unknown)


def test_parameters_are_stated_once():
    """jump's parameters: one dataclass, from which the Step's defaults come; the kernels take
    them under the same names."""
    from rampflow.kernels.jump import KernelParams
    from rampflow.steps.jump import JUMP_DEFAULTS, JumpParams, JumpStep

    assert JumpStep.defaults == JUMP_DEFAULTS == {f.name: f.default for f in fields(JumpParams)}
    jwst_names = {"rejection_threshold", "three_group_rejection_threshold", "four_group_rejection_threshold",
                  "flag_4_neighbors", "min_jump_to_flag_neighbors", "max_jump_to_flag_neighbors", "only_use_ints"}
    assert jwst_names <= set(KernelParams._fields) and jwst_names <= set(JUMP_DEFAULTS)
    from rampflow.kernels.ramp_fit import FitSetup
    from rampflow.steps.ramp_fit import DEFAULTS

    assert {"firstgroup", "lastgroup", "suppress_one_group", "save_opt"} <= set(FitSetup._fields) & set(DEFAULTS)
