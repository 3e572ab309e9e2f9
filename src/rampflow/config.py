"""The workflow config: checks beyond the schema, the settings the schema filled, derived values.

Snakemake validates the config against ``workflow/schemas/config.schema.yaml`` before any
job runs, and the schema's defaults fill every key the config leaves out. This module:

* :func:`prepare` expands the config's shorthands before validation (``qa.diagnostics: true``);
* :func:`defaults_applied` lists the keys the schema's defaults filled (logged, and shown on
  the QA page);
* :func:`check` adds the checks a schema cannot express (step order, step kinds, the name,
  type and range of each step parameter against the step's spec, custom saturation
  thresholds) and names the key at fault. Step names,
  kinds, jwst's order and parameter names come from the step registry
  (:mod:`rampflow.steps`), never from lists kept here;
* :func:`crds_env` and :func:`results_dir` derive the CRDS environment and the output folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import steps as rfsteps
from .custom.saturation_thresholds import threshold_options
from .steps import order as rforder

log = logging.getLogger(__name__)

__all__ = ["ConfigError", "prepare", "defaults_applied", "check", "check_custom", "step_defaults", "step_kind",
           "ramp_steps", "rate_steps", "crds_env", "results_dir"]


class ConfigError(ValueError):
    """The config is inconsistent; the message names the key."""


# --------------------------------------------------------------------------- the step registry

def step_defaults(name: str) -> dict:
    """jwst parameter names and defaults of step ``name`` (KeyError for an unknown step)."""
    return dict(rfsteps.get_step_class(name).defaults)


def step_kind(name: str) -> str:
    """``"ramp"`` (ramp -> ramp) or ``"rate"`` (makes or acts on rate products)."""
    return rfsteps.get_step_class(name).kind


def ramp_steps(steps) -> list[str]:
    """The ramp steps of ``steps``, in order."""
    return [s for s in steps if step_kind(s) == "ramp"]


def rate_steps(steps) -> list[str]:
    """The rate steps of ``steps`` (ramp_fit, gain_scale), in order."""
    return [s for s in steps if step_kind(s) == "rate"]


def __getattr__(name: str):
    """Old constants, now read from the registry: RAMP_STEPS (official ramp steps in jwst's
    order), CUSTOM_RAMP_STEPS, RATE_STEPS and ALL_STEPS."""
    if name in ("RAMP_STEPS", "CUSTOM_RAMP_STEPS", "RATE_STEPS", "ALL_STEPS"):
        names = rfsteps.step_names()
        official = [s for s in names if rfsteps.get_step_class(s).official]
        groups = {
            "RAMP_STEPS": [s for s in official if step_kind(s) == "ramp"],
            "CUSTOM_RAMP_STEPS": [s for s in names if s not in official and step_kind(s) == "ramp"],
            "RATE_STEPS": [s for s in names if step_kind(s) == "rate"],
            "ALL_STEPS": list(names),
        }
        return tuple(groups[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- before and after the schema

def prepare(config: dict) -> dict:
    """Expand shorthands before validation, in place: ``qa.diagnostics: true|false`` becomes
    ``{enabled: true|false}`` so that the schema fills the other diagnostics settings."""
    qa = config.get("qa")
    if isinstance(qa, dict) and isinstance(qa.get("diagnostics"), bool):
        qa["diagnostics"] = {"enabled": qa["diagnostics"]}
    fam = program_family(config)
    if "steps" not in config and fam:
        # calwebb_detector1's default steps, plus those jwst skips by default that CRDS parameter
        # files turn on per mode (clean_flicker_noise for NIRSpec BOTS), with skip: null -- jwst's
        # rule: the mode's parameter file decides; plus rampflow's additions for the program's
        # exposure types (destripe before jump for NIRCam grism time series), with their
        # parameters under those the config gives
        exp_types = program_exp_types(config)
        config["steps"] = rforder.default_steps(fam, with_crds_enabled=True, exp_types=exp_types)
        params = config.setdefault("step_params", {}) or {}
        for step in rforder.crds_enabled_steps(fam):
            params.setdefault(step, {})
            if isinstance(params[step], dict):
                params[step].setdefault("skip", None)
        for step, mode_params in rforder.default_step_params(exp_types).items():
            if step in config["steps"] and isinstance(params.get(step, {}), dict):
                params[step] = {**mode_params, **(params.get(step) or {})}
                log.info("steps: default for %s: jwst's calwebb_detector1 list plus %s before %s (parameters %s); "
                         "list steps in the config for jwst's list as it is", ", ".join(exp_types), step,
                         rforder.mode_additions(fam, exp_types)[step], params[step])
        config["step_params"] = params
    return config


def mode_steps_note(config: dict) -> str:
    """What rampflow's default added to jwst's list for the program's exposure types (for the
    log), e.g. ``"; destripe added for NRC_TSGRISM (trace_radius=6, per_amplifier=False)"``,
    or ``""``."""
    exp_types = program_exp_types(config)
    params = config.get("step_params") or {}
    notes = [f"{step} added for {', '.join(exp_types)} ("
             + ", ".join(f"{k}={v}" for k, v in (params.get(step) or {}).items()) + ")"
             for step in rforder.default_step_params(exp_types) if step in config.get("steps", ())]
    return "".join(f"; {n}" for n in notes)


def program_exp_types(config: dict) -> tuple[str, ...]:
    """The EXP_TYPEs of the program's exposures when the config says (a simulator kind), else
    () -- exposures from MAST or a local folder are known only once fetched; the default
    steps then add nothing for their exposure types."""
    inputs = config.get("inputs") or {}
    if inputs.get("source", "simulate") != "simulate":
        return ()
    from .simulate import kinds

    kind = str((inputs.get("simulate") or {}).get("kind") or "nirspec_tso")
    try:
        return (str(kinds.get(kind).exp_type).upper(),)
    except (KeyError, ValueError):
        return ()  # an unknown kind: the schema names it


def program_family(config: dict) -> str | None:
    """``"MIRI"`` or ``"NIR"`` when the config says which instrument its exposures come from
    (a simulator kind ``miri_*``, or ``inputs.mast.instrument_name``), else None (a local
    folder: each exposure's headers say)."""
    inputs = config.get("inputs") or {}
    source = inputs.get("source", "simulate")
    if source == "simulate":
        kind = str((inputs.get("simulate") or {}).get("kind") or "nirspec_tso")
        return "MIRI" if kind.lower().startswith("miri") else "NIR"
    if source == "mast":
        name = str((inputs.get("mast") or {}).get("instrument_name") or "").split("/")[0]
        return rforder.family(name) if name.strip() else None
    return None


def defaults_applied(given: dict, validated: dict, prefix: str = "") -> list[str]:
    """Dotted keys of ``validated`` that ``given`` (the config after :func:`prepare`, before
    validation) did not set: filled by the schema's defaults, e.g.
    ``["compute.fuse", "lightcurves.mode", ...]``. A whole section the config left out is
    listed by its leaf keys (an empty default as the section itself)."""
    out = []
    for key, value in validated.items():
        path = f"{prefix}{key}"
        if not isinstance(given, dict) or key not in given:
            if isinstance(value, dict) and value:
                out += defaults_applied({}, value, path + ".")
            else:
                out.append(path)
        elif isinstance(value, dict) and isinstance(given[key], dict):
            out += defaults_applied(given[key], value, path + ".")
    return out


# --------------------------------------------------------------------------- checks

def check(config: dict) -> None:
    """Checks beyond the schema. Raises ConfigError naming the key."""
    steps = list(config.get("steps", []))
    _check_steps(steps, program_family(config))
    _check_step_params(config.get("step_params") or {})
    check_custom(config, steps)


def _check_steps(steps: list[str], family: str | None = None) -> None:
    """``family``: the program's instrument family when known ("MIRI" / "NIR"); the list's
    official steps must then follow that family's calwebb_detector1 order, else the order of
    the family the list is written for (:func:`rampflow.steps.order.list_family`)."""
    known = rfsteps.step_names()
    for i, s in enumerate(steps):
        if s not in known:
            raise ConfigError(f"steps[{i}]: unknown step {s!r}; known steps: {', '.join(known)}")
    if len(set(steps)) != len(steps):
        raise ConfigError(f"steps: a step is listed twice: {steps}")
    ramp = ramp_steps(steps)
    rate = rate_steps(steps)
    if steps[: len(ramp)] != ramp:
        raise ConfigError(f"steps: the rate steps ({', '.join(rate)}) must come after all ramp steps")
    order = [s for s in rfsteps.DETECTOR1_ORDER if s in steps]
    if rate and rate != [s for s in order if s in rate]:
        raise ConfigError(f"steps: rate steps must keep calwebb_detector1 order {[s for s in order if s in rate]}")
    if rate and rate[0] != "ramp_fit":
        raise ConfigError(f"steps: {rate[0]} needs ramp_fit before it")
    try:
        rforder.check_order(steps, family or rforder.list_family(steps) or "NIR")
    except rforder.StepOrderError as exc:
        raise ConfigError(str(exc)) from None
    # custom steps work on reference-pixel-corrected ramps
    if "refpix" in ramp:
        for s in ramp[: ramp.index("refpix")]:
            if not rfsteps.get_step_class(s).official:
                raise ConfigError(f"steps: {s} must come after refpix")


def _check_step_params(step_params: dict) -> None:
    known_steps = rfsteps.step_names()
    for name, params in step_params.items():
        if name not in known_steps:
            raise ConfigError(f"step_params.{name}: unknown step {name!r}")
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"step_params.{name}: expected a mapping of parameter names to values, "
                              f"got {params!r}")
        cls = rfsteps.get_step_class(name)
        specs = cls.param_specs
        for key, value in (params or {}).items():
            if key == "skip" and cls.official:
                try:
                    cls.check_params({"skip": value})
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
                continue
            if key not in specs:
                raise ConfigError(f"step_params.{name}.{key}: unknown parameter; {name} takes {sorted(specs)}")
            try:
                specs[key].check(value, f"step_params.{name}.{key}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None


def check_custom(config: dict, steps: list[str]) -> None:
    """``custom.saturation``: one kind of thresholds, one n_pix_grow_sat, the saturation step in ``steps``."""
    saturation = (config.get("custom") or {}).get("saturation")
    if not saturation:
        return
    try:
        threshold_options(saturation)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    grow = saturation.get("n_pix_grow_sat")
    sp_grow = ((config.get("step_params") or {}).get("saturation") or {}).get("n_pix_grow_sat")
    if grow is not None and sp_grow is not None and int(grow) != int(sp_grow):
        raise ConfigError("custom.saturation.n_pix_grow_sat and step_params.saturation.n_pix_grow_sat "
                          f"disagree ({grow} vs {sp_grow}); set one of them")
    if "saturation" not in steps:
        raise ConfigError("custom.saturation is set but 'saturation' is not in steps")


# --------------------------------------------------------------------------- derived values

def crds_env(config: dict, workdir: str | os.PathLike = ".") -> dict:
    """Environment variables the CRDS client needs for this program.

    simulate: the simulator's local cache under results/<program>/crds, local mode.
    otherwise: references.crds_path (or the caller's CRDS_PATH), CRDS_SERVER_URL from the
    environment; local mode when no server is set.
    """
    refs = config.get("references", {}) or {}
    src = config.get("inputs", {}).get("source", "simulate")
    env = {"CRDS_IGNORE_MAPPING_CHECKSUM": "1"}
    if src == "simulate":
        env["CRDS_PATH"] = str(Path(workdir) / results_dir(config) / "crds")
        env["CRDS_MODE"] = "local"
        env["CRDS_SERVER_URL"] = "https://127.0.0.1:9"
        return env
    path = refs.get("crds_path") or os.environ.get("CRDS_PATH")
    if path:
        env["CRDS_PATH"] = str(path)
    if os.environ.get("CRDS_SERVER_URL"):
        env["CRDS_SERVER_URL"] = os.environ["CRDS_SERVER_URL"]
    else:
        env["CRDS_MODE"] = "local"
    return env


def results_dir(config: dict) -> str:
    """``<results>/<program>``: the program's output folder."""
    return str(Path(config.get("results", "results")) / config["program"])
