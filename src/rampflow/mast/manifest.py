"""The download manifest: one JSON record per downloaded file (name, stem, size, MD5, obs_id,
detector, segment, whether it is a TA exposure, dataURI), written atomically, read back with its
version and fields checked, and the exposure stems it lists (for a Snakemake checkpoint).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import names
from .client import _colnames, _str

_MANIFEST_VERSION = 1


def _file_digest(path: Path, algo: str = "md5", chunk: int = 1 << 22) -> str:
    """Hex digest (``algo``, MD5 by default) of the file at ``path``."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def manifest_entry(row, path: str | os.PathLike, *, md5: str | None = None) -> dict:
    """One manifest record for a downloaded product ``row`` stored at ``path``."""
    path = Path(path)
    columns = _colnames(row)
    p = names.parse(path.name)
    is_ta = bool(row["is_ta"]) if "is_ta" in columns else False
    return {
        "filename": path.name,
        "stem": p.stem if p else path.name.rsplit(".", 1)[0],
        "size": path.stat().st_size,
        "md5": md5 if md5 is not None else _file_digest(path),
        "obs_id": _str(row["obs_id"]) if "obs_id" in columns else "",
        "detector": p.detector if p else "",
        "segment": p.segment if p else 0,
        "is_ta": is_ta,
        "dataURI": _str(row["dataURI"]) if "dataURI" in columns else "",
    }


def write_manifest(path: str | os.PathLike, entries: Sequence[Mapping[str, Any]],
                   **meta: Any) -> Path:
    """Write the download manifest (JSON) atomically; extra ``meta`` goes in its header.

    Layout: ``{"version": 1, "created": <UTC ISO time>, **meta, "files": [entry, ...]}``
    with entries as made by :func:`manifest_entry` (filename, stem, size, md5, obs_id,
    detector, segment, is_ta, dataURI), sorted by file name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": _MANIFEST_VERSION,
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           **{k: v for k, v in meta.items() if v is not None},
           "files": sorted((dict(e) for e in entries), key=lambda e: e["filename"])}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest written by :func:`write_manifest` (checks its version and fields)."""
    doc = json.loads(Path(path).read_text())
    if doc.get("version") != _MANIFEST_VERSION:
        raise ValueError(f"{path}: unsupported manifest version {doc.get('version')!r}")
    for i, e in enumerate(doc.get("files", [])):
        missing = {"filename", "stem", "size", "md5", "detector", "segment"} - set(e)
        if missing:
            raise ValueError(f"{path}: files[{i}] lacks {sorted(missing)}")
    return doc


def manifest_stems(path: str | os.PathLike, *, include_ta: bool = False) -> list[str]:
    """Exposure stems listed in the manifest (e.g. for a Snakemake checkpoint to expand).

    TA exposures are left out unless ``include_ta``: they are downloaded for reference
    but are not ramps to run through the TSO chain.
    """
    files = read_manifest(path)["files"]
    return [e["stem"] for e in files if include_ta or not e.get("is_ta", False)]
