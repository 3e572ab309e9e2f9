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

A step whose statistics read only some pixels of each plane says which
(``Step.prepass_pixels``, e.g. refpix's reference rows and columns and side pixels, given
PIXELDQ): the round then reads from the file only those pixels of every plane (a few blocks of
bytes per plane, ``RampFile.read_pixels``), applies the SCI changes of the steps before it to
them alone -- which needs those steps to change SCI sample by sample (``Step.elementwise``:
group_scale's scale, superbias's bias, a dark), else the round reads whole planes and the log
says why -- and hands them to ``Step.collect_pixels``. The steps before it run once on the
first integration's whole planes for PIXELDQ (their flags come from reference files), and
ZEROFRAME (one plane per integration) is read and corrected whole, then cut to those pixels.

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

from ..io.blocks import pixel_blocks
from .fusion import apply_op
from .plan import chunk_ranges, ints_per_chunk

log = logging.getLogger("rampflow")

#: budget (MB) of a collecting pre-pass's chunks of integrations: the statistics are measured
#: plane by plane, so small chunks cost no more time, and the pre-pass's buffers stay small
#: next to the row stream's window (which the chunk budget is for)
PREPASS_CHUNK_MB = 48
#: pixels a pre-pass reads (Step.prepass_pixels) that lie at most this many bytes apart in the
#: file are read in one system call, the bytes between dropped: copying a page from the page
#: cache costs less than a system call (a SUB2048 TSO segment's 4 + 4 edge columns: one read of
#: each plane's 128 kB took 0.12 s of CPU, one per row boundary, 33 reads of 16 bytes a plane, 0.29 s)
PIXEL_GAP_BYTES = 4096


def collectors(steps) -> list[tuple[int, int]]:
    """(step index, rounds) of the steps that need pre-passes, in order."""
    return [(i, s.prepass_rounds()) for i, s in enumerate(steps) if not s.skipped and s.prepass_rounds() > 0]


def run_prepasses(rf, steps, base_pdq, chunk_mb: float, label: str) -> float:
    """Run every pre-pass the ``steps`` of a row pass need over the open ramp ``rf``
    (PIXELDQ ``base_pdq`` as read); returns the time spent (s)."""
    t0 = time.perf_counter()
    nints = rf.shape[0]
    for c, rounds in collectors(steps):
        step = steps[c]
        before = [s for s in steps[:c] if not s.skipped]
        rowwise = [s.name for s in before if s.chunking != "integrations"]
        if rowwise:
            raise ValueError(f"step {step.name!r} needs a pre-pass over the exposure, which cannot run "
                             f"{rowwise} before it (they need every integration at once); run it in a job "
                             "of its own")
        for r in range(rounds):
            t = time.perf_counter()
            pdq = base_pdq.copy()
            how = _pixel_prepass(rf, step, before, pdq)
            if isinstance(how, str):
                log.info("%s: %s pre-pass %d/%d reads whole planes: %s", label, step.name, r + 1, rounds, how)
                _whole_plane_round(rf, step, before, pdq, r, chunk_mb)
            else:
                _pixel_round(rf, step, before, pdq, r, *how)
            step.end_round(r, pdq)
            log.info("%s: %s pre-pass %d/%d over %d integrations in %.1f s", label, step.name, r + 1, rounds,
                     nints, time.perf_counter() - t)
    return time.perf_counter() - t0


def _whole_plane_round(rf, step, before, pdq, r: int, chunk_mb: float) -> None:
    """One round of ``step``'s pre-pass on whole planes: chunks of integrations, every row."""
    nints, _, ny, _ = rf.shape
    nper = ints_per_chunk(rf.nbytes_per_int, nints, min(chunk_mb, PREPASS_CHUNK_MB))
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


def _pixel_prepass(rf, step, before, pdq):
    """Whether ``step``'s pre-pass can read only the pixels it collects
    (:meth:`~rampflow.steps.base.Step.prepass_pixels`): then the steps ``before`` it, run
    once on the first integration, have set ``pdq``, and it returns (pixels, the SCI
    operations of the steps before, restricted to those pixels); else why not (a str)."""
    if step.prepass_needs_gdq:
        return "it reads GROUPDQ"
    ops = []
    for s in before:
        if not s.modifies_sci:
            continue
        e = s.elementwise(slice(None)) if s.row_halo() == 0 else None
        if e is None or e[0] not in ("scale", "bias", "dark"):
            return f"{s.name} before it does not change SCI sample by sample"
        ops.append(e[:2])
    nints, _, ny, _ = rf.shape
    if nints:  # PIXELDQ as the steps before make it (their flags come from reference files)
        sci, gdq = rf.read(slice(0, 1), reuse=True)
        for s in before:
            s.process(sci, gdq, pdq, slice(0, 1), slice(0, ny))
    pix = step.prepass_pixels(pdq)
    if pix is None:
        return f"{step.name} reads whole planes"
    pix = np.asarray(pix, np.int64)
    gathered = []
    for op, operand in ops:
        if op == "scale":
            gathered.append((op, np.float32(operand)))
        elif op == "bias":
            gathered.append((op, np.ascontiguousarray(operand.reshape(-1)[pix].reshape(1, -1))))
        else:
            a = operand.reshape(operand.shape[0], -1)
            gathered.append((op, np.ascontiguousarray(a[:, pix].reshape(a.shape[0], 1, -1))))
    return pix, gathered


def _pixel_round(rf, step, before, pdq, r: int, pix: np.ndarray, ops) -> None:
    """One round of ``step``'s pre-pass on the pixels ``pix`` of every plane (SCI read from the
    file's bytes of those pixels alone, ``ops`` of the steps before applied; ZEROFRAME, one
    plane per integration, read whole and corrected by the steps before)."""
    nints, ngroups, ny, nx = rf.shape
    blocks = pixel_blocks(pix, rf.sci_itemsize, PIXEL_GAP_BYTES)
    per_int = ngroups * pix.size * 6 + (ny * nx * 6 if rf.has_zeroframe else 0)  # raw + float32
    nper = ints_per_chunk(max(per_int, 1), nints, PREPASS_CHUNK_MB)
    for ints in chunk_ranges(nints, nper):
        sci = rf.read_pixels(ints, blocks)
        sci = sci.reshape(sci.shape[0], ngroups, 1, pix.size)
        for op, operand in ops:
            apply_op(sci, op, operand)
        zf = rf.zeroframe(ints)
        if zf is not None:
            for s in before:
                s.process_zeroframe(zf, ints, slice(0, ny))
            zf = np.ascontiguousarray(zf.reshape(zf.shape[0], -1)[:, pix].reshape(zf.shape[0], 1, pix.size))
        step.collect_pixels(r, sci, pdq, ints, zf)


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
