"""Snowballs and showers over a whole exposure with bounded memory (jump's pre-pass).

stcal flags snowballs and showers on the whole 4-D GROUPDQ after the two-point detection.
Their contours can reach hundreds of pixels, so a row chunk would need a halo of the whole
(TSO subarray) frame: as much memory as the full cube. Instead, :class:`LargeEvents` runs
before the runner's row chunks, over the step's *input*, given as a source (the runner's
:class:`rampflow.runner.prepass.StepInput`): chunks of rows of every integration, or chunks
of whole integrations, of the ramp jump receives. In the one-pass Stage 1 that ramp is not a
file: the source reads the uncal file and recomputes the steps before jump on each chunk.

A. the two-point detection, row chunk by row chunk (exactly what the step does without
   large events: the source runs the detection as the last step of its row chunks, with
   its 1-row halo and :class:`~rampflow.steps.jump_rows.RowCache`); what stays is, per group
   and pixel, the JUMP bit and the SATURATED bit (:class:`FlagStore`: the flat indices of
   the flagged groups of each integration while few, packed bits, 1/8 of GROUPDQ, where
   denser), and per group plane whether it is DO_NOT_USE in every pixel;
B. snowballs, one integration at a time, from what A kept only (the search reads only the
   JUMP and SATURATED bits; the groups it sets to SATURATED are marked with a spare bit, so
   their final values are known without the other bits of the input), in time order,
   carrying the saturated cores into the next integration;
C. showers (when on): the per-pixel statistics over all integrations (a second pass of row
   chunks of the input, in column blocks), then the detection on chunks of whole
   integrations (a third pass).

What stays is the JUMP bit of every group (a :class:`FlagStore`) and, per integration, the few groups
whose other bits changed (snowball cores set to SATURATED), as flat indices and final
values. Every step of B and C sees exactly the arrays stcal sees (the whole frame of an
integration, or per-pixel statistics that do not depend on the other pixels), so the flags
equal stcal's on the whole exposure, whatever the chunk size. The runner's row pass then only
applies them (:meth:`LargeEvents.apply`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .. import dq as dqflags
from ..io import timing
from ..lazy import LazyModule
from . import jump_events as E

KB = LazyModule("rampflow.kernels.jump_bits")
log = logging.getLogger(__name__)

JUMP = np.uint8(dqflags.JUMP_DET)
NOT_JUMP = np.uint8(0xFF ^ dqflags.JUMP_DET)
SAT = np.uint8(dqflags.SATURATED)
DNU = np.uint8(dqflags.DO_NOT_USE)
#: a GROUPDQ bit the snowball search never reads (CHARGELOSS): set on every group of the
#: reduced cube B searches, it is cleared exactly where the search SETS a group to SATURATED
MARK = np.uint8(dqflags.CHARGELOSS)
#: float32 values per column block of the shower statistics (about 16 MB)
STATS_BLOCK_VALUES = 4 << 20


class ArrayRamp:
    """The chunk-reading interface of :class:`rampflow.io.ramp.RampFile` over in-memory arrays
    (sci float32, gdq uint8 (nints, ngroups, ny, nx); pdq uint32 (ny, nx)), for a step given
    the whole cube (and for tests)."""

    def __init__(self, sci, gdq, pdq=None):
        self.sci = sci
        self.gdq = gdq
        self.pdq = np.zeros(sci.shape[2:], np.uint32) if pdq is None else pdq
        self.shape = sci.shape

    @property
    def nbytes_per_int(self) -> int:
        return int(np.prod(self.shape[1:])) * 5

    def pixeldq(self):
        return np.array(self.pdq, dtype=np.uint32, copy=True)

    def read(self, ints=slice(None), rows=slice(None), reuse=False, slot=0):
        """Copies of the arrays' chunk (fresh every call, so any read-ahead ``slot`` is safe)."""
        return (np.ascontiguousarray(self.sci[ints, :, rows]), np.array(self.gdq[ints, :, rows], copy=True))

    def read_into(self, rows: slice, sci: np.ndarray, gdq: np.ndarray, zf=None) -> None:
        """Rows ``rows`` of every integration into ``sci`` and ``gdq`` (the row stream's window)."""
        sci[...] = self.sci[:, :, rows]
        gdq[...] = self.gdq[:, :, rows]

    @property
    def has_zeroframe(self) -> bool:
        return False

    def zeroframe(self, ints=slice(None), rows=slice(None)):
        return None

    def prefetch(self) -> bool:
        return False

    def reserve(self, nints: int, nrows: int) -> None:
        pass

    def release(self) -> None:
        pass


class FlagStore:
    """One GROUPDQ bit (``flag``) of every group and pixel, per integration: the flat indices
    (uint32, into (ngroups, ny, nx)) of the groups with it, or, once they would take more
    bytes than packed bits, the packed bits (8 pixels to a byte). So an integration never
    holds more than its packed size (plus, while its rows arrive, one chunk's indices), and
    few flags take little: the JUMP bits of a whole TSO exposure, packed, are 89 MB; as
    indices, a few MB."""

    def __init__(self, shape, flag):
        self.shape = tuple(shape)
        self.flag = np.uint8(flag)
        nints, ngroups, ny, nx = self.shape
        if ngroups * ny * nx > np.iinfo(np.uint32).max:  # the flat indices are uint32
            raise ValueError(f"step 'jump': an integration of {ngroups} groups of {ny} x {nx} pixels has more "
                             "samples than snowball and shower flagging can index (2**32 - 1); turn "
                             "expand_large_events and find_showers off for this exposure")
        self.packed_bytes = ngroups * ny * ((nx + 7) // 8)
        self.sparse = [[] for _ in range(nints)]
        self.count = np.zeros(nints, np.int64)
        self.packed: dict = {}

    def add(self, i: int, rows: slice, mask) -> None:
        """Integration ``i``'s flagged groups (bool (ngroups, nrow, nx)) in exposure rows ``rows``."""
        _, ngroups, ny, nx = self.shape
        if i in self.packed:
            self.packed[i][:, rows] = np.packbits(mask, axis=-1)
            return
        g, y, x = np.nonzero(mask)
        if not len(g):
            return
        self.sparse[i].append(((g.astype(np.int64) * ny + y + rows.start) * nx + x).astype(np.uint32))
        self.count[i] += len(g)
        self._pack_if_dense(i)

    def _pack_if_dense(self, i: int) -> None:
        """Switch integration ``i`` to packed bits once its indices would take more bytes."""
        if 4 * self.count[i] > self.packed_bytes:  # denser than bits: pack what came so far
            self.packed[i] = np.packbits(self.plane(i), axis=-1)
            self.sparse[i] = []

    def add_chunk(self, rows: slice, gdq, counts) -> None:
        """Every integration's flagged groups from a row chunk's GROUPDQ ``gdq`` (nints,
        ngroups, nrow, nx) of exposure rows ``rows``, ``counts`` (int64 (nints,)) their number
        per integration (``_count_flags_kernel``): what :meth:`add` does integration by
        integration, in two kernel calls."""
        _, ngroups, ny, nx = self.shape
        r0 = rows.start or 0
        for i in self.packed:
            KB._pack_flag_kernel(gdq[i:i + 1], self.flag, self.packed[i][None], r0)
        ints = np.array([i for i in range(len(counts)) if counts[i] and i not in self.packed], dtype=np.int64)
        if not len(ints):
            return
        offsets = np.zeros(len(ints) + 1, dtype=np.int64)
        np.cumsum(counts[ints], out=offsets[1:])
        flat = np.empty(int(offsets[-1]), dtype=np.uint32)
        KB._flag_indices_kernel(gdq, self.flag, r0, ny, ints, offsets, flat)
        for t, i in enumerate(ints):
            self.sparse[i].append(flat[offsets[t]:offsets[t + 1]].copy())
            self.count[i] += counts[i]
            self._pack_if_dense(i)

    def compact(self) -> None:
        """Join each integration's indices (one array a row chunk) into one array."""
        for i, parts in enumerate(self.sparse):
            if len(parts) > 1:
                self.sparse[i] = [np.concatenate(parts)]

    def set(self, i: int, mask) -> None:
        """Replace integration ``i``'s bits by ``mask`` (bool (ngroups, ny, nx)): indices or
        packed bits, whichever is smaller."""
        idx = np.flatnonzero(mask)
        self.count[i] = len(idx)
        if 4 * len(idx) > self.packed_bytes:
            self.packed[i] = np.packbits(mask, axis=-1)
            self.sparse[i] = []
        else:
            self.packed.pop(i, None)
            self.sparse[i] = [idx.astype(np.uint32)] if len(idx) else []

    def or_into(self, i: int, cube, value) -> None:
        """``cube |= value`` (uint8 (ngroups, ny, nx), C-contiguous) where integration ``i`` has the flag."""
        if i in self.packed:
            KB._or_packed_kernel(cube, self.packed[i], np.uint8(value), 0)
            return
        flat = cube.reshape(-1)
        for idx in self.sparse[i]:
            flat[idx] |= np.uint8(value)

    def apply(self, gdq, r0: int, value) -> None:
        """``gdq |= value`` where flagged, on a row chunk ``gdq`` (nints, ngroups, nrow, nx) of
        exposure rows from ``r0``, without unpacking the whole exposure's bits."""
        ny = self.shape[2]
        value = np.uint8(value)
        for i in range(self.shape[0]):
            if i in self.packed:
                KB._or_packed_kernel(gdq[i], self.packed[i], value, r0)
            else:
                for idx in self.sparse[i]:
                    KB._or_indices_kernel(gdq[i], idx, value, r0, ny)

    def plane(self, i: int) -> np.ndarray:
        """Integration ``i``'s bits, bool (ngroups, ny, nx)."""
        _, ngroups, ny, nx = self.shape
        if i in self.packed:
            return np.unpackbits(self.packed[i], axis=-1, count=nx).astype(bool)
        out = np.zeros(ngroups * ny * nx, bool)
        for idx in self.sparse[i]:
            out[idx] = True
        return out.reshape(ngroups, ny, nx)

    def nbytes(self) -> int:
        return sum(a.nbytes for s in self.sparse for a in s) + sum(a.nbytes for a in self.packed.values())


class _Detection:
    """jump's two-point detection as a step of the source's row chunks (A): the JumpStep's
    ``detect_chunk`` with its neighbour halo; everything else is the JumpStep's."""

    def __init__(self, step):
        self._step = step

    def __getattr__(self, name):
        return getattr(self._step, name)

    skipped = None

    def row_halo(self) -> int:
        return 1

    def process(self, sci, gdq, pdq, ints, rows):
        self._step.detect_chunk(sci, gdq, pdq, rows)

    def process_zeroframe(self, zf, ints, rows):
        pass


class LargeEvents:
    """Snowball / shower flags of one exposure (see the module docstring).

    step : the JumpStep (its parameters, references and detection bookkeeping)
    ep   : :class:`~rampflow.steps.jump_events.EventParams`
    """

    def __init__(self, step, ep: E.EventParams):
        self.step = step
        self.ep = ep
        m = step.meta
        self.shape = (m.nints, m.ngroups, m.subsize2, m.subsize1)
        self.jump = None            # the JUMP bits (FlagStore: indices, or packed where dense)
        self.delta: dict = {}       # integration -> (flat indices int64, final values uint8)
        self.dnu_planes = 0         # planes DO_NOT_USE in every pixel, final GROUPDQ
        self.snowballs = 0
        self.showers = 0
        self.sat_bytes = 0          # what the SATURATED bits took (FlagStore)
        self.done = False

    # ---------------------------------------------------------------- bookkeeping
    def _reconstruct_int(self, i, gdq_in):
        """Integration i's current GROUPDQ (ngroups, ny, nx) from its input GROUPDQ."""
        cube = np.ascontiguousarray(gdq_in & NOT_JUMP)
        self.jump.or_into(i, cube, JUMP)
        d = self.delta.get(i)
        if d is not None:
            cube.reshape(-1)[d[0]] = d[1]
        return cube

    def _store_int(self, i, gdq_in, cube):
        """Keep integration i's GROUPDQ ``cube``: its JUMP bits and where the other bits differ."""
        self.jump.set(i, (cube & JUMP) != 0)
        idx = np.flatnonzero((cube & NOT_JUMP) != (gdq_in & NOT_JUMP))
        if len(idx):
            self.delta[i] = (idx, cube.reshape(-1)[idx].copy())
        else:
            self.delta.pop(i, None)

    def apply(self, gdq, rows: slice) -> None:
        """Set the final GROUPDQ on a chunk ``gdq`` (nints, ngroups, nrow, nx) of input GROUPDQ
        for the exposure rows ``rows``, in place."""
        _, ngroups, ny, nx = self.shape
        r0, r1 = rows.start or 0, rows.stop if rows.stop is not None else ny
        gdq &= NOT_JUMP
        self.jump.apply(gdq, r0, JUMP)
        for i, (idx, val) in self.delta.items():
            y = (idx // nx) % ny
            sel = (y >= r0) & (y < r1)
            if sel.any():
                k = idx[sel]
                gdq[i, k // (ny * nx), y[sel] - r0, k % nx] = val[sel]

    # ---------------------------------------------------------------- the passes
    def run(self, source) -> None:
        """Everything, from the step's input ``source`` (a
        :class:`rampflow.runner.prepass.StepInput`: ``shape``, ``rows(step)`` yielding
        (rows, sci, gdq) of the interior rows of row chunks of every integration, after the
        steps before jump and ``step``; ``pdq`` after such a pass; ``integrations()`` yielding
        (ints, sci, gdq) of chunks of whole integrations)."""
        nints, ngroups, ny, nx = self.shape
        if tuple(source.shape) != self.shape:
            raise ValueError(f"step 'jump': input ramp has shape {tuple(source.shape)}, exposure is {self.shape}")
        self.jump = FlagStore(self.shape, JUMP)
        t0 = time.perf_counter()
        steps0 = dict(timing.STEPS)
        sat, all_dnu = self._detect(source)
        t1 = time.perf_counter()
        steps = {k: v - steps0.get(k, 0.0) for k, v in timing.STEPS.items() if v - steps0.get(k, 0.0) > 0}
        # stcal's PIXELDQ: the input's, with NO_GAIN_VALUE | DO_NOT_USE where the gain is NaN or <= 0
        pdq_j = source.pdq
        dnu = self._snowballs(sat, all_dnu)
        log.info("jump: detection pass %.1f s (steps: %s), snowball search %.1f s; JUMP bits kept in %.1f MB, "
                 "SATURATED bits in %.1f MB (packed: %.1f MB each)", t1 - t0,
                 ", ".join(f"{k} {v:.1f}" for k, v in steps.items()), time.perf_counter() - t1,
                 self.jump.nbytes() / 2**20, sat.nbytes() / 2**20, nints * self.jump.packed_bytes / 2**20)
        self.sat_bytes = sat.nbytes()
        del sat
        if self.ep.find_showers:
            total_diffs = nints * (ngroups - 1) - dnu
            if total_diffs < E.MIN_DIFFS_FOR_SHOWER:
                log.warning("jump: not enough differences for shower detection")
            else:
                stats = self._shower_stats(source)
                dnu = self._showers(source, pdq_j, stats)
        self.dnu_planes = dnu
        self.done = True
        log.info("jump: %d snowballs, %d showers", self.snowballs, self.showers)

    def _detect(self, source):
        """A: two-point detection in the source's row chunks; JUMP and SATURATED bits
        (FlagStore) and the all-DO_NOT_USE planes (nints, ngroups) kept."""
        nints, ngroups, ny, nx = self.shape
        sat = FlagStore(self.shape, SAT)
        all_dnu = np.ones((nints, ngroups), bool)
        counts = np.zeros(nints, dtype=np.int64)
        njump = np.zeros(nints, dtype=np.int64)
        for rows, _, gdq in source.rows(_Detection(self.step)):
            KB._count_flags_kernel(gdq, JUMP, DNU, njump, all_dnu)
            KB._count_flags_kernel(gdq, SAT, DNU, counts, all_dnu)
            self.jump.add_chunk(rows, gdq, njump)
            sat.add_chunk(rows, gdq, counts)
        self.jump.compact()
        sat.compact()
        return sat, all_dnu

    def _snowballs(self, sat, all_dnu):
        """B: snowballs per integration (when on), on the reduced cube (JUMP and SATURATED
        bits); returns the count of planes DO_NOT_USE in every pixel after them."""
        nints, ngroups, ny, nx = self.shape
        if not self.ep.expand_large_events:
            return int(all_dnu.sum())
        dnu = 0
        persist_prev = None
        for i in range(nints):
            cube = np.full((ngroups, ny, nx), MARK, dtype=np.uint8)
            self.jump.or_into(i, cube, JUMP)
            sat.or_into(i, cube, SAT)
            n, persist, changed = E.flag_snowballs_int(cube, self.ep, persist_prev, ny)
            self.snowballs += n
            persist_prev = persist
            self.delta.pop(i, None)
            if not changed:  # the search left the cube as it was: its bits stand
                dnu += int(all_dnu[i].sum())
                continue
            self.jump.set(i, (cube & JUMP) != 0)
            idx = np.flatnonzero((cube & MARK) == 0)  # set to SATURATED: the other bits dropped
            if len(idx):
                self.delta[i] = (idx, cube.reshape(-1)[idx] & (SAT | JUMP))
            set_planes = np.zeros(ngroups, bool)
            set_planes[np.unique(idx // (ny * nx))] = True
            dnu += int((all_dnu[i] & ~set_planes).sum())
        return dnu

    def _shower_stats(self, source):
        """C1: stcal's per-pixel statistics of the first differences over all integrations."""
        nints, ngroups, ny, nx = self.shape
        gain = self.step.gain
        rn_e = self.step.readnoise * gain
        nd = ngroups - 1
        sigclip = nints >= self.ep.minimum_sigclip_groups
        shape = (nd, ny, nx) if sigclip else (ny, nx)
        med = spread = None
        width = max(1, min(nx, STATS_BLOCK_VALUES // max(1, nints * ngroups)))
        for rows, sci, gdq in source.rows():
            self.apply(gdq, rows)
            for r in range(rows.stop - rows.start):
                y = rows.start + r
                for x0 in range(0, nx, width):
                    xs = slice(x0, min(nx, x0 + width))
                    sci_e = sci[:, :, r:r + 1, xs] * gain[y:y + 1, xs]
                    diffs = E.first_diffs(sci_e, gdq[:, :, r:r + 1, xs])
                    kind, m, s = E.shower_statistics(diffs, rn_e[y:y + 1, xs], self.ep, nints)
                    if med is None:
                        med = np.empty(shape, dtype=m.dtype)
                        spread = np.empty(shape, dtype=s.dtype)
                    med[..., y:y + 1, xs] = m
                    spread[..., y:y + 1, xs] = s
        return ("sigclip" if sigclip else "median"), med, spread

    def _showers(self, source, pdq_j, stats):
        """C2: showers per integration; returns the all-DO_NOT_USE plane count after them."""
        gain = self.step.gain
        kernel = E.ring_kernel(self.ep)
        dnu = 0
        for ints, sci, gdq in source.integrations():
            for k in range(sci.shape[0]):
                i = (ints.start or 0) + k
                gdq_in = gdq[k]
                cube = self._reconstruct_int(i, gdq_in)
                new, n = E.find_showers_int(sci[k] * gain, cube, pdq_j, stats, i, self.ep, kernel)
                self.showers += n
                self._store_int(i, gdq_in, new)
                dnu += E.count_dnu_planes(new)
        return dnu

    def memory_bytes(self) -> int:
        """Bytes held between the passes (packed bits and the changed groups)."""
        n = 0 if self.jump is None else self.jump.nbytes()
        return n + sum(a.nbytes + b.nbytes for a, b in self.delta.values())


#: float32 arrays of one integration's size the per-integration passes hold at once (the
#: integration read, its electrons, first differences with their NaN-masked copy, ratios,
#: GROUPDQ copies): an upper bound used for memory estimates
INT_WORK_ARRAYS = 8


def prepass_bytes(shape) -> int:
    """Upper bound of the memory :class:`LargeEvents` adds to jump's pass over a ramp of
    ``shape`` (nints, ngroups, ny, nx): packed JUMP bits, the SATURATED bits while the
    snowballs are searched (at most as many again), shower statistics, one integration's
    work arrays (the changed groups of snowball cores are not counted: a few per event)."""
    nints, ngroups, ny, nx = (int(n) for n in shape)
    bits = nints * ngroups * ny * ((nx + 7) // 8)
    stats = 2 * max(ngroups - 1, 1) * ny * nx * 4
    return 2 * bits + stats + INT_WORK_ARRAYS * ngroups * ny * nx * 4
