"""Row chunks without recomputed halo rows: a staggered stream of rows through the steps.

A row pass reads the ramp once in chunks of rows holding every integration. A step with a
row halo ``h`` (``Step.row_halo``: saturation's growth, jump's neighbour flagging) makes
row ``r`` of its output from rows ``r - h .. r + h`` of its input, so when its input is
known up to row ``A`` its output is final up to ``A - h`` only: the last ``h`` rows wait
for the next chunk. Each step therefore runs behind the one before it, and a window of
rows in memory holds rows at different stages: new rows, read straight into the window,
go through the steps before the first halo step at once; a halo step finalises the rows
whose context has arrived, and the steps after it get those rows.

A halo step needs its *input* for ``h`` rows on each side of the rows it finalises: the
rows above were finalised in the previous chunk (and since changed in place by the steps
after it), the rows below are not final yet. The stream keeps, per halo step, a copy of
its input for the last ``h`` rows it finalised (``context``: GROUPDQ, PIXELDQ and ZEROFRAME,
and SCI when a later step changes SCI); for the call it swaps that context into the window
and saves the window's state of those rows and the input of the rows it leaves pending,
runs the step over the rows [finalised - h, input end), and puts both back. Every step thus
sees exactly the input it would see on one chunk holding all rows, each row is processed
once by every step without a halo, and a halo step redoes only its ``2 h`` context rows
(jump's detection not even those: its RowCache keeps them). A halo step that keeps what it
needs of the rows above a chunk itself (``Step.keep_rows_above``: saturation, whose growth
needs only the SATURATED bits of the rows above after its first pass) gets no context rows:
its calls start at the first row to finalise, and nothing is swapped for it but its pending
rows' GROUPDQ and PIXELDQ. The steps get views of the window (rows of a larger array);
products stay identical for any chunk size.

Memory: the window (new rows plus the rows waiting), each halo step's context and, during
a halo step's call, its swap buffers, all counted in the chunk budget. A halo step whose
input SCI is still an uncal file's 16-bit counts (saturation's, when no step before it
changes SCI) keeps its context's SCI as uint16, exactly, in half the bytes (the budget still
counts it as float32).
"""

from __future__ import annotations

import logging

import numpy as np

from ..io import timing
from .fusion import fusable_runs, run_fused
from .plan import chunk_ranges

log = logging.getLogger("rampflow")


def stream_size(shape, halos, modifies, chunk_mb: float, has_zf: bool = False,
                ahead: bool = False) -> tuple[int, int, int]:
    """(new rows per chunk, bytes of the window, bytes of the other buffers) of a row stream over a ramp of ``shape``
    (nints, ngroups, ny, nx) through steps with row halos ``halos`` that change SCI or not
    (``modifies``), for a budget of ``chunk_mb``: the window (new rows plus at most
    ``sum(halos) + max(halos)`` waiting rows), each halo step's context rows (SCI included when
    it or a later step changes SCI), the largest halo step's swap buffers and, with ``ahead``
    (an uncal file's rows read one chunk ahead, :class:`rampflow.io.RowReadAhead`), the
    16-bit buffer of the next chunk's new rows. At least one new row a chunk, so the buffers
    exceed a budget smaller than that."""
    nints, ngroups, ny, nx = (int(n) for n in shape)
    row = nints * ngroups * nx
    small = row + nx * 4 + (nints * nx * 4 if has_zf else 0)  # GROUPDQ, PIXELDQ, ZEROFRAME
    per_row = small + row * 4  # and SCI
    ctx_sci = [any(modifies[i:]) for i in range(len(halos))]
    contexts = sum(h * (per_row if c else small) for h, c in zip(halos, ctx_sci))
    # the swap of a step's context rows keeps their current state aside only while a later halo
    # step still needs them
    swaps = max((h * ((per_row if c else small) * any(halos[i + 1:]) + (per_row if m else small))
                 for i, (h, c, m) in enumerate(zip(halos, ctx_sci, modifies))), default=0)
    keep = sum(halos) + max(halos, default=0)
    per_new = per_row + (nints * ngroups * nx * 2 if ahead else 0)
    nnew = max(1, int((chunk_mb * 2**20 - contexts - swaps - keep * per_row) // per_new))
    nnew = min(nnew, ny)
    return nnew, min(ny, nnew + keep) * per_row, contexts + swaps + (per_new - per_row) * nnew


class _Rows:
    """SCI / GROUPDQ / PIXELDQ / ZEROFRAME of some rows (any field may be None; SCI as
    ``sci_dtype``: uint16 for a halo step's context of raw uncal counts, see RowStream)."""

    def __init__(self, nints, ngroups, nrows, nx, sci=True, zf=False, sci_dtype=np.float32):
        self.sci = np.empty((nints, ngroups, nrows, nx), dtype=sci_dtype) if sci else None
        self.gdq = np.empty((nints, ngroups, nrows, nx), dtype=np.uint8)
        self.pdq = np.empty((nrows, nx), dtype=np.uint32)
        self.zf = np.empty((nints, nrows, nx), dtype=np.float32) if zf else None

    def view(self, a: int, b: int) -> tuple:
        return (None if self.sci is None else self.sci[:, :, a:b], self.gdq[:, :, a:b], self.pdq[a:b],
                None if self.zf is None else self.zf[:, a:b])


    def shift(self, by: int, n: int) -> None:
        """Move rows [by, by + n) to [0, n), in place: SCI and GROUPDQ by a kernel copying
        their group planes in parallel, with no temporary (numpy copies the source of an
        overlapping copy aside first, and on one thread: hundreds of MB a chunk at the peak)."""
        from ..kernels.row_window import _shift_rows

        for a in (self.sci, self.gdq):
            if a is not None and n:
                _shift_rows(a, by, n)
        np.copyto(self.pdq[:n], self.pdq[by:by + n])
        if self.zf is not None:
            np.copyto(self.zf[:, :n], self.zf[:, by:by + n])


def _copy(dst: tuple, src: tuple) -> None:
    """Copy the fields of ``src`` into those of ``dst`` (where both have them; float32 SCI
    into a uint16 context only when it holds raw uncal counts, which uint16 holds exactly).
    SCI and GROUPDQ (rows of every group plane: 100 MB a row of a TSO segment) by a parallel
    kernel on the arrays they are rows of."""
    from ..kernels.row_window import _copy_rows, window_rows

    for d, s in zip(dst, src):
        if d is None or s is None:
            continue
        if d.shape != s.shape:
            raise ValueError(f"row stream: rows {s.shape} copied into {d.shape}")
        if d.ndim == 4:
            wd, y0d = window_rows(d)
            ws, y0s = window_rows(s)
            _copy_rows(wd, y0d, ws, y0s, d.shape[2])
        else:
            np.copyto(d, s, casting="unsafe" if d.dtype != s.dtype else "same_kind")


class RowStream:
    """The staggered stream of rows of the ramp ``rf`` through ``steps`` (see the module doc).

    ``base_pdq``: PIXELDQ as read. :meth:`chunks` yields, after each chunk read, the rows
    each step finalised.
    """

    def __init__(self, rf, steps, base_pdq, chunk_mb: float, kept=()):
        self.rf, self.steps, self.base_pdq = rf, steps, base_pdq
        #: runs [i, j) of elementwise steps applied in one kernel (none of them kept but the last)
        self.fused = {i: j for i, j in fusable_runs(steps, set(kept))}
        covered = {k for i, j in self.fused.items() for k in range(i, j)}
        #: elementwise steps outside a run: through the same kernel, one step (parallel over
        #: integrations and rows; numpy's in-place operators run on one thread)
        self.alone = {i for i, s in enumerate(steps) if i not in covered and not s.skipped
                      and s.row_halo() == 0 and s.elementwise(slice(0, 0)) is not None}
        nints, ngroups, ny, nx = rf.shape
        self.shape = rf.shape
        self.halos = [0 if s.skipped else int(s.row_halo()) for s in steps]
        has_zf = rf.has_zeroframe
        modifies = [bool(s.modifies_sci) and not s.skipped for s in steps]
        # what a halo step's context needs: SCI only when the step or a later one changes it
        self.ctx_sci = [any(modifies[i:]) for i in range(len(steps))]
        self.keep = sum(self.halos) + max(self.halos, default=0)  # rows waiting, at most
        #: an uncal file's rows are read one chunk ahead on a reader thread (io.RowReadAhead)
        self.ahead = bool(getattr(rf, "reads_rows_ahead", False))
        self.nnew, _, _ = stream_size(rf.shape, self.halos, modifies, chunk_mb, has_zf, ahead=self.ahead)
        self.reader = None
        self.cap = min(ny, self.nnew + self.keep)
        self.win = _Rows(nints, ngroups, self.cap, nx, zf=has_zf)
        self.w0 = 0  # exposure row of the window's first row
        self.nwin = 0  # rows held
        # a halo step whose input SCI is still the uncal file's counts (no step before it changed
        # SCI) keeps its context's SCI as uint16: exact, and half the bytes of float32
        raw = bool(getattr(rf, "sci_is_uint16", False))
        self.ctx_dtype = [np.uint16 if raw and not any(modifies[:i]) else np.float32 for i in range(len(steps))]
        #: halo steps that keep what they need of the rows above a chunk themselves
        #: (``Step.keep_rows_above``): they get no context rows, so nothing is swapped for them
        self.own_above = [bool(h) and bool(getattr(s, "keep_rows_above", lambda: False)())
                          for s, h in zip(steps, self.halos)]
        self.ctx = [None if h == 0 or own else _Rows(nints, ngroups, h, nx, sci=self.ctx_sci[i], zf=has_zf,
                                                     sci_dtype=self.ctx_dtype[i])
                    for i, (h, own) in enumerate(zip(self.halos, self.own_above))]
        self.tmp = [None if h == 0 or own or not any(self.halos[i + 1:])
                    else _Rows(nints, ngroups, h, nx, sci=self.ctx_sci[i], zf=has_zf)
                    for i, (h, own) in enumerate(zip(self.halos, self.own_above))]
        self.pend = [None if h == 0 else _Rows(nints, ngroups, h, nx, sci=steps[i].modifies_sci, zf=has_zf)
                     for i, h in enumerate(self.halos)]
        self.done = [0] * len(steps)  # rows each step has finalised
        for s, h in zip(steps, self.halos):  # a halo step may rely on its context rows' input (above)
            if h and hasattr(s, "stream_restores_context"):
                s.stream_restores_context()

    def nbytes(self) -> int:
        """Bytes of the stream's buffers (the window, contexts and swap buffers)."""
        bufs = [self.win] + [b for b in self.ctx + self.tmp + self.pend if b is not None]
        ahead = self.shape[0] * self.shape[1] * self.nnew * self.shape[3] * 2 if self.ahead else 0
        return ahead + sum(a.nbytes for b in bufs for a in (b.sci, b.gdq, b.pdq, b.zf) if a is not None)

    def _w(self, a: int, b: int) -> tuple:
        """The window's fields for exposure rows [a, b)."""
        return self.win.view(a - self.w0, b - self.w0)

    def _read(self, rows: slice, k: int = 0) -> None:
        """Drop the rows no step needs any more, then read ``rows`` (chunk ``k``) into the window."""
        low = min([self.done[-1] if self.steps else rows.start]
                  + [d if own else max(0, d - h) for d, h, own in zip(self.done, self.halos, self.own_above) if h])
        low = min(low, rows.start)
        held = self.w0 + self.nwin - low
        if low > self.w0 and held:
            self.win.shift(low - self.w0, held)
        self.w0, self.nwin = low, held
        n = rows.stop - rows.start
        if self.nwin + n > self.cap:
            raise AssertionError(f"row window overflow: {self.nwin} + {n} > {self.cap}")
        sci, gdq, pdq, zf = self.win.view(self.nwin, self.nwin + n)
        if self.reader is not None:
            self.reader.into(k, sci, gdq, zf)
        else:
            self.rf.read_into(rows, sci, gdq, zf)
        pdq[...] = self.base_pdq[rows]
        self.nwin += n

    def _run(self, i: int, a: int, b: int) -> None:
        """Step ``i`` on exposure rows [a, b) of the window."""
        step = self.steps[i]
        sci, gdq, pdq, zf = self._w(a, b)
        nints = self.shape[0]
        with timing.step_timer(step.name):
            step.process(sci, gdq, pdq, slice(0, nints), slice(a, b))
            if zf is not None:
                step.process_zeroframe(zf, slice(0, nints), slice(a, b))

    def _advance(self, i: int, avail: int) -> tuple[int, int]:
        """Let step ``i`` finalise what its input (final up to row ``avail``) allows; returns
        the rows it finalised now."""
        ny = self.shape[2]
        h, f = self.halos[i], self.done[i]
        new = avail if avail >= ny else avail - h
        if new <= f:
            return f, f
        if self.steps[i].skipped:
            pass
        elif h == 0:
            self._run(i, f, new)
        else:
            lo = f if self.own_above[i] else max(0, f - h)
            ctx, tmp, pend = self.ctx[i], self.tmp[i], self.pend[i]
            nc = f - lo
            # rows the last step has not finalised yet keep their current state aside (with no
            # halo step after this one, the last step is level with it: no row to keep)
            nt = f - max(lo, self.done[-1]) if tmp is not None else 0
            if nt > 0:
                _copy(tmp.view(0, nt), self._w(f - nt, f))
            if nc:  # the context rows: their input back in
                _copy(self._w(lo, f), ctx.view(0, nc))
            if new < ny and ctx is not None:  # the input of the rows the next call needs as context
                nlo = max(0, new - h)
                _copy(ctx.view(0, new - nlo), self._w(nlo, new))
            npend = avail - new
            if npend:  # the rows left pending keep their input
                _copy(pend.view(0, npend), self._w(new, avail))
            self._run(i, lo, avail)
            if nt > 0:
                _copy(self._w(f - nt, f), tmp.view(0, nt))
            if npend:
                _copy(self._w(new, avail), pend.view(0, npend))
        self.done[i] = new
        return f, new

    def _advance_fused(self, i: int, j: int, avail: int) -> tuple[int, int]:
        """Steps i..j-1 (a fused run: no halos) on the rows their input finalised, in one kernel."""
        f = self.done[i]
        if avail > f:
            sci, gdq, pdq, zf = self._w(f, avail)
            run = self.steps[i:j]
            with timing.step_timer("+".join(s.name for s in run if not s.skipped)):
                run_fused(run, sci, gdq, pdq, slice(f, avail))
                for s in run:
                    if zf is not None and not s.skipped:
                        s.process_zeroframe(zf, slice(0, self.shape[0]), slice(f, avail))
            for k in range(i, j):
                self.done[k] = avail
        return f, max(f, avail)

    def chunks(self, label: str, after=None):
        """Read the ramp chunk by chunk; ``after(i, rows, sci, gdq, pdq, zf)`` is called as soon
        as step ``i`` finalised ``rows`` (views of the window, valid until the next step runs).
        Yields, after each chunk, the rows the last step finalised and their (sci, gdq, pdq,
        zf), valid until the next chunk is read."""
        ny = self.shape[2]
        chunks = list(chunk_ranges(ny, self.nnew))
        if self.ahead:
            from ..io.row_ahead import RowReadAhead

            self.reader = RowReadAhead(self.rf, chunks)
        try:
            yield from self._chunks(chunks, label, after)
        finally:
            if self.reader is not None:
                self.reader.close()
                self.reader = None

    def _chunks(self, chunks, label, after):
        for k, rows in enumerate(chunks):
            self._read(rows, k)
            a, b = rows.start, rows.stop
            i = 0
            while i < len(self.steps):
                j = self.fused.get(i, i + 1)
                fused = j > i + 1 or i in self.alone
                a, b = self._advance_fused(i, j, b) if fused else self._advance(i, b)
                if after is not None and b > a:
                    for s in range(i, j):
                        after(s, slice(a, b), *self._w(a, b))
                i = j
            if not self.steps:
                a, b = rows.start, rows.stop
            if b > a:
                yield slice(a, b), self._w(a, b)
            log.debug("%s: rows up to %d read (%d/%d chunks)", label, rows.stop, k + 1, len(chunks))
