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

from . import resolved
from .meta import ExposureMeta
from .steps import get_step_class

log = logging.getLogger(__name__)

#: reference types rampflow's steps read (the config schema's ``references.overrides`` keys; a test
#: checks that every step's reftypes are here)
KNOWN_REFTYPES = ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain", "refpix", "ipc",
                  "reset", "rscd", "emicorr", "sirskernel", "flat", "pastasoss", "bkg", "wavelengthrange")
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
    header : primary header (astropy Header; for an ASDF reference, a dict of the FITS-style
             keywords INSTRUME, DETECTOR, REFTYPE read from its ``meta``)
    tree   : an ASDF reference's tree (e.g. EMICORR's ``frequencies`` and ``subarray_cases``),
             arrays as numpy arrays; empty for FITS references
    """

    reftype: str
    path: str
    header: object
    arrays: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    ext_headers: dict = field(default_factory=dict)
    tree: dict = field(default_factory=dict)

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
    to the exposure's subarray (a C-contiguous copy of the cut, or ``array`` itself when it
    is already the subarray's size). Raises ReferenceError naming ``what`` if it does not cover it."""
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
    # a copy, not a view: the full frame is not kept alive (16 MB a plane for a subarray of 64 kB)
    return array[..., y0:y0 + meta.subsize2, x0:x0 + meta.subsize1].copy()


def load_reference(reftype: str, path: str | os.PathLike, meta: ExposureMeta) -> Reference:
    """Read a CRDS-format reference file and cut its images to ``meta``'s subarray.

    Checks that the file is for the exposure's instrument and detector (``ANY`` etc. match
    anything); raises ReferenceError naming the file and the mismatch otherwise.
    """
    from . import io

    path = str(path)
    if path.lower().endswith(".asdf"):
        return _load_asdf_reference(reftype, path, meta)
    def cut(primary, extname, arr):  # before conversion: only the subarray's part is read and converted
        if reftype.lower() == "ipc" and arr.ndim == 2:
            return arr  # a small IPC kernel (ky, kx), the same for every pixel: not an image to cut
        if arr.ndim < 2:
            return arr
        _check_header(primary, reftype, path, meta)
        corner = (int(primary.get("SUBSTRT1", 1)), int(primary.get("SUBSTRT2", 1)))
        return cut_to_subarray(arr, corner, meta, f"{path} [{extname}]")

    primary, arrays, tables, ext_headers = io.read_reference_hdus(path, cut=cut)
    _check_header(primary, reftype, path, meta)
    return Reference(reftype=reftype.lower(), path=path, header=primary, arrays=arrays,
                     tables=tables, ext_headers=ext_headers)


def _check_header(primary, reftype: str, path: str, meta: ExposureMeta) -> None:
    """ReferenceError naming the file unless its INSTRUME, DETECTOR and REFTYPE fit."""
    inst = str(primary.get("INSTRUME", "")).strip().upper()
    if inst and inst not in _WILDCARDS and inst != meta.instrument:
        raise ReferenceError(f"{path}: {reftype} reference is for instrument {inst}, exposure is {meta.instrument}")
    det = str(primary.get("DETECTOR", "")).strip().upper()
    if det and det not in _WILDCARDS and det != meta.detector:
        raise ReferenceError(f"{path}: {reftype} reference is for detector {det}, exposure is {meta.detector}")
    rtype = str(primary.get("REFTYPE", reftype)).strip().lower()
    if rtype and rtype != reftype.lower():
        raise ReferenceError(f"{path}: file is a {rtype.upper()} reference, expected {reftype.upper()}")


def _plain_tree(node):
    """An ASDF tree as plain dicts, lists, numpy arrays and scalars (read fully)."""
    if isinstance(node, dict):
        return {str(k): _plain_tree(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain_tree(v) for v in node]
    if hasattr(node, "__array__") and not isinstance(node, (str, bytes)):
        return np.array(node)
    return node


def _load_asdf_reference(reftype: str, path: str, meta: ExposureMeta) -> Reference:
    """An ASDF reference file (EMICORR, SIRSKERNEL): its tree, checked like a FITS reference's header."""
    import asdf

    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            tree = _plain_tree({k: v for k, v in af.tree.items() if k not in ("asdf_library", "history")})
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is reported the same way
        raise ReferenceError(f"{path}: cannot read the {reftype} reference as ASDF: {exc}") from None
    m = tree.get("meta") or {}
    header = {"INSTRUME": str((m.get("instrument") or {}).get("name", "")),
              "DETECTOR": str((m.get("instrument") or {}).get("detector", "")),
              "REFTYPE": str(m.get("reftype", reftype))}
    _check_header(header, reftype, path, meta)
    return Reference(reftype=reftype.lower(), path=path, header=header, tree=tree)


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


#: the path :func:`resolve` gives an optional reference type that does not apply
NOT_APPLICABLE = "N/A"


#: optional reference types CRDS holds no files of for an instrument (MIRI has no superbias step):
#: not applicable without asking CRDS, so a run with only ``references.overrides`` needs none
NOT_FOR_INSTRUMENT = {"MIRI": frozenset({"superbias"})}


def resolve(meta: ExposureMeta, reftypes, overrides: dict | None = None,
            context: str | None = None, optional=()) -> tuple[dict[str, str], str | None]:
    """Paths of the reference files of ``reftypes`` for this exposure.

    A type in ``overrides`` (reftype -> path) wins; the rest come from the real CRDS client
    (``crds.getrecommendations`` for every type first, then ``crds.getreferences`` to fetch
    them) using CRDS_PATH / CRDS_SERVER_URL from the environment. Returns (paths, context
    used or None when every type came from overrides).

    Raises ReferenceError for an override that is not a file, and MissingReferenceError
    naming the exposure, every type CRDS cannot provide and how to supply them -- also
    when CRDS itself gives up (no cache, no server: its fatal exit is caught).
    Types in ``optional`` that CRDS marks not applicable (or an override ``N/A``, or that the
    instrument never has: :data:`NOT_FOR_INSTRUMENT`) get the path :data:`NOT_APPLICABLE`.
    """
    overrides = {k.lower(): v for k, v in (overrides or {}).items() if v}
    paths: dict[str, str] = {}
    wanted = []
    listed = False  # some type from the references job's list (rampflow.resolved)
    for rt in reftypes:
        rt = rt.lower()
        if rt in overrides and str(overrides[rt]).upper() == NOT_APPLICABLE and rt in optional:
            paths[rt] = NOT_APPLICABLE
        elif rt in optional and rt not in overrides and rt in NOT_FOR_INSTRUMENT.get(meta.instrument, ()):
            paths[rt] = NOT_APPLICABLE  # CRDS has no such files for the instrument: no need to ask
        elif rt in overrides:
            p = Path(overrides[rt])
            if not p.is_file():
                raise ReferenceError(f"references.overrides.{rt}: file {p} does not exist")
            paths[rt] = str(p)
        elif (given := resolved.reference(rt, rt in optional)) is not None:
            paths[rt] = NOT_APPLICABLE if given == resolved.NONE else given
            listed = True
        else:
            wanted.append(rt)
    if not wanted:
        return paths, resolved.context() if listed else None
    exposure = meta.filename
    with _crds_call(exposure, wanted):
        import crds  # imported late: the CRDS_* environment must be set first

        ctx = crds_context(context)
        recs = crds.getrecommendations(meta.crds_parameters, reftypes=wanted, observatory="jwst", context=ctx)
    # an optional type CRDS marks not applicable (e.g. IPC for a mode without one): no file, no error
    na = [rt for rt in wanted if rt in optional and (recs.get(rt) is None or "N/A" in str(recs.get(rt)).upper())]
    paths.update(dict.fromkeys(na, NOT_APPLICABLE))
    wanted = [rt for rt in wanted if rt not in na]
    if not wanted:
        return paths, ctx
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


# --------------------------------------------------------------------------- CRDS parameter files

#: jwst 3.0's calwebb_detector1 steps in the order it runs them (near-infrared, then MIRI),
#: with the jwst class whose name gives the step's CRDS parameter reftype (``pars-<class>``)
#: and whether the jwst step is skipped by its own spec (``skip = boolean(default=True)``).
JWST_DETECTOR1 = {
    "NIR": ("group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity",
            "dark_current", "charge_migration", "jump", "picture_frame", "clean_flicker_noise",
            "persistence", "ramp_fit", "gain_scale"),
    "MIRI": ("group_scale", "dq_init", "emicorr", "saturation", "ipc", "firstframe", "lastframe", "reset",
             "linearity", "rscd", "dark_current", "refpix", "charge_migration", "jump", "picture_frame",
             "clean_flicker_noise", "persistence", "ramp_fit", "gain_scale"),
}
JWST_CLASSES = {
    "group_scale": "GroupScaleStep", "dq_init": "DQInitStep", "emicorr": "EmiCorrStep",
    "saturation": "SaturationStep", "ipc": "IPCStep", "superbias": "SuperBiasStep", "refpix": "RefPixStep",
    "rscd": "RscdStep", "firstframe": "FirstFrameStep", "lastframe": "LastFrameStep", "reset": "ResetStep",
    "linearity": "LinearityStep", "dark_current": "DarkCurrentStep", "persistence": "PersistenceStep",
    "charge_migration": "ChargeMigrationStep", "jump": "JumpStep", "picture_frame": "PictureFrameStep",
    "clean_flicker_noise": "CleanFlickerNoiseStep", "ramp_fit": "RampFitStep", "gain_scale": "GainScaleStep",
}
#: jwst 3.0 steps whose spec skips them unless told otherwise
JWST_SKIPPED_BY_DEFAULT = ("emicorr", "firstframe", "charge_migration", "picture_frame", "clean_flicker_noise",
                           "persistence")
#: stpipe's parameters of every step (not the algorithm's); of these only ``skip`` means anything
#: to rampflow, the others (output names, hooks) belong to how stpipe writes files
STPIPE_PARAMETERS = ("pre_hooks", "post_hooks", "output_file", "output_dir", "output_ext", "output_use_model",
                     "output_use_index", "save_results", "skip", "suffix", "search_output_file", "input_dir")


def pars_reftype(step: str) -> str:
    """The CRDS parameter reference type of a jwst Detector1 step, e.g. ``pars-jumpstep``
    (stpipe: ``pars-`` + the step class name in lower case). KeyError for other steps."""
    try:
        return "pars-" + JWST_CLASSES[step].lower()
    except KeyError:
        raise KeyError(f"{step!r} is not a jwst calwebb_detector1 step; it has no CRDS parameter file") from None


def read_pars_file(path) -> dict:
    """The ``parameters`` of a CRDS parameter reference file (stpipe's ASDF step config:
    ``class``, ``name``, ``parameters``, optional ``meta``; read by :mod:`rampflow.pars_files`).
    Raises ReferenceError naming the file when it is not one."""
    from .pars_files import ParsFileError, read_parameters

    try:
        return read_parameters(path)
    except ParsFileError as exc:
        raise ReferenceError(str(exc)) from exc


def find_pars_file(meta: ExposureMeta, step: str, overrides: dict | None = None,
                   context: str | None = None) -> str | None:
    """Path of the parameter file of ``step`` for this exposure, or None when there is none.

    ``overrides`` may name it (``pars-jumpstep: file.asdf``; ``N/A`` or an empty value = no
    file). Otherwise the real CRDS client selects it as for jwst (its rmaps match on the
    exposure's EXP_TYPE, instrument, detector, subarray, readout pattern, TSO flag, ...). As
    stpipe does, a type the context does not define, or no matching file, means no parameter
    file. With no CRDS configured at all (neither CRDS_PATH nor CRDS_SERVER_URL set) there are
    none either: rampflow never contacts a server it was not pointed at (jwst would ask the
    default one).
    """
    reftype = pars_reftype(step)
    overrides = {k.lower(): v for k, v in (overrides or {}).items()}
    if reftype in overrides:
        given = overrides[reftype]
        if not given or str(given).strip().upper() in ("N/A", "NONE"):
            return None
        if not Path(given).is_file():
            raise ReferenceError(f"references.overrides.{reftype}: file {given} does not exist")
        return str(given)
    listed, path = resolved.pars_file(step)  # what the references job found (rampflow.resolved)
    if listed:
        return path
    if not (os.environ.get("CRDS_PATH") or os.environ.get("CRDS_SERVER_URL")):
        log.info("%s: no CRDS configured (CRDS_PATH / CRDS_SERVER_URL unset): no %s parameter file",
                 meta.filename, reftype.upper())
        return None
    import crds  # imported late: the CRDS_* environment must be set first

    try:
        with _crds_call(meta.filename, [reftype]):
            ctx = crds_context(context)
    except MissingReferenceError as exc:  # no cache, no server: the reference types' error says so
        log.warning("%s: no %s parameter file: %s", meta.filename, reftype.upper(), exc.reason)
        return None
    if not _context_defines(ctx, meta.instrument, reftype):
        log.info("%s: CRDS context %s defines no %s parameter files for %s", meta.filename, ctx,
                 reftype.upper(), meta.instrument)
        return None
    try:
        # which file first: a lookup with no match then costs nothing (getreferences would log it
        # as a CRDS error, whose formatting loads every datamodel schema: seconds of start-up)
        rec = crds.getrecommendations(meta.crds_parameters, reftypes=[reftype], observatory="jwst",
                                      context=ctx).get(reftype)
        if _not_found(rec) or "N/A" in str(rec).upper():
            log.info("%s: no %s parameter file in CRDS context %s (%s)", meta.filename, reftype.upper(), ctx,
                     str(rec or "no match")[:200])
            return None
        found = crds.getreferences(meta.crds_parameters, reftypes=[reftype], observatory="jwst", context=ctx)
    except (Exception, SystemExit) as exc:  # CrdsLookupError when no file matches; jwst carries on
        log.info("%s: no %s parameter file in CRDS context %s (%s)", meta.filename, reftype.upper(), ctx, exc)
        return None
    p = found.get(reftype)
    if not p or str(p).upper().startswith(("NOT FOUND", "N/A")) or not os.path.exists(str(p)):
        log.info("%s: no %s parameter file in CRDS context %s", meta.filename, reftype.upper(), ctx)
        return None
    return str(p)


def _context_defines(ctx: str, instrument: str, reftype: str) -> bool:
    """Whether the (cached) CRDS context has an rmap for ``reftype`` of ``instrument`` (so a
    lookup of a type it lacks is not made, and CRDS logs no error); True when it cannot tell."""
    import crds

    try:
        imap = crds.get_cached_mapping(ctx).get_imap(instrument.lower())
    except Exception:  # context not cached yet (a server will provide it) or unknown instrument
        return True
    sel = imap.selections.get(reftype)
    return sel is not None and str(sel).upper() != "N/A"


@dataclass
class ResolvedParams:
    """A step's parameters for one exposure and where each came from.

    values  : name -> value, what the step is built with (jwst default, then the CRDS
              parameter file, then the config's ``step_params``)
    sources : name -> "default", the parameter file's name, or "config"
    pars_file : path of the parameter file used (None: none, or the layer turned off)
    skip    : whether the step is skipped: ``step_params.<step>.skip`` (true / false; null =
              jwst's rule: the parameter file's ``skip``, else jwst's own default), else the
              parameter file's ``skip`` (None if neither says)
    skip_source : who decided ``skip`` ("config", the parameter file's name, "jwst's default")
    notes   : what the parameter file holds that was not applied, and why (also logged)
    """

    step: str
    values: dict
    sources: dict
    pars_file: str | None = None
    skip: bool | None = None
    skip_source: str | None = None
    notes: list = field(default_factory=list)

    @property
    def pars_name(self) -> str:
        return os.path.basename(self.pars_file) if self.pars_file else "N/A"

    def changed(self) -> dict:
        """name -> (value, source) of the parameters not at jwst's default (for the log)."""
        return {k: (v, self.sources[k]) for k, v in self.values.items() if self.sources[k] != "default"}

    def history(self, values: dict | None = None) -> list[str]:
        """HISTORY lines: the parameter file, each parameter as ``name=value (source)`` (``values``:
        the step's own, e.g. after it normalised them; default :attr:`values`), then the notes."""
        values = self.values if values is None else values
        lines = [f"rampflow {self.step} parameter file: {self.pars_name}"]
        text = ", ".join(f"{k}={values[k]!r} ({self.sources.get(k, 'default')})" for k in sorted(values))
        lines.append(f"rampflow {self.step}: {text}")
        lines += [f"rampflow {self.step} note: {n}" for n in self.notes]
        return lines


def _implemented_value(cls, name: str, value) -> bool:
    """Whether rampflow's step implements ``name=value`` (its ``implemented_values`` lists, per
    parameter, the only values it implements; strings compare case-insensitively)."""
    allowed = getattr(cls, "implemented_values", {}).get(name)
    if allowed is None:
        return True
    norm = value.upper() if isinstance(value, str) else value
    return any(norm == (a.upper() if isinstance(a, str) else a) for a in allowed)


def resolve_parameters(meta: ExposureMeta, step: str, config_params: dict | None = None, *,
                       overrides: dict | None = None, context: str | None = None,
                       use_crds_pars: bool = True) -> ResolvedParams:
    """The parameters of rampflow's step ``step`` for the exposure ``meta``, in three layers:
    jwst's code default (the step's ``defaults``), then the CRDS parameter file
    (``pars-<jwst class>``; see :func:`find_pars_file`; skipped with ``use_crds_pars=False``
    and for rampflow's custom steps), then ``config_params`` (the config's ``step_params``).

    From the parameter file, a parameter the step does not take is not applied (an INFO note),
    and a value rampflow does not implement (e.g. ramp_fit's ``algorithm: OLS``) is not
    applied either: a WARNING names the step, parameter and file, and the note is recorded.
    Those in the config are applied as given (an unknown name or unimplemented value then
    fails when the step is built, naming it).
    """
    cls = get_step_class(step)
    values = dict(cls.defaults)
    sources = dict.fromkeys(values, "default")
    res = ResolvedParams(step, values, sources)
    config_params = dict(config_params or {})
    asked_skip = config_params.pop("skip", _UNSET)
    if use_crds_pars and cls.official and step in JWST_CLASSES:
        res.pars_file = find_pars_file(meta, step, overrides, context)
    if res.pars_file:
        name = os.path.basename(res.pars_file)
        for key, value in read_pars_file(res.pars_file).items():
            if key == "skip":
                res.skip, res.skip_source = bool(value), name
                if res.skip and asked_skip is _UNSET or asked_skip is None:
                    res.notes.append(f"{name} sets skip={res.skip}: the step is {'skipped' if res.skip else 'run'}, "
                                     "as jwst would")
            elif key in STPIPE_PARAMETERS or key in ("class", "name"):
                continue
            elif key not in values:
                res.notes.append(f"{name} sets {key}={value!r}, which rampflow's {step} does not take: ignored")
                log.info("%s: %s: %s", meta.filename, step, res.notes[-1])
            elif not _implemented_value(cls, key, value):
                res.notes.append(f"{name} sets {key}={value!r}, which rampflow does not implement: NOT applied "
                                 f"(kept {values[key]!r}); jwst's {JWST_CLASSES[step]} would apply it")
                log.warning("%s: %s: %s", meta.filename, step, res.notes[-1])
                sources[key] = f"default; {name} asks {value!r}: not implemented"
            else:
                # a value of the wrong type or out of range stops here, naming the file and key,
                # not minutes later inside a kernel (unless the config's own value replaces it)
                if key not in (config_params or {}):
                    cls.param_specs[key].check(value, f"{res.pars_file}: {step}.{key}")
                values[key] = value
                sources[key] = name
    for key, value in config_params.items():
        values[key] = value
        sources[key] = "config"
    if asked_skip is None and res.skip_source is None:  # jwst's rule, and no file says: jwst's default
        res.skip, res.skip_source = cls.skip_default, "jwst's default"
    elif asked_skip is not _UNSET and asked_skip is not None:
        res.skip, res.skip_source = bool(asked_skip), "config"
    return res


#: ``step_params.<step>.skip`` not given (a listed step runs unless its parameter file says skip)
_UNSET = object()


def unimplemented_before(meta: ExposureMeta, step: str, use_crds_pars: bool = True) -> list[str]:
    """The unimplemented jwst steps whose parameter files :func:`check_unimplemented_pars` reads for ``step``."""
    from .steps import MODULES

    order = JWST_DETECTOR1["MIRI" if meta.instrument == "MIRI" else "NIR"]
    if not use_crds_pars or step not in order:
        return []
    before = []
    for name in reversed(order[:order.index(step)]):
        # a step rampflow implements ends the search, unless jwst skips it by default (persistence,
        # charge_migration: not in a default steps list, so they cannot be the ones to tell)
        if name in MODULES and not get_step_class(name).skip_default:
            break
        if name not in MODULES:
            before.insert(0, name)
    return before


def check_unimplemented_pars(meta: ExposureMeta, step: str, *, overrides: dict | None = None,
                             context: str | None = None, use_crds_pars: bool = True) -> list[str]:
    """Notes on the jwst Detector1 steps rampflow does not implement that jwst runs just before rampflow's official
    step ``step`` (:func:`unimplemented_before`, in jwst's order for the instrument): where a CRDS parameter file
    turns one on (``skip: false``) a WARNING names the step and the file -- rampflow does not run it; where one only
    sets parameters, an INFO note says they are ignored. Returns the notes (recorded in the product's HISTORY)."""
    notes = []
    for name in unimplemented_before(meta, step, use_crds_pars):
        path = find_pars_file(meta, name, overrides, context)
        if not path:
            continue
        pars = read_pars_file(path)
        fname = os.path.basename(path)
        skip = bool(pars.get("skip", name in JWST_SKIPPED_BY_DEFAULT))
        others = {k: v for k, v in pars.items() if k not in STPIPE_PARAMETERS}
        if not skip:
            text = (f"{fname} turns on jwst's {name} step (skip=False; parameters {others}), which rampflow does "
                    f"not implement: NOT run")
            log.warning("%s: %s", meta.filename, text)
        else:
            text = (f"{fname} holds parameters {others} for jwst's {name} step (skipped); rampflow has no "
                    f"{name}: ignored")
            log.info("%s: %s", meta.filename, text)
        notes.append(text)
    return notes
