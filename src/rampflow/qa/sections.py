"""The QA page's fixed sections, around the manifest's: summary, exposures table, steps /
reference files / CRDS context / parameters (with the settings filled from the schema
defaults), DQ tallies, saturation and jump statistics, warnings of the logs, configuration."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from .. import dq as dqflags
from . import html as h
from .products import detector_of

#: key of the config under which the workflow lists the settings filled from the schema defaults
DEFAULTS_KEY = "_defaults_applied"

EXPOSURE_COLUMNS = ["stem", "detector", "segment", "EXP_TYPE", "NINTS", "NGROUPS", "subarray", "READPATT",
                    "start (UTC)", "integrations in file"]
_METRICS = ["detector", "integrations", "jump groups (total)", "jump pixels / int (mean)", "jump pixels / int (max)",
            "saturated fraction (mean)", "saturated fraction (max)", "saturated in aperture (max)",
            "background [DN/s/pixel] (median)"]
#: columns that make a table a per-integration metrics table
_METRICS_COLUMNS = ("jump_groups", "jump_pixels", "saturated_frac")


def summary(config, exp_rows, nplots, nwarn, transits, prov, nfailed=0) -> str:
    """Cards (exposures, detectors, integrations, plots, warnings, failed exposures when any,
    transit depths) and one line on the program, its inputs, steps and CRDS context."""
    dets = sorted({r[1] for r in exp_rows})
    nints = sum(int(r[9] or 0) for r in exp_rows)
    cards = [("exposures", len(exp_rows)), ("detectors", ", ".join(dets) or "—"), ("integrations", nints),
             ("plots", nplots), ("warnings", nwarn)] + ([("failed exposures", nfailed)] if nfailed else [])
    for entry, res in transits:
        if res.get("depth") is not None:
            cards.append((f"{res.get('detector', entry['detector'])} depth",
                          f"{res['depth'] * 1e6:.0f} ± {res['depth_err'] * 1e6:.0f} ppm"))
        elif res.get("fitted") is False:
            cards.append((f"{res.get('detector', entry['detector'])} depth", "not fitted"))
    crds = ", ".join(f"{v}" for k, c in prov["crds"].items() if k == "CRDS_CTX" for v in c) or "—"

    def warn(k, v):
        return (k in ("warnings", "failed exposures") and v) or v == "not fitted"

    return h.section("summary", "Summary", "<div class='cards'>" + "".join(
        f"<div class='card'><b class='{'warn' if warn(k, v) else ''}'>"
        f"{h.esc(h.fmt(v))}</b>{h.esc(k)}</div>"
        for k, v in cards) + "</div>"
        f"<p>Program <b>{h.esc(config.get('program', ''))}</b>; input source "
        f"{h.esc((config.get('inputs') or {}).get('source', ''))}; "
        f"steps: {h.esc(', '.join(config.get('steps') or []))}; CRDS context: {h.esc(crds)}.</p>")


#: columns of the "Failed exposures" section (keys of rampflow.recovery.failed_exposures)
FAILURE_COLUMNS = [("stem", "exposure"), ("file", "input file"), ("missing", "missing product"),
                   ("error", "error"), ("log", "log")]


def failures_section(failures) -> str:
    """The exposures that failed in a ``--keep-going`` run: left out of the light curves and of
    this page's other sections."""
    lead = ("<p class='warn'>These exposures failed; the light curves and the rest of this page are "
            "made without them. Their job logs hold the error; fix the input and run again.</p>")
    rows = [[f.get(k, "") for k, _ in FAILURE_COLUMNS] for f in failures]
    return h.section("failed", f"Failed exposures ({len(rows)})", lead + h.table([t for _, t in FAILURE_COLUMNS], rows))


def exposures_table(exp_rows) -> str:
    """The exposures of the Stage 1 products (one row per product)."""
    return h.table(EXPOSURE_COLUMNS, exp_rows) if exp_rows else h.muted("No Stage 1 products given.")


def _counted(counter: dict, nprod: int) -> str:
    return "; ".join(f"{v} ({n}/{nprod})" if n != nprod else v for v, n in counter.items())


_MISSING = object()


def _lookup(config: dict, dotted: str):
    value = config
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def defaults_table(config: dict) -> str:
    """The settings the workflow filled from the schema defaults (``config["_defaults_applied"]``,
    dotted keys) with their values; nothing when the workflow did not say."""
    keys = config.get(DEFAULTS_KEY)
    if keys is None:
        return ""
    rows = []
    for key in keys:
        value = _lookup(config, str(key))
        if value is _MISSING:
            value = "(not in the configuration)"
        elif value is None or not (h.is_num(value) or isinstance(value, (str, bool))):
            value = json.dumps(_plain(value), default=str)       # null, lists and mappings as JSON
        rows.append([str(key), value])
    return ("<h3>Settings filled from defaults</h3>"
            + (h.table(["setting", "value"], rows) if rows
               else h.muted("none: every setting was given by the configuration")))


def provenance_section(prov, nprod: int, config: dict) -> str:
    """Steps run, reference files, CRDS context, parameters (HISTORY) and defaults applied."""
    step_rows = [[k, s, _counted(c, nprod)] for k, s, c in prov["steps"]]
    ref_rows = [[k, _counted(c, nprod)] for k, c in prov["refs"].items()]
    crds_rows = [[k, _counted(c, nprod)] for k, c in prov["crds"].items()]
    body = (
        "<h3>Steps run (S_ keywords)</h3>"
        + (h.table(["keyword", "step", "status"], step_rows) if step_rows else h.muted("none recorded"))
        + "<h3>Reference files (R_ keywords)</h3>"
        + (h.table(["keyword", "file"], ref_rows) if ref_rows else h.muted("none recorded"))
        + "<h3>CRDS</h3>"
        + (h.table(["keyword", "value"], crds_rows) if crds_rows else h.muted("no CRDS context recorded"))
        + "<h3>Parameters (HISTORY)</h3>"
        + ("<pre>" + h.esc("\n".join(prov["history"])) + "</pre>" if prov["history"]
           else h.muted("no rampflow HISTORY cards"))
        + defaults_table(config))
    return h.section("provenance", "Steps, reference files and parameters", body)


def _per_detector(headers, tallies, sizes):
    det_of = {p: detector_of(hd, p) for p, hd in headers.items()}
    dets = sorted(set(det_of.values()))
    tot = {d: sum(sizes[p] for p in tallies if det_of[p] == d) for d in dets}
    return det_of, dets, tot


def dq_tally_section(headers, tallies, sizes) -> str:
    """Pixel-integrations of the products with each DQ flag set, per detector."""
    det_of, dets, tot = _per_detector(headers, tallies, sizes)
    flags_seen = [f for f in dqflags.FLAGS if any(f in t for t in tallies.values())]
    rows = []
    for f in flags_seen:
        row = [f, dqflags.FLAGS[f]]
        for d in dets:
            n = sum(t.get(f, 0) for p, t in tallies.items() if det_of[p] == d)
            row += [n, 100.0 * n / tot[d] if tot[d] else None]
        rows.append(row)
    head = ["flag", "value"] + [x for d in dets for x in (f"{d} count", f"{d} %")]
    return h.section("dq-tallies", "DQ tallies", h.muted(
        "Pixel-integrations of the Stage 1 products with each flag set (a pixel flagged in every "
        "integration counts once per integration).") + (h.table(head, rows) if rows else h.muted("No DQ flags set.")))


def _stat(m, col, fn):
    if col not in m.colnames:
        return None
    v = np.asarray(m[col], dtype=float)
    v = v[np.isfinite(v)]
    return float(fn(v)) if v.size else None


def metrics_rows(entries, tables) -> list[list]:
    """Per-integration statistics of the manifest's metrics tables (those with jump /
    saturation columns), one row per table, named by the entry's detector."""
    rows = []
    for e in entries:
        m = tables.get(e["path"])
        if m is None or isinstance(m, Exception) or not any(c in m.colnames for c in _METRICS_COLUMNS):
            continue
        rows.append([e["detector"] or Path(e["path"]).name, len(m), _stat(m, "jump_groups", np.sum),
                     _stat(m, "jump_pixels", np.mean), _stat(m, "jump_pixels", np.max),
                     _stat(m, "saturated_frac", np.mean), _stat(m, "saturated_frac", np.max),
                     _stat(m, "saturated_frac_aperture", np.max), _stat(m, "background", np.median)])
    return rows


def satjump_section(headers, tallies, sizes, metrics) -> str:
    """Saturated and jump-flagged pixel-integrations per detector, and the light-curve metrics."""
    det_of, dets, tot = _per_detector(headers, tallies, sizes)
    rows = []
    for d in dets:
        ps = [p for p in tallies if det_of[p] == d]
        n = tot[d]
        sat = sum(tallies[p].get("SATURATED", 0) for p in ps)
        jmp = sum(tallies[p].get("JUMP_DET", 0) for p in ps)
        rows.append([d, n, sat, 100.0 * sat / n if n else None, jmp, 100.0 * jmp / n if n else None])
    body = ("<h3>From the Stage 1 DQ</h3>"
            + (h.table(["detector", "pixel-integrations", "SATURATED", "% saturated", "JUMP_DET", "% jump"], rows)
               if rows else h.muted("no products"))
            + ("<h3>Per integration (light-curve metrics)</h3>" + h.table(_METRICS, metrics) if metrics else ""))
    return h.section("satjump", "Saturation and jumps", body)


def warnings_section(warnings, nwarn: int, nlogs: int, max_warnings: int) -> str:
    """The WARNING lines of the logs (the first ``max_warnings``) and a count per log."""
    if not nwarn:
        return h.section("warnings", "Warnings", f"<p class='ok'>No warnings in {nlogs} logs.</p>")
    shown = warnings[:max_warnings]
    text = "\n".join(f"[{n}] {line}" for n, line in shown)
    more = h.muted(f"{nwarn - len(shown)} more not shown.") if nwarn > len(shown) else ""
    per_log = Counter(n for n, _ in warnings)
    return h.section("warnings", "Warnings",
                     h.table(["log", "warnings"], sorted(per_log.items())) + f"<pre>{h.esc(text)}</pre>{more}")


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def config_section(config: dict) -> str:
    """The program's configuration as YAML (the defaults list is shown in its own table)."""
    shown = {k: v for k, v in config.items() if k != DEFAULTS_KEY}
    try:
        text = yaml.safe_dump(_plain(shown), sort_keys=False)
    except yaml.YAMLError:
        text = json.dumps(_plain(shown), indent=2, default=str)
    return h.section("config", "Configuration", f"<pre>{h.esc(text)}</pre>")
