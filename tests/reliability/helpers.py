"""Helpers of the bad-input tests: a CRDS cache built from some reference files, a port on
127.0.0.1 that nothing listens on, and commands run in a child process (CRDS keeps its
configuration per process)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from astropy.io import fits

ROOT = Path(__file__).resolve().parents[2]


def crds_cache_without(path: Path, sim, *missing: str) -> Path:
    """A CRDS cache at ``path`` holding every reference of ``sim`` except the ``missing`` types."""
    from rampflow.simulate import write_crds_cache

    write_crds_cache(path, {"NRS1": {rt: str(p) for rt, p in sim.refs.items() if rt not in missing}})
    return path


def closed_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**crds) -> dict:
    """The environment of a child process: this tree's package first, no CRDS settings but ``crds``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_MODE"):
        env.pop(k, None)
    env["CRDS_IGNORE_MAPPING_CHECKSUM"] = "1"
    env.update({k: str(v) for k, v in crds.items()})
    return env


def run_child(args: list[str], env: dict, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def leftovers(folder: Path) -> list[str]:
    """Every file under ``folder`` (products, temporaries, markers), relative names."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def poison(src, dst, ext: str, plane, pixels: dict, exposure_corner: tuple[int, int]) -> str:
    """Copy the reference file ``src`` to ``dst`` with ``pixels`` ({(row, col) in the exposure:
    value}) written into extension ``ext`` (into ``plane`` of its first axis, unless None).
    ``exposure_corner``: 0-based (row, column) of the exposure's first pixel on the detector."""
    shutil.copy(src, dst)
    with fits.open(dst, mode="update") as h:
        ry, rx = int(h[0].header.get("SUBSTRT2", 1)) - 1, int(h[0].header.get("SUBSTRT1", 1)) - 1
        data = h[ext].data
        for (y, x), value in pixels.items():
            idx = (y + exposure_corner[0] - ry, x + exposure_corner[1] - rx)
            data[idx if plane is None else (plane, *idx)] = value
    return str(dst)
