"""The download manifest: one JSON record per file (name, stem, size, MD5, the checksum MAST
reports, obs_id, detector, segment, whether it is a TA exposure, dataURI), written atomically,
read back with its version and fields checked, and the exposure stems it lists (for a Snakemake
checkpoint). The workflow writes it from the query alone (:func:`planned_entry`: sizes and
checksums as MAST reports them, ``md5`` null) and fetches each file it lists in its own job
(:func:`manifest_file`).
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
from .client import _colnames, _expected_checksum, _str

_MANIFEST_VERSION = 2
#: versions :func:`read_manifest` reads (1: no ``checksum`` field)
_READABLE = (1, 2)


def _file_digest(path: Path, algo: str = "md5", chunk: int = 1 << 22) -> str:
    """Hex digest (``algo``, MD5 by default) of the file at ``path``."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _reported_checksum(row) -> str | None:
    """The checksum the product table reports for ``row`` as ``"<algo>:<hex>"``, or None."""
    got = _expected_checksum(row)
    return None if got is None else f"{got[0]}:{got[1]}"


def planned_entry(row) -> dict:
    """One manifest record for a product ``row`` of a query, before it is downloaded: the
    size and checksum MAST reports (``checksum`` ``"md5:<hex>"``, or None as for the CAOM
    product table, which carries none) and ``md5`` None."""
    columns = _colnames(row)
    name = os.path.basename(_str(row["productFilename"]) or _str(row["dataURI"]))
    p = names.parse(name)
    size = _str(row["size"]) if "size" in columns else ""
    return {
        "filename": name,
        "stem": p.stem if p else name.rsplit(".", 1)[0],
        "size": int(size) if size.strip().isdigit() else None,
        "md5": None,
        "checksum": _reported_checksum(row),
        "obs_id": _str(row["obs_id"]) if "obs_id" in columns else "",
        "detector": p.detector if p else "",
        "segment": p.segment if p else 0,
        "is_ta": bool(row["is_ta"]) if "is_ta" in columns else False,
        "dataURI": _str(row["dataURI"]) if "dataURI" in columns else "",
    }


def manifest_entry(row, path: str | os.PathLike, *, md5: str | None = None) -> dict:
    """One manifest record for a downloaded product ``row`` stored at ``path``."""
    path = Path(path)
    return {**planned_entry(row), "filename": path.name, "size": path.stat().st_size,
            "md5": md5 if md5 is not None else _file_digest(path)}


def write_manifest(path: str | os.PathLike, entries: Sequence[Mapping[str, Any]],
                   **meta: Any) -> Path:
    """Write the download manifest (JSON) atomically; extra ``meta`` goes in its header.

    Layout: ``{"version": 2, "created": <UTC ISO time>, **meta, "files": [entry, ...]}``
    with entries as made by :func:`manifest_entry` or :func:`planned_entry` (filename, stem,
    size, md5, checksum, obs_id, detector, segment, is_ta, dataURI), sorted by file name.
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
    if doc.get("version") not in _READABLE:
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


def manifest_file(path: str | os.PathLike, stem: str) -> dict:
    """The manifest's record of exposure ``stem`` (a ``KeyError`` naming the manifest if none)."""
    for e in read_manifest(path)["files"]:
        if e["stem"] == stem:
            return e
    raise KeyError(f"{path}: no file of exposure {stem!r} in the MAST manifest")
