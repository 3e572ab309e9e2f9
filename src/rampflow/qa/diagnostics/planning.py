"""Which diagnostics a workflow builds (kept here for the rule files until they call
:mod:`rampflow.wiring`, where this planning now belongs; to be removed then)."""

from __future__ import annotations


def diagnostic_settings(config: dict) -> dict:
    """Diagnostics settings from the workflow config (``qa.diagnostics``: a bool or a mapping
    with ``enabled`` (true), ``sample_points`` (200000), ``jump_examples`` (9)), plus ``ta``:
    whether the target-acquisition quicklook applies (local inputs, or MAST with include_ta)."""
    cfg = (config.get("qa") or {}).get("diagnostics", True)
    if isinstance(cfg, bool) or cfg is None:
        cfg = {"enabled": bool(cfg) if cfg is not None else True}
    unknown = set(cfg) - {"enabled", "sample_points", "jump_examples"}
    if unknown:
        raise ValueError(f"qa.diagnostics: unknown key(s) {sorted(unknown)}; known: enabled, sample_points, "
                         "jump_examples")
    inputs = config.get("inputs") or {}
    source = inputs.get("source", "simulate")
    ta = source == "local" or (source == "mast" and bool((inputs.get("mast") or {}).get("include_ta")))
    return {"enabled": bool(cfg.get("enabled", True)), "sample_points": int(cfg.get("sample_points", 200000)),
            "jump_examples": int(cfg.get("jump_examples", 9)), "ta": ta}


def diagnostic_names(ramp_chain, produced=None) -> list[str]:
    """Per-exposure diagnostic file names (``{stem}_<name>``) for the configured ramp steps.

    ``produced``: the ramp steps whose products are written (default: all of ``ramp_chain``;
    fewer with ``compute.fuse`` and ``compute.keep``). A diagnostic needing a product that is
    not written is left out.
    """
    chain = list(ramp_chain)
    have = set(chain if produced is None else produced)

    def with_input(step):  # the step's product and the one it read (the uncal file is always there)
        i = chain.index(step)
        return step in have and (i == 0 or chain[i - 1] in have)

    names = []
    if "linearity" in chain and with_input("linearity"):
        names.append("linearity_ratio.png")
    if chain and have >= set(chain):
        names += ["dq_tally.csv", "dq_tally.png"]
    if "saturation" in have:
        names.append("saturation.png")
    if "jump" in have:
        names += ["jump_counts.png", "jump_ramps.png"]
    if "destripe" in chain and with_input("destripe"):
        names.append("destripe.png")
    if "refpix" in chain and with_input("refpix"):
        names.append("refpix.png")
    return names


def diagnostic_targets(settings: dict, ramp_chain, stems, folder: str, produced=None) -> list[str]:
    """Every diagnostic file of a program under ``folder`` (``stems``: the exposure names, or a
    callable returning them, called only when diagnostics are enabled)."""
    if not settings["enabled"]:
        return []
    stems = stems() if callable(stems) else stems
    out = [f"{folder}/{s}_{n}" for s in stems for n in diagnostic_names(ramp_chain, produced)]
    if settings["ta"]:
        out.append(f"{folder}/ta_quicklook.png")
    return out
