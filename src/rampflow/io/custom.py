"""FITS reading and writing for the custom steps and diagnostics (part of :mod:`rampflow.io`).

* :func:`read_groups` / :func:`read_groupdq`: a few groups, or only GROUPDQ, of a chunk of a
  ramp (memory-mapped, so only those bytes are read) -- the destripe mask and the diagnostics
  need the first / last groups or the flags of every integration, not the whole cube;
* :func:`write_modified_reference`: a copy of a CRDS-format reference file with some image
  extensions replaced and provenance added (custom saturation thresholds);
* :func:`read_image`: one 2-D image of a user-supplied FITS file (a threshold map, a mask);
* :func:`write_mask_product` / :func:`read_mask_product`: the destripe background mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from . import RampFile, _open_fits, _scaled, atomic_path, write_image_product


def read_groups(ramp: RampFile, groups, ints: slice = slice(None),
                rows: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """SCI (float32) and GROUPDQ (uint8) of the listed ``groups`` for ``ints`` x ``rows``.

    ramp   : an open :class:`rampflow.io.RampFile`
    groups : sequence of 0-based group indices (negative counts from the end)
    Returns two fresh native arrays of shape (nint_chunk, len(groups), nrow_chunk, nx);
    GROUPDQ is zeros for an uncal file.
    """
    ng = ramp.shape[1]
    idx = [int(g) % ng if -ng <= int(g) < ng else None for g in groups]
    if any(i is None for i in idx):
        raise ValueError(f"{ramp.path}: group indices {list(groups)} outside 0..{ng - 1}")
    parts_sci, parts_dq = [], []
    for g in idx:
        raw = np.asarray(ramp._sci[ints, g, rows, :])
        parts_sci.append(_scaled(raw, ramp.sci_header, np.float32))
        if ramp._gdq is None:
            parts_dq.append(np.zeros(raw.shape, dtype=np.uint8))
        else:
            parts_dq.append(np.array(ramp._gdq[ints, g, rows, :], dtype=np.uint8))
    sci = np.ascontiguousarray(np.stack(parts_sci, axis=1), dtype=np.float32)
    gdq = np.ascontiguousarray(np.stack(parts_dq, axis=1), dtype=np.uint8)
    return sci, gdq


def read_groupdq(ramp: RampFile, ints: slice = slice(None), rows: slice = slice(None)) -> np.ndarray:
    """GROUPDQ (uint8, (nint_chunk, ngroups, nrow_chunk, nx)) only; zeros for an uncal file."""
    if ramp._gdq is None:
        n = len(range(*ints.indices(ramp.shape[0])))
        r = len(range(*rows.indices(ramp.shape[2])))
        return np.zeros((n, ramp.shape[1], r, ramp.shape[3]), dtype=np.uint8)
    return np.array(ramp._gdq[ints, :, rows, :], dtype=np.uint8)


def read_pixel_ramp(ramp: RampFile, integration: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
    """One pixel's ramp: SCI float32 (ngroups,) and GROUPDQ uint8 (ngroups,)."""
    raw = np.asarray(ramp._sci[integration, :, y, x])
    sci = _scaled(raw, ramp.sci_header, np.float32)
    gdq = (np.zeros(raw.shape, np.uint8) if ramp._gdq is None
           else np.array(ramp._gdq[integration, :, y, x], dtype=np.uint8))
    return np.asarray(sci, dtype=np.float32), gdq


def read_primary_header(path) -> fits.Header:
    """The primary header of any FITS file (a copy)."""
    with _open_fits(path) as h:
        return h[0].header.copy()


def read_image(path, extname: str | None = None) -> tuple[np.ndarray, fits.Header]:
    """A 2-D image from a FITS file: extension ``extname``, else the first HDU with 2-D data.

    Returns (float64 native array with BZERO/BSCALE applied, that HDU's header).
    Raises ValueError naming the file when there is no such image.
    """
    with _open_fits(path) as h:
        if extname is not None:
            if extname.upper() not in h:
                raise ValueError(f"{path}: no {extname.upper()} extension (has {[x.name for x in h]})")
            hdus = [h[extname.upper()]]
        else:
            hdus = [x for x in h if not isinstance(x, (fits.BinTableHDU, fits.TableHDU))
                    and x.data is not None and x.data.ndim == 2]
        if not hdus or hdus[0].data is None or hdus[0].data.ndim != 2:
            raise ValueError(f"{path}: no 2-D image found" + (f" in {extname}" if extname else ""))
        hdu = hdus[0]
        arr = np.asarray(hdu.data)
        if arr.dtype.kind in "iu":
            arr = _scaled(arr, hdu.header, np.float64)
        else:
            arr = np.array(arr, dtype=np.float64)
        return arr, hdu.header.copy()


def write_modified_reference(src_path, out_path, arrays: dict, updates: dict | None = None,
                             history=()) -> Path:
    """Copy a CRDS-format reference file, replacing the data of some image extensions.

    Every HDU (DQ, DQ_DEF, ASDF, ...) and every header card is kept; ``arrays`` maps
    EXTNAME -> new array (same shape as the original; written with the original dtype),
    ``updates`` adds primary-header keywords (value or (value, comment)) and ``history``
    HISTORY lines. Written atomically.
    """
    src_path = str(src_path)
    _open_fits(src_path).close()  # existence / readability check with a clear message
    with fits.open(src_path, memmap=False) as out:
        out.readall()
        for name, arr in arrays.items():
            name = name.upper()
            if name not in out:
                raise ValueError(f"{src_path}: no {name} extension to replace")
            old = out[name]
            arr = np.asarray(arr)
            if old.data is None or tuple(old.data.shape) != arr.shape:
                raise ValueError(
                    f"{src_path}: new {name} shape {arr.shape} != original "
                    f"{None if old.data is None else old.data.shape}"
                )
            if old.data.dtype.kind != "f":
                raise ValueError(f"{src_path}: only floating-point extensions can be replaced "
                                 f"({name} is {old.data.dtype})")
            old.data = arr.astype(old.data.dtype.newbyteorder("="))
        prim = out[0].header
        for key, value in (updates or {}).items():
            prim[key] = value
        for line in history:
            prim.add_history(line)
        with atomic_path(out_path) as tmp:
            out.writeto(tmp, overwrite=True, output_verify="silentfix")
    return Path(out_path)


def write_mask_product(path, mask: np.ndarray, image: np.ndarray, like_primary, updates: dict | None = None,
                       history=(), trace: Table | None = None) -> Path:
    """Write a destripe background mask product.

    mask  : bool (ny, nx), True = background pixel used for the line medians (MASK, uint8 0/1)
    image : float32 (ny, nx), the median last-minus-first group image it was made from (SCI)
    trace : optional table (TRACE: x, y_centroid, y_fit) for spectra
    """
    arrays = {"SCI": np.asarray(image, dtype=np.float32), "MASK": np.asarray(mask, dtype=np.uint8)}
    tables = {"TRACE": trace} if trace is not None else None
    return write_image_product(path, arrays, like_primary, updates=updates, history=history,
                               datamodel="ImageModel", tables=tables, order=["SCI", "MASK"])


def read_mask_product(path) -> tuple[np.ndarray, fits.Header, np.ndarray | None]:
    """Read a background mask: our product (MASK extension) or any FITS with a 2-D image.

    Returns (mask bool (ny, nx) True = background, primary header, SCI image or None).
    Any non-zero, finite value counts as background (the jwst ``user_background_mask``
    convention).
    """
    with _open_fits(path) as h:
        names = [x.name for x in h]
        prim = h[0].header.copy()
    if "MASK" in names:
        arr, _ = read_image(path, "MASK")
        image = read_image(path, "SCI")[0].astype(np.float32) if "SCI" in names else None
    else:
        arr, _ = read_image(path)
        image = None
    mask = np.isfinite(arr) & (arr != 0)
    return mask, prim, image
