"""Snowballs and showers over a whole exposure with bounded memory (jump's pre-pass).

stcal flags snowballs and showers on the whole 4-D GROUPDQ after the two-point detection.
Their contours can reach hundreds of pixels, so a row chunk would need a halo of the whole
(TSO subarray) frame: as much memory as the full cube. Instead, :class:`LargeEvents` runs
before the runner's row chunks, over the step's input ramp:

A. the two-point detection, row chunk by row chunk (exactly what the step does without
   large events: same chunks, halo and :class:`~rampflow.steps.jump.RowCache`); only the
   resulting JUMP bits are kept, packed 8 pixels to a byte (1/8 of GROUPDQ);
B. snowballs, one integration at a time (the whole frame of one integration is a few MB of
   GROUPDQ), in time order, carrying the saturated cores into the next integration;
C. showers: the per-pixel statistics over all integrations (row chunks, in column blocks),
   then the detection, one integration at a time.

What stays is the JUMP bit of every group (packed) and, per integration, the few groups
whose other bits changed (snowball cores set to SATURATED), as flat indices and values.
Every step of B and C sees exactly the arrays stcal sees (the whole frame of an integration,
or per-pixel statistics that do not depend on the other pixels), so the flags equal stcal's
on the whole exposure, whatever the chunk size. The runner's row pass then only applies
them (:meth:`LargeEvents.apply`).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import dq as dqflags
from . import jump_events as E

log = logging.getLogger(__name__)

JUMP = np.uint8(dqflags.JUMP_DET)
NOT_JUMP = np.uint8(0xFF ^ dqflags.JUMP_DET)
#: float32 values per column block of the shower statistics (about 16 MB)
STATS_BLOCK_VALUES = 4 << 20


class ArrayRamp:
    """The read interface of :class:`rampflow.io.ramp.RampFile` over in-memory arrays
    (sci float32, gdq uint8 (nints, ngroups, ny, nx); pdq uint32 (ny, nx)), for a step given
    the whole cube (and for tests)."""

    def __init__(self, sci, gdq, pdq=None):
        self.sci = sci
        self.gdq = gdq
        self.pdq = np.zeros(sci.shape[2:], np.uint32) if pdq is None else pdq
        self.shape = sci.shape

    def pixeldq(self):
        return np.array(self.pdq, dtype=np.uint32, copy=True)

    def read(self, ints=slice(None), rows=slice(None), reuse=False):
        return (np.ascontiguousarray(self.sci[ints, :, rows]), np.array(self.gdq[ints, :, rows], copy=True))


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
        self.bits = None            # (nints, ngroups, ny, ceil(nx / 8)) packed JUMP bits
        self.delta: dict = {}       # integration -> (flat indices int64, values uint8)
        self.dnu_planes = 0         # planes DO_NOT_USE in every pixel, final GROUPDQ
        self.snowballs = 0
        self.showers = 0
        self.done = False

    # ---------------------------------------------------------------- bookkeeping
    def _unpack(self, ints, rows):
        nx = self.shape[3]
        return np.unpackbits(self.bits[ints, :, rows], axis=-1, count=nx)

    def _reconstruct_int(self, i, gdq_in):
        """Integration i's current GROUPDQ (ngroups, ny, nx) from its input GROUPDQ."""
        cube = (gdq_in & NOT_JUMP) | (self._unpack(i, slice(None)) * JUMP)
        d = self.delta.get(i)
        if d is not None:
            cube.reshape(-1)[d[0]] = d[1]
        return cube

    def _store_int(self, i, gdq_in, cube):
        """Keep integration i's GROUPDQ ``cube``: its JUMP bits and where the other bits differ."""
        self.bits[i] = np.packbits((cube & JUMP) != 0, axis=-1)
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
        gdq |= self._unpack(slice(None), slice(r0, r1)) * JUMP
        for i, (idx, val) in self.delta.items():
            y = (idx // nx) % ny
            sel = (y >= r0) & (y < r1)
            if sel.any():
                k = idx[sel]
                gdq[i, k // (ny * nx), y[sel] - r0, k % nx] = val[sel]

    # ---------------------------------------------------------------- the passes
    def run(self, ramp, pdq, chunk_mb: float) -> None:
        """Everything, from the step's input ``ramp`` (a RampFile or :class:`ArrayRamp`) and
        its PIXELDQ ``pdq`` (ny, nx) as jwst's jump receives it."""
        nints, ngroups, ny, nx = self.shape
        if tuple(ramp.shape) != self.shape:
            raise ValueError(f"step 'jump': input ramp has shape {tuple(ramp.shape)}, exposure is {self.shape}")
        self.bits = np.zeros((nints, ngroups, ny, (nx + 7) // 8), dtype=np.uint8)
        self._detect(ramp, pdq, chunk_mb)
        # stcal's PIXELDQ: NO_GAIN_VALUE | DO_NOT_USE where the gain is NaN or <= 0
        gain = self.step.gain
        bad_gain = (gain <= 0.0) | np.isnan(gain)
        pdq_j = pdq | np.where(bad_gain, np.uint32(dqflags.NO_GAIN_VALUE | dqflags.DO_NOT_USE), np.uint32(0))
        dnu = self._snowballs(ramp)
        if self.ep.find_showers:
            total_diffs = nints * (ngroups - 1) - dnu
            if total_diffs < E.MIN_DIFFS_FOR_SHOWER:
                log.warning("jump: not enough differences for shower detection")
            else:
                stats = self._shower_stats(ramp, chunk_mb)
                dnu = self._showers(ramp, pdq_j, stats)
        self.dnu_planes = dnu
        self.done = True
        log.info("jump: %d snowballs, %d showers", self.snowballs, self.showers)

    def _detect(self, ramp, pdq, chunk_mb):
        """A: two-point detection in row chunks with the step's 1-row halo; JUMP bits kept."""
        step = self.step
        nints, ngroups, ny, nx = self.shape
        halo = 1
        for rows in _chunks(self.shape, chunk_mb, halo):
            ext = slice(max(0, rows.start - halo), min(ny, rows.stop + halo))
            sci, gdq = ramp.read(slice(None), ext, reuse=True)
            sub = np.array(pdq[ext], copy=True)
            step.detect_chunk(sci, gdq, sub, ext)
            inner = slice(rows.start - ext.start, rows.stop - ext.start)
            self.bits[:, :, rows] = np.packbits((gdq[:, :, inner] & JUMP) != 0, axis=-1)

    def _snowballs(self, ramp):
        """B: snowballs per integration (when on); returns the all-DO_NOT_USE plane count."""
        nints, ngroups, ny, nx = self.shape
        dnu = 0
        persist_prev = None
        for i in range(nints):
            _, gdq_in = ramp.read(slice(i, i + 1))
            gdq_in = gdq_in[0]
            cube = self._reconstruct_int(i, gdq_in)
            if self.ep.expand_large_events:
                n, persist = E.flag_snowballs_int(cube, self.ep, persist_prev, ny)
                self.snowballs += n
                persist_prev = persist
                self._store_int(i, gdq_in, cube)
            dnu += E.count_dnu_planes(cube)
        return dnu

    def _shower_stats(self, ramp, chunk_mb):
        """C1: stcal's per-pixel statistics of the first differences over all integrations."""
        nints, ngroups, ny, nx = self.shape
        gain = self.step.gain
        rn_e = self.step.readnoise * gain
        nd = ngroups - 1
        sigclip = nints >= self.ep.minimum_sigclip_groups
        shape = (nd, ny, nx) if sigclip else (ny, nx)
        med = spread = None
        width = max(1, min(nx, STATS_BLOCK_VALUES // max(1, nints * ngroups)))
        for rows in _chunks(self.shape, chunk_mb, 1):
            sci, gdq = ramp.read(slice(None), rows, reuse=True)
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

    def _showers(self, ramp, pdq_j, stats):
        """C2: showers per integration; returns the all-DO_NOT_USE plane count after them."""
        nints, ngroups, ny, nx = self.shape
        gain = self.step.gain
        kernel = E.ring_kernel(self.ep)
        dnu = 0
        for i in range(nints):
            sci, gdq_in = ramp.read(slice(i, i + 1))
            gdq_in = gdq_in[0]
            cube = self._reconstruct_int(i, gdq_in)
            sci_e = sci[0] * gain
            new, n = E.find_showers_int(sci_e, cube, pdq_j, stats, i, self.ep, kernel)
            self.showers += n
            self._store_int(i, gdq_in, new)
            dnu += E.count_dnu_planes(new)
        return dnu

    def memory_bytes(self) -> int:
        """Bytes held between the passes (packed bits and the changed groups)."""
        n = 0 if self.bits is None else self.bits.nbytes
        return n + sum(a.nbytes + b.nbytes for a, b in self.delta.values())


def _chunks(shape, chunk_mb: float, halo: int):
    """The runner's row chunks for ``chunk_mb`` (its planning rule, imported late: the runner
    imports the steps)."""
    from ..runner.plan import chunk_ranges, rows_per_chunk

    return chunk_ranges(shape[2], rows_per_chunk(shape, chunk_mb, halo))


#: float32 arrays of one integration's size the per-integration passes hold at once (the
#: integration read, its electrons, first differences with their NaN-masked copy, ratios,
#: GROUPDQ copies): an upper bound used for memory estimates
INT_WORK_ARRAYS = 8


def prepass_bytes(shape) -> int:
    """Upper bound of the memory :class:`LargeEvents` adds to jump's pass over a ramp of
    ``shape`` (nints, ngroups, ny, nx): packed JUMP bits, shower statistics, one integration's
    work arrays (the changed groups of snowball cores are not counted: a few per event)."""
    nints, ngroups, ny, nx = (int(n) for n in shape)
    bits = nints * ngroups * ny * ((nx + 7) // 8)
    stats = 2 * max(ngroups - 1, 1) * ny * nx * 4
    return bits + stats + INT_WORK_ARRAYS * ngroups * ny * nx * 4
