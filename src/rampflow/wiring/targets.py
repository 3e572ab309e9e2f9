"""What the workflow builds besides Stage 1: diagnostics, light curves, the QA page, and the
manifest of every product and plot the QA page shows, by report section."""

from __future__ import annotations

from .. import names
from .families import plan_by_family, stem_config
from .jobs import (
    CAPTIONS,
    SECTIONS,
    Job,
    Output,
    custom_jobs,
    custom_saturation,
    final_products,
    ints_product,
    log_path,
    out_dir,
    produced_ramps,
    product,
    ramp_chain,
    ramp_jobs,
    rate_jobs,
    references_ready,
    saturation_reference,
    step_input,
)

#: light-curve files of one detector (``{detector}_<name>``), the lightcurves rule's outputs
LIGHTCURVE_FILES = (
    Output("white_ecsv", "whitelight.ecsv", "lightcurves", "lightcurve", f"{CAPTIONS}/lc_whitelight.rst", False),
    Output("white_csv", "whitelight.csv", "lightcurves", "lightcurve", f"{CAPTIONS}/lc_whitelight.rst", False),
    Output("white_png", "whitelight.png", "lightcurves", "plot", f"{CAPTIONS}/lc_whitelight.rst", True,
           "white light"),
    Output("spec_ecsv", "spectroscopic.ecsv", "lightcurves", "lightcurve", f"{CAPTIONS}/lc_spectroscopic.rst", False),
    Output("spec_png", "spectroscopic.png", "lightcurves", "plot", f"{CAPTIONS}/lc_spectroscopic.rst", True,
           "spectroscopic"),
    Output("metrics_csv", "metrics.csv", "lightcurves", "table", f"{CAPTIONS}/lc_metrics_table.rst", True,
           "metrics table"),
    Output("metrics_png", "metrics.png", "lightcurves", "plot", f"{CAPTIONS}/lc_metrics.rst", True, "metrics"),
    Output("trace_png", "trace.png", "lightcurves", "plot", f"{CAPTIONS}/lc_trace.rst", True, "trace"),
)
#: files of the lightcurve_transit rule, per detector, when a transit window is configured
TRANSIT_FILES = (
    Output("json", "transit.json", "lightcurves", "json", f"{CAPTIONS}/lc_transit.rst", False),
    Output("png", "transit.png", "lightcurves", "plot", f"{CAPTIONS}/lc_transit.rst", True, "transit check"),
)
#: caption of the Stage 1 products listed in the manifest's "exposures" section
PRODUCT_CAPTION = f"{CAPTIONS}/stage1_products.rst"


def _plot(key, name, section, caption, kind="plot", report=True) -> Output:
    return Output(key, name, section, kind, f"{CAPTIONS}/{caption}", report)


# --------------------------------------------------------------------------- diagnostics

def diagnostic_settings(config: dict) -> dict:
    """``qa.diagnostics`` (``enabled``, ``sample_points``, ``jump_examples``; a bool is
    ``{enabled: bool}``), plus ``ta``: whether the target-acquisition quicklook applies (local
    inputs, or MAST with ``include_ta``)."""
    cfg = (config.get("qa") or {}).get("diagnostics", {})
    if isinstance(cfg, bool):
        cfg = {"enabled": cfg}
    inputs = config["inputs"]
    source = inputs["source"]
    ta = source == "local" or (source == "mast" and bool((inputs.get("mast") or {}).get("include_ta")))
    return {"enabled": bool(cfg.get("enabled", True)), "sample_points": cfg.get("sample_points"),
            "jump_examples": cfg.get("jump_examples"), "ta": ta}


def diagnostic_names(config: dict) -> list[str]:
    """Per-exposure diagnostic files (``{stem}_<name>``) of the configured steps, leaving out any
    whose ramp products are not written (``compute.fuse`` with ``keep``)."""
    if not diagnostic_settings(config)["enabled"]:
        return []
    return [o.name for j in diagnostic_jobs(config) if j.subcategory == "{stem}" for o in j.files.values()]


def _diag(config: dict, rule: str, script: str, outputs: tuple, inputs: dict, settings=None, **kw) -> Job:
    folder = f"{out_dir(config)}/diagnostics"
    per_stem = kw.get("subcategory", "{stem}") == "{stem}"
    paths = {o.key: f"{folder}/{{stem}}_{o.name}" if per_stem else f"{folder}/{o.name}" for o in outputs}
    tag = f"{{stem}}_{rule}" if per_stem else rule
    return Job(kind="diagnostic", name=rule, script=script, inputs=inputs, outputs=paths, settings=settings or {},
               log=log_path(config, tag), files={o.key: o for o in outputs}, **kw)


def diagnostic_jobs(config: dict) -> list[Job]:
    """The diagnostics rules that apply: a diagnostic is planned only when the ramp products it
    reads are written (and the one its step read, for before / after plots)."""
    settings = diagnostic_settings(config)
    if not settings["enabled"]:
        return []
    chain = ramp_chain(config)
    have = set(produced_ramps(config))
    chunk = {"chunk_mb": float(config["compute"]["chunk_mb"])}

    def with_input(step):  # the step's product and the one it read (the uncal file is always there)
        i = chain.index(step)
        return step in have and (i == 0 or chain[i - 1] in have)

    def before_after(step):
        return {"before": step_input(config, step), "after": product(config, step)}

    jobs = []
    if "linearity" in chain and with_input("linearity"):
        jobs.append(_diag(config, "diag_linearity_ratio", "diag_linearity.py",
                          (_plot("plot", "linearity_ratio.png", "linearity", "linearity_ratio.rst"),),
                          before_after("linearity"), {"max_points": settings["sample_points"], **chunk}))
    if chain and have >= set(chain):
        jobs.append(_diag(config, "diag_dq_tally", "diag_dq_tally.py",
                          (_plot("csv", "dq_tally.csv", "dq", "dq_tally.rst", "table", False),
                           _plot("png", "dq_tally.png", "dq", "dq_tally.rst")),
                          {"ramps": [product(config, s) for s in chain]}, {"steps": list(chain), **chunk}))
    if "saturation" in have:
        custom = [saturation_reference(config)] if custom_saturation(config) else []
        jobs.append(_diag(config, "diag_saturation", "diag_saturation.py",
                          (_plot("plot", "saturation.png", "saturation", "saturation.rst"),),
                          {"ramp": product(config, "saturation"), "refs": references_ready(config), "custom": custom},
                          {"context": config["references"]["crds_context"], **chunk},
                          overrides=dict(config["references"]["overrides"] or {}), crds=True))
    if "jump" in have:
        rateints = [product(config, "rateints")] if "ramp_fit" in config["steps"] else []
        jobs.append(_diag(config, "diag_jump", "diag_jump.py",
                          (_plot("counts", "jump_counts.png", "jumps", "jump_counts.rst"),
                           _plot("ramps", "jump_ramps.png", "jumps", "jump_ramps.rst")),
                          {"ramp": product(config, "jump"), "rateints": rateints},
                          {"n_examples": settings["jump_examples"], **chunk}))
    if "destripe" in chain and with_input("destripe"):
        jobs.append(_diag(config, "diag_destripe", "diag_destripe.py",
                          (_plot("plot", "destripe.png", "onef", "destripe.rst"),),
                          {**before_after("destripe"), "mask": product(config, "destripe_mask")}))
    if "refpix" in chain and with_input("refpix"):
        jobs.append(_diag(config, "diag_refpix", "diag_refpix.py",
                          (_plot("plot", "refpix.png", "refpix", "refpix.rst"),), before_after("refpix"), dict(chunk)))
    if settings["ta"]:
        jobs.append(_diag(config, "diag_ta_quicklook", "diag_ta.py",
                          (_plot("plot", "ta_quicklook.png", "ta", "ta_quicklook.rst"),), {},
                          subcategory="target acquisition", all_uncal=True))
    return jobs


def diagnostic_targets(config: dict, stems) -> list[str]:
    """Every diagnostic file of the program (``stems``: the exposure names), by exposure (each
    as its instrument family plans it), then the program's own (the target-acquisition
    quicklook)."""
    out = [p for s in stems for j in diagnostic_jobs(stem_config(config, s)) if j.subcategory == "{stem}"
           for p in j.for_stem(s).outputs.values()]
    return out + [p for j in diagnostic_jobs(config) if j.subcategory != "{stem}" for p in j.outputs.values()]


# --------------------------------------------------------------------------- light curves and QA page

def lightcurves_enabled(config: dict) -> bool:
    """Light curves (and the QA page) are made when ramp_fit runs."""
    return "ramp_fit" in config["steps"]


def transit_enabled(config: dict) -> bool:
    """A transit window is configured (``lightcurves.transit``)."""
    return bool((config.get("lightcurves") or {}).get("transit"))


def lightcurve_outputs(config: dict, detector: str = "{detector}") -> dict:
    """The lightcurves rule's outputs of one detector (name -> path)."""
    return {o.key: f"{out_dir(config)}/lightcurves/{detector}_{o.name}" for o in LIGHTCURVE_FILES}


def transit_outputs(config: dict, detector: str = "{detector}") -> dict:
    """The lightcurve_transit rule's outputs of one detector (name -> path)."""
    return {o.key: f"{out_dir(config)}/lightcurves/{detector}_{o.name}" for o in TRANSIT_FILES}


def lightcurve_inputs(config: dict, stems, detector: str) -> dict:
    """What the light curves of ``detector`` read: its per-integration products (all segments)
    and, when written, its jump products."""
    mine = names.stems_of_detector(stems, detector)
    jumps = [product(config, "jump", s) for s in mine if "jump" in produced_ramps(stem_config(config, s))]
    return {"products": [product(config, ints_product(stem_config(config, s)), s) for s in mine], "jumps": jumps}


def lightcurve_targets(config: dict, stems) -> list[str]:
    """Every light-curve file of the program (none without ramp_fit)."""
    if not lightcurves_enabled(config):
        return []
    out = []
    for d in names.detectors_of(stems):
        out += list(lightcurve_outputs(config, d).values())
        if transit_enabled(config):
            out += list(transit_outputs(config, d).values())
    return out


def qa_page(config: dict) -> str:
    """The program's QA page."""
    return f"{out_dir(config)}/qa/index.html"


def qa_targets(config: dict) -> list[str]:
    """The QA page when ramp_fit runs, else nothing."""
    return [qa_page(config)] if lightcurves_enabled(config) else []


def qa_products(config: dict, stems) -> list[str]:
    """The per-integration products the QA page reads (one per exposure)."""
    return [product(config, ints_product(stem_config(config, s)), s) for s in stems]


# --------------------------------------------------------------------------- everything

def jobs(config: dict, kind: str | None = None, families=None) -> list[Job]:
    """Every job of one exposure as ``{stem}`` patterns (the target-acquisition quicklook is
    the program's), or those of one ``kind``: steps, saturation_reference, step_input,
    diagnostic. ``families``: the instrument families of the program's exposures
    (:func:`rampflow.wiring.families.program_families`): the jobs of each family's view of the
    config, per family when there are several (:func:`~rampflow.wiring.families.plan_by_family`)."""
    def every(view):
        return custom_jobs(view) + ramp_jobs(view) + rate_jobs(view) + diagnostic_jobs(view)

    return [j for j in plan_by_family(config, families, every) if kind is None or j.kind == kind]


def exposure_jobs(config: dict, stem: str, kind: str | None = None) -> list[Job]:
    """:func:`jobs` for exposure ``stem`` (as its instrument family plans it; paths filled in)."""
    return [j.for_stem(stem) for j in jobs(stem_config(config, stem), kind)]


def targets(config: dict, stems) -> list[str]:
    """Everything ``rule all`` builds."""
    return (final_products(config, stems) + diagnostic_targets(config, stems) + lightcurve_targets(config, stems)
            + qa_targets(config))


def _entry(section: str, path: str, kind: str, caption: str, stem=None, detector=None) -> dict:
    return {"section": section, "title": SECTIONS[section], "path": path, "kind": kind, "stem": stem,
            "detector": detector, "caption": caption}


def manifest(config: dict, stems) -> list[dict]:
    """Every product and plot the QA page shows, in page order (by section, then exposure or
    detector): plain dicts {section, title, path, kind, stem, detector, caption}.

    exposures  : the per-integration product of each exposure (kind ``product``)
    lightcurves: each detector's light curves, metrics and transit check (when configured)
    onef, saturation, jumps, dq, linearity, refpix, ta: the diagnostics
    """
    stems = list(stems)
    entries = []
    if lightcurves_enabled(config):
        entries += [_entry("exposures", p, "product", PRODUCT_CAPTION, s, names.stem_detector(s))
                    for s, p in zip(stems, qa_products(config, stems))]
        files = LIGHTCURVE_FILES + (TRANSIT_FILES if transit_enabled(config) else ())
        for d in names.detectors_of(stems):
            entries += [_entry(o.section, f"{out_dir(config)}/lightcurves/{d}_{o.name}", o.kind, o.caption, None, d)
                        for o in files]
    for stem in stems:
        for job in diagnostic_jobs(stem_config(config, stem)):
            if job.subcategory == "{stem}":
                paths = job.for_stem(stem).outputs
                entries += [_entry(o.section, paths[k], o.kind, o.caption, stem, names.stem_detector(stem))
                            for k, o in job.files.items()]
    for job in diagnostic_jobs(config):
        if job.subcategory != "{stem}":
            entries += [_entry(o.section, job.outputs[k], o.kind, o.caption) for k, o in job.files.items()]
    order = list(SECTIONS)
    return sorted(entries, key=lambda e: (order.index(e["section"]), stems.index(e["stem"]) if e["stem"] else -1))

