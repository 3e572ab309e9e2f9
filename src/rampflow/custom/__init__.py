"""Custom steps rampflow adds to calwebb_detector1 for time-series observers.

* :mod:`rampflow.custom.saturation_thresholds` -- a modified SATURATION reference file
  (scaled thresholds, a fixed level, or a user map) that the saturation step then uses;
* :mod:`rampflow.custom.destripe` -- the ``destripe`` ramp step: group-level 1/f
  destriping along the detector's fast-read lines with a trace / source mask;
* :class:`CustomWiring` -- what the custom steps add to a step's job, for callers of the old
  interface; the workflow plans them with :mod:`rampflow.wiring` (``custom_jobs``,
  ``step_params``, ``step_overrides``, ``step_needs``).
"""

from __future__ import annotations

from .. import config as rfconfig
from .. import wiring
from .saturation_thresholds import threshold_options

__all__ = ["CustomWiring"]


class CustomWiring:
    """What the custom steps add to the generic step jobs (a view of :mod:`rampflow.wiring`).

    config     : the workflow config (``custom``, ``step_params``, ``references``)
    out        : the program's results folder
    ramp_chain : the configured ramp steps in order

    Raises ValueError naming the config key when ``custom`` is inconsistent.
    """

    def __init__(self, config: dict, out: str, ramp_chain):
        self.out = str(out)
        self.ramp_chain = list(ramp_chain)
        self._config = {
            "references": {"overrides": dict((config.get("references") or {}).get("overrides") or {})},
            "step_params": dict(config.get("step_params") or {}),
            "custom": dict(config.get("custom") or {}),
        }
        self.saturation = wiring.custom_saturation(self._config)
        self.saturation_options = threshold_options(self.saturation) if self.saturation else None
        rfconfig.check_custom(self._config, self.ramp_chain)
        self.destripe = "destripe" in self.ramp_chain
        self.user_destripe_mask = (self._config["step_params"].get("destripe") or {}).get("mask_path")

    # ---- file names
    def saturation_reference(self, stem: str = "{stem}") -> str:
        """The per-exposure SATURATION reference with custom thresholds."""
        return f"{self.out}/references/{stem}_saturation_custom.fits"

    def destripe_mask(self, stem: str = "{stem}") -> str:
        """The destripe background-mask product of an exposure."""
        return f"{self.out}/stage1/{stem}_destripe_mask.fits"

    def threshold_map(self) -> list[str]:
        """The user's threshold map as an input list (empty without one)."""
        return [str(self.saturation["map"])] if self.saturation and self.saturation.get("map") else []

    # ---- what the generic step rule of ``step`` gets
    def step_inputs(self, step: str) -> list[str]:
        """Extra input files of ramp step ``step`` (a list, maybe empty)."""
        if step == "saturation" and self.saturation:
            return [self.saturation_reference()]
        return [self.destripe_mask() for name in wiring.step_inputs(step) if name == "destripe_mask"]

    def step_params(self, step: str):
        """Parameters of ramp step ``step`` (:func:`rampflow.wiring.step_params`); destripe's
        are a callable of the wildcards adding ``mask_path``, the exposure's mask product."""
        params = wiring.step_params(self._config, step)
        if "destripe_mask" in wiring.step_inputs(step):
            return lambda wildcards: {**params, "mask_path": self.destripe_mask(wildcards.stem)}
        return params

    def step_overrides(self, step: str):
        """Reference overrides of ramp step ``step``: the config's, and for saturation with
        custom thresholds the exposure's custom SATURATION reference (a callable of the wildcards)."""
        base = dict(self._config["references"]["overrides"])
        if step == "saturation" and self.saturation:
            return lambda wildcards: {**base, "saturation": self.saturation_reference(wildcards.stem)}
        return base
