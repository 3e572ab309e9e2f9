"""The per-program QA page: one self-contained HTML file, viewable offline, built from the
workflow's manifest (:func:`rampflow.wiring.manifest`).

:func:`build_report` shows, for the Stage 1 products of a program (rateints or gain_scaleints):

* the exposures (stem, detector, segment, integrations, groups, subarray, ...) from their
  primary headers;
* the steps that ran (``S_<STEP>`` keywords), the reference files (``R_<TYPE>``), the CRDS
  context (``CRDS_CTX``), the step parameters (HISTORY cards starting ``rampflow``) and the
  settings the workflow filled from the schema defaults;
* DQ tallies of the products (pixel-integrations per flag, per detector) with the saturation
  and jump statistics (from the DQ and from the light-curve metrics tables);
* exactly the manifest's entries, by section in a fixed order (:data:`SECTIONS`): plots
  embedded as base64 data URIs (the page needs no other file, no network, no external CSS or
  JavaScript), tables rendered (long ones summarised), transit results as a table, products
  linked;
* the warnings of the logs (lines with ``WARNING``).

Modules: :mod:`.html` (HTML helpers), :mod:`.products` (headers, provenance, DQ tallies, logs),
:mod:`.entries` (the manifest's entries), :mod:`.sections` (the fixed sections). Only
:mod:`rampflow.io` touches FITS files.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import rampflow

from .. import io
from . import entries as en
from . import html as h
from . import sections as sec
from .entries import SECTION_TITLES, SECTIONS
from .products import STEP_KEYWORDS, collect_warnings, dq_tallies, exposure_rows, provenance, scan_products

log = logging.getLogger(__name__)

__all__ = ["build_report", "DEFAULTS", "SECTIONS", "SECTION_TITLES", "STEP_KEYWORDS",
           "exposure_rows", "provenance", "dq_tallies", "collect_warnings"]

#: the ``qa`` config keys this module reads (``qa.diagnostics`` belongs to the diagnostics rules)
DEFAULTS = {
    "title": None,            # page title (default "rampflow QA: <program>")
    "max_warnings": 200,      # warning lines shown (all are counted)
    "max_table_rows": 40,     # tables longer than this are summarised (min / median / max)
}


def _settings(config: dict) -> dict:
    qa = dict(DEFAULTS)
    qa.update({k: v for k, v in (config.get("qa") or {}).items() if k in DEFAULTS})
    return qa


def build_report(out_html, *, config: dict, manifest=(), products=None, logs=(), title: str | None = None,
                 failures=()) -> Path:
    """Write the self-contained QA page ``out_html`` (atomically).

    config   : the program's config (``program``, ``steps``, ``qa`` settings, and
               ``_defaults_applied``: dotted keys the workflow filled from the schema defaults)
    manifest : the entries of :func:`rampflow.wiring.manifest` (dicts with ``section``,
               ``title``, ``path``, ``kind``, ``stem``, ``detector``, ``caption``); the page
               lists exactly these, by section
    products : Stage 1 products (rateints / gain_scaleints) read for the exposures,
               provenance and DQ tallies; default: the manifest's ``product`` entries
    logs     : log files; their WARNING lines are listed
    failures : exposures that failed (dicts of :func:`rampflow.recovery.failed_exposures`:
               stem, file, missing, error, log), listed in a "Failed exposures" section
    """
    config = dict(config or {})
    logs = list(logs)
    qa = _settings(config)
    title = title or qa["title"] or f"rampflow QA: {config.get('program', '')}"
    entries = en.check_manifest(manifest)
    if products is None:
        products = [e["path"] for e in entries if e["kind"] == "product" and Path(e["path"]).exists()]
    headers, tallies, sizes = scan_products([str(p) for p in products])
    prov = provenance(headers)
    tables, results = en.load_files(entries)
    warnings, nwarn = collect_warnings(logs)
    base = Path(out_html).resolve().parent
    sections = en.by_section(entries)
    exp_rows = exposure_rows(headers)
    nplots = sum(1 for e in entries if e["kind"] == "plot" and Path(e["path"]).is_file()
                 and Path(e["path"]).suffix.lower() in h.MIME)
    transits = [(e, results[e["path"]]) for e in entries if en.is_transit(results.get(e["path"]))]

    def manifest_section(sid, lead=""):
        body = en.render_section(sid, sections.get(sid, []), entries, tables, results, int(qa["max_table_rows"]),
                                 base)
        return h.section(sid, SECTION_TITLES[sid], lead + body)

    failures = [dict(f) for f in failures]
    parts = [sec.summary(config, exp_rows, nplots, nwarn, transits, prov, len(failures)),
             *([sec.failures_section(failures)] if failures else []),
             manifest_section("exposures", sec.exposures_table(exp_rows)),
             sec.provenance_section(prov, len(headers), config),
             sec.dq_tally_section(headers, tallies, sizes),
             sec.satjump_section(headers, tallies, sizes, sec.metrics_rows(entries, tables))]
    parts += [manifest_section(sid) for sid in sections if sid != "exposures"]
    parts += [sec.warnings_section(warnings, nwarn, len(logs), int(qa["max_warnings"])),
              sec.config_section(config)]
    nav = ([("summary", "Summary")] + ([("failed", f"Failed ({len(failures)})")] if failures else [])
           + [("exposures", "Exposures"), ("provenance", "Steps & references"),
            ("dq-tallies", "DQ tallies"), ("satjump", "Saturation & jumps")]
           + [(sid, SECTION_TITLES[sid]) for sid in sections if sid != "exposures"]
           + [("warnings", f"Warnings ({nwarn})"), ("config", "Configuration")])
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ntables = len(tables) + len(results)
    subtitle = (f"rampflow {h.esc(getattr(rampflow, '__version__', ''))} &middot; generated {h.esc(now)} &middot; "
                f"{len(exp_rows)} exposures, {nplots} plots, {ntables} tables, {nwarn} warnings")
    with io.atomic_path(out_html) as tmp:
        Path(tmp).write_text(h.document(title, subtitle, nav, parts), encoding="utf-8")
    log.info("wrote %s (%d exposures, %d manifest entries, %d plots, %d warnings)", out_html, len(exp_rows),
             len(entries), nplots, nwarn)
    return Path(out_html)
