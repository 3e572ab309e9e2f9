"""The workflow config: schema validation with defaults, and derived values.

Snakemake validates the config against ``workflow/schemas/config.schema.yaml`` before
any job runs; ``check`` adds the checks a schema cannot express (step order, parameter
names of each step) and names the key at fault.
"""

from __future__ import annotations

import os
from pathlib import Path

#: steps that read and write 4-D ramps, in jwst's calwebb_detector1 order
RAMP_STEPS = ("group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity",
              "dark_current", "jump")
#: custom ramp steps rampflow adds; they may be inserted anywhere after refpix
CUSTOM_RAMP_STEPS = ("destripe",)
#: steps after the ramp: ramp_fit turns ramps into rates, gain_scale acts on rates
RATE_STEPS = ("ramp_fit", "gain_scale")
ALL_STEPS = RAMP_STEPS + CUSTOM_RAMP_STEPS + RATE_STEPS


class ConfigError(ValueError):
    """The config is inconsistent; the message names the key."""


def step_defaults(name: str) -> dict:
    """jwst parameter names and defaults of step ``name``."""
    if name == "ramp_fit":
        from .steps.ramp_fit import DEFAULTS
        return dict(DEFAULTS)
    if name == "gain_scale":
        return {}
    from .steps import get_step_class
    return dict(get_step_class(name).defaults)


def check(config: dict) -> None:
    """Checks beyond the schema. Raises ConfigError naming the key."""
    steps = list(config.get("steps", []))
    for i, s in enumerate(steps):
        if s not in ALL_STEPS:
            raise ConfigError(f"steps[{i}]: unknown step {s!r}; known steps: {', '.join(ALL_STEPS)}")
    if len(set(steps)) != len(steps):
        raise ConfigError(f"steps: a step is listed twice: {steps}")
    ramp = [s for s in steps if s not in RATE_STEPS]
    if steps and any(s in RATE_STEPS for s in ramp):
        raise ConfigError("steps: ramp_fit and gain_scale must come after all ramp steps")
    if "gain_scale" in steps and "ramp_fit" not in steps:
        raise ConfigError("steps: gain_scale needs ramp_fit before it")
    if "ramp_fit" in steps and steps.index("ramp_fit") != len(ramp):
        raise ConfigError("steps: ramp_fit must follow the last ramp step")
    if "destripe" in steps and "refpix" in steps and steps.index("destripe") < steps.index("refpix"):
        raise ConfigError("steps: destripe must come after refpix")
    official = [s for s in ramp if s in RAMP_STEPS]
    order = [s for s in RAMP_STEPS if s in official]
    if official != order:
        raise ConfigError(f"steps: jwst steps must keep calwebb_detector1 order {order}, got {official}")
    for name, params in (config.get("step_params") or {}).items():
        if name not in ALL_STEPS:
            raise ConfigError(f"step_params.{name}: unknown step {name!r}")
        if params is None:
            continue
        try:
            known = step_defaults(name)
        except (ImportError, KeyError):
            continue  # step not built yet: its own wrapper will reject bad names at run time
        for key in params:
            if key not in known:
                raise ConfigError(
                    f"step_params.{name}.{key}: unknown parameter; {name} takes {sorted(known)}"
                )


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
    return str(Path(config.get("results", "results")) / config["program"])
