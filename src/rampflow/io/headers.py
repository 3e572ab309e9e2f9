"""Headers of the products rampflow writes: input cards carried forward (all but the
structural ones), updates and HISTORY applied, image-extension headers laid out for the
on-disk dtypes, and the ASDF extension jwst's data models expect.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from astropy.io import fits

from .fitsfile import _DISK, BLOCK

#: header cards that describe the data layout and are never copied between HDUs
_STRUCTURAL = {
    "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4", "NAXIS5", "EXTEND",
    "XTENSION", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "EXTNAME", "EXTVER", "TFIELDS",
    "CHECKSUM", "DATASUM", "END", "THEAP", "BLANK",
}


def _copy_cards(dst: fits.Header, src) -> None:
    """Copy the cards of ``src`` (a header or None) into ``dst``, all but the structural ones;
    HISTORY and COMMENT cards are appended."""
    if src is None:
        return
    for card in src.cards:
        key = card.keyword
        if key in _STRUCTURAL or key.startswith("NAXIS") or key.startswith("TTYPE") \
                or key.startswith("TFORM") or key.startswith("TUNIT") or key.startswith("TDIM"):
            continue
        if key in ("HISTORY", "COMMENT", ""):
            dst.append(card, end=True)
        else:
            dst[key] = (card.value, card.comment)


def _apply_updates(h: fits.Header, updates: dict | None, history=()) -> None:
    """Set ``updates`` (keyword -> value or (value, comment); None skipped) and add ``history``."""
    for key, value in (updates or {}).items():
        if value is None:
            continue
        if isinstance(value, tuple) and isinstance(value[0], str) and len(value[0]) + len(value[1]) > 60:
            value = value[0]  # a long value (a path) keeps no comment rather than a truncated one
        h[key] = value
    for line in history:
        h.add_history(line)


def _primary_header(src, updates=None, history=()) -> fits.Header:
    """A product's primary header: the cards of ``src`` carried forward, then ``updates``."""
    h = fits.PrimaryHDU().header
    h["EXTEND"] = True
    _copy_cards(h, src)
    _apply_updates(h, updates, history)
    return h


def _image_header(extname: str, dtype, shape, src=None) -> fits.Header:
    """The header of an image extension of in-memory ``dtype`` and ``shape`` as we store it
    (BITPIX / BZERO from ``_DISK``), with the cards of ``src`` carried forward."""
    disk, bitpix, bzero = _DISK[np.dtype(dtype)]
    h = fits.Header()
    h["XTENSION"] = "IMAGE"
    h["BITPIX"] = bitpix
    h["NAXIS"] = len(shape)
    for i, n in enumerate(reversed(shape)):
        h[f"NAXIS{i + 1}"] = int(n)
    h["PCOUNT"] = 0
    h["GCOUNT"] = 1
    if bzero is not None:
        h["BSCALE"] = 1
        h["BZERO"] = bzero
    h["EXTNAME"] = extname
    _copy_cards(h, src)
    return h


#: an ASDF file whose tree is empty: the ASDF standard's headers and an empty YAML mapping
_EMPTY_ASDF = (b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
               b"--- !core/asdf-1.1.0\n{}\n...\n")


def asdf_hdu(read_times=None) -> fits.BinTableHDU:
    """The ASDF extension jwst's data models carry (a one-row table holding an ASDF file).

    Our tree is empty, or holds only ``meta.exposure.read_times`` (an exposure's explicit
    read times, which have no FITS keyword): stdatamodels reads the rest of the metadata
    from the FITS keywords through the schema, as for any JWST product. jwst's steps need
    the extension to be there (``Step.call(path)`` reads CRDS parameters through it). The
    document is written out directly (a test checks that ``asdf.open`` reads it without
    warnings): ``asdf.AsdfFile`` would import every installed ASDF plugin first, 2-3 s per
    process.
    """
    doc = _EMPTY_ASDF
    if read_times is not None and len(read_times) > 0:
        rows = "".join("    - [" + ", ".join(_yaml_float(t) for t in np.atleast_1d(g)) + "]\n"
                       for g in read_times)
        doc = _EMPTY_ASDF.replace(b"{}\n", b"meta:\n  exposure:\n    read_times:\n" + rows.encode("ascii"))
    data = np.frombuffer(doc, dtype=np.uint8)[None, :]
    col = fits.Column(array=data, format=f"{data.shape[1]}B", name="ASDF_METADATA")
    return fits.BinTableHDU.from_columns([col], name="ASDF")


def _yaml_float(x) -> str:
    """A float as a YAML 1.1 float literal (round-trips exactly; YAML 1.1 wants a '.')."""
    t = repr(float(x))
    if not np.isfinite(float(x)):
        raise ValueError(f"read_times: not a finite time: {x!r}")
    mant, _, exp = t.partition("e")
    if "." not in mant:
        mant += ".0"
    return mant + ("e" + exp if exp else "")


def read_times_of(hdul, path) -> list | None:
    """``meta.exposure.read_times`` of the ASDF extension of an open FITS file (jwst's
    explicit read times of each group, seconds), as a list of float64 arrays; None when the
    file has no ASDF extension or no read times (the ASDF library is imported only when the
    extension mentions them)."""
    if "ASDF" not in hdul or "ASDF_METADATA" not in hdul["ASDF"].columns.names:
        return None
    raw = np.asarray(hdul["ASDF"].data["ASDF_METADATA"][0]).tobytes()
    if b"read_times" not in raw:
        return None
    import asdf  # heavy (imports its extensions); only files with read times need it

    try:
        with asdf.open(BytesIO(raw), lazy_load=True, memmap=False) as af:  # arrays may point at HDUs
            tree = af.tree.get("meta", {}) or {}
            rt = (tree.get("exposure", {}) or {}).get("read_times")
            if rt is None:
                return None
            times = [np.atleast_1d(np.asarray(g, dtype=np.float64)).copy() for g in rt]
    except Exception as exc:
        raise ValueError(f"{path}: cannot read meta.exposure.read_times from the ASDF extension: {exc}") from exc
    if any(t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) for t in times):
        raise ValueError(f"{path}: meta.exposure.read_times must be a list of non-empty lists of finite "
                         f"times, got {rt!r}")
    return times or None


def _table_bytes(hdu) -> bytes:
    """The bytes of an extension HDU (table or small image) as it sits in a file."""
    buf = BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu.copy()]).writeto(buf)
    return buf.getvalue()[BLOCK:]
