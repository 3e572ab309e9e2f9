"""Reading an uncal file's rows one chunk ahead, on a reader thread.

A row pass reads chunks of rows of every integration: for a 155-integration, 70-group TSO
segment one row is 10850 group planes, one system call each. :class:`RowReadAhead` issues
those calls for chunk k + 1 on a thread of its own while the caller's kernels process chunk
k (the read kernel releases the GIL), into a buffer of the 16-bit values as stored (half the
bytes of the float32 chunk); :meth:`RowReadAhead.into` then converts them into the caller's
arrays (a parallel kernel, the same values as :meth:`.ramp.RampFile.read_into`) and starts
the next read. An error of the reader (a file cut short) is raised by ``into`` of the chunk,
naming the file.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import timing


class RowReadAhead:
    """Chunks ``chunks`` (row slices, in the order they will be asked for) of the open uncal
    RampFile ``rf`` (``rf.reads_rows_ahead``), each read while the one before is processed.

    ``into(k, sci, gdq, zf)`` fills chunk ``k``'s arrays (as ``rf.read_into``); chunks must be
    asked for in order. ``close()`` (or the context manager) waits for a read under way and
    ends the thread. Memory: one buffer of the largest chunk's 16-bit SCI (:attr:`nbytes`).
    """

    def __init__(self, rf, chunks: list[slice]):
        self.rf = rf
        self.chunks = list(chunks)
        nints, ngroups, _, nx = rf.shape
        self._plane = (nints, ngroups)
        self._rowbytes = nx * 2
        most = max((c.stop - c.start for c in self.chunks), default=0)
        self._buf = np.empty(nints * ngroups * most * self._rowbytes, dtype=np.uint8)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rampflow-read-ahead") if len(self.chunks) > 1 else None
        self._next = None  # (k, future) of the read under way

    @property
    def nbytes(self) -> int:
        return self._buf.nbytes

    def _raw(self, k: int) -> np.ndarray:
        rows = self.chunks[k]
        n = rows.stop - rows.start
        return self._buf[:int(np.prod(self._plane)) * n * self._rowbytes].reshape(self._plane + (n, self._rowbytes))

    def _load(self, k: int) -> tuple[np.ndarray, float]:
        t = time.perf_counter()
        raw = self._raw(k)
        self.rf.read_raw_rows(self.chunks[k], raw)
        return raw, time.perf_counter() - t

    def into(self, k: int, sci: np.ndarray, gdq: np.ndarray, zf: np.ndarray | None = None) -> None:
        """Chunk ``k`` into ``sci`` (float32), ``gdq`` (uint8 zeros) and ``zf`` (ZEROFRAME, when
        given); then the read of chunk ``k + 1`` starts."""
        if self._next is not None and self._next[0] == k:
            with timing.timed("read"):  # the wait for the reader, if it is behind
                raw, seconds = self._next[1].result()
            self._next = None
            timing.SECONDS["read_ahead"] += seconds
        else:
            if self._next is not None:
                raise ValueError(f"{self.rf.path}: rows read ahead for chunk {self._next[0]}, asked for chunk {k}")
            with timing.timed("read"):
                raw, _ = self._load(k)
        self.rf.convert_raw_rows(raw, self.chunks[k], sci, gdq, zf)
        if self._pool is not None and k + 1 < len(self.chunks):
            self._next = (k + 1, self._pool.submit(self._load, k + 1))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._next = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
