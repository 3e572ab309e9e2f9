"""Config validation: the schema (as Snakemake applies it) and rampflow's own checks."""

from pathlib import Path

import pytest
import yaml

from rampflow import config as rfconfig

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _validate(cfg):
    from snakemake.utils import validate

    validate(cfg, str(SCHEMA))
    return cfg


def _default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_validates_and_gets_defaults():
    cfg = _validate(_default())
    assert cfg["references"]["overrides"] == {}
    assert cfg["compute"]["threads"] >= 1
    rfconfig.check(cfg)


def test_unknown_step_is_named():
    cfg = _default()
    cfg["steps"] = ["dq_init", "saturaton"]
    with pytest.raises(Exception, match="saturaton"):
        _validate(cfg)
    with pytest.raises(rfconfig.ConfigError, match=r"steps\[1\].*saturaton"):
        rfconfig.check(cfg)


def test_unknown_top_level_key_rejected():
    cfg = _default()
    cfg["stepz"] = []
    with pytest.raises(Exception, match="stepz"):
        _validate(cfg)


def test_step_order_enforced():
    cfg = _validate(_default())
    cfg["steps"] = ["dq_init", "superbias", "saturation"]
    with pytest.raises(rfconfig.ConfigError, match="calwebb_detector1 order"):
        rfconfig.check(cfg)
    cfg["steps"] = ["dq_init", "ramp_fit", "saturation"]
    with pytest.raises(rfconfig.ConfigError, match="ramp_fit"):
        rfconfig.check(cfg)
    cfg["steps"] = ["dq_init", "destripe", "refpix"]
    with pytest.raises(rfconfig.ConfigError, match="destripe must come after refpix"):
        rfconfig.check(cfg)


def test_unknown_step_parameter_is_named():
    cfg = _validate(_default())
    cfg["step_params"] = {"saturation": {"n_pix_grow": 2}}
    with pytest.raises(rfconfig.ConfigError, match=r"step_params.saturation.n_pix_grow"):
        rfconfig.check(cfg)


def test_crds_env_for_simulated_program(tmp_path):
    cfg = _validate(_default())
    env = rfconfig.crds_env(cfg, tmp_path)
    assert env["CRDS_MODE"] == "local"
    assert env["CRDS_PATH"] == str(tmp_path / "results" / "demo-tso" / "crds")


def test_schema_step_names_are_the_registry_s():
    from rampflow.steps import step_names

    schema = yaml.safe_load(SCHEMA.read_text())["properties"]
    assert set(schema["steps"]["items"]["enum"]) == set(step_names())
    assert set(schema["step_params"]["propertyNames"]["enum"]) == set(step_names())
    from rampflow.steps import get_step_class

    # calwebb_detector1 as jwst runs a near-infrared exposure: the official steps of its order
    # whose jwst spec does not skip them (a MIRI program's default is filled by prepare)
    from rampflow.steps.order import DETECTOR1_ORDERS

    runs = {s for s in DETECTOR1_ORDERS["NIR"] if not get_step_class(s).skip_default}
    assert set(schema["steps"]["default"]) == runs


def test_schema_override_types_are_every_reference_a_step_reads():
    """Every reference type a step asks for (always or for some parameters) may be overridden in
    the config; a type missing from the schema made a run with the simulator's overrides fail."""
    from rampflow.references import KNOWN_REFTYPES
    from rampflow.steps import get_step_class, step_names

    read = set()
    for name in step_names():
        cls = get_step_class(name)
        read |= set(cls.reftypes) | set(getattr(cls, "optional_reftypes", ()))
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]
    enum = schema["references"]["properties"]["overrides"]["propertyNames"]["anyOf"][0]["enum"]
    assert read <= set(enum), sorted(read - set(enum))
    assert set(enum) == set(KNOWN_REFTYPES)


def test_registry_kinds_drive_the_order_checks():
    cfg = _validate(_default())
    cfg["steps"] = ["dq_init", "gain_scale"]
    with pytest.raises(rfconfig.ConfigError, match="gain_scale needs ramp_fit"):
        rfconfig.check(cfg)
    cfg["steps"] = ["dq_init", "gain_scale", "ramp_fit"]
    with pytest.raises(rfconfig.ConfigError, match="order"):
        rfconfig.check(cfg)
    assert rfconfig.ramp_steps(["dq_init", "destripe", "jump", "ramp_fit"]) == ["dq_init", "destripe", "jump"]
    assert rfconfig.RATE_STEPS == ("ramp_fit", "gain_scale") and "destripe" in rfconfig.CUSTOM_RAMP_STEPS


def test_defaults_applied_lists_what_the_schema_filled():
    given = {"program": "p", "inputs": {"source": "local", "uncal_dir": "u"},
             "steps": ["dq_init", "ramp_fit"], "qa": {"diagnostics": False}}
    rfconfig.prepare(given)
    assert given["qa"]["diagnostics"] == {"enabled": False}
    cfg = _validate(yaml.safe_load(yaml.safe_dump(given)))
    applied = rfconfig.defaults_applied(given, cfg)
    for key in ("results", "step_params", "compute.fuse", "compute.chunk_mb", "lightcurves.transit",
                "references.overrides", "qa.diagnostics.sample_points", "custom"):
        assert key in applied, key
    for key in ("program", "inputs.source", "inputs.uncal_dir", "steps", "qa.diagnostics.enabled"):
        assert key not in applied, key
    assert rfconfig.defaults_applied(cfg, cfg) == []


def test_a_program_config_gets_no_demo_settings():
    cfg = _validate({"program": "p", "inputs": {"source": "local"}})
    assert cfg["step_params"] == {} and cfg["lightcurves"]["transit"] is None
    assert "destripe" not in cfg["steps"] and cfg["inputs"]["simulate"].get("transit_t0") is None
