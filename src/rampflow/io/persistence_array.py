"""The persistence array file of jwst's persistence step (ASDF, jwst's own layout), so a file
written here can be given to jwst's ``persistence_array_file`` and the other way round.

The tree maps a detector name to ``{"filename": exposure file, "rows": int array, "cols":
int array, "vals": float64 array, "pers_time": persistence_time}``: the non-zero entries of
the (ny, nx) array of window end times (epoch seconds).
"""

from __future__ import annotations

import os
from pathlib import Path

import asdf
import numpy as np

from .fitsfile import ProductError
from .writer import atomic_path


def read_persistence_entry(path, detector: str) -> dict | None:
    """The entry of ``detector`` in the persistence array file ``path`` (keys filename, rows,
    cols, vals, pers_time; arrays loaded), or None when the file or the detector is absent.
    Raises ProductError naming the file when the entry lacks a key."""
    path = Path(path)
    if not path.is_file():
        return None
    with asdf.open(str(path), lazy_load=False, memmap=False) as af:
        if detector not in af.tree:
            return None
        node = af.tree[detector]
        missing = [k for k in ("rows", "cols", "vals", "pers_time") if k not in node]
        if missing:
            raise ProductError(f"{path}: persistence entry of {detector} lacks {missing}")
        return {"filename": str(node.get("filename", "")), "rows": np.asarray(node["rows"]),
                "cols": np.asarray(node["cols"]), "vals": np.asarray(node["vals"], dtype=np.float64),
                "pers_time": node["pers_time"]}


def write_persistence_array(path: str | os.PathLike, array: np.ndarray, detector: str, filename: str,
                            persistence_time) -> Path:
    """Write ``array`` float64 (ny, nx) for ``detector`` (one detector per file), atomically."""
    rows, cols = np.nonzero(array)
    tree = {detector: {"filename": str(filename), "rows": rows, "cols": cols,
                       "vals": np.asarray(array[rows, cols], dtype=np.float64), "pers_time": persistence_time}}
    with atomic_path(path) as tmp:
        asdf.AsdfFile(tree).write_to(str(tmp))
    return Path(path)
