"""The segments of one detector: reading rateints products, their times and integration numbers, oriented arrays.

A segment's product is a (nints, ny, nx) rateints (or gain_scaleints) cube with an INT_TIMES
table; exposure names are parsed by :mod:`rampflow.names`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import io, names
from .config import LightCurveError
from .times import BJD, MJD, select_rows, valid_times

__all__ = ["Segment", "Products", "read_product", "segment_info", "arrays"]


@dataclass
class Segment:
    """One product of a detector: where it is, its exposure and its integrations' times."""

    path: str
    stem: str
    detector: str
    segment: int
    exp_type: str
    nints: int
    shape: tuple
    int_numbers: np.ndarray
    bjd: np.ndarray | None
    mjd: np.ndarray | None
    primary: object = field(repr=False, default=None)


def read_product(path) -> dict:
    """The arrays, headers and tables of a product; LightCurveError names an unreadable file."""
    try:
        return io.read_image_product(path)
    except io.ProductError as exc:
        raise LightCurveError(str(exc)) from None


def _int_numbers_and_times(prod, nints: int, intstart: int | None, path):
    """(integration numbers, BJD_TDB mid-times or None, MJD_UTC mid-times or None) of a product."""
    it = prod.get("INT_TIMES")
    bjd = mjd = None
    if it is not None and len(it):
        it = select_rows(it, nints, intstart, str(path))
        if BJD in it.colnames and valid_times(it[BJD]):
            bjd = np.asarray(it[BJD], dtype=np.float64)
        if MJD in it.colnames and valid_times(it[MJD]):
            mjd = np.asarray(it[MJD], dtype=np.float64)
        nums = (np.asarray(it["integration_number"], dtype=np.int64) if "integration_number" in it.colnames
                else np.arange(intstart or 1, (intstart or 1) + nints))
    else:
        nums = np.arange(intstart or 1, (intstart or 1) + nints)
    return nums, bjd, mjd


def segment_info(path, prod) -> Segment:
    """The :class:`Segment` of a product read by :func:`read_product` (detector and segment
    number from the headers, else from the file name)."""
    prim = prod["primary"]
    if "SCI" not in prod or np.ndim(prod["SCI"]) != 3:
        shape = None if "SCI" not in prod else np.shape(prod["SCI"])
        raise LightCurveError(f"{path}: SCI must be a (nints, ny, nx) rateints cube, got shape {shape}")
    nints = int(prod["SCI"].shape[0])
    stem = names.product_stem(path)
    det = str(prim.get("DETECTOR") or names.stem_detector(stem)).lower()
    seg = prim.get("EXSEGNUM")
    seg = int(seg) if seg not in (None, "") else (names.stem_segment(stem) or 1)
    intstart = prim.get("INTSTART")
    intstart = int(intstart) if intstart not in (None, "") else None
    nums, bjd, mjd = _int_numbers_and_times(prod, nints, intstart, path)
    if bjd is None and mjd is None:
        raise LightCurveError(f"{path}: no usable INT_TIMES mid-times ({BJD} / {MJD}); "
                              "cannot place its integrations in time")
    return Segment(path=str(path), stem=stem, detector=det, segment=seg,
                   exp_type=str(prim.get("EXP_TYPE", "UNKNOWN")).upper(), nints=nints,
                   shape=tuple(prod["SCI"].shape), int_numbers=nums, bjd=bjd, mjd=mjd, primary=prim)


def arrays(prod, transpose: bool):
    """SCI, ERR (float32), DQ (uint32) of a product, each (nints, ny, nx); with ``transpose``
    the last two axes are swapped so that the dispersion runs along x."""
    sci = np.asarray(prod["SCI"], dtype=np.float32)
    if "ERR" in prod:
        err = np.asarray(prod["ERR"], dtype=np.float32)
    elif "VAR_POISSON" in prod and "VAR_RNOISE" in prod:
        err = np.sqrt(np.asarray(prod["VAR_POISSON"], np.float32) + np.asarray(prod["VAR_RNOISE"], np.float32))
    else:
        err = np.full(sci.shape, np.nan, dtype=np.float32)
    dq = np.asarray(prod["DQ"], dtype=np.uint32) if "DQ" in prod else np.zeros(sci.shape, np.uint32)
    if dq.ndim == 2:
        dq = np.broadcast_to(dq, sci.shape)
    if transpose:
        sci, err, dq = (np.swapaxes(a, -1, -2) for a in (sci, err, dq))
    return sci, err, dq


class Products:
    """The segments of one detector, read once each pass (kept in memory while small)."""

    def __init__(self, paths, cache_mb: float = 512.0):
        self.paths = [str(p) for p in paths]
        self._cache: dict[str, dict] = {}
        self._budget = cache_mb * 1e6
        self._used = 0.0

    def get(self, path) -> dict:
        """The product at ``path`` (from the cache when it was kept)."""
        if path in self._cache:
            return self._cache[path]
        prod = read_product(path)
        # keep what extraction needs (ERR, or the variances where ERR is absent)
        drop = ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT") if "ERR" in prod else ("VAR_FLAT",)
        prod = {k: v for k, v in prod.items() if k not in drop and not (k.endswith("_header") and k != "SCI_header")}
        size = sum(v.nbytes for v in prod.values() if isinstance(v, np.ndarray))
        if self._used + size <= self._budget:
            self._cache[path] = prod
            self._used += size
        return prod
