"""The per-program QA page: one self-contained HTML file, viewable offline.

:func:`build_report` gathers, for the Stage 1 products of a program (rateints or
gain_scaleints):

* the exposures (stem, detector, segment, integrations, groups, subarray, ...) from their
  primary headers;
* the steps that ran (``S_<STEP>`` keywords), the reference files (``R_<TYPE>``), the CRDS
  context (``CRDS_CTX``) and the step parameters (HISTORY cards starting ``rampflow``);
* DQ tallies of the products (pixel-integrations per flag, per detector) with the saturation
  and jump statistics (from the DQ and from the light-curve metrics tables);
* every plot given (PNG / JPEG / GIF / SVG embedded as base64 data URIs: the page needs no
  other file, no network, no external CSS or JavaScript), sorted into sections by name
  (1/f noise before/after, saturation, jumps, DQ, linearity, reference pixels, light curves,
  other diagnostics);
* tables (CSV / ECSV rendered, long ones summarised; JSON transit results as a table);
* the warnings of the logs (lines with ``WARNING``).

Only :mod:`rampflow.io` touches FITS files.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import logging
import math
import os
import re
from collections import Counter, OrderedDict, defaultdict
from pathlib import Path

import numpy as np

from .. import dq as dqflags
from .. import io

log = logging.getLogger(__name__)

__all__ = ["build_report", "qa_targets", "DEFAULTS", "exposure_rows", "provenance", "dq_tallies", "collect_warnings",
           "classify_plot"]

#: the ``qa`` config keys this module reads (``qa.diagnostics`` belongs to the diagnostics rules)
DEFAULTS = {
    "title": None,            # page title (default "rampflow QA: <program>")
    "max_warnings": 200,      # warning lines shown (all are counted)
    "max_table_rows": 40,     # tables longer than this are summarised (min / median / max)
}

#: jwst step-status keywords -> step names
STEP_KEYWORDS = OrderedDict([
    ("S_GRPSCL", "group_scale"), ("S_DQINIT", "dq_init"), ("S_EMICOR", "emicorr"),
    ("S_SATURA", "saturation"), ("S_IPC", "ipc"), ("S_SUPERB", "superbias"), ("S_REFPIX", "refpix"),
    ("S_RSCD", "rscd"), ("S_FRSTFR", "firstframe"), ("S_LASTFR", "lastframe"), ("S_RESET", "reset"),
    ("S_LINEAR", "linearity"), ("S_DARK", "dark_current"), ("S_PERSIS", "persistence"),
    ("S_CHGMIG", "charge_migration"), ("S_DESTRI", "destripe"), ("S_JUMP", "jump"),
    ("S_CLNFLK", "clean_flicker_noise"), ("S_RAMP", "ramp_fit"), ("S_GANSCL", "gain_scale"),
])

#: plot sections: (anchor, title, regex on the file path), first match wins
SECTIONS = [
    ("lightcurves", "Light curves", re.compile(r"(^|/)lightcurves/|whitelight|spectroscopic|_transit\.", re.I)),
    ("onef", "1/f noise: before / after", re.compile(r"destrip|1_?over_?f|(^|[_/])1f[_.]|stripe", re.I)),
    ("saturation", "Saturation", re.compile(r"saturat", re.I)),
    ("jumps", "Jumps", re.compile(r"jump", re.I)),
    ("dq", "DQ flags", re.compile(r"(^|[_/])dq", re.I)),
    ("linearity", "Linearity", re.compile(r"linearity", re.I)),
    ("refpix", "Reference pixels", re.compile(r"refpix", re.I)),
    ("ta", "Target acquisition", re.compile(r"(^|[_/])ta_|tacq|taconfirm", re.I)),
]
_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
         ".svg": "image/svg+xml", ".webp": "image/webp"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1b1f24;background:#fafbfc}
header{background:#0b3d62;color:#fff;padding:1em 2em}
header h1{margin:0 0 .2em 0;font-size:1.6em}
header p{margin:.1em 0;opacity:.9}
nav{background:#e8eef4;padding:.5em 2em;position:sticky;top:0;z-index:2;border-bottom:1px solid #c9d4df}
nav a{margin-right:1em;color:#0b3d62;text-decoration:none;font-size:.92em}
main{padding:0 2em 3em 2em;max-width:1400px}
section{margin-top:1.8em}
h2{border-bottom:2px solid #0b3d62;padding-bottom:.2em;font-size:1.3em}
h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0 1em 0;background:#fff}
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef2f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin-top:1em}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.4em;color:#0b3d62}
.ok{color:#116329}.warn{color:#9a6700}.bad{color:#cf222e}
figure{display:inline-block;margin:.5em 1em .5em 0;background:#fff;border:1px solid #d0d7de;padding:.4em;vertical-align:top}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.8em;color:#57606a;margin-top:.3em;word-break:break-all}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.6em;overflow-x:auto;font-size:.8em;white-space:pre-wrap;word-break:break-word}
details{margin:.3em 0}
summary{cursor:pointer;font-weight:600}
.muted{color:#57606a}
"""


# --------------------------------------------------------------------------- small helpers

def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "—"
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.4g}"
        return f"{v:.5g}"
    return str(value)


def _is_num(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _table(header, rows, caption=None) -> str:
    out = ["<table>"]
    if caption:
        out.append(f"<caption class='muted'>{_e(caption)}</caption>")
    out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(
            f"<td class='num'>{_e(_fmt(v))}</td>" if _is_num(v) else f"<td>{_e(_fmt(v))}</td>" for v in row
        ) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _stem(path) -> str:
    from ..lightcurves import product_stem

    return product_stem(path)


def _image(path) -> str:
    p = Path(path)
    mime = _MIME.get(p.suffix.lower())
    data = base64.b64encode(p.read_bytes()).decode("ascii")
    return (f"<figure><img src='data:{mime};base64,{data}' alt='{_e(p.name)}' data-file='{_e(p.name)}'>"
            f"<figcaption>{_e(p.name)}</figcaption></figure>")


def classify_plot(path) -> str:
    """Section anchor of a plot path (see :data:`SECTIONS`), ``"other"`` if none matches."""
    s = str(path).replace("\\", "/")
    for anchor, _, rx in SECTIONS:
        if rx.search(s):
            return anchor
    return "other"


# --------------------------------------------------------------------------- products

def _detector(h, path) -> str:
    from ..lightcurves import stem_detector

    return str(h.get("DETECTOR") or stem_detector(_stem(path))).lower()


def exposure_rows(headers: dict) -> list[list]:
    """Rows (stem, detector, segment, exp_type, nints, ngroups, subarray, readpatt, date-obs,
    integrations in file) from ``{path: primary header}`` (plus ``_shape``)."""
    rows = []
    for path, h in headers.items():
        shape = h.get("_shape") or ()
        seg = h.get("EXSEGNUM")
        if seg in (None, ""):
            from ..lightcurves import stem_segment

            seg = stem_segment(_stem(path))
        ints = shape[0] if len(shape) == 3 else (1 if len(shape) == 2 else None)
        rows.append([_stem(path), _detector(h, path), seg, h.get("EXP_TYPE"), h.get("NINTS"), h.get("NGROUPS"),
                     h.get("SUBARRAY"), h.get("READPATT"), f"{h.get('DATE-OBS', '')} {h.get('TIME-OBS', '')}".strip(),
                     ints])
    rows.sort(key=lambda r: (str(r[1]), int(r[2] or 0), str(r[0])))
    return rows


def provenance(headers: dict) -> dict:
    """What ran, from primary headers: ``steps`` [(keyword, step, {status: n})], ``refs``
    {R_ key: {value: n}}, ``crds`` {CRDS_CTX / CRDS_VER: {value: n}}, ``history`` [lines]."""
    steps: dict[str, Counter] = OrderedDict()
    refs: dict[str, Counter] = defaultdict(Counter)
    crds: dict[str, Counter] = defaultdict(Counter)
    history: list[str] = []
    for h in headers.values():
        for key in h.keys():
            if key.startswith("S_") and key not in ("S_REGION",):
                steps.setdefault(key, Counter())[str(h[key])] += 1
            elif key.startswith("R_"):
                refs[key][str(h[key])] += 1
            elif key in ("CRDS_CTX", "CRDS_VER"):
                crds[key][str(h[key])] += 1
        for line in _join_history(h.get("_history", [])):
            if line.lower().startswith("rampflow") and line not in history:
                history.append(line)
    order = list(STEP_KEYWORDS)
    ordered = sorted(steps.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))
    return {"steps": [(k, STEP_KEYWORDS.get(k, k), dict(c)) for k, c in ordered],
            "refs": {k: dict(v) for k, v in sorted(refs.items())},
            "crds": {k: dict(v) for k, v in sorted(crds.items())}, "history": history}


def _join_history(cards, width: int = 72) -> list[str]:
    """HISTORY entries with long ones re-joined: FITS splits an entry into full ``width``-
    character cards, so a card following a full-width card continues it."""
    out: list[str] = []
    prev_full = False
    for card in cards:
        text = str(card)
        if prev_full and out:
            out[-1] += text
        else:
            out.append(text)
        prev_full = len(text) >= width
    return [t.strip() for t in out]


def dq_tallies(dq: np.ndarray) -> dict:
    """Pixel(-integration)s with each JWST DQ bit set: {mnemonic: count} (non-zero only)."""
    dq = np.asarray(dq, dtype=np.uint32)
    out = {}
    for name, bit in dqflags.FLAGS.items():
        if bit:
            n = int(np.count_nonzero(dq & np.uint32(bit)))
            if n:
                out[name] = n
    return out


def _scan_products(products):
    """Primary headers (+ shape, HISTORY) and DQ tallies of every product, one at a time."""
    headers, tallies, sizes = OrderedDict(), OrderedDict(), {}
    for p in products:
        try:
            prod = io.read_image_product(p)
        except io.ProductError as exc:
            log.warning("QA: cannot read %s: %s", p, exc)
            continue
        h = prod["primary"]
        d = {k: h[k] for k in h.keys() if k not in ("HISTORY", "COMMENT", "")}
        d["_history"] = [str(v) for v in h.get("HISTORY", [])] if "HISTORY" in h else []
        d["_shape"] = tuple(np.shape(prod["SCI"])) if "SCI" in prod else ()
        headers[str(p)] = d
        if "DQ" in prod:
            tallies[str(p)] = dq_tallies(prod["DQ"])
            sizes[str(p)] = int(np.size(prod["DQ"]))
        del prod
    return headers, tallies, sizes


# --------------------------------------------------------------------------- tables and logs

def _read_any_table(path):
    from astropy.table import Table

    p = str(path)
    if p.endswith(".ecsv"):
        return Table.read(p, format="ascii.ecsv")
    if p.endswith(".tsv"):
        return Table.read(p, format="ascii.tab")
    return Table.read(p, format="ascii.csv")


def _link(path, base) -> str:
    """Heading with a relative link to the file (works while the results folder is intact)."""
    name = Path(path).name
    try:
        rel = Path(os.path.relpath(Path(path).resolve(), base)).as_posix()
    except ValueError:
        return f"<h3>{_e(name)}</h3>"
    return f"<h3><a href='{_e(rel)}'>{_e(name)}</a></h3>"


def _render_table(path, max_rows: int, base=None) -> str:
    head = _link(path, base) if base is not None else f"<h3>{_e(Path(path).name)}</h3>"
    try:
        t = _read_any_table(path)
    except Exception as exc:  # noqa: BLE001 - a broken table must not stop the page
        return f"<p class='bad'>{_e(Path(path).name)}: cannot read ({_e(exc)})</p>"
    if len(t.colnames) > 30:
        return head + f"<p class='muted'>{len(t)} rows x {len(t.colnames)} columns (not shown).</p>"
    if len(t) <= max_rows:
        rows = [[_cell(t[c][i]) for c in t.colnames] for i in range(len(t))]
        return head + _table(t.colnames, rows)
    rows = []
    for c in t.colnames:
        col = t[c]
        try:
            v = np.asarray(col, dtype=float)
        except (TypeError, ValueError):
            rows.append([c, "", "", "", "", ""])
            continue
        fin = v[np.isfinite(v)]
        if fin.size:
            rows.append([c, int(fin.size), float(fin.min()), float(np.median(fin)), float(fin.max()),
                         float(fin.sum())])
        else:
            rows.append([c, 0, None, None, None, None])
    return (head + f"<p class='muted'>{len(t)} rows; per-column summary:</p>"
            + _table(["column", "finite", "min", "median", "max", "sum"], rows))


def _cell(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return v if _is_num(v) else str(v)


def collect_warnings(logs) -> tuple[list[tuple[str, str]], int]:
    """(log name, line) of every line containing ``WARNING`` in the logs; and the count."""
    found = []
    for p in logs:
        p = Path(p)
        try:
            text = p.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "WARNING" in line:
                found.append((p.name, line.strip()))
    return found, len(found)


# --------------------------------------------------------------------------- the page

def build_report(out_html, *, config: dict, products=(), plots=(), tables=(), logs=(),
                 title: str | None = None) -> Path:
    """Write the self-contained QA page ``out_html`` (atomically).

    config   : the program's config (``program``, ``steps``, ``qa`` settings, ...)
    products : Stage 1 products (rateints / gain_scaleints) -> exposures, provenance, DQ
    plots    : image files (PNG, JPEG, GIF, SVG), embedded as data URIs
    tables   : CSV / ECSV / TSV tables (rendered; long ones summarised) and JSON results
               (``*_transit.json`` shown as the transit-depth table)
    logs     : log files; their WARNING lines are listed
    """
    config = dict(config or {})
    qa = dict(DEFAULTS)
    qa.update({k: v for k, v in (config.get("qa") or {}).items() if k in DEFAULTS})
    program = config.get("program", "")
    title = title or qa["title"] or f"rampflow QA: {program}"
    max_rows = int(qa["max_table_rows"])

    headers, tallies, sizes = _scan_products([str(p) for p in products])
    prov = provenance(headers)
    missing = [str(p) for p in plots if not Path(p).exists()]
    skipped = [str(p) for p in plots if Path(p).exists() and Path(p).suffix.lower() not in _MIME]
    if skipped:
        log.warning("QA: not an image type the page can embed: %s", skipped)
    plots = [Path(p) for p in plots if Path(p).exists() and Path(p).suffix.lower() in _MIME]
    tables = [Path(t) for t in tables if Path(t).exists()]
    warnings, nwarn = collect_warnings(logs)

    jsons = [t for t in tables if t.suffix == ".json"]
    # an ECSV with a CSV twin (same name) is shown once, as the CSV
    csv_names = {t.with_suffix("") for t in tables if t.suffix == ".csv"}
    csvs = [t for t in tables if t.suffix != ".json" and not (t.suffix == ".ecsv" and t.with_suffix("") in csv_names)]
    base = Path(out_html).resolve().parent
    transits = []
    for j in jsons:
        try:
            transits.append((j, json.loads(j.read_text())))
        except (OSError, ValueError) as exc:
            log.warning("QA: cannot read %s: %s", j, exc)

    by_section: dict[str, list[Path]] = defaultdict(list)
    for p in plots:
        by_section[classify_plot(p)].append(p)

    exp_rows = exposure_rows(headers)
    dets = sorted({r[1] for r in exp_rows})
    nints = sum(int(r[9] or 0) for r in exp_rows)

    parts: list[str] = []
    nav = [("summary", "Summary"), ("exposures", "Exposures"), ("provenance", "Steps & references"),
           ("dq-tallies", "DQ tallies"), ("satjump", "Saturation & jumps")]
    for anchor, name, _ in SECTIONS:
        if by_section.get(anchor) or (anchor == "lightcurves" and transits):
            nav.append((anchor, name))
    if by_section.get("other"):
        nav.append(("other", "Other diagnostics"))
    if csvs:
        nav.append(("tables", "Tables"))
    nav += [("warnings", f"Warnings ({nwarn})"), ("config", "Configuration")]

    # ---- summary
    cards = [("exposures", len(exp_rows)), ("detectors", ", ".join(dets) or "—"), ("integrations", nints),
             ("plots", len(plots)), ("warnings", nwarn)]
    for path, res in transits:
        if res.get("depth") is not None:
            cards.append((f"{res.get('detector', path.stem)} depth",
                          f"{res['depth'] * 1e6:.0f} ± {res['depth_err'] * 1e6:.0f} ppm"))
    crds = ", ".join(f"{v}" for k, c in prov["crds"].items() if k == "CRDS_CTX" for v in c) or "—"
    parts.append("<section id='summary'><h2>Summary</h2><div class='cards'>" + "".join(
        f"<div class='card'><b class='{'warn' if k == 'warnings' and v else ''}'>{_e(_fmt(v))}</b>{_e(k)}</div>"
        for k, v in cards) + "</div>"
        f"<p>Program <b>{_e(program)}</b>; input source {_e((config.get('inputs') or {}).get('source', ''))}; "
        f"steps: {_e(', '.join(config.get('steps') or []))}; CRDS context: {_e(crds)}.</p></section>")

    # ---- exposures
    parts.append("<section id='exposures'><h2>Exposures</h2>" + (_table(
        ["stem", "detector", "segment", "EXP_TYPE", "NINTS", "NGROUPS", "subarray", "READPATT", "start (UTC)",
         "integrations in file"], exp_rows) if exp_rows else "<p class='muted'>No Stage 1 products given.</p>")
        + "</section>")

    # ---- provenance
    nprod = len(headers)
    step_rows = [[k, s, "; ".join(f"{st} ({n}/{nprod})" if n != nprod else st for st, n in c.items())]
                 for k, s, c in prov["steps"]]
    ref_rows = [[k, "; ".join(f"{v} ({n}/{nprod})" if n != nprod else v for v, n in c.items())]
                for k, c in prov["refs"].items()]
    crds_rows = [[k, "; ".join(f"{v} ({n}/{nprod})" if n != nprod else v for v, n in c.items())]
                 for k, c in prov["crds"].items()]
    parts.append(
        "<section id='provenance'><h2>Steps, reference files and parameters</h2>"
        "<h3>Steps run (S_ keywords)</h3>"
        + (_table(["keyword", "step", "status"], step_rows) if step_rows else "<p class='muted'>none recorded</p>")
        + "<h3>Reference files (R_ keywords)</h3>"
        + (_table(["keyword", "file"], ref_rows) if ref_rows else "<p class='muted'>none recorded</p>")
        + "<h3>CRDS</h3>"
        + (_table(["keyword", "value"], crds_rows) if crds_rows else "<p class='muted'>no CRDS context recorded</p>")
        + "<h3>Parameters (HISTORY)</h3>"
        + ("<pre>" + _e("\n".join(prov["history"])) + "</pre>" if prov["history"]
           else "<p class='muted'>no rampflow HISTORY cards</p>")
        + "</section>")

    # ---- DQ tallies per detector
    det_of = {p: _detector(h, p) for p, h in headers.items()}
    flags_seen = [f for f in dqflags.FLAGS if any(f in t for t in tallies.values())]
    tot = {d: sum(sizes[p] for p in tallies if det_of[p] == d) for d in dets}
    dq_rows = []
    for f in flags_seen:
        row = [f, dqflags.FLAGS[f]]
        for d in dets:
            n = sum(t.get(f, 0) for p, t in tallies.items() if det_of[p] == d)
            row += [n, 100.0 * n / tot[d] if tot[d] else None]
        dq_rows.append(row)
    head = ["flag", "value"] + [x for d in dets for x in (f"{d} count", f"{d} %")]
    parts.append("<section id='dq-tallies'><h2>DQ tallies</h2><p class='muted'>Pixel-integrations of the Stage 1 "
                 "products with each flag set (a pixel flagged in every integration counts once per "
                 "integration).</p>" + (_table(head, dq_rows) if dq_rows else "<p class='muted'>No DQ flags set.</p>")
                 + _figures(by_section.pop("dq", []), "dq") + "</section>")

    # ---- saturation and jumps: DQ of the products + light-curve metrics
    sj_rows = []
    for d in dets:
        ps = [p for p in tallies if det_of[p] == d]
        n = tot[d]
        sat = sum(tallies[p].get("SATURATED", 0) for p in ps)
        jmp = sum(tallies[p].get("JUMP_DET", 0) for p in ps)
        sj_rows.append([d, n, sat, 100.0 * sat / n if n else None, jmp, 100.0 * jmp / n if n else None])
    metrics_rows = []
    for t in csvs:
        if t.name.endswith("_metrics.csv"):
            try:
                m = _read_any_table(t)
            except Exception:  # noqa: BLE001
                continue
            det = t.name[: -len("_metrics.csv")]

            def stat(col, fn):
                if col not in m.colnames:
                    return None
                v = np.asarray(m[col], dtype=float)
                v = v[np.isfinite(v)]
                return float(fn(v)) if v.size else None
            metrics_rows.append([det, len(m), stat("jump_groups", np.sum), stat("jump_pixels", np.mean),
                                 stat("jump_pixels", np.max), stat("saturated_frac", np.mean),
                                 stat("saturated_frac", np.max), stat("saturated_frac_aperture", np.max),
                                 stat("background", np.median)])
    parts.append(
        "<section id='satjump'><h2>Saturation and jumps</h2><h3>From the Stage 1 DQ</h3>"
        + (_table(["detector", "pixel-integrations", "SATURATED", "% saturated", "JUMP_DET", "% jump"], sj_rows)
           if sj_rows else "<p class='muted'>no products</p>")
        + ("<h3>Per integration (light-curve metrics)</h3>" + _table(
            ["detector", "integrations", "jump groups (total)", "jump pixels / int (mean)", "jump pixels / int (max)",
             "saturated fraction (mean)", "saturated fraction (max)", "saturated in aperture (max)",
             "background [DN/s/pixel] (median)"], metrics_rows) if metrics_rows else "")
        + _figures(by_section.pop("saturation", []), "saturation") + _figures(by_section.pop("jumps", []), "jumps")
        + "</section>")

    # ---- plot sections
    for anchor, name, _ in SECTIONS:
        if anchor in ("dq", "saturation", "jumps"):
            continue
        figs = by_section.pop(anchor, [])
        extra = ""
        if anchor == "lightcurves" and transits:
            rows = []
            for path, r in transits:
                rows.append([r.get("detector"), r.get("depth_ppm"), r.get("depth_err_ppm"), r.get("reduced_chi2"),
                             r.get("error_scaled"), r.get("t0"), r.get("duration_hours"), r.get("ingress_hours"),
                             r.get("n_points"), r.get("n_in_transit"), r.get("time_scale")])
            extra = ("<h3>Transit check (trapezoid of fixed shape; depth by linear least squares)</h3>"
                     + _table(["detector", "depth [ppm]", "error [ppm]", "reduced chi2", "error scaled",
                               "t0 [BJD-2400000.5]", "duration [h]", "ingress [h]", "points", "in transit",
                               "time scale"], rows))
            for path, r in transits:
                if r.get("bins"):
                    extra += _table(["columns", "depth [ppm]", "error [ppm]", "reduced chi2"],
                                    [[f"{b['x_start']}-{b['x_stop'] - 1}",
                                      None if b["depth"] is None else b["depth"] * 1e6,
                                      None if b["depth_err"] is None else b["depth_err"] * 1e6,
                                      b["reduced_chi2"]] for b in r["bins"]],
                                    caption=f"{r.get('detector')}: spectroscopic bins")
        if figs or extra:
            note = ""
            if anchor == "onef":
                note = "<p class='muted'>Group-difference images and line medians before and after 1/f destriping.</p>"
            parts.append(f"<section id='{anchor}'><h2>{_e(name)}</h2>{note}{extra}{_figures(figs, anchor)}</section>")
    if by_section.get("other"):
        parts.append(f"<section id='other'><h2>Other diagnostics</h2>{_figures(by_section.pop('other'), 'other')}"
                     "</section>")
    if csvs:
        parts.append("<section id='tables'><h2>Tables</h2>"
                     + "".join(_render_table(t, max_rows, base) for t in csvs) + "</section>")

    # ---- warnings
    shown = warnings[: int(qa["max_warnings"])]
    wtxt = "\n".join(f"[{n}] {line}" for n, line in shown)
    more = f"<p class='muted'>{nwarn - len(shown)} more not shown.</p>" if nwarn > len(shown) else ""
    per_log = Counter(n for n, _ in warnings)
    parts.append("<section id='warnings'><h2>Warnings</h2>"
                 + (_table(["log", "warnings"], sorted(per_log.items())) + f"<pre>{_e(wtxt)}</pre>{more}"
                    if nwarn else f"<p class='ok'>No warnings in {len(list(logs))} logs.</p>")
                 + "</section>")

    # ---- configuration
    try:
        import yaml

        cfg_txt = yaml.safe_dump(_plain(config), sort_keys=False)
    except Exception:  # noqa: BLE001
        cfg_txt = json.dumps(_plain(config), indent=2, default=str)
    parts.append(f"<section id='config'><h2>Configuration</h2><pre>{_e(cfg_txt)}</pre></section>")
    if missing:
        log.warning("QA: plots not found: %s", missing)

    import rampflow

    version = getattr(rampflow, "__version__", "")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>rampflow {_e(version)} &middot; generated {_e(now)} &middot; "
        f"{len(exp_rows)} exposures, {len(plots)} plots, {len(tables)} tables, {nwarn} warnings</p></header>"
        "<nav>" + "".join(f"<a href='#{a}'>{_e(n)}</a>" for a, n in nav) + "</nav><main>"
        + "\n".join(parts) + "</main></body></html>\n"
    )
    with io.atomic_path(out_html) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    log.info("wrote %s (%d exposures, %d plots, %d tables, %d warnings)", out_html, len(exp_rows), len(plots),
             len(tables), nwarn)
    return Path(out_html)


def qa_targets(qa_dir, steps) -> list[str]:
    """The QA page of a program (``{qa_dir}/index.html``) when ramp_fit runs, else nothing."""
    return [f"{qa_dir}/index.html"] if "ramp_fit" in steps else []


def _figures(paths, anchor: str) -> str:
    """Figures, grouped by exposure stem in collapsible blocks when there are many."""
    if not paths:
        return ""
    paths = sorted(paths, key=_figure_order)
    if len(paths) <= 6:
        return "<div>" + "".join(_image(p) for p in paths) + "</div>"
    groups: dict[str, list] = OrderedDict()
    for p in paths:
        tokens = p.name.split("_")
        # exposure products: the stem (4 tokens); light curves etc.: the detector prefix
        key = "_".join(tokens[:4]) if p.name.startswith("jw") and len(tokens) > 4 else tokens[0]
        groups.setdefault(key, []).append(p)
    out = []
    for i, (key, ps) in enumerate(groups.items()):
        opened = " open" if i == 0 else ""
        out.append(f"<details{opened}><summary>{_e(key)} ({len(ps)})</summary>"
                   + "".join(_image(p) for p in ps) + "</details>")
    return "".join(out)


_ORDER = ("whitelight", "transit", "spectroscopic", "metrics")


def _figure_order(p: Path):
    tokens = p.name.split("_")
    group = "_".join(tokens[:4]) if p.name.startswith("jw") and len(tokens) > 4 else tokens[0]
    rank = next((i for i, k in enumerate(_ORDER) if k in p.name), len(_ORDER))
    return (group, rank, p.name)


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
