"""A module imported at its first use (private)."""

from __future__ import annotations

import importlib


class LazyModule:
    """Stands for the module ``name``, imported when an attribute is first looked up on it.

    The steps' modules hold their numba kernels this way: a job that only looks at a step's
    class (the workflow's references job: its reference types and parameters) then imports
    neither the kernels nor numba (0.3 s and more of its start-up); a job that runs the step
    imports them at its first kernel call, or earlier on a thread (:mod:`rampflow.runner.warm`).
    """

    __slots__ = ("_lazy_name",)

    def __init__(self, name: str):
        object.__setattr__(self, "_lazy_name", name)

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._lazy_name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name}>"
