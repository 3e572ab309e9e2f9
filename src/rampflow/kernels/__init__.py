"""numba kernels of the steps (private; arrays and scalars only).

numba's on-disk cache (``cache=True``) checks a compiled kernel against its own source file's
modification time and size only. A kernel that calls a helper from another module (every
kernel here calls helpers of :mod:`.ramp_segments`, :mod:`.order_stats`, ... and inlines the
DQ constants of :mod:`rampflow.dq`) would keep running the helper's old code from the cache
after only the helper's module changed, e.g. after an upgrade that touched one file. So on
import this package compares a digest of the kernels' sources (and of ``dq.py``) with the one
stamped in numba's cache directory for this package; when they differ, the package's cached
kernels are removed and numba compiles them afresh on first use.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

log = logging.getLogger("rampflow")

# numba's OpenMP (GNU libgomp) worker threads spin after a parallel region before they sleep:
# by default 300,000 rounds, milliseconds, repeated after every kernel of a chunk while the
# main thread does its Python work and the reader's threads convert the next rows. 3,000
# rounds still cover back-to-back kernels (a region's launch stays ~12 us) but stop burning a
# core between a pass's kernels (the full-segment one pass, two paired runs: 44-46 -> 40-42 s
# of CPU, 1-2 s less of its 33 s of wall time; the 40-integration case unchanged).
# Read by libgomp when numba first loads it; a value the user set wins.
os.environ.setdefault("GOMP_SPINCOUNT", "3000")

_HERE = Path(__file__).resolve().parent
STAMP = "rampflow-kernels.sha256"


def source_digest(folder: Path = _HERE) -> str:
    """sha256 over the kernels' sources (by file name) and ``rampflow/dq.py``."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")) + [folder.parent / "dq.py"]:
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _probe():  # a function of this folder: numba's cache locator for it gives the cache folder
    pass


def cache_folder() -> Path | None:
    """The folder where numba caches this package's kernels (``__pycache__`` next to them, or
    under ``NUMBA_CACHE_DIR`` / the user-wide cache when that is not writable), or None when
    numba's locator cannot say."""
    try:
        from numba.core.caching import FunctionCache

        return Path(FunctionCache(_probe)._cache_path)
    except Exception as exc:  # a numba without this (private) interface: no refresh
        log.debug("numba cache folder unknown (%s): stale kernels are not checked", exc)
        return None


def refresh_cache(folder: Path | None = None, digest: str | None = None) -> bool:
    """Remove the cached kernels in ``folder`` (default: :func:`cache_folder`) unless its stamp
    says they were compiled from the current sources, then stamp the folder. Returns True when
    cached kernels were removed."""
    folder = cache_folder() if folder is None else Path(folder)
    if folder is None:
        return False
    digest = source_digest() if digest is None else digest
    stamp = folder / STAMP
    try:
        if stamp.read_text().strip() == digest:
            return False
    except OSError:
        pass
    removed = False
    try:
        for path in folder.iterdir():
            if path.suffix in (".nbi", ".nbc"):
                path.unlink(missing_ok=True)
                removed = True
        tmp = folder / f".{STAMP}.{os.getpid()}"
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)
    except OSError as exc:  # a read-only cache: numba recompiles in memory anyway
        log.debug("numba cache folder %s not refreshed: %s", folder, exc)
    if removed:
        log.info("numba kernels changed since they were cached: recompiling them on first use")
    return removed


refresh_cache()
