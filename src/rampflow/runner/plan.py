"""Plan a job: split its steps into passes over one input, and each pass into chunks.

A pass reads one file once. Consecutive steps share a pass when they share a chunking:
integration-chunk ramp steps are fused on chunks of integrations (all rows); row-chunk
steps (jump, then ramp_fit) on chunks of rows holding every integration (the steps' halo
rows carried from chunk to chunk, :mod:`.row_stream`); a step on rate products
(gain_scale) gets a pass of its own. Integration
steps that also work on row chunks (``rows_ok``) and come before a row step join its pass:
the whole chain from the uncal file to the rate products then reads the ramp once (steps
needing exposure-wide statistics get them from pre-passes, :mod:`.prepass`). A step
whose extra input must be built from its input ramp (destripe without a mask file) starts
a pass, so that ramp is a file; so does a step that reads its whole input ramp first
(``needs_input_ramp``: clean_flicker_noise's draft rate). Between passes the products are files: those asked for,
else temporary ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..steps import get_step_class
from ..steps.base import INPUTS


@dataclass
class Pass:
    """Steps run over one input in one chunk loop: ``mode`` "integrations", "rows" or "products"."""

    mode: str
    steps: list = field(default_factory=list)

    @property
    def last(self):
        return get_step_class(self.steps[-1])

    def products(self) -> tuple[str, ...]:
        """Products this pass hands to the next one (those of its last step)."""
        return self.last.products


def _mode(cls) -> str:
    if cls.chunking == "products":
        return "products"
    return "rows" if cls.chunking == "rows" else "integrations"


def _builds_input(cls, inputs: dict, mode: str = "integrations") -> bool:
    """Whether the step builds an input from its input ramp file, or reads that whole file
    first (``needs_input_ramp``): it then starts a pass. In a row pass, inputs the step makes
    in a pre-pass (``prepass_inputs``) do not count."""
    return cls.needs_input_ramp or any(
        not inputs.get(k) and INPUTS[k].needs_ramp and not (mode == "rows" and k in cls.prepass_inputs)
        for k in cls.inputs)


def _modes(steps: list[str], inputs: dict, no_join=()) -> list[str]:
    """Each step's chunking in the job: a ``rows_ok`` integration step followed (through
    other such steps) by a row step works on that step's row chunks, unless the step, or a
    row step after it, is one of ``no_join``."""
    modes = [_mode(get_step_class(n)) for n in steps]
    joins = blocked = False
    for i in range(len(steps) - 1, -1, -1):
        cls = get_step_class(steps[i])
        if modes[i] == "rows":
            blocked = blocked or steps[i] in no_join
            joins = not blocked and not _builds_input(cls, inputs, "rows")
        elif modes[i] == "integrations" and joins and cls.rows_ok and cls.kind == "ramp":
            if steps[i] in no_join:
                joins = False
                continue
            modes[i] = "rows"
            if _builds_input(cls, inputs, "rows"):
                joins = False
        else:
            joins = False
    return modes


def plan_passes(steps: list[str], inputs: dict, no_join: tuple | set = ()) -> list[Pass]:
    """Split ``steps`` (consecutive, in order) into passes; raises ValueError naming the
    step that cannot follow the one before it. ``no_join``: steps that, for this exposure
    and their parameters, cannot share the one pass (``Step.one_pass_conflict``): no step
    before them (nor they) joins a row pass."""
    if not steps:
        raise ValueError("runner.run: no steps to run")
    passes: list[Pass] = []
    for name, mode in zip(steps, _modes(steps, inputs, no_join)):
        cls = get_step_class(name)
        builds_input = _builds_input(cls, inputs, mode)
        prev = passes[-1] if passes else None
        if prev is not None and prev.last.kind == "rate" and cls.kind == "ramp":
            raise ValueError(f"runner.run: ramp step {name!r} cannot follow {prev.steps[-1]!r}, which makes "
                             "rate products")
        if prev is None or prev.mode != mode or mode == "products" or builds_input or prev.last.kind == "rate":
            passes.append(Pass(mode))
        passes[-1].steps.append(name)
    first = get_step_class(steps[0])
    missing = [k for k in first.reads if not inputs.get(k)]
    if missing:
        raise ValueError(f"runner.run: step {steps[0]!r} needs the input(s) {missing}")
    return passes


def chunk_ranges(n: int, size: int):
    """Consecutive slices of ``range(n)`` of ``size`` elements (the last one shorter)."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def ints_per_chunk(nbytes_per_int: int, nints: int, chunk_mb: float, whole: bool = False) -> int:
    """Integrations per chunk for a memory budget of ``chunk_mb`` (all of them if ``whole``)."""
    if whole:
        return nints
    return max(1, int(chunk_mb * 2**20 // nbytes_per_int))


def rows_per_chunk(shape, chunk_mb: float, halo: int = 0) -> int:
    """Rows (all integrations) per chunk for a memory budget of ``chunk_mb`` (float32 SCI +
    uint8 GROUPDQ), halo rows included in the budget."""
    nints, ngroups, _, nx = shape
    bytes_per_row = nints * ngroups * nx * 5
    return max(1, int(chunk_mb * 2**20 // bytes_per_row) - 2 * halo)
