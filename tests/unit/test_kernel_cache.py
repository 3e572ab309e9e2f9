"""numba's cache of the kernels is dropped when any kernel source changed (numba itself checks
only the file a kernel is defined in, not the helpers it inlines from other modules)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import rampflow.kernels as kernels


def _fake_cache(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ramp_fit._fit_ramps_kernel-120.py311.nbi", "ramp_fit._fit_ramps_kernel-120.py311.1.nbc",
                 "jump.cpython-311.pyc"):
        (folder / name).write_bytes(b"x")
    return folder


def test_a_stale_or_missing_stamp_removes_cached_kernels_only(tmp_path):
    folder = _fake_cache(tmp_path / "__pycache__")
    assert kernels.refresh_cache(folder, digest="abc") is True
    assert sorted(p.name for p in folder.iterdir()) == ["jump.cpython-311.pyc", kernels.STAMP]
    assert (folder / kernels.STAMP).read_text().strip() == "abc"

    _fake_cache(folder)
    assert kernels.refresh_cache(folder, digest="abc") is False      # same sources: kept
    assert len([p for p in folder.iterdir() if p.suffix in (".nbi", ".nbc")]) == 2
    assert kernels.refresh_cache(folder, digest="abd") is True       # one source changed
    assert not [p for p in folder.iterdir() if p.suffix in (".nbi", ".nbc")]


def test_the_digest_follows_every_kernel_module_and_dq(tmp_path):
    pkg = tmp_path / "rampflow"
    (pkg / "kernels").mkdir(parents=True)
    (pkg / "dq.py").write_text("JUMP_DET = 4\n")
    (pkg / "kernels" / "a.py").write_text("x = 1\n")
    (pkg / "kernels" / "b.py").write_text("y = 2\n")
    first = kernels.source_digest(pkg / "kernels")
    (pkg / "kernels" / "b.py").write_text("y = 3\n")
    second = kernels.source_digest(pkg / "kernels")
    (pkg / "dq.py").write_text("JUMP_DET = 8\n")
    third = kernels.source_digest(pkg / "kernels")
    assert len({first, second, third}) == 3
    (pkg / "kernels" / "b.py").write_text("y = 2\n")
    (pkg / "dq.py").write_text("JUMP_DET = 4\n")
    assert kernels.source_digest(pkg / "kernels") == first


def test_the_package_stamps_numbas_cache_folder_on_import(tmp_path):
    """In a fresh interpreter with NUMBA_CACHE_DIR set, importing the kernels stamps the
    folder numba will cache them in with the current sources' digest."""
    code = textwrap.dedent("""
        import rampflow.kernels as k
        folder = k.cache_folder()
        print(folder)
        print((folder / k.STAMP).read_text().strip() == k.source_digest())
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    folder, same = out.stdout.split()
    assert folder.startswith(str(tmp_path / "numba"))
    assert same == "True"


@pytest.mark.parametrize("given,want", [(None, "3000"), ("300000", "300000")])
def test_openmp_spin_is_short_unless_the_user_says(given, want):
    """Importing the kernels sets GOMP_SPINCOUNT=3000 for numba's OpenMP threads before any
    parallel kernel runs, and keeps a value the user set."""
    code = "import os, rampflow.kernels; print(os.environ['GOMP_SPINCOUNT'])"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if given is not None:
        env["GOMP_SPINCOUNT"] = given
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == want
