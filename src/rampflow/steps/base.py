"""The Step wrapper: what the runner (rampflow.runner) needs from every step.

A step module holds pure functions on arrays (documented with shapes and dtypes) and
one subclass of :class:`Step` that adapts them: it reads what it needs from the
exposure metadata, the reference files and its extra inputs in ``__init__`` (once per
exposure; all already loaded by the runner: a step never opens a file), then is applied
to chunks.

Kinds: ``kind = "ramp"`` steps turn a ramp into a ramp, in place, chunk by chunk
(:meth:`Step.process`). ``kind = "rate"`` steps make or act on rate products: ramp_fit
reads ramp chunks and fills its products (:meth:`Step.fit`), gain_scale acts on the
arrays of rate products (:meth:`Step.process_product`).

Chunking: ``chunking = "integrations"`` (default) means ``process`` may be given any
contiguous range of integrations, all rows; ``chunking = "rows"`` means it gets all
integrations and a contiguous range of rows (for steps that need every integration of
a pixel, e.g. jump's sigma clipping across integrations). ``chunking = "whole"``
means the full cube at once (only for steps that cannot be split); ``chunking =
"products"``: the step works on whole rate products.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..meta import ExposureMeta
from .params import ParamSpec, parse_spec

REGISTRY: dict[str, type[Step]] = {}


@dataclass(frozen=True)
class InputSpec:
    """How the runner obtains a step's extra input (as it does reference files).

    read(path, meta) -> array : load it from a file (the workflow's product, or the user's);
    build(ramp, params) -> array : make it from the step's open input ramp (a RampFile) and
        the step's parameters, when no file is given; with ``needs_ramp=False``,
        build(meta, params) (e.g. persistence's array before a detector's first exposure);
    built_name : what the input's header keyword records when it was built.
    """

    read: Callable
    build: Callable
    built_name: str = "built from input"
    needs_ramp: bool = True


#: input name -> InputSpec (registered by the module of the step that takes the input)
INPUTS: dict[str, InputSpec] = {}


def register_input(name: str, read: Callable, build: Callable, built_name: str = "built from input",
                   needs_ramp: bool = True) -> None:
    """Declare how the runner reads or builds the step input ``name``."""
    INPUTS[name] = InputSpec(read, build, built_name, needs_ramp)


class Step:
    #: step name: the config name and the output suffix, e.g. "saturation"
    name: ClassVar[str] = ""
    #: the S_ keyword jwst writes for this step, e.g. "S_SATURA"
    keyword: ClassVar[str] = ""
    #: reference types this step needs, lower case CRDS names, e.g. ("saturation",)
    reftypes: ClassVar[tuple[str, ...]] = ()
    #: those of ``reftypes`` that CRDS may mark not applicable (N/A): the step then gets no
    #: such reference and does what jwst's does (ipc marks itself SKIPPED; saturation runs
    #: without a superbias, as for MIRI)
    optional_reftypes: ClassVar[tuple[str, ...]] = ()
    #: the step's parameters, stated once, in jwst's spec language (see rampflow.steps.params):
    #: for an official step, jwst's names, types, ranges, options and defaults (its class's
    #: ``spec``); ``param_specs`` and ``defaults`` are derived from it
    spec: ClassVar[str] = ""
    #: who states the defaults, for messages: "jwst" for official steps, "rampflow" for custom ones
    spec_source: ClassVar[str] = "jwst"
    #: name -> ParamSpec, parsed from :attr:`spec`
    param_specs: ClassVar[dict[str, ParamSpec]] = {}
    #: parameter names and defaults (from :attr:`spec`)
    defaults: ClassVar[dict[str, Any]] = {}
    #: parameter -> the only values rampflow implements (a CRDS parameter file asking for another
    #: value is not applied and logged as a warning; see rampflow.references.resolve_parameters)
    implemented_values: ClassVar[dict[str, tuple]] = {}
    #: "ramp" (ramp -> ramp) or "rate" (makes or acts on rate products)
    kind: ClassVar[str] = "ramp"
    #: True for a jwst calwebb_detector1 step, False for rampflow's custom steps
    official: ClassVar[bool] = True
    #: jwst's ``skip`` default for the step (``skip = boolean(default=True)`` in its spec, e.g.
    #: charge_migration, persistence): such steps are left out of the default ``steps`` list
    skip_default: ClassVar[bool] = False
    #: product suffixes the step writes (default: its name, for a ramp step)
    products: ClassVar[tuple[str, ...]] = ()
    #: products written only when a parameter is set: suffix -> parameter (ramp_fit's fitopt)
    optional_products: ClassVar[dict[str, str]] = {}
    #: what the step reads: ("ramp",), or the rate products ("rate", "rateints")
    reads: ClassVar[tuple[str, ...]] = ("ramp",)
    #: names of extra input files it needs besides its ramp / products, e.g. ("destripe_mask",)
    inputs: ClassVar[tuple[str, ...]] = ()
    #: inputs that are a product of the previous exposure of the same detector, in time order
    #: (input name -> product suffix), e.g. persistence's array: the workflow wires them as a
    #: dependency on that exposure's job (none for the detector's first exposure)
    carried: ClassVar[dict[str, str]] = {}
    #: input name -> (header keyword, comment): the runner records the input's file name there
    input_keywords: ClassVar[dict[str, tuple[str, str]]] = {}
    chunking: ClassVar[str] = "integrations"
    #: with chunking="rows": extra rows above and below each chunk that ``process`` needs as
    #: context (e.g. 1 for jump's neighbour flagging); the runner passes them in and keeps
    #: only the interior rows of the result.
    halo: ClassVar[int] = 0
    #: True for a step whose :meth:`prepare` needs the open input ramp (clean_flicker_noise's scene
    #: mask from a draft rate): the runner starts a pass at it, so it gets the ramp
    needs_input_ramp: ClassVar[bool] = False
    #: False for steps that never change SCI (only DQ): the runner then copies the input's
    #: SCI bytes into the product instead of writing them back from each chunk
    modifies_sci: ClassVar[bool] = True
    #: with chunking="integrations": True when ``process`` also works on chunks of rows (all
    #: integrations), given :meth:`row_halo` rows of context on each side and after any
    #: exposure-wide pre-pass the step asks for (:meth:`prepass_rounds`). The runner then
    #: streams the step in the same row chunks as jump and ramp_fit, reading the ramp once
    #: (the one-pass Stage 1, see rampflow.runner.prepass)
    rows_ok: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "spec" in cls.__dict__:
            cls.param_specs = parse_spec(cls.spec, cls.spec_source)
            cls.defaults = {n: s.default for n, s in cls.param_specs.items()}
        if cls.name:
            if "products" not in cls.__dict__:
                cls.products = (cls.name,)
            REGISTRY[cls.name] = cls

    @classmethod
    def reftypes_for(cls, meta, params: dict) -> tuple[str, ...]:
        """The reference types the runner resolves for this exposure and these parameters:
        :attr:`reftypes`, plus any optional type the step asks for only in some cases (refpix's
        SIRSKERNEL with ``refpix_algorithm='sirs'`` on full frames, as jwst asks for it)."""
        return cls.reftypes

    @classmethod
    def one_pass_conflict(cls, meta, params: dict) -> str | None:
        """Why the step, for the exposure ``meta`` and its resolved parameters ``params``,
        cannot share the one pass (rampflow.runner.plan): a row step that reads its pass's input
        ramp before the chunks (jump's snowballs and showers, ramp_fit's MIRI group
        discarding), or a ``rows_ok`` step that cannot work on row chunks for this exposure
        (MIRI's refpix). The runner then runs the steps before it in passes of their own (the
        fused layout) and logs the reason. Default None (no conflict)."""
        return None

    @classmethod
    def makes(cls, suffix: str, params: dict) -> bool:
        """Whether the step makes product ``suffix`` with ``params`` (its parameters for the
        job): every product but an optional one whose parameter is off."""
        par = cls.optional_products.get(suffix)
        return par is None or bool(params.get(par))

    def __init__(self, meta: ExposureMeta, refs: dict, inputs: dict | None = None, **params):
        """``refs`` maps reftype -> rampflow.references.Reference (already cut to the subarray);
        ``inputs`` maps each name of :attr:`inputs` to its loaded array.

        Unknown parameter names raise ValueError naming the step and the parameter.
        """
        self.check_params(params)
        missing = [r for r in self.reftypes if r not in refs and r not in self.optional_reftypes]
        if missing:
            raise KeyError(f"step {self.name!r}: missing reference file(s) {missing}")
        inputs = dict(inputs or {})
        missing = [n for n in type(self).inputs if n not in inputs]
        if missing:
            raise KeyError(f"step {self.name!r}: missing input(s) {missing}")
        self.meta = meta
        self.refs = refs
        self.extra_inputs = inputs
        self.params = {**self.defaults, **params}
        self.skipped: str | None = None  # set to a reason to mark the step SKIPPED
        self.failed = False  # with ``skipped``: recorded FAILED (jwst's status for invalid parameters)

    @classmethod
    def check_params(cls, params: dict, where: str = "step_params.{step}.{name}") -> None:
        """Raise ValueError naming the step and any parameter it does not take, and
        :class:`~rampflow.steps.params.ParamError` (a ValueError) naming the parameter
        (``where``, formatted with ``step`` and ``name``), its value and what its spec allows
        for a value of the wrong type or out of range."""
        params = dict(params)
        if "skip" in params and cls.official:  # stpipe's own parameter, which every jwst step takes
            skip = params.pop("skip")
            if skip is not None and not isinstance(skip, (bool, np.bool_)):
                from .params import ParamError, format_value

                raise ParamError(f"{where.format(step=cls.name, name='skip')}: {format_value(skip)} is not true, "
                                 "false or null; expected true, false or null (null: as jwst, the CRDS parameter "
                                 "file decides, else jwst's default)")
        unknown = set(params) - set(cls.defaults)
        if unknown:
            raise ValueError(
                f"step {cls.name!r}: unknown parameter(s) {sorted(unknown)}; "
                f"known: {sorted(cls.defaults)}"
            )
        for name, value in params.items():
            cls.param_specs[name].check(value, where.format(step=cls.name, name=name))

    def process(self, sci: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, ints: slice, rows: slice) -> None:
        """Apply the step in place to one chunk (ramp steps).

        sci : float32 (nint_chunk, ngroups, nrow_chunk, nx)
        gdq : uint8, same shape
        pdq : uint32 (nrow_chunk, nx) -- the exposure's PIXELDQ for these rows; shared by
              all integration chunks, so updates must be idempotent (OR-ing flags is).
        ints, rows : where the chunk sits in the exposure (0-based slices).
        """
        raise NotImplementedError

    def elementwise(self, rows: slice) -> tuple | None:
        """For a step whose :meth:`process` changes each SCI sample on its own, in one
        operation the runner can fuse with its neighbours' into one pass over a chunk
        (rampflow.kernels.elementwise): ``(op, operand, flags)`` for rows ``rows``, with op
        "scale" (float32 scalar: ``sci *= operand``), "bias" (float32 (nrow, nx): ``sci -=
        operand``), "poly" (float32 (ncoeffs, nrow, nx): groups not SATURATED become the
        polynomial of themselves) or "dark" (float32 or float64 (>= ngroups, nrow, nx): ``sci[:,
        g] -= operand[g]``), and ``flags`` (uint32 (nrow, nx) OR-ed into PIXELDQ, or None).
        :meth:`process` must do exactly that. None (default): not fusable (for this exposure)."""
        return None

    def row_halo(self) -> int:
        """Rows of context above and below a row chunk that :meth:`process` needs (its
        parameters may set it, e.g. saturation's ``n_pix_grow_sat``); default :attr:`halo`."""
        return int(self.halo)

    def keep_rows_above(self) -> bool:
        """Called by the runner's row stream before a pass, for a step with a row halo: True if
        the step keeps, from one call to the next, what it needs of the rows above a chunk;
        the stream then calls it on chunks that start at the first row to finalise, in order
        from row 0, with only its halo of rows below. Default False: chunks carry their
        context rows above, their input swapped in by the stream."""
        return False

    def prepass_rounds(self) -> int:
        """Passes over the whole exposure (chunks of integrations, all rows, each after the
        steps before this one) the step needs before it can :meth:`process` chunks of rows:
        exposure-wide statistics, e.g. refpix's reference levels of each whole plane. The
        runner calls :meth:`collect` on every chunk of each round, then :meth:`end_round`.
        Default 0 (a row-local step)."""
        return 0

    #: inputs (of :attr:`inputs`) the step can make itself in a pre-pass when it runs in a row
    #: pass and no file is given: the runner then passes None for them (destripe's mask)
    prepass_inputs: ClassVar[tuple[str, ...]] = ()
    #: in a pre-pass, whether :meth:`collect` reads GROUPDQ (or DQ a data-dependent step
    #: before it sets): if False the runner runs the steps before it that leave SCI unchanged
    #: (dq_init, saturation: their PIXELDQ flags come from reference files) once, on one
    #: integration, for PIXELDQ
    prepass_needs_gdq: ClassVar[bool] = True

    def collect(self, round: int, sci: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, ints: slice,
                zf: np.ndarray | None = None) -> None:
        """Gather pre-pass ``round``'s statistics from one chunk of whole planes
        (integrations ``ints``, every row; SCI/GROUPDQ/PIXELDQ as :meth:`process` would get
        them; ``zf`` its ZEROFRAME or None). Must not change the arrays."""
        raise NotImplementedError(f"step {self.name!r} has no pre-pass")

    def prepass_pixels(self, pdq: np.ndarray) -> np.ndarray | None:
        """The pixels of each plane that :meth:`collect` reads, given ``pdq`` (the exposure's
        PIXELDQ as the step gets it): sorted distinct flat indices ``y * nx + x`` (int64), e.g.
        refpix's reference rows and columns. The runner then reads only those pixels of every
        plane and hands them to :meth:`collect_pixels` (when the steps before it change SCI
        sample by sample, :meth:`elementwise`; else whole planes to :meth:`collect`). Only for
        steps that do not read GROUPDQ (:attr:`prepass_needs_gdq` False). None (default):
        whole planes."""
        return None

    def collect_pixels(self, round: int, sci: np.ndarray, pdq: np.ndarray, ints: slice,
                       zf: np.ndarray | None = None) -> None:
        """:meth:`collect` on the pixels of :meth:`prepass_pixels` alone: ``sci`` float32
        (nint_chunk, ngroups, 1, npix), each plane's pixels as one row in that order, after the
        steps before; ``zf`` likewise (nint_chunk, 1, npix) or None. Must not change the arrays."""
        raise NotImplementedError(f"step {self.name!r} has no pre-pass over some pixels")

    def end_round(self, round: int, pdq: np.ndarray) -> None:
        """After the last chunk of pre-pass ``round`` (``pdq``: the exposure's PIXELDQ as the
        step gets it). Default: nothing."""

    def process_zeroframe(self, zf: np.ndarray, ints: slice, rows: slice) -> None:
        """Apply the step to the chunk's ZEROFRAME (float32 (nint_chunk, nrow_chunk, nx), the first
        frame of each integration; 0 marks an unusable value), in place, after :meth:`process`
        on the same chunk. Only for exposures with a ZEROFRAME extension; jwst's saturation,
        superbias, refpix and linearity act on it (when ZEROFRAM is true), the others leave it.
        Default: nothing."""

    def prepare(self, ramp, chunk_mb: float) -> None:
        """Called once before the first chunk of a pass (after any pre-pass,
        :meth:`prepass_rounds`) with the step's input and the pass's chunk budget in MB: a step
        that needs a look at the whole exposure first (jump's snowballs and showers) reads it
        here, within that budget. In a pass of integration chunks the input is the pass's open
        ramp (a rampflow.io.ramp.RampFile; None when the step is not the first of its pass); in
        a row pass it is a rampflow.runner.prepass.StepInput: chunks of the ramp the step
        receives, the steps before it recomputed on chunks of the pass's input file. Default:
        nothing."""

    def finish(self, outputs: dict) -> None:
        """Called after the last chunk with the job's outputs (suffix -> path): a ramp step
        with a product that is not a ramp (persistence's array) writes it here, atomically.
        Default: nothing."""

    def scan(self, ramp) -> None:
        """Rate steps: called once before :meth:`start` with the open input ramp (a RampFile,
        read only), for what needs the whole exposure before the first chunk (ramp_fit's
        MIRI group discarding). Default: nothing."""

    def start(self, images: dict, primary) -> None:
        """Called once before the first chunk (and any pre-pass) with the 2-D image extensions the input ramp
        carries (EXTNAME -> float32 (ny, nx): its file's, and those of steps fused before
        this one, e.g. AVDRKCUR) and its primary header (read only). Default: nothing."""

    def extra_arrays(self) -> dict[str, np.ndarray]:
        """Extra 2-D image extensions for the product (EXTNAME -> float32 (ny, nx)), e.g. the
        AVDRKCUR image dark_current writes. Extensions of the input are carried forward."""
        return {}

    def header_updates(self) -> dict[str, Any]:
        """Extra primary-header keywords to record (parameters, derived values)."""
        return {}

    def history(self) -> list[str]:
        """HISTORY lines recording the run (parameters, where each came from when the runner
        resolved them -- ``step.resolved``, see rampflow.references.resolve_parameters --, the
        parameter file's notes, and why the step was skipped)."""
        resolved = getattr(self, "resolved", None)
        if resolved is None:
            text = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
            lines = [f"rampflow {self.name}: {text}"]
        else:
            lines = resolved.history(self.params)
        if self.skipped:
            lines.append(f"rampflow {self.name} skipped: {self.skipped}")
        return lines
