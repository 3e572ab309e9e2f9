"""FITS writers (and the matching readers) for the simulator's products.

Everything the simulator puts on disk as FITS goes through this module:

* ``*_uncal.fits`` exposures, written through ``stdatamodels`` as a ``Level1bModel``
  (uint16 SCI, INT_TIMES and GROUP tables, ASDF extension, real header keywords);
* CRDS-format reference files (MASK, SATURATION, SUPERBIAS, LINEARITY, DARK, READNOISE,
  GAIN), written through the matching ``stdatamodels`` reference models;
* ``*_truth.fits`` files holding what was injected (plain FITS, read back by
  :func:`read_truth`).

Callers describe headers with FITS keyword names (``{"INSTRUME": "NIRSPEC", ...}``); the
translation to datamodel attributes lives here, so no other module needs to know the
datamodel schema.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

#: FITS keyword -> datamodel attribute path, for the uncal files and reference files
_KEYWORD_ATTRS: dict[str, str] = {
    "TELESCOP": "meta.telescope",
    "ORIGIN": "meta.origin",
    "FILENAME": "meta.filename",
    "DATE": "meta.date",
    "TIMESYS": "meta.time_sys",
    # program / observation
    "TITLE": "meta.program.title",
    "PI_NAME": "meta.program.pi_name",
    "CATEGORY": "meta.program.category",
    "PROGRAM": "meta.observation.program_number",
    "OBSERVTN": "meta.observation.observation_number",
    "VISIT": "meta.observation.visit_number",
    "VISITGRP": "meta.observation.visit_group",
    "SEQ_ID": "meta.observation.sequence_id",
    "ACT_ID": "meta.observation.activity_id",
    "EXPOSURE": "meta.observation.exposure_number",
    "OBS_ID": "meta.observation.obs_id",
    "VISIT_ID": "meta.observation.visit_id",
    "DATE-OBS": "meta.observation.date",
    "TIME-OBS": "meta.observation.time",
    "DATE-BEG": "meta.observation.date_beg",
    "DATE-END": "meta.observation.date_end",
    "TSOVISIT": "meta.visit.tsovisit",
    # target
    "TARGNAME": "meta.target.catalog_name",
    "TARGPROP": "meta.target.proposer_name",
    "TARG_RA": "meta.target.ra",
    "TARG_DEC": "meta.target.dec",
    "SRCTYPE": "meta.target.source_type",
    # instrument
    "INSTRUME": "meta.instrument.name",
    "DETECTOR": "meta.instrument.detector",
    "MODULE": "meta.instrument.module",
    "CHANNEL": "meta.instrument.channel",
    "FILTER": "meta.instrument.filter",
    "PUPIL": "meta.instrument.pupil",
    "PWCPOS": "meta.instrument.pupil_position",
    "GRATING": "meta.instrument.grating",
    "FXD_SLIT": "meta.instrument.fixed_slit",
    "APERNAME": "meta.aperture.name",
    # exposure
    "EXP_TYPE": "meta.exposure.type",
    "READPATT": "meta.exposure.readpatt",
    "NOUTPUTS": "meta.exposure.noutputs",
    "NINTS": "meta.exposure.nints",
    "NGROUPS": "meta.exposure.ngroups",
    "NFRAMES": "meta.exposure.nframes",
    "GROUPGAP": "meta.exposure.groupgap",
    "FRMDIVSR": "meta.exposure.frame_divisor",
    "NRSTSTRT": "meta.exposure.nresets_at_start",
    "NRESETS": "meta.exposure.nresets_between_ints",
    "TSAMPLE": "meta.exposure.sample_time",
    "TFRAME": "meta.exposure.frame_time",
    "TGROUP": "meta.exposure.group_time",
    "EFFINTTM": "meta.exposure.integration_time",
    "EFFEXPTM": "meta.exposure.exposure_time",
    "DURATION": "meta.exposure.duration",
    "EXPSTART": "meta.exposure.start_time",
    "EXPMID": "meta.exposure.mid_time",
    "EXPEND": "meta.exposure.end_time",
    "MJD-BEG": "meta.exposure.start_time_mjd",
    "MJD-AVG": "meta.exposure.mid_time_mjd",
    "MJD-END": "meta.exposure.end_time_mjd",
    "BSTRTIME": "meta.time.barycentric_expstart",
    "BMIDTIME": "meta.time.barycentric_expmid",
    "BENDTIME": "meta.time.barycentric_expend",
    "INTSTART": "meta.exposure.integration_start",
    "INTEND": "meta.exposure.integration_end",
    "EXSEGNUM": "meta.exposure.segment_number",
    "EXSEGTOT": "meta.exposure.segment_total",
    "ZEROFRAM": "meta.exposure.zero_frame",
    "GAINFACT": "meta.exposure.gain_factor",
    "NSAMPLES": "meta.exposure.nsamples",
    # subarray
    "SUBARRAY": "meta.subarray.name",
    "SUBSTRT1": "meta.subarray.xstart",
    "SUBSTRT2": "meta.subarray.ystart",
    "SUBSIZE1": "meta.subarray.xsize",
    "SUBSIZE2": "meta.subarray.ysize",
    "FASTAXIS": "meta.subarray.fastaxis",
    "SLOWAXIS": "meta.subarray.slowaxis",
    # reference files
    "REFTYPE": "meta.reftype",
    "AUTHOR": "meta.author",
    "PEDIGREE": "meta.pedigree",
    "USEAFTER": "meta.useafter",
    "DESCRIP": "meta.description",
    "P_EXP_TY": "meta.exposure.p_exptype",
    "P_READPA": "meta.exposure.p_readpatt",
    "P_SUBARR": "meta.subarray.p_subarray",
    "P_GRATIN": "meta.instrument.p_grating",
    "BUNIT": "meta.bunit_data",
}

#: reftype -> (datamodel class name, {array name -> model attribute})
_REFERENCE_MODELS = {
    "mask": ("MaskModel", {"DQ": "dq"}),
    "saturation": ("SaturationModel", {"SCI": "data", "DQ": "dq"}),
    "superbias": ("SuperBiasModel", {"SCI": "data", "DQ": "dq", "ERR": "err"}),
    "linearity": ("LinearityModel", {"COEFFS": "coeffs", "DQ": "dq"}),
    "dark": ("DarkModel", {"SCI": "data", "DQ": "dq", "ERR": "err"}),
    "readnoise": ("ReadnoiseModel", {"SCI": "data"}),
    "gain": ("GainModel", {"SCI": "data"}),
    "ipc": ("IPCModel", {"SCI": "data"}),
    "reset": ("ResetModel", {"SCI": "data", "DQ": "dq", "ERR": "err"}),
    "rscd": ("RSCDModel", {"RSCD_GROUP_SKIP": "rscd_group_skip_table"}),
    "bkg": ("SossBkgModel", {"SCI": "data"}),
    "flat": ("FlatModel", {"SCI": "data", "DQ": "dq", "ERR": "err"}),
}


def _set_attr(model, path: str, value) -> None:
    parts = path.split(".")
    obj = model
    for p in parts[:-1]:
        obj = getattr(obj, p)
    setattr(obj, parts[-1], value)


def _apply_keywords(model, keywords: dict) -> None:
    for key, value in keywords.items():
        if value is None:
            continue
        try:
            attr = _KEYWORD_ATTRS[key]
        except KeyError:
            raise KeyError(f"no datamodel attribute known for FITS keyword {key!r}") from None
        if isinstance(value, np.generic):
            value = value.item()
        _set_attr(model, attr, value)


def int_times_dtype() -> np.dtype:
    """The INT_TIMES table row type of JWST uncal files."""
    return np.dtype([
        ("integration_number", ">i4"),
        ("int_start_MJD_UTC", ">f8"), ("int_mid_MJD_UTC", ">f8"), ("int_end_MJD_UTC", ">f8"),
        ("int_start_BJD_TDB", ">f8"), ("int_mid_BJD_TDB", ">f8"), ("int_end_BJD_TDB", ">f8"),
    ])


def group_dtype() -> np.dtype:
    """The GROUP table row type of JWST uncal files."""
    return np.dtype([
        ("integration_number", ">i4"), ("group_number", ">i2"), ("end_day", ">i2"),
        ("end_milliseconds", ">i4"), ("end_submilliseconds", ">i2"), ("group_end_time", "S26"),
        ("number_of_columns", ">i2"), ("number_of_rows", ">i2"), ("number_of_gaps", ">i2"),
        ("completion_code_number", ">i2"), ("completion_code_text", "S36"),
        ("bary_end_time", ">f8"), ("helio_end_time", ">f8"),
    ])


def write_uncal(path: str | os.PathLike, data: np.ndarray, keywords: dict,
                int_times: np.ndarray, group: np.ndarray | None = None,
                zeroframe: np.ndarray | None = None, refout: np.ndarray | None = None) -> Path:
    """Write a JWST level-1b (``_uncal``) file through ``Level1bModel``.

    data      : uint16 (nints, ngroups, ny, nx), DMS orientation; big-endian ('>u2') input
                saves a full in-memory copy when the file is written
    keywords  : FITS keyword -> value (primary-header keywords of the datamodel schema)
    int_times : structured array with :func:`int_times_dtype` fields
    group     : optional structured array with :func:`group_dtype` fields
    zeroframe : optional uint16 (nints, ny, nx): the ZEROFRAME extension (set ZEROFRAM in
                ``keywords`` to say it is there)
    refout    : optional uint16 (nints, ngroups, ny / 4, nx): MIRI's REFOUT extension (the
                reference output's ny x nx / 4 samples per group, stored as MIRI uncal files do)
    """
    # stdatamodels is heavy to import; only writers need it
    from stdatamodels.jwst import datamodels

    if data.dtype.kind != "u" or data.dtype.itemsize != 2 or data.ndim != 4:
        raise ValueError(f"uncal SCI must be uint16 with 4 dimensions, got {data.dtype} {data.shape}")
    path = Path(path)
    model = datamodels.Level1bModel(data=data)
    _apply_keywords(model, keywords)
    model.meta.filename = path.name
    model.int_times = np.asarray(int_times, dtype=int_times_dtype())
    if group is not None:
        model.group = np.asarray(group, dtype=group_dtype())
    if zeroframe is not None:
        if zeroframe.shape != (data.shape[0],) + data.shape[2:]:
            raise ValueError(f"zeroframe must have shape (nints, ny, nx) = {(data.shape[0],) + data.shape[2:]}, "
                             f"got {zeroframe.shape}")
        model.zeroframe = np.asarray(zeroframe, dtype=np.uint16)
    if refout is not None:
        if refout.ndim != 4 or refout.shape[:2] != data.shape[:2]:
            raise ValueError(f"refout must have shape (nints, ngroups, ., .) = {data.shape[:2]} + (., .), "
                             f"got {refout.shape}")
        model.refout = np.asarray(refout, dtype=np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    model.close()
    return path


def _dq_def_table(rows) -> np.ndarray:
    """DQ_DEF rows (bit, value, name, description) as the schema's structured array."""
    dt = np.dtype([("BIT", ">i4"), ("VALUE", ">u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")])
    return np.array([(int(b), int(v), str(n).encode(), str(d).encode()) for b, v, n, d in rows], dtype=dt)


def write_reference(path: str | os.PathLike, reftype: str, arrays: dict, keywords: dict,
                    dq_def=None, model: str | None = None) -> Path:
    """Write a CRDS-format reference file through its ``stdatamodels`` model class.

    reftype  : mask | saturation | superbias | linearity | dark | readnoise | gain | ipc | reset | rscd | flat
    arrays   : EXTNAME -> array (SCI, DQ, ERR, COEFFS as the type defines; RSCD_GROUP_SKIP table)
    keywords : FITS keyword -> value; must include INSTRUME, DETECTOR, SUBARRAY and the
               subarray corner/size keywords, REFTYPE, AUTHOR, PEDIGREE, USEAFTER, DESCRIP
    dq_def   : rows (BIT, VALUE, NAME, DESCRIPTION) for the DQ_DEF table
    model    : the ``stdatamodels`` class name when the instrument has its own (e.g.
               ``DarkNirspecModel``); None: the reftype's generic class
    """
    # stdatamodels is heavy to import; only writers need it
    from stdatamodels.jwst import datamodels

    reftype = reftype.lower()
    try:
        clsname, attrs = _REFERENCE_MODELS[reftype]
    except KeyError:
        raise ValueError(f"unknown reference type {reftype!r}; known: {sorted(_REFERENCE_MODELS)}") from None
    cls = getattr(datamodels, model or clsname)
    model = cls()
    for ext, arr in arrays.items():
        try:
            attr = attrs[ext.upper()]
        except KeyError:
            raise ValueError(f"{reftype} reference has no {ext} extension (known: {sorted(attrs)})") from None
        setattr(model, attr, arr)
    _apply_keywords(model, keywords)
    path = Path(path)
    model.meta.filename = path.name
    if dq_def is not None:
        model.dq_def = _dq_def_table(dq_def)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    model.close()
    return path


def write_emicorr(path: str | os.PathLike, frequencies: dict, subarray_cases: dict, keywords: dict) -> Path:
    """Write a MIRI EMICORR reference file (ASDF) through ``EmiModel``.

    frequencies    : name -> {"frequency": Hz, "phase_amplitudes": 1-D float array}
    subarray_cases : subarray case ("FULL_FAST", "SLITLESSPRISM", ...) -> {"rowclocks",
                     "frameclocks", "freqs": {"FAST": [names], "SLOW": {detector: [names]}}}
    keywords       : FITS keyword -> value (INSTRUME, DETECTOR, REFTYPE, AUTHOR, PEDIGREE,
                     USEAFTER, DESCRIP, ...)
    """
    from stdatamodels.jwst import datamodels

    model = datamodels.EmiModel()
    model.frequencies = {k: {"frequency": float(v["frequency"]),
                             "phase_amplitudes": np.asarray(v["phase_amplitudes"], dtype=np.float32)}
                         for k, v in frequencies.items()}
    model.subarray_cases = subarray_cases
    _apply_keywords(model, keywords)
    path = Path(path)
    model.meta.filename = path.name
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    model.close()
    return path


def read_reference_keywords(path: str | os.PathLike, keys=("INSTRUME", "DETECTOR", "REFTYPE", "SUBARRAY",
                                                            "USEAFTER", "SUBSTRT1", "SUBSTRT2",
                                                            "SUBSIZE1", "SUBSIZE2")) -> dict:
    """Primary-header keywords of a reference file (missing ones are None); for an ASDF
    reference (``.asdf``) the same keywords from its ``meta`` tree."""
    if str(path).endswith(".asdf"):
        import asdf

        with asdf.open(str(path), lazy_load=True) as af:
            out = {}
            for k in keys:
                obj = af.tree
                for part in _KEYWORD_ATTRS.get(k, "").split("."):
                    obj = obj.get(part) if isinstance(obj, dict) else None
                    if obj is None:
                        break
                out[k] = obj
            return out
    hdr = fits.getheader(str(path), 0)
    return {k: hdr.get(k) for k in keys}


# ----------------------------------------------------------------------------------------
# truth files

def write_truth(path: str | os.PathLike, header: dict, images: dict, tables: dict) -> Path:
    """Write a truth file: primary header cards, IMAGE extensions and BINTABLE extensions.

    header : keyword -> value or (value, comment); keywords longer than 8 characters are
             written as HIERARCH cards
    images : EXTNAME -> ndarray (or (ndarray, {keyword: value}))
    tables : EXTNAME -> astropy Table / structured array (or (table, {keyword: value}))
    """
    prim = fits.PrimaryHDU()
    for key, val in header.items():
        comment = ""
        if isinstance(val, tuple):
            val, comment = val
        if isinstance(val, np.generic):
            val = val.item()
        if val is None:
            val = "N/A"
        standard = len(key) <= 8 and all(c.isupper() or c.isdigit() or c in "-_" for c in key)
        card_key = key if standard else f"HIERARCH {key}"
        prim.header[card_key] = (val, comment)
    hdus = [prim]
    for name, item in images.items():
        arr, kw = item if isinstance(item, tuple) else (item, {})
        hdu = fits.ImageHDU(np.asarray(arr), name=name.upper())
        for k, v in kw.items():
            hdu.header[k] = v
        hdus.append(hdu)
    for name, item in tables.items():
        tab, kw = item if isinstance(item, tuple) else (item, {})
        if not isinstance(tab, Table):
            tab = Table(np.asarray(tab))
        hdu = fits.table_to_hdu(tab)
        hdu.name = name.upper()
        for k, v in kw.items():
            hdu.header[k] = v
        hdus.append(hdu)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(str(path), overwrite=True)
    return path


def read_truth(path: str | os.PathLike) -> dict:
    """Read a truth file written by :func:`write_truth`.

    Returns a dict: ``"header"`` (primary keywords as a plain dict), one entry per image
    extension (lower-case EXTNAME -> ndarray) and per table extension (lower-case
    EXTNAME -> astropy Table).
    """
    out: dict = {}
    with fits.open(str(path), memmap=False) as hdul:
        out["header"] = {k: v for k, v in hdul[0].header.items() if k not in ("COMMENT", "HISTORY", "")}
        for hdu in hdul[1:]:
            name = hdu.name.lower()
            if isinstance(hdu, fits.BinTableHDU):
                out[name] = Table.read(hdu)
            else:
                out[name] = np.array(hdu.data)
    return out
