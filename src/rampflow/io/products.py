"""Whole-file image products, read and written in one piece: rate / rateints / fitopt products
(:func:`write_image_product` atomically, with headers carried forward and the ASDF extension;
:func:`read_image_product`), CRDS-format reference files (:func:`read_reference_hdus`), the
first image of a file (:func:`read_first_image`) and a human summary of any product
(:func:`describe`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from ..dq import decode
from .fitsfile import ProductError, _open_fits, _scaled
from .headers import _copy_cards, _primary_header, asdf_hdu
from .timing import timed_call
from .writer import atomic_path


@timed_call("write")
def write_image_product(path, arrays: dict, like_primary, like_sci=None, updates: dict | None = None,
                        history=(), datamodel: str = "ImageModel", tables: dict | None = None,
                        order=None) -> Path:
    """Write a rate / rateints / fitopt product atomically.

    ``arrays``: EXTNAME -> array (float32 science arrays, uint32 DQ); written in ``order``
    (default: SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE, then the rest). ``tables``: EXTNAME ->
    astropy Table or BinTableHDU (e.g. INT_TIMES).
    """
    prim = dict(updates or {})
    prim["DATAMODL"] = datamodel
    hdus = [fits.PrimaryHDU(header=_primary_header(like_primary, prim, history))]
    default = ["SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"]
    names = list(order or [n for n in default if n in arrays]) + \
        [n for n in arrays if n not in (order or default)]
    for name in names:
        arr = np.asarray(arrays[name])
        hdr = fits.Header()
        if name == "SCI" and like_sci is not None:
            _copy_cards(hdr, like_sci)
        if name == "DQ" or name.endswith("DQ"):
            hdu = fits.ImageHDU(arr.astype(np.uint32), header=hdr, name=name, uint=True)
        else:
            hdu = fits.ImageHDU(arr, header=hdr, name=name)
        hdus.append(hdu)
    from astropy.table import Table  # here, not at import (0.1-0.4 s of a job's start-up)

    for name, t in (tables or {}).items():
        hdu = t.copy() if isinstance(t, fits.BinTableHDU) else fits.table_to_hdu(Table(t))
        hdu.name = name
        hdus.append(hdu)
    hdus.append(asdf_hdu())
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return Path(path)


@timed_call("read")
def read_image_product(path) -> dict:
    """Read a rate / rateints / fitopt product: {'primary': Header, EXTNAME: array or Table}."""
    from astropy.table import Table

    out = {}
    with _open_fits(path) as h:
        out["primary"] = h[0].header.copy()
        for hdu in h[1:]:
            if isinstance(hdu, fits.BinTableHDU):
                if hdu.name != "ASDF":
                    out[hdu.name] = Table(hdu.data.copy())
            elif hdu.data is not None:
                kind = np.uint32 if hdu.name.endswith("DQ") else None
                out[hdu.name] = (_scaled(np.asarray(hdu.data), hdu.header, np.uint32) if kind
                                 else np.array(hdu.data, dtype=hdu.data.dtype.newbyteorder("=")))
                out[hdu.name + "_header"] = hdu.header.copy()
    return out


def read_reference_hdus(path, cut=None):
    """Read a CRDS-format reference file: (primary header, images, tables, extension headers).

    Images are native-endian arrays with BZERO/BSCALE applied (DQ arrays as uint32);
    tables are astropy Tables (e.g. DQ_DEF). ``cut(primary_header, extname, image)``, when
    given, is applied to each image as stored, before it is converted (a subarray's part of a
    full-frame reference: the rest is neither converted nor read from the file).
    """
    from astropy.table import Table

    path = str(path)
    with _open_fits(path) as h:
        images, tables, headers = {}, {}, {}
        for hdu in h[1:]:
            name = hdu.name.upper()
            headers[name] = hdu.header.copy()
            if isinstance(hdu, fits.BinTableHDU):
                if name != "ASDF":
                    tables[name] = Table(hdu.data.copy())
            elif hdu.data is not None:
                dtype = np.uint32 if name in ("DQ", "PIXELDQ") or name.endswith("DQ") else np.float32
                data = hdu.data if cut is None else cut(h[0].header, name, hdu.data)
                if data.dtype.kind == "f" and dtype is np.float32:
                    arr = data.astype(np.float64 if data.dtype.itemsize == 8 else np.float32)
                else:
                    arr = _scaled(np.asarray(data), hdu.header, dtype)
                images[name] = np.ascontiguousarray(arr)
        return h[0].header.copy(), images, tables, headers


def read_first_image(path, dtype=np.uint32) -> np.ndarray:
    """The first HDU holding image data (as ``astropy.io.fits.getdata`` finds it), BZERO/BSCALE
    applied, as ``dtype``; used for dq_init's ``user_supplied_dq`` file."""
    with _open_fits(path) as h:
        for hdu in h:
            if hdu.data is not None and not isinstance(hdu, fits.BinTableHDU):
                return np.ascontiguousarray(_scaled(np.asarray(hdu.data), hdu.header, dtype))
    raise ProductError(f"{path}: holds no image data")


def describe(path) -> str:
    """A short human summary of a product: model, shape, what ran, reference files, DQ counts."""
    lines = []
    with _open_fits(path) as h:
        prim = h[0].header
        lines.append(f"{path}")
        lines.append(f"  model {prim.get('DATAMODL', '?')}  {prim.get('INSTRUME', '?')}/{prim.get('DETECTOR', '?')}"
                     f"  {prim.get('EXP_TYPE', '?')}  subarray {prim.get('SUBARRAY', '?')}")
        for hdu in h[1:]:
            shape = None if hdu.data is None or isinstance(hdu, fits.BinTableHDU) else hdu.data.shape
            rows = len(hdu.data) if isinstance(hdu, fits.BinTableHDU) and hdu.data is not None else None
            if shape:
                dtype = hdu.data.dtype.newbyteorder("=").name
                if hdu.header.get("BZERO") in (32768, 2147483648) and hdu.data.dtype.kind == "i":
                    dtype = dtype.replace("int", "uint")
                lines.append(f"  {hdu.name:12s} {shape} {dtype}")
            else:
                lines.append(f"  {hdu.name:12s} table, {rows} rows")
        steps = [f"{k}={prim[k]}" for k in prim if k.startswith("S_")]
        refs = [f"{k}={prim[k]}" for k in prim if k.startswith("R_")]
        if steps:
            lines.append("  steps: " + ", ".join(steps))
        if refs:
            lines.append("  references: " + ", ".join(refs))
        if "CRDS_CTX" in prim:
            lines.append(f"  CRDS context: {prim['CRDS_CTX']}")
        dqname = "PIXELDQ" if "PIXELDQ" in h else ("DQ" if "DQ" in h else None)
        if dqname:
            dqarr = _scaled(np.asarray(h[dqname].data), h[dqname].header, np.uint32)
            values, counts = np.unique(dqarr, return_counts=True)
            tally: dict[str, int] = {}
            for v, c in zip(values, counts):
                for name in decode(int(v)):
                    tally[name] = tally.get(name, 0) + int(c)
            if tally:
                lines.append(f"  {dqname} flags: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    return "\n".join(lines)
