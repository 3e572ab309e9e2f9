"""The suite's scratch clean-up (tests/conftest.py), run as the suite runs (an xdist worker): a
module's fixture folders go when the module ends, a session fixture's folder stays, a failing
module keeps its."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

SUB_CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def sess_case(tmp_path_factory):
    p = tmp_path_factory.mktemp("sessprobe")
    (p / "f").write_text("x")
    return p

@pytest.fixture(scope="session", params=["sess"])
def sess_dir(request):      # a case picked by name, as tests/parity's sim_case does
    return request.getfixturevalue(f"{request.param}_case")
'''

MODULE_A = '''
import os
import pytest

@pytest.fixture(scope="module")
def mod_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("modprobe")

def test_a(sess_dir, mod_dir):
    assert os.environ.get("PROBE_FAIL") != "1"
'''

MODULE_B = '''
def test_b(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    assert (base / "sessprobe0" / "f").exists()       # the session fixture's folder is kept
'''


def _run(tmp_path, fail: bool):
    root = tmp_path / ("fail" if fail else "pass")
    (root / "tests" / "sub").mkdir(parents=True)
    shutil.copy(CONFTEST, root / "tests" / "conftest.py")
    (root / "tests" / "sub" / "conftest.py").write_text(SUB_CONFTEST)  # shared cases, as tests/parity has
    (root / "tests" / "sub" / "test_a.py").write_text(MODULE_A)
    (root / "tests" / "sub" / "test_b.py").write_text(MODULE_B)
    (root / "pytest.ini").write_text("[pytest]\ntmp_path_retention_policy = failed\n")
    base = root / "basetemp"
    env = {"PATH": "/usr/bin:/bin", "PROBE_FAIL": "1" if fail else "0"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1",
                           f"--basetemp={base}", "tests/sub/test_a.py", "tests/sub/test_b.py"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=300)
    worker = base / "popen-gw0"                          # one xdist worker, as the suite runs
    return proc, sorted(p.name for p in worker.iterdir() if not p.is_symlink())


def test_module_folders_go_and_session_folders_stay(tmp_path):
    proc, left = _run(tmp_path, fail=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert left == ["sessprobe0"]


def test_a_failing_module_keeps_its_folders(tmp_path):
    proc, left = _run(tmp_path, fail=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "modprobe0" in left and "sessprobe0" in left
