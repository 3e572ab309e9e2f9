"""Build a Step for an exposure: resolve and load its reference files and its extra inputs
(read from the file given, or built from the step's input ramp), check its parameters."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import io, references
from ..io.timing import timed_call
from ..steps import get_step_class
from ..steps.base import INPUTS, Step

log = logging.getLogger("rampflow")


def set_threads(threads: int | None) -> None:
    """Let numba (and the chunk I/O) use ``threads`` threads (the Snakemake rule's ``threads:``)."""
    if not threads:
        return
    io.set_io_threads(threads)
    import numba  # heavy: imported when threads are set

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


@timed_call("setup")
def load_step(name: str, meta, *, params: dict | None = None, overrides: dict | None = None,
              crds_context: str | None = None, inputs: dict | None = None, ramp=None,
              use_crds_pars: bool = True, prepass: bool = False):
    """Resolve and load what step ``name`` needs for the exposure ``meta`` and build it.

    params : the config's parameters of the step; they beat those of the step's CRDS
        parameter file (``pars-<jwst class>``, unless ``use_crds_pars`` is False), which beat
        jwst's defaults (:func:`rampflow.references.resolve_parameters`). The step gets the
        result as ``step.resolved`` (values and where each came from); a parameter file's
        ``skip: true`` skips a ramp step. Parameter files of the jwst steps rampflow does not
        implement that jwst runs just before this one are checked too (their notes are added).
    inputs : step input name -> file path (e.g. "destripe_mask"); an input not given is built
        from ``ramp`` (the step's open input RampFile); without one, with ``prepass`` (a row
        pass) one of the step's ``prepass_inputs`` is None (the step makes it in a pre-pass),
        else ValueError.
    Returns (step, reference paths, CRDS context or None, input name -> what to record).
    """
    cls = get_step_class(name)
    cls.check_params(dict(params or {}))
    resolved = references.resolve_parameters(meta, name, params, overrides=overrides, context=crds_context,
                                             use_crds_pars=use_crds_pars)
    if cls.official:
        resolved.notes += references.check_unimplemented_pars(meta, name, overrides=overrides, context=crds_context,
                                                              use_crds_pars=use_crds_pars)
    params = {k: v for k, v in resolved.values.items() if resolved.sources[k] != "default"}
    paths, ctx = references.resolve(meta, cls.reftypes_for(meta, {**cls.defaults, **resolved.values}), overrides,
                                    crds_context, optional=cls.optional_reftypes)
    refs = {rt: references.load_reference(rt, p, meta) for rt, p in paths.items()
            if p != references.NOT_APPLICABLE}
    arrays, recorded = {}, {}
    for key in cls.inputs:
        spec = INPUTS[key]
        given = (inputs or {}).get(key)
        if given:
            arrays[key] = spec.read(given, meta)
            recorded[key] = Path(given).name
        elif not spec.needs_ramp:
            arrays[key] = spec.build(meta, params)
            recorded[key] = spec.built_name
        elif ramp is not None:
            arrays[key] = spec.build(ramp, params)
            recorded[key] = spec.built_name
        elif prepass and key in cls.prepass_inputs:
            arrays[key] = None
            recorded[key] = "made in the job"
        else:
            raise ValueError(f"step {name!r}: no {key!r} input given, and the step does not read a ramp "
                             "file it could be built from")
    step = cls(meta, refs, arrays, **params)
    step.resolved = resolved
    changed = resolved.changed()
    if resolved.pars_file or changed:
        log.info("%s: parameter file %s; not at jwst's default: %s", name, resolved.pars_name,
                 ", ".join(f"{k}={v!r} ({src})" for k, (v, src) in sorted(changed.items())) or "none")
    if resolved.skip:
        who = {"config": f"step_params.{name}.skip", "jwst's default": "jwst's default (no CRDS parameter file "
               "turns it on)"}.get(resolved.skip_source, f"CRDS parameter file {resolved.pars_name}")
        if cls.kind == "ramp":
            step.skipped = f"{who} sets skip=True" if resolved.skip_source != "jwst's default" else f"skipped by {who}"
        else:
            resolved.notes.append(f"{who} sets skip=True; rampflow still runs {name} (it makes "
                                  "the rate products)")
            log.warning("%s: %s: %s", meta.filename, name, resolved.notes[-1])
    return step, paths, ctx, recorded


@timed_call("setup")
def one_pass_conflicts(steps: list[str], ramp_path: str, params: dict, *, overrides: dict | None = None,
                       crds_context: str | None = None, use_crds_pars: bool = True) -> dict:
    """Steps of ``steps`` that cannot share the one pass for the exposure ``ramp_path`` with
    their resolved parameters (config over CRDS parameter file over jwst's defaults):
    step name -> reason (``Step.one_pass_conflict``). Empty when every step can."""
    with io.open_ramp(ramp_path) as rf:
        meta = rf.meta
    found = {}
    for name in steps:
        cls = get_step_class(name)
        if cls.one_pass_conflict.__func__ is Step.one_pass_conflict.__func__:
            continue  # the default: no conflict, no parameters to resolve
        resolved = references.resolve_parameters(meta, name, params.get(name), overrides=overrides,
                                                 context=crds_context, use_crds_pars=use_crds_pars)
        why = cls.one_pass_conflict(meta, resolved.values)
        if why:
            found[name] = why
    return found
