"""The Step wrapper: what the generic runner (rampflow.runner) needs from every ramp step.

A step module holds pure functions on arrays (documented with shapes and dtypes) and
one subclass of :class:`Step` that adapts them: it reads what it needs from the
exposure metadata and the reference files in ``__init__`` (once per exposure), then
``process`` is called on chunks of the ramp, in place.

Chunking: ``chunking = "integrations"`` (default) means ``process`` may be given any
contiguous range of integrations, all rows; ``chunking = "rows"`` means it gets all
integrations and a contiguous range of rows (for steps that need every integration of
a pixel, e.g. jump's sigma clipping across integrations). ``chunking = "whole"``
means the full cube at once (only for steps that cannot be split).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..meta import ExposureMeta

REGISTRY: dict[str, type["Step"]] = {}


class Step:
    #: step name: the config name and the output suffix, e.g. "saturation"
    name: ClassVar[str] = ""
    #: the S_ keyword jwst writes for this step, e.g. "S_SATURA"
    keyword: ClassVar[str] = ""
    #: reference types this step needs, lower case CRDS names, e.g. ("saturation",)
    reftypes: ClassVar[tuple[str, ...]] = ()
    #: parameter names and defaults, exactly as the jwst step's spec
    defaults: ClassVar[dict[str, Any]] = {}
    chunking: ClassVar[str] = "integrations"
    #: with chunking="rows": extra rows above and below each chunk that ``process`` needs as
    #: context (e.g. 1 for jump's neighbour flagging); the runner passes them in and keeps
    #: only the interior rows of the result.
    halo: ClassVar[int] = 0
    #: False for steps that never change SCI (only DQ): the runner then copies the input's
    #: SCI bytes into the product instead of writing them back from each chunk
    modifies_sci: ClassVar[bool] = True

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.name:
            REGISTRY[cls.name] = cls

    def __init__(self, meta: ExposureMeta, refs: dict, **params):
        """``refs`` maps reftype -> rampflow.references.Reference (already cut to the subarray).

        Unknown parameter names raise ValueError naming the step and the parameter.
        """
        self.check_params(params)
        missing = [r for r in self.reftypes if r not in refs]
        if missing:
            raise KeyError(f"step {self.name!r}: missing reference file(s) {missing}")
        self.meta = meta
        self.refs = refs
        self.params = {**self.defaults, **params}
        self.skipped: str | None = None  # set to a reason to mark the step SKIPPED

    @classmethod
    def check_params(cls, params: dict) -> None:
        """Raise ValueError naming the step and any parameter it does not take."""
        unknown = set(params) - set(cls.defaults)
        if unknown:
            raise ValueError(
                f"step {cls.name!r}: unknown parameter(s) {sorted(unknown)}; "
                f"known: {sorted(cls.defaults)}"
            )

    def process(self, sci: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, ints: slice, rows: slice) -> None:
        """Apply the step in place to one chunk.

        sci : float32 (nint_chunk, ngroups, nrow_chunk, nx)
        gdq : uint8, same shape
        pdq : uint32 (nrow_chunk, nx) -- the exposure's PIXELDQ for these rows; shared by
              all integration chunks, so updates must be idempotent (OR-ing flags is).
        ints, rows : where the chunk sits in the exposure (0-based slices).
        """
        raise NotImplementedError

    def extra_arrays(self) -> dict[str, np.ndarray]:
        """Extra 2-D image extensions for the product (EXTNAME -> float32 (ny, nx)), e.g. the
        AVDRKCUR image dark_current writes. Extensions of the input are carried forward."""
        return {}

    def header_updates(self) -> dict[str, Any]:
        """Extra primary-header keywords to record (parameters, derived values)."""
        return {}
