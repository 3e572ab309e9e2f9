"""jump's row cache (private to :mod:`rampflow.steps.jump`): the detection results of the last
rows of one row chunk, reused when the next chunk starts with them as its halo, so no row is
detected twice in a row pass."""

from __future__ import annotations

import numpy as np

from ..lazy import LazyModule

K = LazyModule("rampflow.kernels.jump")


def _keep_row(gdq, r: int) -> tuple:
    """Row ``r`` of GROUPDQ ``gdq`` (nints, ngroups, nrow, nx) as (shape, flat indices uint32,
    values) of its nonzero groups (mostly zero: a row of a TSO exposure is 22 MB dense), or
    (shape, None, a dense copy) where that would take more bytes."""
    from ..kernels import jump_bits as KB

    nints, ngroups, nrow, nx = gdq.shape
    nw = nx // 8
    if gdq.strides[3] == 1 and gdq.strides[2] % 8 == 0 and gdq.strides[1] % 8 == 0 and gdq.strides[0] % 8 == 0 \
            and gdq.ctypes.data % 8 == 0:  # rows of whole words (the row stream's window): read 8 at a time
        words = gdq[..., :8 * nw].view(np.uint64)
    else:
        words = np.zeros((nints, ngroups, nrow, 0), dtype=np.uint64)
    counts = np.zeros(nints, dtype=np.int64)
    KB._row_count_nonzero_kernel(gdq, words, r, counts)
    shape = (nints, ngroups, nx)
    if 5 * int(counts.sum()) >= nints * ngroups * nx:
        return shape, None, gdq[:, :, r, :].copy()
    offsets = np.zeros(nints + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    idx = np.empty(int(offsets[-1]), dtype=np.uint32)
    val = np.empty(int(offsets[-1]), dtype=np.uint8)
    KB._row_nonzero_kernel(gdq, words, r, offsets, idx, val)
    return shape, (offsets, idx), val


def _restore_row(gdq, r: int, kept: tuple) -> None:
    """Row ``r`` of ``gdq`` set to what :func:`_keep_row` kept."""
    from ..kernels import jump_bits as KB

    _, sparse, val = kept
    if sparse is None:
        gdq[:, :, r, :] = val
    else:
        KB._row_scatter_kernel(gdq, r, sparse[0], sparse[1], val)


class RowCache:
    """Detection results of the last rows of one chunk, reused by the next chunk.

    With row chunks and a halo, the next chunk starts with the previous chunk's last
    interior row (as its halo) and its bottom halo row (as its first interior row). Both
    were already through the per-pixel detection, whose result depends only on the row's
    own input (SCI, GROUPDQ, read noise, gain), the parameters and the detection branch.
    The cache keeps, for the last ``keep`` rows of a chunk, a fingerprint of that input
    (64-bit hash of the SCI bits and GROUPDQ) with the state after detection (GROUPDQ, as
    its nonzero values while few; median, sigma, neighbour hints, counts); a row of a later
    chunk with the same
    exposure row, branch and fingerprint takes that state instead of being detected
    again. Any other row (a different order of chunks, other data) is simply detected.

    ``verify=False`` (:meth:`JumpStep.stream_restores_context`: the runner's row stream hands
    a halo step exactly the input its context rows had before, by construction) skips the
    fingerprints: a row of the next chunk with the same exposure row and branch is reused.
    """

    def __init__(self, ny_exposure: int, keep: int = 2, verify: bool = True):
        self.ny = int(ny_exposure)
        self.keep = int(keep)
        self.verify = bool(verify)
        self.entries: dict = {}
        self._reuse: dict = {}
        self._store: dict = {}
        self.reused_rows = 0

    def _hashes(self, sci, gdq, rows):
        if not self.verify:
            return dict.fromkeys((int(r) for r in rows), 0)
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.uint64)
        if len(rows):
            K._row_hash_kernel(sci.view(np.uint32), gdq, rows, out)
        return {int(r): int(h) for r, h in zip(rows, out)}

    def plan(self, sci, gdq, row0: int, mode: int) -> np.ndarray:
        """Rows (chunk-local, int64) that must be detected; fingerprints the candidates."""
        ny = sci.shape[2]
        cand = [r for r in range(min(self.keep, ny)) if (row0 + r) in self.entries]
        store = [r for r in range(max(0, ny - self.keep), ny) if row0 + ny < self.ny]
        hashes = self._hashes(sci, gdq, sorted(set(cand) | set(store)))
        self._reuse = {}
        for r in cand:
            e = self.entries[row0 + r]
            if e["key"] == (mode, hashes[r]) and e["gdq"][0] == (sci.shape[0], sci.shape[1], sci.shape[3]):
                self._reuse[r] = e
        self._store = {r: (mode, hashes[r]) for r in store}
        return np.array([r for r in range(ny) if r not in self._reuse], dtype=np.int64)

    def restore_and_store(self, gdq, out, row0: int) -> None:
        """Restore the reused rows' state into ``gdq`` and ``out`` (a kernels.jump.DetectOutput);
        keep the last rows' state for the next chunk."""
        med, sig, rowtrig, nprim, nclean = out
        for r, e in self._reuse.items():
            _restore_row(gdq, r, e["gdq"])
            med[r] = e["med"]
            sig[r] = e["sig"]
            rowtrig[:, :, r] = e["rowtrig"]
            nprim[r] = e["nprim"]
            nclean[r] = e["nclean"]
        self.reused_rows += len(self._reuse)
        new = {}
        for r, key in self._store.items():
            new[row0 + r] = {"key": key, "gdq": _keep_row(gdq, r), "med": med[r].copy(),
                             "sig": sig[r].copy(), "rowtrig": rowtrig[:, :, r].copy(),
                             "nprim": int(nprim[r]), "nclean": int(nclean[r])}
        self.entries = new
        self._reuse = {}
        self._store = {}
