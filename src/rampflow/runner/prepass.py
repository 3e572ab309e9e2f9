"""Pre-passes: exposure-wide statistics a step needs before it can work on chunks of rows.

A row pass (the one-pass Stage 1: uncal to rate products reading the ramp once in chunks of
rows) can hold steps whose correction of a pixel depends on pixels far away in the same
plane: refpix's reference levels come from the reference rows and columns of the whole plane,
a background mask from the whole frame. Such a step says how many pre-passes it needs
(``Step.prepass_rounds``); before the row chunks, each round reads the exposure once in small
chunks of integrations (every row; :data:`PREPASS_CHUNK_MB`, so these buffers add little to
the row stream's window), runs the steps before it on each chunk -- when the step does
not read GROUPDQ (``Step.prepass_needs_gdq``), those that leave SCI unchanged (dq_init,
saturation) only once, on one integration, for PIXELDQ -- and hands the chunk to
``Step.collect``; ``Step.end_round``
closes the round. The main pass then applies everything, row chunk by row chunk.

A step before the collecting one that is itself a collector has finished its rounds by then,
so it processes integration chunks from what it collected. Steps that need every integration
of a pixel (jump) cannot come before a collector: their state (flag counts, header keywords)
would be counted twice; that raises ValueError naming both steps.

A step that looks at its whole input before its own chunks (jump's snowballs and showers,
``Step.prepare``) gets it as a :class:`StepInput`: chunks of the ramp the step receives, made
on the fly from the pass's input file by the steps before it (``_row_chunks`` of the main
pass, or chunks of integrations), so no intermediate ramp is written (:func:`prepare_steps`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .plan import chunk_ranges, ints_per_chunk

log = logging.getLogger("rampflow")

#: budget (MB) of a collecting pre-pass's chunks of integrations: the statistics are measured
#: plane by plane, so small chunks cost no more time, and the pre-pass's buffers stay small
#: next to the row stream's window (which the chunk budget is for)
PREPASS_CHUNK_MB = 48


def collectors(steps) -> list[tuple[int, int]]:
    """(step index, rounds) of the steps that need pre-passes, in order."""
    return [(i, s.prepass_rounds()) for i, s in enumerate(steps) if not s.skipped and s.prepass_rounds() > 0]


def run_prepasses(rf, steps, base_pdq, chunk_mb: float, label: str) -> float:
    """Run every pre-pass the ``steps`` of a row pass need over the open ramp ``rf``
    (PIXELDQ ``base_pdq`` as read); returns the time spent (s)."""
    t0 = time.perf_counter()
    nints, _, ny, _ = rf.shape
    for c, rounds in collectors(steps):
        step = steps[c]
        before = [s for s in steps[:c] if not s.skipped]
        rowwise = [s.name for s in before if s.chunking != "integrations"]
        if rowwise:
            raise ValueError(f"step {step.name!r} needs a pre-pass over the exposure, which cannot run "
                             f"{rowwise} before it (they need every integration at once); run it in a job "
                             "of its own")
        nper = ints_per_chunk(rf.nbytes_per_int, nints, min(chunk_mb, PREPASS_CHUNK_MB))
        for r in range(rounds):
            t = time.perf_counter()
            pdq = base_pdq.copy()
            for k, ints in enumerate(chunk_ranges(nints, nper)):
                sci, gdq = rf.read(ints, reuse=True)
                zf = rf.zeroframe(ints)
                for s in before:
                    if step.prepass_needs_gdq or s.modifies_sci:
                        s.process(sci, gdq, pdq, ints, slice(0, ny))
                    elif k == 0:  # only for PIXELDQ (GROUPDQ is not read): once, on one integration
                        s.process(sci[:1], gdq[:1], pdq, slice(ints.start, ints.start + 1), slice(0, ny))
                    if zf is not None:  # ZEROFRAME values (saturation zeroes some) are always carried
                        s.process_zeroframe(zf, ints, slice(0, ny))
                step.collect(r, sci, gdq, pdq, ints, zf)
            step.end_round(r, pdq)
            log.info("%s: %s pre-pass %d/%d over %d integrations in %.1f s", label, step.name, r + 1, rounds,
                     nints, time.perf_counter() - t)
    return time.perf_counter() - t0


class StepInput:
    """The input ramp of one step of a pass, read in chunks: the pass's input ``rf`` (an open
    RampFile, or anything with its chunk-reading interface) through the steps ``before`` it,
    recomputed on each chunk (none: the file itself). ``base_pdq``: PIXELDQ as read.

    ``rows(step=None)`` yields (rows, sci, gdq) for the interior rows of each row chunk of
    every integration (the main pass's own chunk loop, ``ramp_pass._row_chunks``, with the
    steps' halos), after the steps before and ``step`` (a step-like object run last, e.g.
    jump's detection); the arrays are reused from chunk to chunk. After it, ``pdq`` holds the
    whole PIXELDQ the last of them made. ``integrations()`` yields (ints, sci, gdq) of chunks
    of whole integrations (at most ``chunk_mb``) after the steps before.
    """

    def __init__(self, rf, before, base_pdq, chunk_mb: float, label: str):
        self.rf = rf
        self.before = [s for s in before if not s.skipped]
        self.base_pdq = base_pdq
        self.chunk_mb = chunk_mb
        self.label = label
        self.shape = tuple(rf.shape)
        self.pdq = base_pdq.copy()
        self.passes = 0

    def rows(self, step=None):
        from .ramp_pass import _row_chunks  # the main pass's loop (ramp_pass imports this module)

        steps = self.before + ([step] if step is not None else [])
        pdqs = [None] * len(steps)
        self.passes += 1
        for _, rows, sci, gdq, _, _ in _row_chunks(self.rf, steps, pdqs, self.base_pdq, {}, self.chunk_mb,
                                                   f"{self.label} (input of a pre-pass)"):
            yield rows, sci, gdq
        self.pdq = pdqs[-1] if steps else self.base_pdq.copy()

    def integrations(self):
        nints, _, ny, _ = self.shape
        nper = ints_per_chunk(self.rf.nbytes_per_int, nints, self.chunk_mb)
        self.passes += 1
        for ints in chunk_ranges(nints, nper):
            sci, gdq = self.rf.read(ints, reuse=True)
            pdq = self.base_pdq.copy()
            for s in self.before:
                s.process(sci, gdq, pdq, ints, slice(0, ny))
            yield ints, sci, gdq


def prepare_steps(rf, steps, mode: str, base_pdq: np.ndarray, chunk_mb: float, label: str) -> None:
    """Call every step's ``Step.prepare`` before the chunks: in a row pass with its input as a
    :class:`StepInput` (after any pre-pass the steps before it need); in a pass of integration
    chunks with the open input ramp for the first step (None for the others)."""
    for k, step in enumerate(steps):
        if step.skipped:
            continue
        if mode == "rows":
            step.prepare(StepInput(rf, steps[:k], base_pdq, chunk_mb, label), chunk_mb)
        else:
            step.prepare(rf if k == 0 else None, chunk_mb)
