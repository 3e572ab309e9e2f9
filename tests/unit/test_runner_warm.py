"""numba's set-up on a thread of its own at the start of a job (runner.warm)."""

import threading

from rampflow.runner import warm


def test_warm_start_runs_once_on_a_daemon_thread_and_leaves_numba_loaded():
    t = warm.start()
    assert isinstance(t, threading.Thread) and t.daemon and t.name == "rampflow-numba-setup"
    t.join(120)
    assert not t.is_alive()
    assert warm.start() is t  # once per process
    import sys

    assert "numba" in sys.modules and "rampflow.kernels" in sys.modules


def test_looking_at_step_classes_imports_no_kernels():
    """The references job resolves every step's reference types and parameters without
    importing numba or any kernel (0.3 s and more of its start-up); running a step imports
    them. In a fresh interpreter, so earlier tests' imports do not count."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from rampflow import prefetch\n"
        "from rampflow.references import reftypes_for_steps\n"
        "from rampflow.steps import get_step_class, step_names\n"
        "STEP_NAMES = step_names()\n"
        "reftypes_for_steps(list(STEP_NAMES))\n"
        "[get_step_class(s).defaults for s in STEP_NAMES]\n"
        "import rampflow.runner\n"
        "bad = sorted(m for m in sys.modules if m == 'numba' or m.startswith('rampflow.kernels'))\n"
        "print(len(STEP_NAMES), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 20 and out[1:] == ["[]"], out
