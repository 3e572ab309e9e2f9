"""numba's set-up on a thread of its own at the start of a job (kernels.warm)."""

import threading

from rampflow.kernels import warm


def test_warm_start_runs_once_on_a_daemon_thread_and_leaves_numba_loaded():
    t = warm.start()
    assert isinstance(t, threading.Thread) and t.daemon and t.name == "rampflow-numba-setup"
    t.join(120)
    assert not t.is_alive()
    assert warm.start() is t  # once per process
    import sys

    assert "numba" in sys.modules
