"""Seconds this process spent reading ramps and writing products, and loading references.

The runner's file operations add to :data:`SECONDS` (``read``: ramp chunks and prefetching;
``write``: ramp and rate products, synced; ``setup``: resolving and loading reference files
and step inputs); the benchmarks print them as the reading / writing / start-up parts of a
job. Nested timed calls count once. ``read_ahead``: reading done on a reader thread while
the kernels ran (:class:`rampflow.io.row_ahead.RowReadAhead`; ``read`` counts only the
waits for it and the conversion).
"""

from __future__ import annotations

import contextlib
import functools
import time

SECONDS = {"read": 0.0, "write": 0.0, "setup": 0.0, "read_ahead": 0.0}
#: seconds each step spent processing chunks in a row pass (step name -> s), for profiles
STEPS: dict[str, float] = {}
_depth = [0]


@contextlib.contextmanager
def timed(kind: str):
    """Add the time spent in the block to ``SECONDS[kind]`` (not when nested in another)."""
    _depth[0] += 1
    t = time.perf_counter()
    try:
        yield
    finally:
        _depth[0] -= 1
        if _depth[0] == 0:
            SECONDS[kind] += time.perf_counter() - t


def timed_call(kind: str):
    """Decorator: time every call of the function as ``kind``."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with timed(kind):
                return fn(*args, **kwargs)
        return inner
    return wrap


@contextlib.contextmanager
def step_timer(name: str):
    """Add the time spent in the block to ``STEPS[name]``."""
    t = time.perf_counter()
    try:
        yield
    finally:
        STEPS[name] = STEPS.get(name, 0.0) + time.perf_counter() - t
