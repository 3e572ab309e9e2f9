"""Custom steps rampflow adds to calwebb_detector1 for time-series observers.

* :mod:`rampflow.custom.saturation_thresholds` -- a modified SATURATION reference file
  (scaled thresholds, a fixed level, or a user map) that the saturation step then uses;
* :mod:`rampflow.custom.destripe` -- the ``destripe`` ramp step: group-level 1/f
  destriping along the detector's fast-read lines with a trace / source mask;
* :class:`CustomWiring` -- the file names, extra inputs, parameters and reference overrides
  the custom steps add to the workflow's generic step rules (``workflow/rules/custom.smk``).
"""

from __future__ import annotations

__all__ = ["CustomWiring"]


class CustomWiring:
    """What the custom steps add to the workflow's generic step rules (used by custom.smk).

    config     : the validated workflow config (``custom``, ``step_params``, ``references``)
    out        : the program's results folder (``OUT``)
    ramp_chain : the configured ramp steps in order (``RAMP_CHAIN``)

    Raises ValueError naming the config key when ``custom`` is inconsistent.
    """

    def __init__(self, config: dict, out: str, ramp_chain):
        from .saturation_thresholds import threshold_options

        self.out = str(out)
        self.ramp_chain = list(ramp_chain)
        self.overrides = dict((config.get("references") or {}).get("overrides") or {})
        self._step_params = dict(config.get("step_params") or {})
        custom = config.get("custom") or {}
        self.saturation = custom.get("saturation") or None
        self.saturation_options = None
        if self.saturation:
            self.saturation_options = threshold_options(self.saturation)
            grow = self.saturation.get("n_pix_grow_sat")
            sp_grow = (self._step_params.get("saturation") or {}).get("n_pix_grow_sat")
            if grow is not None and sp_grow is not None and int(grow) != int(sp_grow):
                raise ValueError(
                    "custom.saturation.n_pix_grow_sat and step_params.saturation.n_pix_grow_sat "
                    f"disagree ({grow} vs {sp_grow}); set one of them"
                )
            if "saturation" not in self.ramp_chain:
                raise ValueError("custom.saturation is set but 'saturation' is not in steps")
        self.destripe = "destripe" in self.ramp_chain
        self.user_destripe_mask = (self._step_params.get("destripe") or {}).get("mask_path")

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
        if step == "destripe":
            return [self.destripe_mask()]
        return []

    def step_params(self, step: str):
        """Parameters of ramp step ``step``: ``step_params.<step>`` plus what custom adds
        (saturation: ``custom.saturation.n_pix_grow_sat``; destripe: ``mask_path`` of the
        exposure's mask product, so a callable of the wildcards)."""
        params = dict(self._step_params.get(step) or {})
        if step == "saturation" and self.saturation and self.saturation.get("n_pix_grow_sat") is not None:
            params["n_pix_grow_sat"] = int(self.saturation["n_pix_grow_sat"])
        if step == "destripe":
            base = {k: v for k, v in params.items() if k != "mask_path"}
            return lambda wildcards: {**base, "mask_path": self.destripe_mask(wildcards.stem)}
        return params

    def step_overrides(self, step: str):
        """Reference overrides of ramp step ``step``: the config's, and for saturation with
        custom thresholds the exposure's custom SATURATION reference (a callable of the wildcards)."""
        base = dict(self.overrides)
        if step == "saturation" and self.saturation:
            return lambda wildcards: {**base, "saturation": self.saturation_reference(wildcards.stem)}
        return base
