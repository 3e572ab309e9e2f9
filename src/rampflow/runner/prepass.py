"""Pre-passes: exposure-wide statistics a step needs before it can work on chunks of rows.

A row pass (the one-pass Stage 1: uncal to rate products reading the ramp once in chunks of
rows) can hold steps whose correction of a pixel depends on pixels far away in the same
plane: refpix's reference levels come from the reference rows and columns of the whole plane,
a background mask from the whole frame. Such a step says how many pre-passes it needs
(``Step.prepass_rounds``); before the row chunks, each round reads the exposure once in chunks
of integrations (every row), runs the steps before it on each chunk -- when the step does
not read GROUPDQ (``Step.prepass_needs_gdq``), those that leave SCI unchanged (dq_init,
saturation) only once, on one integration, for PIXELDQ -- and hands the chunk to
``Step.collect``; ``Step.end_round``
closes the round. The main pass then applies everything, row chunk by row chunk.

A step before the collecting one that is itself a collector has finished its rounds by then,
so it processes integration chunks from what it collected. Steps that need every integration
of a pixel (jump) cannot come before a collector: their state (flag counts, header keywords)
would be counted twice; that raises ValueError naming both steps.
"""

from __future__ import annotations

import logging
import time

from .plan import chunk_ranges, ints_per_chunk

log = logging.getLogger("rampflow")


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
        nper = ints_per_chunk(rf.nbytes_per_int, nints, chunk_mb)
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
