"""Reference files: resolve (config overrides, else the CRDS client), read, cut to subarray.

Reading CRDS-format reference FITS files is FITS I/O; it goes through
``rampflow.io.read_reference_hdus`` so that module stays the only one touching FITS.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .meta import ExposureMeta
from .steps import get_step_class

log = logging.getLogger(__name__)

#: reference types rampflow's steps read
KNOWN_REFTYPES = ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain", "refpix")
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
        if arr.ndim >= 2:
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
    import crds  # imported late: the CRDS_* environment must be set first

    return crds.get_context_name("jwst")


def how_to_supply(reftypes) -> str:
    """The ways to give rampflow reference files, for an error message about ``reftypes``."""
    ex = sorted(reftypes)[0] if reftypes else "gain"
    return (f"Supply them with references.overrides in the config (reftype: path, e.g. "
            f"'references: {{overrides: {{{ex}: /path/to/{ex}.fits}}}}'; '--override {ex}=FILE' for "
            f"'rampflow step'), or set CRDS_PATH (or references.crds_path) to a CRDS cache that holds "
            f"them, or set CRDS_SERVER_URL (e.g. https://jwst-crds.stsci.edu) so that CRDS can "
            f"download them.")


class MissingReferenceError(ReferenceError):
    """CRDS cannot provide reference types an exposure needs (no match in the context, no
    cache, no server). The message names the exposure, the types and how to supply them."""

    def __init__(self, exposure: str, reftypes, reason: str):
        self.exposure = str(exposure)
        self.reftypes = [str(t).lower() for t in reftypes]
        self.reason = reason
        types = ", ".join(t.upper() for t in self.reftypes)
        settings = ", ".join(f"{k}={os.environ.get(k) or '(unset)'}"
                             for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_MODE"))
        super().__init__(f"{self.exposure}: no reference file for {types}: {reason} ({settings}). "
                         f"{how_to_supply(self.reftypes)}")


class _Collect(logging.Handler):
    """Keeps the messages of the records it sees (CRDS's errors, logged before it exits)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def _crds_call(exposure: str, reftypes):
    """Run CRDS client calls. CRDS reports a missing cache or server by logging an error and
    calling sys.exit (log.fatal_error_on_exception), or raises CrdsError deep in the client:
    both become a MissingReferenceError that names the exposure and the types."""
    collect = _Collect()
    crds_log = logging.getLogger("CRDS")  # crds's logger (it does not propagate to the root)
    crds_log.addHandler(collect)
    try:
        yield
    except (Exception, SystemExit) as exc:
        said = collect.messages[-1] if collect.messages else ""
        what = str(exc) if not isinstance(exc, SystemExit) else "CRDS exited"
        reason = f"CRDS failed: {said or what}" if said.strip() != what.strip() else f"CRDS failed: {what}"
        raise MissingReferenceError(exposure, reftypes, reason) from exc
    finally:
        crds_log.removeHandler(collect)


def _not_found(value) -> bool:
    return not value or str(value).upper().startswith("NOT FOUND")


def resolve(meta: ExposureMeta, reftypes, overrides: dict | None = None,
            context: str | None = None) -> tuple[dict[str, str], str | None]:
    """Paths of the reference files of ``reftypes`` for this exposure.

    A type in ``overrides`` (reftype -> path) wins; the rest come from the real CRDS client
    (``crds.getrecommendations`` for every type first, then ``crds.getreferences`` to fetch
    them) using CRDS_PATH / CRDS_SERVER_URL from the environment. Returns (paths, context
    used or None when every type came from overrides).

    Raises ReferenceError for an override that is not a file, and MissingReferenceError
    naming the exposure, every type CRDS cannot provide and how to supply them -- also
    when CRDS itself gives up (no cache, no server: its fatal exit is caught).
    """
    overrides = {k.lower(): v for k, v in (overrides or {}).items() if v}
    paths: dict[str, str] = {}
    wanted = []
    for rt in reftypes:
        rt = rt.lower()
        if rt in overrides:
            p = Path(overrides[rt])
            if not p.is_file():
                raise ReferenceError(f"references.overrides.{rt}: file {p} does not exist")
            paths[rt] = str(p)
        else:
            wanted.append(rt)
    if not wanted:
        return paths, None
    exposure = meta.filename
    with _crds_call(exposure, wanted):
        import crds  # imported late: the CRDS_* environment must be set first

        ctx = crds_context(context)
        recs = crds.getrecommendations(meta.crds_parameters, reftypes=wanted, observatory="jwst", context=ctx)
    missing = {rt: str(recs.get(rt) or "NOT FOUND") for rt in wanted if _not_found(recs.get(rt))}
    if missing:
        why = "; ".join(f"{rt.upper()}: {v[len('NOT FOUND'):].strip() or 'no match'}" for rt, v in missing.items())
        raise MissingReferenceError(
            exposure, list(missing),
            f"CRDS context {ctx} has no match for {meta.instrument}/{meta.detector}/{meta.subarray} ({why})")
    with _crds_call(exposure, wanted):
        found = crds.getreferences(meta.crds_parameters, reftypes=wanted, observatory="jwst", context=ctx)
    absent = [rt for rt in wanted if _not_found(found.get(rt)) or not os.path.exists(str(found.get(rt)))]
    if absent:
        raise MissingReferenceError(exposure, absent, f"CRDS context {ctx} names "
                                    f"{[found.get(rt) for rt in absent]}, which are not in the cache")
    paths.update({rt: str(found[rt]) for rt in wanted})
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

    Returns one line per exposure and type: ``<exposure> <reftype> <path>``. An uncal file
    that cannot be read is logged as an ERROR and skipped: its own step job fails with the
    error naming it, while the other exposures go on (with ``--keep-going``); if none can be
    read, the first error is raised. Every readable exposure is tried; if CRDS cannot provide
    some types, one MissingReferenceError lists each exposure with its missing types and the
    steps that need them.
    """
    from . import io

    uncal_paths = list(uncal_paths)
    types = reftypes_for_steps(steps)
    needed_by = {rt: [s for s in steps if rt in get_step_class(s).reftypes] for rt in types}
    lines, failures, unreadable = [], [], []
    for p in uncal_paths:
        try:
            rf = io.open_ramp(p)
        except io.ProductError as exc:
            log.error("%s: cannot be read, so its references are not resolved (its jobs will fail): %s",
                      Path(p).name, exc)
            unreadable.append(exc)
            continue
        with rf:
            meta = rf.meta
        try:
            paths, ctx = resolve(meta, types, overrides, context)
        except MissingReferenceError as exc:
            failures.append(exc)
            continue
        for rt in types:
            lines.append(f"{Path(p).name} {rt} {paths[rt]}")
        log.info("%s: %d reference files resolved (context %s)", Path(p).name, len(types), ctx)
    if unreadable and len(unreadable) == len(uncal_paths):
        raise unreadable[0]
    if len(failures) == 1:
        exc = failures[0]
        raise MissingReferenceError(exc.exposure, exc.reftypes,
                                    f"{exc.reason}; needed by {_needs(exc.reftypes, needed_by)}")
    if failures:
        lines = [f"  {f.exposure}: {', '.join(t.upper() for t in f.reftypes)} "
                 f"(needed by {_needs(f.reftypes, needed_by)}): {f.reason}" for f in failures]
        missing = sorted({t for f in failures for t in f.reftypes})
        raise MissingReferenceError(
            f"{len(failures)} of {len(uncal_paths)} exposures", missing,
            "CRDS cannot provide them for these exposures:\n" + "\n".join(lines) + "\n")
    return lines


def _needs(reftypes, needed_by: dict) -> str:
    steps = [s for rt in reftypes for s in needed_by.get(rt, [])]
    return ", ".join(dict.fromkeys(steps)) or "the steps"
