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
