"""The manifest's entries on the QA page: checking them, grouping them by section in the page's
fixed order, reading their tables and JSON results, and rendering each kind (plots embedded,
tables rendered or summarised, transit results as a table, products as links).

An entry is the plain dict of :func:`rampflow.wiring.manifest`::

    {"section": id, "title": str, "path": str, "kind": "plot" | "table" | "lightcurve" | "json" | "product",
     "stem": str | None, "detector": str | None, "caption": str}

The page shows exactly these entries; it never looks at a folder or at a file name's pattern.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy.table import Table

from . import html as h

log = logging.getLogger(__name__)

#: the page's manifest sections in their fixed order: (id, title)
SECTIONS = (
    ("exposures", "Exposures"),
    ("lightcurves", "Light curves"),
    ("onef", "1/f noise: before / after"),
    ("saturation", "Saturation"),
    ("jumps", "Jumps"),
    ("dq", "DQ flags"),
    ("linearity", "Linearity"),
    ("refpix", "Reference pixels"),
    ("ta", "Target acquisition"),
)
SECTION_TITLES = dict(SECTIONS)
KINDS = ("plot", "table", "lightcurve", "json", "product")
#: a note under a section's title
NOTES = {"onef": "Group-difference images and line medians before and after 1/f destriping."}
#: more figures than this in a section are grouped by exposure (or detector) in collapsible blocks
MAX_OPEN_FIGURES = 6


def check_manifest(manifest) -> list[dict]:
    """The manifest's entries as dicts with every key of the contract (``title``, the section's
    title, filled in when absent); raises ValueError naming the entry when a key is missing or
    its section or kind is unknown."""
    entries = []
    for i, entry in enumerate(manifest or ()):
        e = dict(entry)
        missing = [k for k in ("section", "path", "kind") if not e.get(k)]
        if missing:
            raise ValueError(f"QA manifest entry {i} ({e}): missing {', '.join(missing)}")
        if e["section"] not in SECTION_TITLES:
            raise ValueError(f"QA manifest entry {i} ({e['path']}): unknown section {e['section']!r}; "
                             f"known: {', '.join(SECTION_TITLES)}")
        if e["kind"] not in KINDS:
            raise ValueError(f"QA manifest entry {i} ({e['path']}): unknown kind {e['kind']!r}; "
                             f"known: {', '.join(KINDS)}")
        e["path"] = str(e["path"])
        e["title"] = e.get("title") or SECTION_TITLES[e["section"]]
        for key in ("stem", "detector", "caption"):
            e.setdefault(key, None)
        entries.append(e)
    return entries


def by_section(entries) -> OrderedDict:
    """``{section id: [entries in manifest order]}`` in the page's order, sections with entries only."""
    out = OrderedDict()
    for sid, _ in SECTIONS:
        inside = [e for e in entries if e["section"] == sid]
        if inside:
            out[sid] = inside
    return out


def twin_of(entry, entries) -> str | None:
    """The CSV entry path an ECSV entry duplicates (same path but the extension), else None:
    such a table is shown once, as the CSV."""
    p = Path(entry["path"])
    if p.suffix.lower() != ".ecsv":
        return None
    csv = str(p.with_suffix(".csv"))
    return csv if any(e["path"] == csv for e in entries) else None


def read_table(path) -> Table:
    """A CSV / ECSV / TSV table."""
    p = str(path)
    if p.endswith(".ecsv"):
        return Table.read(p, format="ascii.ecsv")
    if p.endswith(".tsv"):
        return Table.read(p, format="ascii.tab")
    return Table.read(p, format="ascii.csv")


def load_files(entries) -> tuple[dict, dict]:
    """``({path: Table or Exception}, {path: dict or Exception})``: the tables (``table`` and
    ``lightcurve`` entries, ECSV twins left out) and JSON results that exist, each read once."""
    tables, results = {}, {}
    for e in entries:
        p = e["path"]
        if not Path(p).is_file():
            continue
        if e["kind"] in ("table", "lightcurve") and twin_of(e, entries) is None:
            try:
                tables[p] = read_table(p)
            except Exception as exc:  # noqa: BLE001 - a broken table must not stop the page
                tables[p] = exc
        elif e["kind"] == "json":
            try:
                results[p] = json.loads(Path(p).read_text())
            except (OSError, ValueError) as exc:
                log.warning("QA: cannot read %s: %s", p, exc)
                results[p] = exc
    return tables, results


def is_transit(result) -> bool:
    """Whether a JSON result is a transit check: a fit (with a ``depth``) or one not fitted
    (``"fitted": false`` and a ``warning``, when no integration falls inside the window)."""
    return isinstance(result, dict) and ("depth" in result or result.get("fitted") is False)


# --------------------------------------------------------------------------- rendering

def render_plots(entries, base) -> str:
    """The plot entries embedded, in manifest order; grouped by exposure (or detector) in
    collapsible blocks when there are more than :data:`MAX_OPEN_FIGURES`."""
    shown = [e for e in entries if Path(e["path"]).is_file() and Path(e["path"]).suffix.lower() in h.MIME]
    other = [e for e in entries if Path(e["path"]).is_file() and e not in shown]
    out = ""
    if len(shown) <= MAX_OPEN_FIGURES:
        out = "<div>" + "".join(h.image(e["path"]) for e in shown) + "</div>" if shown else ""
    else:
        groups: dict[str, list] = OrderedDict()
        for e in shown:
            groups.setdefault(e["stem"] or e["detector"] or "program", []).append(e)
        out = "".join(h.details(f"{key} ({len(es)})", "".join(h.image(e["path"]) for e in es), i == 0)
                      for i, (key, es) in enumerate(groups.items()))
    if other:
        log.warning("QA: not an image type the page can embed: %s", [e["path"] for e in other])
        out += "<p>Not embedded (not an image type): " + ", ".join(h.link(e["path"], base) for e in other) + "</p>"
    return out


def _cell(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return v if h.is_num(v) else str(v)


def _column_summary(t) -> list[list]:
    rows = []
    for c in t.colnames:
        try:
            v = np.asarray(t[c], dtype=float)
        except (TypeError, ValueError):
            rows.append([c, "", "", "", "", ""])
            continue
        fin = v[np.isfinite(v)]
        if fin.size:
            rows.append([c, int(fin.size), float(fin.min()), float(np.median(fin)), float(fin.max()),
                         float(fin.sum())])
        else:
            rows.append([c, 0, None, None, None, None])
    return rows


def render_table(entry, t, max_rows: int, base) -> str:
    """A table entry: a linked heading and the table (per-column summary when longer than
    ``max_rows``; size only when wider than 30 columns)."""
    path = entry["path"]
    head = f"<h3>{h.link(path, base)}</h3>"
    if isinstance(t, Exception):
        return f"<p class='bad'>{h.esc(Path(path).name)}: cannot read ({h.esc(t)})</p>"
    if len(t.colnames) > 30:
        return head + h.muted(f"{len(t)} rows x {len(t.colnames)} columns (not shown).")
    if len(t) <= max_rows:
        return head + h.table(t.colnames, [[_cell(t[c][i]) for c in t.colnames] for i in range(len(t))])
    return (head + h.muted(f"{len(t)} rows; per-column summary:")
            + h.table(["column", "finite", "min", "median", "max", "sum"], _column_summary(t)))


def render_tables(entries, all_entries, tables, max_rows: int, base) -> str:
    """The table and light-curve entries of a section (an ECSV twin of a CSV as a link)."""
    out = []
    for e in entries:
        twin = twin_of(e, all_entries)
        if twin is not None:
            out.append(f"<p>{h.link(e['path'], base)}: the same table as {h.esc(Path(twin).name)}.</p>")
        elif e["path"] in tables:
            out.append(render_table(e, tables[e["path"]], max_rows, base))
    return "".join(out)


def transit_tables(items, base) -> str:
    """Transit results (``[(entry, result)]``) as one table, the warnings of those not fitted,
    then the spectroscopic bins."""
    rows = [[r.get("detector"), r.get("depth_ppm"), r.get("depth_err_ppm"), r.get("reduced_chi2"),
             r.get("error_scaled"), r.get("t0"), r.get("duration_hours"), r.get("ingress_hours"),
             r.get("n_points"), r.get("n_in_transit"), r.get("time_scale")] for _, r in items]
    warnings = "".join(f"<p class='warn'>{h.esc(r.get('warning') or 'transit not fitted')}</p>"
                       for _, r in items if r.get("fitted") is False)
    out = ("<h3>Transit check (trapezoid of fixed shape; depth by linear least squares)</h3>" + warnings
           + h.table(["detector", "depth [ppm]", "error [ppm]", "reduced chi2", "error scaled",
                      "t0 [BJD-2400000.5]", "duration [h]", "ingress [h]", "points", "in transit",
                      "time scale"], rows)
           + "<p class='muted'>From " + ", ".join(h.link(e["path"], base) for e, _ in items) + ".</p>")
    for _, r in items:
        if r.get("bins"):
            along = "detector rows" if r.get("bin_axis") == "y" else "columns"
            out += h.table([along, "depth [ppm]", "error [ppm]", "reduced chi2"],
                           [[f"{b['x_start']}-{b['x_stop'] - 1}",
                             None if b["depth"] is None else b["depth"] * 1e6,
                             None if b["depth_err"] is None else b["depth_err"] * 1e6,
                             b["reduced_chi2"]] for b in r["bins"]],
                           caption=f"{r.get('detector')}: spectroscopic bins")
    return out


def render_results(entries, results, base) -> str:
    """The JSON entries of a section: transit fits as a table, any other result as text."""
    items = [(e, results[e["path"]]) for e in entries if e["path"] in results]
    transits = [(e, r) for e, r in items if is_transit(r)]
    out = transit_tables(transits, base) if transits else ""
    for e, r in items:
        if isinstance(r, Exception):
            out += f"<p class='bad'>{h.esc(Path(e['path']).name)}: cannot read ({h.esc(r)})</p>"
        elif not is_transit(r):
            out += f"<h3>{h.link(e['path'], base)}</h3><pre>{h.esc(json.dumps(r, indent=2, default=str))}</pre>"
    return out


def render_products(entries, base) -> str:
    """Product entries: a table of exposure, detector and a link to the file."""
    if not entries:
        return ""
    rows = "".join(f"<tr><td>{h.esc(e['stem'] or '')}</td><td>{h.esc(e['detector'] or '')}</td>"
                   f"<td>{h.link(e['path'], base)}</td></tr>" for e in entries)
    return ("<h3>Products</h3><table><tr><th>exposure</th><th>detector</th><th>file</th></tr>"
            + rows + "</table>")


def render_missing(entries, base) -> str:
    """The entries whose file does not exist (listed, so the page still names every entry)."""
    gone = [e for e in entries if not Path(e["path"]).exists()]
    if not gone:
        return ""
    log.warning("QA: files of the manifest not found: %s", [e["path"] for e in gone])
    return ("<p class='bad'>Not found: " + ", ".join(h.esc(Path(e["path"]).name) for e in gone) + "</p>")


def render_section(sid: str, entries, all_entries, tables, results, max_rows: int, base) -> str:
    """The body of a manifest section: its note, then its entries by kind (results, plots,
    tables and light curves, products) and the ones not found."""
    kind = {k: [e for e in entries if e["kind"] == k] for k in KINDS}
    body = h.muted(NOTES[sid]) if sid in NOTES else ""
    body += render_results(kind["json"], results, base)
    body += render_plots(kind["plot"], base)
    body += render_tables([e for e in entries if e["kind"] in ("table", "lightcurve")], all_entries, tables,
                          max_rows, base)
    body += render_products(kind["product"], base)
    body += render_missing(entries, base)
    return body
