"""Light-curve files: ECSV / CSV tables and JSON results, written atomically; reading them back."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import io

log = logging.getLogger(__name__)

__all__ = ["jsonable", "read_table", "write_json", "write_table"]


def jsonable(obj):
    """``obj`` with numpy scalars and arrays turned into Python values, non-finite floats into None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_table(path) -> Table:
    """Read a light-curve table written by :func:`write_lightcurves` (ECSV, or CSV)."""
    path = str(path)
    if path.endswith(".ecsv"):
        return Table.read(path, format="ascii.ecsv")
    return Table.read(path, format="ascii.csv")


def write_json(obj, path) -> Path:
    """Write a JSON-ready dict atomically (indent 2)."""
    with io.atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(jsonable(obj), indent=2) + "\n")
    return Path(path)


def write_table(table: Table, path, fmt: str) -> Path:
    """Write ``table`` atomically as ECSV (``fmt="ecsv"``, with units and meta) or plain CSV."""
    with io.atomic_path(path) as tmp:
        if fmt == "ecsv":
            table.write(tmp, format="ascii.ecsv", overwrite=True)
        else:
            table.to_pandas().to_csv(tmp, index=False)
    log.info("wrote %s", path)
    return Path(path)

