"""Reference files: resolve (config overrides, else the CRDS client), read, cut to subarray.

Reading CRDS-format reference FITS files is FITS I/O; it goes through
``rampflow.io.read_reference_hdus`` so that module stays the only one touching FITS.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .meta import ExposureMeta
from .steps import get_step_class

log = logging.getLogger(__name__)

#: reference types rampflow's steps read
KNOWN_REFTYPES = ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain", "refpix", "ipc")
#: header values that match any detector / subarray
_WILDCARDS = {"ANY", "N/A", "MULTIPLE", "GENERIC", ""}


class ReferenceError(ValueError):
    """A reference file is missing, unreadable or does not fit the exposure."""


@dataclass
class Reference:
    """One reference file, its image arrays cut to the exposure's subarray.

    arrays : EXTNAME -> ndarray; image extensions are cut on their last two axes
             (rows, columns) to the exposure's subarray. ``ref["SCI"]`` is a shortcut.
    tables : EXTNAME -> astropy Table (e.g. DQ_DEF)
    header : primary header (astropy Header)
    """

    reftype: str
    path: str
    header: object
    arrays: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    ext_headers: dict = field(default_factory=dict)

    def __getitem__(self, extname: str) -> np.ndarray:
        try:
            return self.arrays[extname.upper()]
        except KeyError:
            raise ReferenceError(
                f"{self.path}: {self.reftype} reference has no {extname.upper()} extension "
                f"(has {sorted(self.arrays)})"
            ) from None

    def __contains__(self, extname: str) -> bool:
        return extname.upper() in self.arrays

    @property
    def name(self) -> str:
        """The file's base name (what R_<TYPE> records is built by rampflow.runner.ref_value)."""
        return os.path.basename(self.path)

    def dq(self, extname: str = "DQ") -> np.ndarray:
        """The DQ array translated to pipeline bits through DQ_DEF (uint32)."""
        from .dq import dynamic_mask

        return dynamic_mask(self[extname], self.tables.get("DQ_DEF"))


def cut_to_subarray(array: np.ndarray, ref_corner: tuple[int, int], meta: ExposureMeta, what: str) -> np.ndarray:
    """Cut the last two axes of ``array`` (its 1-based corner ``ref_corner`` = (xstart, ystart))
    to the exposure's subarray. Raises ReferenceError naming ``what`` if it does not cover it."""
    ny, nx = array.shape[-2:]
    rx, ry = ref_corner
    x0 = meta.substrt1 - rx
    y0 = meta.substrt2 - ry
    if x0 < 0 or y0 < 0 or x0 + meta.subsize1 > nx or y0 + meta.subsize2 > ny:
        raise ReferenceError(
            f"{what}: reference covers columns {rx}..{rx + nx - 1}, rows {ry}..{ry + ny - 1} "
            f"({ny}x{nx}), which does not contain the exposure's subarray {meta.subarray} "
            f"(SUBSTRT1={meta.substrt1}, SUBSTRT2={meta.substrt2}, "
            f"SUBSIZE1={meta.subsize1}, SUBSIZE2={meta.subsize2})"
        )
    if (x0, y0, nx, ny) == (0, 0, meta.subsize1, meta.subsize2):
        return array
    return array[..., y0:y0 + meta.subsize2, x0:x0 + meta.subsize1]


def load_reference(reftype: str, path: str | os.PathLike, meta: ExposureMeta) -> Reference:
    """Read a CRDS-format reference file and cut its images to ``meta``'s subarray.

    Checks that the file is for the exposure's instrument and detector (``ANY`` etc. match
    anything); raises ReferenceError naming the file and the mismatch otherwise.
    """
    from . import io

    path = str(path)
    primary, images, tables, ext_headers = io.read_reference_hdus(path)
    inst = str(primary.get("INSTRUME", "")).strip().upper()
    if inst and inst not in _WILDCARDS and inst != meta.instrument:
        raise ReferenceError(f"{path}: {reftype} reference is for instrument {inst}, exposure is {meta.instrument}")
    det = str(primary.get("DETECTOR", "")).strip().upper()
    if det and det not in _WILDCARDS and det != meta.detector:
        raise ReferenceError(f"{path}: {reftype} reference is for detector {det}, exposure is {meta.detector}")
    rtype = str(primary.get("REFTYPE", reftype)).strip().lower()
    if rtype and rtype != reftype.lower():
        raise ReferenceError(f"{path}: file is a {rtype.upper()} reference, expected {reftype.upper()}")
    corner = (int(primary.get("SUBSTRT1", 1)), int(primary.get("SUBSTRT2", 1)))
    arrays = {}
    for extname, arr in images.items():
        if reftype.lower() == "ipc" and arr.ndim == 2:
            pass  # a small IPC kernel (ky, kx), the same for every pixel: not an image to cut
        elif arr.ndim >= 2:
            arr = cut_to_subarray(arr, corner, meta, f"{path} [{extname}]")
        arrays[extname] = arr
    return Reference(reftype=reftype.lower(), path=path, header=primary, arrays=arrays,
                     tables=tables, ext_headers=ext_headers)


def crds_context(pinned: str | None = None) -> str:
    """The CRDS context in force: the pinned one, else CRDS_CONTEXT, else the cache's/server's."""
    if pinned:
        return pinned
    if os.environ.get("CRDS_CONTEXT"):
        return os.environ["CRDS_CONTEXT"]
    import crds

    return crds.get_context_name("jwst")


#: the path :func:`resolve` gives an optional reference type that does not apply
NOT_APPLICABLE = "N/A"


def resolve(meta: ExposureMeta, reftypes, overrides: dict | None = None,
            context: str | None = None, optional=()) -> tuple[dict[str, str], str | None]:
    """Paths of the reference files of ``reftypes`` for this exposure.

    A type in ``overrides`` (reftype -> path) wins; the rest come from the real CRDS client
    (``crds.getreferences`` with the exposure's parameters) using CRDS_PATH /
    CRDS_SERVER_URL from the environment. Returns (paths, context used or None when
    every type came from overrides). Raises ReferenceError naming the type that could
    not be found, except for the types in ``optional`` that CRDS marks not applicable
    (or an override ``N/A``): their path is :data:`NOT_APPLICABLE`.
    """
    overrides = {k.lower(): v for k, v in (overrides or {}).items() if v}
    paths: dict[str, str] = {}
    wanted = []
    for rt in reftypes:
        rt = rt.lower()
        if rt in overrides and str(overrides[rt]).upper() == NOT_APPLICABLE and rt in optional:
            paths[rt] = NOT_APPLICABLE
        elif rt in overrides:
            p = Path(overrides[rt])
            if not p.is_file():
                raise ReferenceError(f"references.overrides.{rt}: file {p} does not exist")
            paths[rt] = str(p)
        else:
            wanted.append(rt)
    if not wanted:
        return paths, None
    import crds

    ctx = crds_context(context)
    try:
        found = crds.getreferences(meta.crds_parameters, reftypes=wanted, observatory="jwst", context=ctx)
    except Exception as exc:  # crds raises CrdsError / CrdsLookupError with a useful message
        raise ReferenceError(
            f"{meta.filename}: CRDS could not provide {wanted} (context {ctx}, "
            f"CRDS_PATH={os.environ.get('CRDS_PATH')}): {exc}"
        ) from exc
    for rt in wanted:
        p = found.get(rt)
        if rt in optional and (p is None or "N/A" in str(p).upper()):
            paths[rt] = NOT_APPLICABLE
            continue
        if not p or str(p).upper().startswith("NOT FOUND") or not os.path.exists(str(p)):
            raise ReferenceError(
                f"{meta.filename}: no {rt.upper()} reference file for {meta.instrument}/"
                f"{meta.detector}/{meta.subarray} in CRDS context {ctx}: {p}"
            )
        paths[rt] = str(p)
    return paths, ctx


def reftypes_for_steps(steps) -> list[str]:
    """Reference types needed by the given step names (in order, without repeats), from the
    step registry."""
    out: list[str] = []
    for s in steps:
        out += [t for t in get_step_class(s).reftypes if t not in out]
    return out


def prefetch(uncal_paths, steps, overrides=None, context=None) -> list[str]:
    """Resolve (and so download into the CRDS cache) every reference each exposure needs.

    Returns one line per exposure and type: ``<exposure> <reftype> <path>``.
    """
    from . import io

    types = reftypes_for_steps(steps)
    optional = [t for s in steps for t in get_step_class(s).optional_reftypes]
    lines = []
    for p in uncal_paths:
        with io.open_ramp(p) as rf:
            paths, ctx = resolve(rf.meta, types, overrides, context, optional=optional)
        for rt in types:
            lines.append(f"{Path(p).name} {rt} {paths[rt]}")
        log.info("%s: %d reference files resolved (context %s)", Path(p).name, len(types), ctx)
    return lines
