"""HTML building blocks of the QA page: escaping, number formatting, tables, embedded images,
relative links and the page skeleton (inline CSS; no script, no external file)."""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

import numpy as np

#: image types the page embeds as data URIs
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".svg": "image/svg+xml", ".webp": "image/webp"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
     margin:0;color:#1b1f24;background:#fafbfc}
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
figure{display:inline-block;margin:.5em 1em .5em 0;background:#fff;
       border:1px solid #d0d7de;padding:.4em;vertical-align:top}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.8em;color:#57606a;margin-top:.3em;word-break:break-all}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.6em;overflow-x:auto;
    font-size:.8em;white-space:pre-wrap;word-break:break-word}
details{margin:.3em 0}
summary{cursor:pointer;font-weight:600}
.muted{color:#57606a}
"""


def esc(value) -> str:
    """HTML-escaped text of ``value`` (empty for None)."""
    return html.escape("" if value is None else str(value))


def fmt(value) -> str:
    """A value as the page shows it: thousands separators, 5 significant digits, yes / no."""
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


def is_num(value) -> bool:
    """Whether ``value`` is a number (bools are not)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def table(header, rows, caption=None) -> str:
    """An HTML table; numbers are right-aligned, every cell escaped."""
    out = ["<table>"]
    if caption:
        out.append(f"<caption class='muted'>{esc(caption)}</caption>")
    out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(
            f"<td class='num'>{esc(fmt(v))}</td>" if is_num(v) else f"<td>{esc(fmt(v))}</td>" for v in row
        ) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def relative_href(path, base) -> str | None:
    """``path`` relative to the folder ``base`` (POSIX), or None when there is no relative path."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), base)).as_posix()
    except ValueError:
        return None


def link(path, base, text=None) -> str:
    """A relative link to the file (works while the results folder is intact); plain text
    without ``base`` or when no relative path exists."""
    text = Path(path).name if text is None else text
    rel = relative_href(path, base) if base is not None else None
    return esc(text) if rel is None else f"<a href='{esc(rel)}'>{esc(text)}</a>"


def image(path) -> str:
    """A figure with the image embedded as a base64 data URI, captioned with its file name."""
    p = Path(path)
    mime = MIME.get(p.suffix.lower())
    data = base64.b64encode(p.read_bytes()).decode("ascii")
    return (f"<figure><img src='data:{mime};base64,{data}' alt='{esc(p.name)}' data-file='{esc(p.name)}'>"
            f"<figcaption>{esc(p.name)}</figcaption></figure>")


def details(summary: str, body: str, opened: bool = False) -> str:
    """A collapsible block."""
    return f"<details{' open' if opened else ''}><summary>{esc(summary)}</summary>{body}</details>"


def section(anchor: str, title: str, body: str) -> str:
    """A page section with its anchor (the navigation bar links to it)."""
    return f"<section id='{esc(anchor)}'><h2>{esc(title)}</h2>{body}</section>"


def muted(text: str) -> str:
    """A grey explanatory paragraph."""
    return f"<p class='muted'>{esc(text)}</p>"


def document(title: str, subtitle: str, nav, parts) -> str:
    """The whole page: header, navigation bar (``nav``: (anchor, label) pairs) and sections."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        "<nav>" + "".join(f"<a href='#{esc(a)}'>{esc(n)}</a>" for a, n in nav) + "</nav><main>"
        + "\n".join(parts) + "</main></body></html>\n"
    )
