"""Memory a job needs, for schedulers that reserve it (``mem_mb`` of a SLURM job).

A step job streams its input: each pass of the runner reads the ramp a chunk at a time within
``compute.chunk_mb`` (:mod:`rampflow.runner.plan`), so its memory is about the chunk budget
times a small factor (the chunk's SCI + GROUPDQ, the uint16 read buffer of an uncal file, the
kernels' work arrays, the writer's) plus what does not shrink with the chunk: the process
itself (Python, numpy, numba, astropy, stdatamodels, crds, and the Snakemake process that runs
the job inside the allocation), whole-frame arrays (PIXELDQ per step, reference-file cut-outs;
DARK has one frame per group; jump's snowball / shower pre-pass: packed flags and one
integration's work arrays) and, in the ramp_fit job, the rate and rateints products, which
are filled row chunk by row chunk and written at the end. It does not grow with the ramp.

The chunk never holds less than the runner's unit: one integration (integration passes) or one
new row of every integration plus the rows waiting in the row stream and the halo steps'
context rows (row passes, rampflow.runner.row_stream.stream_size), so an exposure with huge
integrations needs more than ``chunk_mb``; :func:`chunk_bytes` mirrors the runner's choice.

:func:`job_mem_mb` is the pure estimate from the exposure's shape; :func:`mem_mb` makes the
resource function a rule uses (it reads the shape from the input ramp's header when the job is
about to be submitted). The constants were measured with ``benchmarks/bench_job_memory.py``,
which prints each job's peak resident memory next to this estimate (the peaks grow by 1.3 to
2.5 bytes per chunk byte; :data:`CHUNK_FACTOR` is 3).

Not modelled: a reference file is read whole before it is cut to the subarray, so a job on a
small subarray whose CRDS reference is full-frame (e.g. a DARK of many groups) briefly holds
that file's arrays. Where that exceeds the estimate the job is killed and retried with more
(``attempt``); set ``mem_mb`` of that rule with ``--set-resources`` to avoid the retries.
"""

from __future__ import annotations

import errno
import math
import os

from ..runner.plan import ints_per_chunk, plan_passes, rows_per_chunk
from ..runner.row_stream import stream_size
from ..steps import get_step_class
from ..steps.jump_stream import prepass_bytes

#: resident memory (MB) of the step process holding no data: Python with numpy, numba's cached
#: kernels, astropy, stdatamodels and crds imported, and the reference cut-outs of a fused
#: group (measured: 200 MB for one step, 400 MB for the seven of the demo's fused group)
STEP_PROCESS_MB = 450
#: resident memory (MB) of the Snakemake process that runs the job inside its allocation
#: (measured: about 295 MB)
SNAKEMAKE_JOB_MB = 300
OVERHEAD_MB = STEP_PROCESS_MB + SNAKEMAKE_JOB_MB
#: peak memory of a pass per byte of its chunk (SCI float32 + GROUPDQ uint8): the chunk, the
#: uint16 read buffer of an uncal, and the kernels' and writer's work arrays
CHUNK_FACTOR = 3.0
#: bytes per frame pixel of whole-frame arrays of a step (PIXELDQ, reference cut-outs)
FRAME_BYTES_PER_STEP = 24
#: bytes per pixel and integration of the rate products ramp_fit holds (SCI, ERR, DQ,
#: VAR_POISSON, VAR_RNOISE as 4-byte values of rateints, plus the copy made when writing)
RATEINTS_BYTES = 40
#: a retried job (``attempt`` 2, 3, ...) gets this much more per attempt
RETRY_GROWTH = 0.5
MB = 2**20


def chunk_bytes(shape, mode: str, chunk_mb: float, halo: int = 0, whole: bool = False) -> int:
    """Bytes of SCI (float32) + GROUPDQ (uint8) the runner holds at once in a pass over a ramp
    of ``shape`` (nints, ngroups, ny, nx): ``mode`` "integrations" (``whole``: every
    integration at once) or "rows" (with ``halo`` rows each side)."""
    nints, ngroups, ny, nx = (int(n) for n in shape)
    if mode == "rows":
        nrow = min(ny, rows_per_chunk(shape, chunk_mb, halo) + 2 * halo)
        return nints * ngroups * nrow * nx * 5
    per_int = ngroups * ny * nx * 5
    return min(nints, ints_per_chunk(per_int, nints, chunk_mb, whole)) * per_int


def job_mem_mb(steps, shape, chunk_mb: float, attempt: int = 1) -> int:
    """Memory (MB) of a job running ``steps`` (consecutive, as in :func:`rampflow.runner.run`) on
    a ramp of ``shape`` (nints, ngroups, ny, nx) with ``compute.chunk_mb`` = ``chunk_mb``:
    :data:`OVERHEAD_MB` + :data:`CHUNK_FACTOR` x the largest pass's chunk + whole-frame arrays
    of each step + the rate products of ramp_fit and of clean_flicker_noise's draft rate;
    times ``1 + RETRY_GROWTH * (attempt - 1)``."""
    steps = list(steps)
    nints, ngroups, ny, nx = (int(n) for n in shape)
    if min(nints, ngroups, ny, nx) < 1:
        raise ValueError(f"job_mem_mb: ramp shape must be positive (nints, ngroups, ny, nx), got {tuple(shape)}")
    inputs = {"ramp": "ramp", **{k: k for s in steps for k in get_step_class(s).reads if k != "ramp"}}
    largest = stream_side = 0
    for p in plan_passes(steps, inputs):
        if p.mode == "products":
            largest = max(largest, nints * ny * nx * RATEINTS_BYTES)
            continue
        classes = [get_step_class(s) for s in p.steps]
        whole = any(c.chunking == "whole" for c in classes)
        if p.mode == "rows":  # the row stream's window, context and swap rows (runner.row_stream)
            ramp = [c for c in classes if c.kind == "ramp"]
            # a pass from the uncal file (its first steps read it) reads its rows one chunk ahead
            ahead = p.steps[0] in ("group_scale", "dq_init")
            _, window, side = stream_size(shape, [int(getattr(c, "halo", 0) or 0) for c in ramp],
                                          [bool(c.modifies_sci) for c in ramp], chunk_mb, ahead=ahead)
            largest = max(largest, window)
            stream_side = max(stream_side, side)  # context rows: no kernel works on them as a chunk
            continue
        largest = max(largest, chunk_bytes(shape, p.mode, chunk_mb, 0, whole))
    # clean_flicker_noise's draft rate: a pass of row chunks through ramp_fit, whose rate
    # products it holds while it makes the scene mask
    drafts = sum(1 for s in steps if get_step_class(s).needs_input_ramp)
    if drafts:
        largest = max(largest, chunk_bytes(shape, "rows", chunk_mb))
    frames = len(steps) * ny * nx * FRAME_BYTES_PER_STEP + stream_side
    rows_steps = [s for p in plan_passes(steps, inputs) if p.mode == "rows" for s in p.steps]
    if "destripe" in rows_steps:  # one pass: its pre-passes keep last-first images and line medians
        frames += nints * ny * nx * 4 + nints * ngroups * max(ny, nx) * 4
    if "dark_current" in steps:  # the DARK cut-out: one float32 frame per group
        frames += ngroups * ny * nx * 4
    if "jump" in steps:  # snowball / shower pre-pass (counted whether or not a pars file turns it on)
        frames += prepass_bytes(shape)
    rate = nints * ny * nx * RATEINTS_BYTES * (("ramp_fit" in steps) + drafts)
    return _grown(OVERHEAD_MB + (CHUNK_FACTOR * largest + frames + rate) / MB, attempt)


def ramp_shape(path) -> tuple[int, int, int, int]:
    """(nints, ngroups, ny, nx) of a ramp file (headers only); FileNotFoundError naming
    ``path`` while it does not exist yet, which Snakemake takes as "evaluate later"."""
    # rampflow.io pulls in astropy: imported when a job's memory is first asked for
    from .. import io

    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "ramp not made yet", str(path))
    with io.open_ramp(path) as rf:
        return rf.shape


def _readable_shape(path):
    """:func:`ramp_shape`, or None for a file that exists but cannot be read (truncated, not
    FITS). A resource function must not raise for it: Snakemake would stop scheduling every
    job, even under ``--keep-going``, instead of failing only the job that reads the file."""
    from ..io import ProductError

    try:
        return ramp_shape(path)
    except FileNotFoundError:
        raise
    except (ProductError, OSError, ValueError, KeyError):
        return None


def mem_mb(job, config: dict):
    """The ``mem_mb`` resource of a step job (kind ``steps``) or of a job reading a ramp in
    chunks (``step_input``: destripe's mask), as Snakemake's resource function of
    (wildcards, input, attempt): :func:`job_mem_mb` of the job's steps on its input ramp.
    gain_scale, which reads whole rate products, gets the overhead plus twice their size."""
    chunk_mb = float(config["compute"]["chunk_mb"])
    steps = list(job.steps) if job.kind == "steps" else []

    def _mem(wildcards, input, attempt):
        names = input.keys()
        if "ramp" in names:
            shape = _readable_shape(input.ramp)
            if shape is None:  # the job itself fails on this file, naming it; the others run on
                return _grown(OVERHEAD_MB + 2 * os.path.getsize(input.ramp) / MB, attempt)
            if steps:
                return job_mem_mb(steps, shape, chunk_mb, attempt)
            return _ramp_reader_mb(shape, chunk_mb, attempt)
        size = sum(os.path.getsize(f) for f in input if os.path.isfile(f))
        return _grown(OVERHEAD_MB + 2 * size / MB, attempt)

    return _mem


def _ramp_reader_mb(shape, chunk_mb: float, attempt: int) -> int:
    """A job reading a ramp in row chunks within ``chunk_mb`` (destripe's mask)."""
    return _grown(OVERHEAD_MB + CHUNK_FACTOR * chunk_bytes(shape, "rows", chunk_mb) / MB, attempt)


def _grown(mb: float, attempt: int) -> int:
    """``mb`` for try ``attempt`` (1, 2, ...), rounded up to whole MB."""
    return int(math.ceil(mb * (1 + RETRY_GROWTH * (max(1, int(attempt)) - 1))))
