"""Calibration steps: pure array functions plus a small Step wrapper per module.

``REGISTRY`` maps a step name (= the file suffix and the name used in the config's
``steps:`` list) to its Step class. Step modules register themselves on import.
"""

from __future__ import annotations

import importlib

from .base import REGISTRY, Step  # noqa: F401

#: step name -> module that defines it (imported lazily so numba kernels compile on demand)
MODULES = {
    "group_scale": "rampflow.steps.group_scale",
    "dq_init": "rampflow.steps.dq_init",
    "saturation": "rampflow.steps.saturation",
    "superbias": "rampflow.steps.superbias",
    "refpix": "rampflow.steps.refpix",
    "linearity": "rampflow.steps.linearity",
    "dark_current": "rampflow.steps.dark_current",
    "jump": "rampflow.steps.jump",
    "destripe": "rampflow.custom.destripe",
}


def get_step_class(name: str) -> type[Step]:
    """The Step class for a step name; raises KeyError naming the unknown step."""
    if name not in REGISTRY:
        if name not in MODULES:
            raise KeyError(f"unknown step {name!r}; known ramp steps: {', '.join(MODULES)}")
        importlib.import_module(MODULES[name])
    return REGISTRY[name]
