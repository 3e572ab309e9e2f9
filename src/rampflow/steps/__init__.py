"""Calibration steps: pure array functions plus a small Step wrapper per module.

``REGISTRY`` maps a step name (= the product suffix and the name used in the config's
``steps:`` list) to its Step class; ramp steps and the rate steps (ramp_fit, gain_scale)
alike. Step modules register themselves on import; :func:`get_step_class` imports them on
demand (so numba kernels compile only when used).
"""

from __future__ import annotations

import importlib

from .base import REGISTRY, Step  # noqa: F401
from .order import DETECTOR1_ORDERS, ONLY

#: jwst 3.0's calwebb_detector1 order (near-infrared) of the official steps rampflow implements
#: (jwst/pipeline/calwebb_detector1.py: ... dark_current, charge_migration, jump, picture_frame,
#: clean_flicker_noise, persistence, ramp_fit, gain_scale); MIRI's is ``DETECTOR1_ORDERS["MIRI"]``
#: (see :mod:`rampflow.steps.order`)
DETECTOR1_ORDER = DETECTOR1_ORDERS["NIR"]
#: every official step: the near-infrared order, then the MIRI-only steps in MIRI's order
OFFICIAL_STEPS = DETECTOR1_ORDER + ONLY["MIRI"]

#: step name -> module that defines it: the official steps, then rampflow's custom ones
MODULES = {
    "group_scale": "rampflow.steps.group_scale",
    "dq_init": "rampflow.steps.dq_init",
    "emicorr": "rampflow.steps.emicorr",
    "saturation": "rampflow.steps.saturation",
    "ipc": "rampflow.steps.ipc",
    "firstframe": "rampflow.steps.firstframe",
    "lastframe": "rampflow.steps.lastframe",
    "reset": "rampflow.steps.reset",
    "rscd": "rampflow.steps.rscd",
    "superbias": "rampflow.steps.superbias",
    "refpix": "rampflow.steps.refpix",
    "linearity": "rampflow.steps.linearity",
    "dark_current": "rampflow.steps.dark_current",
    "charge_migration": "rampflow.steps.charge_migration",
    "jump": "rampflow.steps.jump",
    "clean_flicker_noise": "rampflow.steps.clean_flicker_noise",
    "persistence": "rampflow.steps.persistence",
    "ramp_fit": "rampflow.steps.ramp_fit",
    "gain_scale": "rampflow.steps.gain_scale",
    "destripe": "rampflow.custom.destripe",
}


def get_step_class(name: str) -> type[Step]:
    """The Step class for a step name; raises KeyError naming the unknown step."""
    if name not in REGISTRY:
        if name not in MODULES:
            raise KeyError(f"unknown step {name!r}; known steps: {', '.join(step_names())}")
        importlib.import_module(MODULES[name])
    return REGISTRY[name]


def step_names() -> tuple[str, ...]:
    """Every registered step: the official ones (:data:`OFFICIAL_STEPS`), then custom ones."""
    custom = tuple(n for n in MODULES if n not in OFFICIAL_STEPS)
    return OFFICIAL_STEPS + custom
