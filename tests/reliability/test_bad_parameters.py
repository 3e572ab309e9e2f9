"""Bad step parameters stop before any job runs, with the key, the value and what is allowed.

Every value under ``step_params`` is checked against its step's spec (jwst's spec language,
stated once per step) by the config check the workflow runs before building its jobs, by
``runner.run`` before it opens a file, and by ``rampflow step --param``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import rampflow
from rampflow import config as rfconfig
from rampflow import runner
from rampflow.cli import main
from rampflow.steps import get_step_class, step_names

# (step, parameter, bad value, words the message must hold: the value as written and what is allowed)
BAD = [
    ("jump", "rejection_threshold", "five", ['"five" is not a number', "a float >= 0", "jwst default 4.0"]),
    ("jump", "rejection_threshold", -1.0, ["-1.0 is out of range", "a float >= 0"]),
    ("jump", "rejection_threshold", None, ["null is not allowed", "a float >= 0"]),
    ("jump", "flag_4_neighbors", "yes", ['"yes" is not true or false', "jwst default true"]),
    ("jump", "minimum_groups", 2.5, ["2.5 is not an integer", "an integer"]),
    ("jump", "maximum_cores", 2, ["2 is not a string", 'quote it: "2"', 'jwst default "1"']),
    ("saturation", "n_pix_grow_sat", 1.5, ["1.5 is not an integer", "an integer >= 0"]),
    ("saturation", "n_pix_grow_sat", -2, ["-2 is out of range", "an integer >= 0"]),
    ("refpix", "refpix_algorithm", "fast", ['"fast" is not one of the options', '"median", "sirs"']),
    ("refpix", "side_gain", [1.0], ["[1.0] is not a number", "a float"]),
    ("dark_current", "average_dark_current", "high", ['"high" is not a number', "a float or null"]),
    ("dq_init", "user_supplied_dq", 5, ["5 is not a string", "a string or null"]),
    ("ramp_fit", "algorithm", "GLS", ['"GLS" is not one of the options', '"OLS_C"', '"LIKELY"']),
    ("ramp_fit", "firstgroup", "2", ['"2" is not an integer', "an integer or null"]),
    ("ramp_fit", "save_opt", "no", ['"no" is not true or false']),
    ("destripe", "mask_method", "stars", ['"stars" is not one of the options', "rampflow default"]),
    ("destripe", "filter_size", 0, ["0 is out of range", "an integer >= 1"]),
]
IDS = [f"{s}.{p}={v!r}" for s, p, v, _ in BAD]


def _config(step, name, value) -> dict:
    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "config.yaml").read_text())
    steps = list(cfg["steps"])
    if step not in steps:  # the custom step goes where it belongs, after dark_current
        steps.insert(steps.index("jump"), step)
    cfg["steps"] = steps
    cfg["step_params"] = {step: {name: value}}
    return cfg


@pytest.mark.parametrize("step,name,value,words", BAD, ids=IDS)
def test_config_check_names_key_value_and_allowed(step, name, value, words):
    with pytest.raises(rfconfig.ConfigError) as err:
        rfconfig.check(_config(step, name, value))
    msg = str(err.value)
    assert msg.startswith(f"step_params.{step}.{name}: "), msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("step,name,value", [
    ("jump", "rejection_threshold", 4),          # an integer is a float, as in jwst
    ("jump", "rejection_threshold", 0.0),        # jwst's min=0 is inclusive
    ("dark_current", "average_dark_current", None),
    ("ramp_fit", "firstgroup", None),
    ("ramp_fit", "maximum_cores", "half"),
    ("refpix", "refpix_algorithm", "sirs"),
    ("destripe", "mask_path", None),
])
def test_config_check_accepts_what_the_spec_allows(step, name, value):
    rfconfig.check(_config(step, name, value))


def test_every_default_satisfies_its_own_spec():
    for step in step_names():
        cls = get_step_class(step)
        assert set(cls.defaults) == set(cls.param_specs)
        cls.check_params(dict(cls.defaults))


def test_runner_refuses_before_opening_anything(tmp_path):
    """runner.run checks the values first: the input does not even exist, and the error is
    about the parameter; nothing is written."""
    out = tmp_path / "x_jump.fits"
    with pytest.raises(ValueError, match=r'step_params\.jump\.rejection_threshold: "five" is not a number'):
        runner.run(["jump"], {"ramp": tmp_path / "missing_uncal.fits"}, {"jump": out},
                   params={"jump": {"rejection_threshold": "five"}})
    assert list(tmp_path.iterdir()) == []


def test_step_command_refuses_with_the_key(uncal_factory, tmp_path, capsys):
    """``rampflow step jump ... --param rejection_threshold=five`` stops with exit code 2 and
    the key, before reading the input; strings typed for string parameters stay strings."""
    path, _ = uncal_factory()
    out = tmp_path / "o_jump.fits"
    code = main(["step", "jump", str(path), str(out), "--param", "rejection_threshold=five",
                 "--override", "readnoise=/nonexistent", "--override", "gain=/nonexistent"])
    err = capsys.readouterr().err
    assert code == 2
    assert 'step_params.jump.rejection_threshold: "five" is not a number; expected a float >= 0' in err
    assert not out.exists() and not list(tmp_path.glob(".*part"))
    code = main(["step", "saturation", str(path), str(out), "--param", "n_pix_grow_sat=-1",
                 "--override", "saturation=/nonexistent"])
    assert code == 2 and "step_params.saturation.n_pix_grow_sat: -1 is out of range" in capsys.readouterr().err


# --------------------------------------------------------------------------- the workflow

def _package_root() -> Path:
    """The checkout whose rampflow package these tests import (its Snakefile and src)."""
    return Path(rampflow.__file__).resolve().parents[2]


@pytest.mark.slow
def test_workflow_stops_before_any_job(tmp_path):
    """snakemake with ``rejection_threshold: "five"`` stops while reading the config: the
    message names the key, no job runs and no product exists."""
    root = _package_root()
    cfg = _config("jump", "rejection_threshold", "five")
    cfg["program"] = "badparams"
    cfg["inputs"]["simulate"].update({"detectors": ["nrs1"], "segments": 1, "nints": 2, "ngroups": 4,
                                       "size": [16, 64], "seed": 1})
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(root / "Snakefile"),
                           "--directory", str(tmp_path), "--cores", "1"],
                          capture_output=True, text=True, env=env, timeout=1200)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-3000:]
    assert 'step_params.jump.rejection_threshold: "five" is not a number' in text, text[-3000:]
    results = tmp_path / "results" / "badparams"
    assert not results.exists() or not any(p.is_file() for p in results.rglob("*.fits")), \
        sorted(str(p) for p in results.rglob("*"))


def _pars_file(path, step_class, parameters) -> str:
    """A CRDS parameter file as stpipe exports one (class, name, parameters)."""
    import asdf

    asdf.AsdfFile({"class": step_class, "name": "x", "parameters": parameters}).write_to(str(path))
    return str(path)


def test_a_bad_value_in_a_crds_parameter_file_stops_before_any_step_job(sim_exposure, tmp_path):
    """A CRDS parameter file is checked against the step's spec too, by the references job that
    runs before any step job: the error names the file, the step's key and the value; no marker
    is written, so no step job starts."""
    from rampflow import prefetch
    from rampflow.steps.params import ParamError

    refs = {rt: str(p) for rt, p in sim_exposure.refs.items()}
    bad = _pars_file(tmp_path / "jwst_nirspec_pars-jumpstep_9999.asdf", "jwst.jump.jump_step.JumpStep",
                     {"rejection_threshold": "five", "flag_4_neighbors": False})
    overrides = {**refs, "pars-jumpstep": bad}
    with pytest.raises(ParamError) as exc:
        prefetch.prefetch([sim_exposure.uncal], ["dq_init", "jump"], overrides=overrides)
    msg = str(exc.value)
    assert bad in msg and "jump.rejection_threshold" in msg and '"five" is not a number' in msg, msg
    ready = tmp_path / "crds" / ".ready"
    assert prefetch.write_ready(ready, [sim_exposure.uncal], ["dq_init", "jump"], overrides=overrides) == 1
    assert not ready.exists() and not list(tmp_path.rglob("*.part"))
    # a config value replaces the file's bad one: then nothing uses it, and the run may go on
    assert prefetch.write_ready(ready, [sim_exposure.uncal], ["dq_init", "jump"], overrides=overrides,
                                step_params={"jump": {"rejection_threshold": 5.0}}) == 0
    ready.unlink()
    # a good file: the marker records it beside the reference files
    good = _pars_file(tmp_path / "good.asdf", "jwst.jump.jump_step.JumpStep", {"rejection_threshold": 5.5})
    assert prefetch.write_ready(ready, [sim_exposure.uncal], ["dq_init", "jump"],
                                overrides={**refs, "pars-jumpstep": good}) == 0
    assert f"pars-jump {good}" in ready.read_text()
