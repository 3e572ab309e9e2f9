"""Build a Step for an exposure: resolve and load its reference files and its extra inputs
(read from the file given, or built from the step's input ramp), check its parameters."""

from __future__ import annotations

from pathlib import Path

from .. import io, references
from ..steps import get_step_class
from ..steps.base import INPUTS


def set_threads(threads: int | None) -> None:
    """Let numba (and the chunk I/O) use ``threads`` threads (the Snakemake rule's ``threads:``)."""
    if not threads:
        return
    io.set_io_threads(threads)
    import numba  # heavy: imported when threads are set

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def load_step(name: str, meta, *, params: dict | None = None, overrides: dict | None = None,
              crds_context: str | None = None, inputs: dict | None = None, ramp=None):
    """Resolve and load what step ``name`` needs for the exposure ``meta`` and build it.

    inputs : step input name -> file path (e.g. "destripe_mask"); an input not given is built
        from ``ramp`` (the step's open input RampFile), or, without one, raises ValueError.
    Returns (step, reference paths, CRDS context or None, input name -> what to record).
    """
    cls = get_step_class(name)
    params = dict(params or {})
    cls.check_params(params)
    paths, ctx = references.resolve(meta, cls.reftypes, overrides, crds_context, optional=cls.optional_reftypes)
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
        else:
            raise ValueError(f"step {name!r}: no {key!r} input given, and the step does not read a ramp "
                             "file it could be built from")
    return cls(meta, refs, arrays, **params), paths, ctx, recorded
