"""Run steps on files: the one entry point, :func:`run`.

This is the glue between files and the pure step functions; the Snakemake adapter
(``workflow/scripts/run_steps.py``), the ``rampflow step`` command and the benchmarks call
:func:`run`. A job is a list of consecutive steps on one exposure; it is planned into passes
(:mod:`.plan`), each reading its input once in bounded chunks (:mod:`.ramp_pass`: chunks of
integrations, or of rows with every integration; :mod:`.rate_products`: whole rate
products). Reference files and step inputs are resolved and loaded before any chunk is read
(:mod:`.loading`); products record what ran (:mod:`.provenance`). Memory stays at about
``chunk_mb`` whatever the size of the exposure.
"""

from __future__ import annotations

import contextlib
import logging

from .. import io, references
from .. import resolved as _resolved
from ..io.timing import timed_call
from ..steps import get_step_class
from .loading import load_step, one_pass_conflicts, set_threads
from .plan import Pass, chunk_ranges, plan_passes
from .provenance import provenance, ref_keyword, ref_value
from .ramp_pass import run_pass
from .rate_products import RATE_KEYS, run_products_pass

__all__ = ["DEFAULT_CHUNK_MB", "RATE_KEYS", "chunk_ranges", "load_step", "provenance", "ref_keyword",
           "ref_value", "run", "set_threads"]

log = logging.getLogger("rampflow")

DEFAULT_CHUNK_MB = 512


def _check_job(steps: list[str], passes: list[Pass], outputs: dict, params: dict) -> None:
    """Raise ValueError (before anything is read or written) for parameters or outputs that
    no step of the job takes or makes, and for a last step without its output paths."""
    unknown = sorted(set(params) - set(steps))
    if unknown:
        raise ValueError(f"runner.run: parameters for unknown steps {unknown} (this job runs {steps})")
    for name, values in params.items():  # names, types and ranges against each step's spec
        get_step_class(name).check_params(values)
    made = {p for s in steps for p in get_step_class(s).products}
    extra = sorted(set(outputs) - made)
    if extra:
        raise ValueError(f"runner.run: outputs {extra} are not products of the steps {steps}")
    last = passes[-1].last
    need = [p for p in last.products if p not in last.optional_products]
    missing = [p for p in need if p not in outputs]
    if missing:
        raise ValueError(f"runner.run: the last step {last.name!r} needs output path(s) for {missing}")


def _remove_stale_temporaries(outputs: dict) -> None:
    """Remove what a killed run of this job left: the ``.part`` files of its products and its
    scratch folder (named after its first product), so a rerun leaves no temporary behind."""
    stale = [t for path in outputs.values() for t in io.remove_temporaries(path)]
    if outputs:
        stale += io.remove_temporaries(next(iter(outputs.values())), "tmpdir")
    if stale:
        log.info("removed %d stale temporar%s of an interrupted run: %s", len(stale),
                 "y" if len(stale) == 1 else "ies", ", ".join(t.name for t in stale))


@timed_call("setup")
def _check_references(steps: list[str], passes: list[Pass], inputs: dict, overrides: dict | None,
                      crds_context: str | None) -> None:
    """Resolve every reference type of a job of several passes before the first pass writes a
    product, so that a type CRDS cannot provide (MissingReferenceError) leaves no product
    behind. One pass resolves all its steps' references before it writes anything."""
    types = references.reftypes_for_steps(steps)
    if len(passes) < 2 or not types or "ramp" not in inputs:
        return
    with io.open_ramp(inputs["ramp"]) as rf:
        meta = rf.meta
    references.resolve(meta, types, overrides, crds_context)


def _joined(passes: list[Pass]) -> list[str]:
    """Integration steps the plan runs on row chunks (the one pass)."""
    return [s for p in passes if p.mode == "rows" for s in p.steps if get_step_class(s).chunking == "integrations"]


def _plan(steps: list[str], inputs: dict, params: dict, **common) -> list[Pass]:
    """The job's passes; when steps join a row pass (the one pass), the exposure and the
    steps' resolved parameters are checked first: a step that cannot share it
    (``Step.one_pass_conflict``) makes the steps before it run in passes of their own, as in
    the fused layout, and the log says why (products are the same either way)."""
    passes = plan_passes(steps, inputs)
    joined = _joined(passes)
    if not joined or "ramp" not in inputs:
        return passes
    conflicts = one_pass_conflicts(steps, inputs["ramp"], params, **common)
    if not conflicts:
        return passes
    passes = plan_passes(steps, inputs, no_join=set(conflicts))
    alone = [s for s in joined if s not in _joined(passes)]
    for name, why in conflicts.items():
        log.warning("one pass: %s cannot share it (%s); %s run%s in passes of their own (the fused layout)",
                    name, why, ", ".join(alone) or "no step", "s" if len(alone) == 1 else "")
    return passes


def run(steps: list[str], inputs: dict, outputs: dict, *, params: dict | None = None,
        overrides: dict | None = None, crds_context: str | None = None,
        chunk_mb: float = DEFAULT_CHUNK_MB, threads: int | None = None, use_crds_pars: bool = True,
        resolved: str | None = None, exposure: str | None = None) -> None:
    """Run consecutive ``steps`` on one exposure and write the products asked for.

    inputs  : ``{"ramp": path}`` when the first step reads a ramp (a ramp step or ramp_fit),
              ``{"rate": path, "rateints": path}`` when it is gain_scale; plus the files a
              step reads besides its input (``"destripe_mask"``; without it destripe's mask
              is built from its input ramp).
    outputs : product suffix -> path: a ramp step's name for its ramp product, ``rate``,
              ``rateints`` (and ``fitopt``) for ramp_fit, ``gain_scale`` and
              ``gain_scaleints`` for gain_scale. The last step's products are required; an
              intermediate product left out is not written (a temporary file stands in when
              a later pass must read it).
    params  : step name -> that step's parameters (jwst names): the config's layer, over the
              step's CRDS parameter file (``pars-<jwst class>``; ``use_crds_pars=False`` turns
              that layer off) over jwst's defaults; products record where each value came from.

    resolved, exposure : the workflow's references job's list (its ``.ready`` marker) and the
              exposure's uncal file name in it: the reference and parameter files it lists
              are used without asking CRDS again (:mod:`rampflow.resolved`; anything it
              lacks is resolved as without it).

    Products are identical to running the steps one by one. Raises ValueError naming the
    step, parameter or product at fault, and references.MissingReferenceError (before
    anything is written) naming the exposure and the reference types CRDS cannot provide;
    on any error no product is left half-written. Temporaries a killed run of the same job
    left next to its products are removed first.
    """
    from . import warm

    warm.start()  # numba's own set-up while the passes are planned and references loaded
    listed = _resolved.read(resolved, exposure) if resolved and exposure else None
    with _resolved.using(listed, crds_context):
        _run(steps, inputs, outputs, params=params, overrides=overrides, crds_context=crds_context,
             chunk_mb=chunk_mb, threads=threads, use_crds_pars=use_crds_pars)


def _run(steps, inputs, outputs, *, params, overrides, crds_context, chunk_mb, threads, use_crds_pars) -> None:
    steps = list(steps)
    inputs = {k: str(v) for k, v in (inputs or {}).items() if v}
    outputs = {k: str(v) for k, v in (outputs or {}).items()}
    params = {k: dict(v or {}) for k, v in (params or {}).items()}
    passes = _plan(steps, inputs, params, overrides=overrides, crds_context=crds_context,
                   use_crds_pars=use_crds_pars)
    _check_job(steps, passes, outputs, params)
    _remove_stale_temporaries(outputs)
    for name in steps:  # an optional product asked for switches its parameter on (fitopt -> save_opt)
        cls = get_step_class(name)
        for suffix, par in cls.optional_products.items():
            if suffix in outputs:  # a string parameter (persistence's save_persistence) names the file
                spec = cls.param_specs.get(par)
                params.setdefault(name, {})[par] = str(outputs[suffix]) if spec and spec.kind == "string" else True
    _check_references(steps, passes, inputs, overrides, crds_context)
    set_threads(threads)
    common = dict(overrides=overrides, crds_context=crds_context, use_crds_pars=use_crds_pars)
    with contextlib.ExitStack() as stack:
        tmp = None
        current = dict(inputs)
        for p in passes:
            made = {s for name in p.steps for s in get_step_class(name).products}
            outs = {s: path for s, path in outputs.items() if s in made}
            last = p.last
            handoff = [last.name] if last.kind == "ramp" else [s for s in last.products
                                                               if s not in last.optional_products]
            for suffix in handoff:
                if suffix not in outs:  # read by the next pass, not asked for: a temporary file
                    if tmp is None:  # named after the job's first product: its own, not another job's
                        tmp = stack.enter_context(io.scratch_dir(next(iter(outputs.values()))))
                    outs[suffix] = str(tmp / f"{suffix}.fits")
            if p.mode == "products":
                run_products_pass(p.steps[0], {s: current[s] for s in last.reads}, outs,
                                  params=params.get(p.steps[0]), **common)
            else:
                run_pass(current["ramp"], p.steps, p.mode, outs, params=params, inputs=inputs,
                         chunk_mb=chunk_mb, **common)
            current = {"ramp": outs[last.name]} if last.kind == "ramp" else {s: outs[s] for s in handoff}
