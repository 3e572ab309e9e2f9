"""numba's own set-up, started early on a thread of its own (private).

A process's first numba kernel costs more than loading it: importing numba and the kernels
package (whose import checks numba's cache against the kernels' sources), and on the first
load from the cache LLVM's and numba's code-generation set-up, about 0.5 s together, which
a job would otherwise spend on its main thread at its first chunk. :func:`start` does that
on a daemon thread while the job plans its passes and loads its references (the thread
loads a trivial serial kernel only: the job's parallel kernels are all called from its main
thread, which waits for the thread's imports if it gets there first).
"""

from __future__ import annotations

import threading

_started: list[threading.Thread] = []


def _load() -> None:
    try:
        from numba import njit

        import rampflow.kernels  # noqa: F401 -- the cache check, and numba's import

        @njit(cache=True, nogil=True)
        def _warm(x):
            return x + 1

        _warm(1)
    except Exception:  # noqa: BLE001 -- a head start only: the job's own first kernel call reports any problem
        pass


def start() -> threading.Thread:
    """Start numba's set-up on a daemon thread (once per process); returns the thread."""
    if not _started:
        t = threading.Thread(target=_load, name="rampflow-numba-setup", daemon=True)
        t.start()
        _started.append(t)
    return _started[0]
