"""Resolve every reference file (and CRDS parameter file) of every exposure once, before the
parallel step jobs start, so they never race on the CRDS cache and a missing reference or a bad
parameter stops the run before any step job, naming the exposure, file and key."""

from __future__ import annotations

import logging
from pathlib import Path

from .references import (
    JWST_CLASSES,
    MissingReferenceError,
    ReferenceError,
    find_pars_file,
    reftypes_for_steps,
    resolve,
    resolve_parameters,
    unimplemented_before,
)
from .resolved import CONTEXT, NONE
from .steps import get_step_class
from .steps.params import ParamError

log = logging.getLogger(__name__)


def prefetch(uncal_paths, steps, overrides=None, context=None, *, step_params=None,
             use_crds_pars: bool = True) -> list[str]:
    """Resolve (and so download into the CRDS cache) every reference each exposure needs.

    Returns one line per exposure and type: ``<exposure> <reftype> <path>``, then per step
    ``<exposure> pars-<step> <path or N/A>`` (its CRDS parameter file, and those of the jwst
    steps rampflow does not implement that the step's job checks) and ``<exposure> context
    <CRDS context>``: what the step jobs read instead of asking CRDS again
    (:mod:`rampflow.resolved`). An uncal file
    that cannot be read is logged as an ERROR and skipped: its own step job fails with the
    error naming it, while the other exposures go on (with ``--keep-going``); if none can be
    read, the first error is raised. Every readable exposure is tried; if CRDS cannot provide
    some types, one MissingReferenceError lists each exposure with its missing types and the
    steps that need them. The CRDS parameter files of the steps are fetched too, and their
    values checked against each step's parameter spec (with ``step_params``, the config's
    values, on top): a bad value stops here, before any step job, naming the file and key.
    """
    from . import io

    uncal_paths = list(uncal_paths)
    types = reftypes_for_steps(steps)
    # optional only if every step that needs the type can do without it (saturation can run
    # without a superbias, the superbias step cannot)
    optional = [t for t in types if all(t in get_step_class(s).optional_reftypes
                                        for s in steps if t in get_step_class(s).reftypes)]
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
            paths, ctx = resolve(meta, types, overrides, context, optional=optional)
        except MissingReferenceError as exc:
            failures.append(exc)
            continue
        for rt in types:
            lines.append(f"{Path(p).name} {rt} {paths[rt]}")
        extra: list[str] = []
        pars: dict[str, str | None] = {}
        for s in steps:
            res = resolve_parameters(meta, s, (step_params or {}).get(s), overrides=overrides, context=context,
                                     use_crds_pars=use_crds_pars)
            cls = get_step_class(s)
            if use_crds_pars and cls.official and s in JWST_CLASSES:  # looked up: a file, or none
                pars[s] = res.pars_file
            for name in unimplemented_before(meta, s, use_crds_pars):
                if name not in pars:
                    pars[name] = find_pars_file(meta, name, overrides, context)
            extra += [t for t in cls.reftypes_for(meta, {**cls.defaults, **res.values})
                      if t not in types and t not in extra]
        if extra:  # types a step asks for only with some parameters (clean_flicker_noise's FLAT)
            opt = [t for t in extra if any(t in get_step_class(s).optional_reftypes for s in steps)]
            try:
                xpaths, xctx = resolve(meta, extra, overrides, context, optional=opt)
            except MissingReferenceError as exc:
                failures.append(exc)
                continue
            lines += [f"{Path(p).name} {rt} {xpaths[rt]}" for rt in extra]
            ctx = ctx or xctx
        lines += [f"{Path(p).name} pars-{s} {f or NONE}" for s, f in pars.items()]
        if ctx:
            lines.append(f"{Path(p).name} {CONTEXT} {ctx}")
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


def write_ready(ready, uncal_paths, steps, *, overrides=None, context=None, step_params=None,
                use_crds_pars: bool = True, logger=None) -> int:
    """:func:`prefetch`, then its lines written atomically to the marker ``ready``; returns the
    exit status of the job (1 after logging the error: a missing reference or a bad parameter)."""
    from .io import atomic_path

    try:
        lines = prefetch(uncal_paths, steps, overrides=overrides, context=context, step_params=step_params,
                         use_crds_pars=use_crds_pars)
    except (ReferenceError, ParamError) as exc:
        (logger or log).error("%s", exc)
        return 1
    with atomic_path(ready) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return 0
