"""A one-node SLURM cluster for the session (tests/slurm/cluster.py), stopped at the end.

Skipped with the reason where it cannot start (not root, slurm-wlm or munge missing); with
``RAMPFLOW_REQUIRE_SLURM=1`` (set by .ci/run once it installed them) that is a failure instead,
so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cluster import SlurmCluster, unavailable_reason  # noqa: E402


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    reason = unavailable_reason()
    required = os.environ.get("RAMPFLOW_REQUIRE_SLURM") == "1"
    if reason:
        if required:
            pytest.fail(f"RAMPFLOW_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if required:
            pytest.fail(f"SLURM test cluster did not start: {exc}")
        pytest.skip(f"SLURM test cluster did not start: {exc}")
    # a SIGTERM (e.g. a timeout killing the test run) stops the daemons too
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield cluster
    finally:
        signal.signal(signal.SIGTERM, previous)
        cluster.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
