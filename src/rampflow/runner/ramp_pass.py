"""The one chunk loop: a pass of steps over one ramp file.

The ramp is read once, a chunk at a time -- chunks of integrations (all rows) or chunks of
rows (all integrations; the steps' halo rows carried from chunk to chunk by the staggered
row stream of :mod:`.row_stream`, consecutive elementwise steps fused into one kernel,
:mod:`.fusion`) -- and each chunk goes through the pass's steps in memory. A ramp step
changes the chunk in place; its product, if asked for, is written chunk by chunk. A rate
step (ramp_fit) last in a row pass fits the rows the steps before it finalised into its
products, written at the end (:mod:`.rate_products`; its per-integration arrays are
memory-mapped onto scratch files, :func:`.rate_products.scratch_array`).

PIXELDQ is kept per step, so a product written after step k holds what step k would have
written on its own: with integration chunks a step's PIXELDQ starts as its predecessor's
after the first chunk (reference-file flags are the same for every chunk); with row chunks
each chunk's rows flow from step to step like SCI and GROUPDQ.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import io
from ..io import timing
from . import rate_products
from .loading import load_step
from .plan import chunk_ranges, ints_per_chunk, rows_per_chunk
from .prepass import prepare_steps, run_prepasses
from .provenance import late_updates, provenance
from .row_stream import RowStream

log = logging.getLogger("rampflow")


def _trim_heap() -> None:
    """Hand the C heap's free memory back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Reference files are read whole and cut to the subarray, a pre-pass's chunks
    are dropped: freed blocks of a few MB stay in the heap otherwise (glibc's threshold for
    giving memory straight back grows with the blocks freed) and add to the row stream's
    window in the job's peak."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _prefetch(rf, label: str) -> None:
    """Before row chunks: one sequential pass through the input (see RampFile.prefetch)."""
    t = time.perf_counter()
    if rf.prefetch():
        log.info("%s: read %s into the page cache in %.1f s", label, Path(rf.path).name, time.perf_counter() - t)


def _integration_chunks(rf, steps, pdqs, base_pdq, writers, chunk_mb, label):
    """Process chunks of integrations; step i's product is written after it processed each
    chunk (``writers``: step index -> RampWriter). Yields (ints, rows, sci, gdq, pdq) of each
    chunk after every step (for a rate step; integration passes have none). With a ZEROFRAME
    in the input, each chunk's goes through the steps' ``process_zeroframe`` and into the
    products too."""
    nints, _, ny, _ = rf.shape
    nper = ints_per_chunk(rf.nbytes_per_int, nints, chunk_mb, any(s.chunking == "whole" for s in steps))
    chunks = list(chunk_ranges(nints, nper))
    for k, ints in enumerate(chunks):
        sci, gdq = rf.read(ints, reuse=True)
        zf = rf.zeroframe(ints)
        for i, step in enumerate(steps):
            if pdqs[i] is None:
                pdqs[i] = (base_pdq if i == 0 else pdqs[i - 1]).copy()
            if not step.skipped:
                step.process(sci, gdq, pdqs[i], ints, slice(0, ny))
                if zf is not None:
                    step.process_zeroframe(zf, ints, slice(0, ny))
            if i in writers:
                writers[i].write(ints, slice(None), sci, gdq, zf)
        yield ints, slice(None), sci, gdq, None, zf
        log.info("%s: integrations %d-%d done (%d/%d chunks)", label, ints.start + 1, ints.stop, k + 1, len(chunks))


def _row_chunks(rf, steps, pdqs, base_pdq, writers, chunk_mb, label):
    """Process chunks of rows through the staggered row stream (:mod:`.row_stream`: halo rows
    are carried from chunk to chunk, not recomputed); step i's product gets each row range
    as soon as step i finalised it. Yields (ints, rows, sci, gdq, pdq, zf) of the rows the
    last step finalised (views into the stream's window, valid until the next chunk is
    read; zf None without a ZEROFRAME). A pass with no ramp step to run goes to
    :func:`_read_ahead_chunks`."""
    if all(s.skipped for s in steps):
        yield from _read_ahead_chunks(rf, steps, pdqs, base_pdq, writers, chunk_mb, label)
        return
    ny = rf.shape[2]
    rf.release()  # a pre-pass's chunk buffers: the stream reads into its own window
    _trim_heap()
    stream = RowStream(rf, steps, base_pdq, chunk_mb, kept=writers)
    _prefetch(rf, label)
    for i in range(len(steps)):
        pdqs[i] = base_pdq.copy()
    log.info("%s: %d new rows per chunk, %d rows waiting at most (row halos %s), buffers %.0f MB; fused: %s",
             label, stream.nnew, stream.keep, stream.halos, stream.nbytes() / 2**20,
             ", ".join("+".join(s.name for s in steps[i:j]) for i, j in stream.fused.items()) or "none")

    def after(i, rows, sci, gdq, pdq, zf):
        pdqs[i][rows] = pdq
        if i in writers:
            writers[i].write(slice(None), rows, sci, gdq, zf)

    for rows, (sci, gdq, pdq, zf) in stream.chunks(label, after):
        yield (slice(None), rows, sci, gdq, pdq if steps else base_pdq[rows],
               None if zf is None else np.ascontiguousarray(zf))
        log.info("%s: rows %d-%d done (of %d)", label, rows.start, rows.stop - 1, ny)


def _read_ahead_chunks(rf, steps, pdqs, base_pdq, writers, chunk_mb, label):
    """Row chunks of a pass with no ramp step to run (a rate step alone: ramp_fit's own job;
    its steps, if any, are skipped): the next chunk is read in a background thread while the
    current one is fitted (the fit kernels release the GIL), into a second buffer: chunks of
    half the budget each, so memory stays at ``chunk_mb``. Yields as :func:`_row_chunks`."""
    nints, _, ny, _ = rf.shape
    chunks = list(chunk_ranges(ny, rows_per_chunk(rf.shape, chunk_mb / 2, 0)))
    ahead = len(chunks) > 1
    _prefetch(rf, label)
    rf.reserve(nints, min(ny, chunks[0].stop))
    for i in range(len(steps)):
        pdqs[i] = base_pdq.copy()

    def load(k):
        rows = chunks[k]
        sci, gdq = rf.read(slice(None), rows, reuse=True, slot=k % 2 if ahead else 0)
        return sci, gdq, rf.zeroframe(slice(None), rows)

    pool = ThreadPoolExecutor(1) if ahead else None
    try:
        nxt = None
        for k, rows in enumerate(chunks):
            sci, gdq, zf = nxt.result() if nxt is not None else load(k)
            nxt = pool.submit(load, k + 1) if ahead and k + 1 < len(chunks) else None
            for i in writers:
                writers[i].write(slice(None), rows, sci, gdq, zf)
            yield (slice(None), rows, sci, gdq, base_pdq[rows], None if zf is None else np.ascontiguousarray(zf))
            log.info("%s: rows %d-%d done (%d/%d chunks)", label, rows.start, rows.stop - 1, k + 1, len(chunks))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def run_pass(in_path, names: list[str], mode: str, outputs: dict, *, params: dict, inputs: dict,
             overrides: dict | None, crds_context: str | None, chunk_mb: float,
             use_crds_pars: bool = True) -> None:
    """Run the steps ``names`` over the ramp ``in_path`` in one chunk loop (``mode``
    "integrations" or "rows") and write the products of ``outputs`` (suffix -> path)."""
    t0 = time.perf_counter()
    label = " + ".join(names)
    with io.open_ramp(in_path) as rf, contextlib.ExitStack() as stack:
        meta = rf.meta
        steps, updates, history, extra, writers = [], {}, [], {}, {}
        rate = None
        images = {n: rf.extra_image(n) for n in rf.extra_images}
        for k, name in enumerate(names):
            step, paths, ctx, recorded = load_step(name, meta, params=params.get(name), overrides=overrides,
                                                   crds_context=crds_context, inputs=inputs,
                                                   ramp=rf if k == 0 else None, use_crds_pars=use_crds_pars,
                                                   prepass=mode == "rows")
            if step.kind == "rate":
                rate = (step, paths, ctx, recorded)
                step.scan(rf)
                if mode == "rows" and outputs and hasattr(step, "new_ints_array"):
                    # per-integration products out of private memory (next to the row stream's window)
                    step.new_ints_array = rate_products.scratch_array(Path(next(iter(outputs.values()))).parent)
            step.start({**images, **extra}, rf.primary_header)
            if step.kind == "rate":
                continue
            steps.append(step)
            u, h = provenance(step, paths, ctx, overrides, recorded)
            updates.update(u)
            history += h
            extra.update(step.extra_arrays())
            if name in outputs:
                w = stack.enter_context(io.RampWriter(outputs[name], rf, updates=dict(updates), history=list(history),
                                                      extra=dict(extra)))
                if all(s.skipped or not s.modifies_sci for s in steps) and w.can_copy_sci():
                    w.copy_sci()  # SCI passes through unchanged: a kernel copy, then only DQ is written
                writers[len(steps) - 1] = w
            if step.skipped:
                log.info("%s: skipped: %s", name, step.skipped)
        nints, ngroups, ny, nx = rf.shape
        log.info("%s on %s (%s; %d ints x %d groups x %d x %d)", label, Path(in_path).name, meta.detector,
                 nints, ngroups, ny, nx)
        base_pdq = rf.pixeldq()
        _trim_heap()  # what loading the reference files freed
        if mode == "rows":  # exposure-wide statistics of steps in row chunks (refpix's levels)
            run_prepasses(rf, steps, base_pdq, chunk_mb, label)
        # a look at the whole input first (jump's snowballs/showers), after those statistics
        prepare_steps(rf, steps, mode, base_pdq, chunk_mb, label)
        pdqs = [None] * len(steps)
        chunks = _row_chunks if mode == "rows" else _integration_chunks
        for _, rows, sci, gdq, pdq, zf in chunks(rf, steps, pdqs, base_pdq, writers, chunk_mb, label):
            if rate is not None:
                with timing.step_timer(rate[0].name):
                    rate[0].fit(sci, gdq, pdq, rows, zeroframe=zf)
        for step in steps:  # non-ramp products of ramp steps (persistence's array)
            step.finish(outputs)
        for i, w in writers.items():
            w.write_pixeldq(pdqs[i])
            late = late_updates(steps[:i + 1], updates)
            if late:  # keywords the steps computed while processing (e.g. jump's PRIMECRS)
                w.update_primary(late)
        if rate is not None:
            step, paths, ctx, recorded = rate
            u, h = provenance(step, paths, ctx, overrides, recorded)
            before = {**updates, **late_updates(steps, updates)}
            rate_products.write(step, rf, outputs, {**before, **u}, history + h)
    log.info("%s: wrote %s in %.1f s", label, ", ".join(str(outputs[k]) for k in outputs), time.perf_counter() - t0)
