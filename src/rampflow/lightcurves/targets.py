"""Light-curve files of a program, for Snakemake's rule all.

Superseded by :mod:`rampflow.wiring` (``lightcurve_targets``, ``LIGHTCURVE_FILES``,
``TRANSIT_FILES``), which plans every product of the workflow; kept here only until the
callers have moved, then deleted.
"""

from __future__ import annotations

from ..names import detectors_of

__all__ = ["RULE_FILES", "TRANSIT_FILES", "workflow_targets"]

#: files the ``lightcurves`` rule writes per detector ({detector}_<name>)
RULE_FILES = ("whitelight.ecsv", "whitelight.csv", "whitelight.png", "spectroscopic.ecsv",
              "spectroscopic.png", "metrics.csv", "metrics.png")
#: files the ``lightcurve_transit`` rule writes per detector when a transit is configured
TRANSIT_FILES = ("transit.json", "transit.png")


def workflow_targets(lc_dir, steps, stems_fn, transit: bool) -> list[str]:
    """Every light-curve file of a program: ``{lc_dir}/{detector}_{name}`` for each detector of
    ``stems_fn()`` (RULE_FILES, plus TRANSIT_FILES when ``transit``); none without ramp_fit.

    Superseded by ``rampflow.wiring.lightcurve_targets``; to be deleted.
    """
    if "ramp_fit" not in steps:
        return []
    files = RULE_FILES + (TRANSIT_FILES if transit else ())
    return [f"{lc_dir}/{d}_{n}" for d in detectors_of(stems_fn()) for n in files]
