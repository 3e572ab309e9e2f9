"""Opening FITS files and converting their stored values: the helpers every reader and writer
of :mod:`rampflow.io` shares.

``_open_fits`` opens a file memory-mapped and checks it is not truncated (raising
:class:`ProductError`, which names the file); ``_scaled`` applies BZERO / BSCALE; ``_DISK``
maps in-memory dtypes to their on-disk form.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from astropy.io import fits

#: FITS block size in bytes
BLOCK = 2880
#: on-disk dtype, BITPIX and BZERO for the in-memory dtypes we write
_DISK = {
    np.dtype(np.float32): (">f4", -32, None),
    np.dtype(np.float64): (">f8", -64, None),
    np.dtype(np.uint8): ("u1", 8, None),
    np.dtype(np.int16): (">i2", 16, None),
    np.dtype(np.uint16): (">i2", 16, 32768),
    np.dtype(np.int32): (">i4", 32, None),
    np.dtype(np.uint32): (">i4", 32, 2147483648),
}


class ProductError(ValueError):
    """An input file is not a usable JWST product; the message names the file and the fault."""


def _open_fits(path) -> fits.HDUList:
    """``path`` opened memory-mapped with stored values unscaled; a missing, unreadable or
    truncated file raises :class:`ProductError` naming it."""
    path = str(path)
    if not os.path.exists(path):
        raise ProductError(f"{path}: file does not exist")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="File may have been truncated")
            hdul = fits.open(path, memmap=True, do_not_scale_image_data=True, lazy_load_hdus=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ProductError(f"{path}: not a readable FITS file ({exc})") from exc
    size = os.path.getsize(path)
    for k, hdu in enumerate(hdul):
        info = hdu.fileinfo()
        end = info["datLoc"] + info["datSpan"] if info else 0
        if end > size:
            hdul.close()
            raise ProductError(f"{path}: truncated file: it has {size} bytes, but extension {k} "
                               f"({hdu.name}) needs {end} (an interrupted download or copy?)")
    return hdul


def _is_scaled(header) -> bool:
    """Whether BZERO / BSCALE of an image header change its stored values."""
    return bool(header.get("BZERO", 0) or (header.get("BSCALE", 1) or 1) != 1)


def _scaled(raw: np.ndarray, header, dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Apply BSCALE/BZERO of ``header`` to a raw (possibly big-endian) slice, returning ``dtype``
    (written into ``out`` when given, which saves a temporary the size of the slice)."""
    raw = np.asarray(raw)
    bzero = header.get("BZERO", 0) or 0
    bscale = header.get("BSCALE", 1) or 1
    size = raw.dtype.itemsize
    if raw.dtype.kind == "i" and bscale == 1 and bzero == 2 ** (8 * size - 1):
        # signed storage of unsigned data: flipping the sign bit adds BZERO exactly
        native = raw.astype(raw.dtype.newbyteorder("="), copy=False)
        unsigned = native.view(f"u{size}") ^ np.array(bzero, dtype=f"u{size}")
        if out is None:
            return unsigned.astype(dtype, copy=False)
        np.copyto(out, unsigned, casting="unsafe")
        return out
    if out is None:
        out = raw.astype(dtype)
    else:
        np.copyto(out, raw, casting="unsafe")
    if bscale != 1:
        out *= bscale
    if bzero:
        out += bzero
    return out


def _grown(buf: np.ndarray | None, nbytes: int) -> np.ndarray:
    """``buf`` if it holds at least ``nbytes``, else a new flat uint8 buffer of that size."""
    if buf is None or buf.nbytes < nbytes:
        return np.empty(nbytes, dtype=np.uint8)
    return buf


def _table(hdul, name):
    """The binary table ``name`` of ``hdul`` as an astropy Table (a copy), or None if absent."""
    if name in hdul and isinstance(hdul[name], fits.BinTableHDU):
        from astropy.table import Table  # not at import: the references job never needs it

        return Table(hdul[name].data.copy())
    return None
