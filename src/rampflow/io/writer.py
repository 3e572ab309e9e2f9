"""Atomic writing: :func:`atomic_path` (a temporary file next to the target, synced and renamed
into place on success, removed on failure) and :class:`RampWriter`, which lays out a ramp
product's headers and sized data sections first, then writes chunks of integrations / rows into
them (or copies SCI file to file with :meth:`RampWriter.copy_sci`), and renames the file into
place only when everything was written.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from astropy.io import fits

from .blocks import DiskCube, _pread_into, _pwrite_from
from .fitsfile import _DISK, BLOCK, _grown, _is_scaled, _scaled
from .headers import _apply_updates, _image_header, _primary_header, _table_bytes, asdf_hdu
from .ramp import RampFile
from .timing import timed_call

#: how temporaries are named: ``.<name>.<8 random characters>.<kind>`` next to the product
#: ``<name>`` (tempfile's random names): ``part`` files of :func:`atomic_path`, ``tmpdir``
#: scratch folders of :func:`scratch_dir`
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.(?P<kind>part|tmpdir)")


def temporaries(path: str | os.PathLike, kind: str = "part") -> list[Path]:
    """The temporaries of product ``path`` of one ``kind`` (``part``: the files
    :func:`atomic_path` writes, ``.<name>.XXXXXXXX.part``; ``tmpdir``: :func:`scratch_dir`'s
    folders), e.g. left behind when a job writing ``path`` was killed before it could remove them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix = f".{path.name}."
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(prefix)
                  and (m := _TEMPORARY.fullmatch(p.name)) and m["name"] == path.name and m["kind"] == kind)


def remove_temporaries(path: str | os.PathLike, kind: str = "part") -> list[Path]:
    """Remove the stale temporaries of product ``path`` (:func:`temporaries`); returns them.

    Only the writer of ``path`` may call this: a temporary of ``path`` belongs to a job that
    writes ``path``, and the workflow runs one such job at a time."""
    removed = []
    for tmp in temporaries(path, kind):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        removed.append(tmp)
    return removed


@contextlib.contextmanager
def scratch_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A scratch folder next to product ``path`` (``.<name>.XXXXXXXX.tmpdir``) for files a job
    needs only while it runs, removed when the block ends; stale ones a killed job left for
    ``path`` are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(path, "tmpdir")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.", suffix=".tmpdir") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    On any exception the temporary file is removed and ``path`` is left untouched, so an
    interrupted job never leaves a half-written product that looks finished. A job killed
    outright (SIGKILL, power loss) cannot remove its temporary: the next write of ``path``
    removes such stale temporaries first (:func:`remove_temporaries`), so a rerun leaves none.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; products get the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class RampWriter:
    """Write a 4-D ramp product incrementally and atomically.

    Layout as the jwst RampModel: primary (headers carried forward), SCI float32,
    PIXELDQ uint32, GROUPDQ uint8, then the input's tables (INT_TIMES, GROUP).

    with RampWriter(out, like=ramp_file, updates={...}, history=[...]) as w:
        w.write(ints, rows, sci_chunk, gdq_chunk)
        w.write_pixeldq(pdq)
    """

    def __init__(self, path, like: RampFile, updates: dict | None = None, history=(), shape=None,
                 extra: dict | None = None):
        self.path = Path(path)
        self.shape = tuple(shape or like.shape)
        self._ctx = atomic_path(self.path)
        self._tmp = None
        self._like = like
        prim = dict(updates or {})
        prim.setdefault("DATAMODL", "RampModel")
        self._primary = _primary_header(like.primary_header, prim, history)
        sci_src = like.sci_header.copy()
        for k in ("BUNIT",):
            if k not in sci_src:
                sci_src[k] = "DN"
        self._layout = [
            ("SCI", np.float32, self.shape, sci_src),
            ("PIXELDQ", np.uint32, self.shape[2:], None),
            ("GROUPDQ", np.uint8, self.shape, None),
        ]
        # ZEROFRAME (float32 (nints, ny, nx)) when the input has one: written by ``write``
        self.has_zeroframe = like.has_zeroframe
        if self.has_zeroframe:
            self._layout.append(("ZEROFRAME", np.float32, (self.shape[0],) + tuple(self.shape[2:]), None))
        # REFOUT (MIRI's reference output, 4-D): carried unchanged as float32, as jwst's RampModel
        self.has_refout = like.refout_shape is not None and tuple(like.shape[:2]) == self.shape[:2]
        if self.has_refout:
            self._layout.append(("REFOUT", np.float32, like.refout_shape, None))
        self._tables = [like.tables[n] for n in ("INT_TIMES", "GROUP") if n in like.tables]
        # extra 2-D images: the input's, replaced or added to by ``extra`` (name -> array)
        images = {n: np.asarray(_scaled(np.asarray(h.data), h.header, np.float32))
                  for n, h in like.extra_images.items()}
        images.update({n.upper(): np.asarray(a, dtype=np.float32) for n, a in (extra or {}).items()})
        for n, a in images.items():
            if a.shape != self.shape[2:]:
                raise ValueError(f"{self.path}: extension {n} shape {a.shape} != frame {self.shape[2:]}")
        self._images = [fits.ImageHDU(a, name=n) for n, a in images.items()]
        self._cubes: dict = {}
        self._scratch = None  # reused buffer for converting chunks to big-endian
        self._sci_copied = False
        self._fd = None
        self._written_pdq = False
        self._primary_len = None

    #: blank cards reserved in the primary header for keywords known only after processing
    RESERVED_CARDS = 72

    def _primary_bytes(self) -> bytes:
        """The primary header, filled with blank cards to its fixed on-disk length."""
        h = self._primary.copy()
        body = len(h.tostring(padding=False))
        target = self._primary_len or -(-(body + 80 * self.RESERVED_CARDS) // BLOCK) * BLOCK
        nblank = (target - body) // 80
        if nblank < 0:
            raise ValueError(f"{self.path}: primary header grew past its reserved space")
        for _ in range(nblank):
            h.append(fits.Card(), end=True, useblanks=False, bottom=True)
        data = h.tostring(padding=True).encode("ascii")
        if len(data) != target:
            raise ValueError(f"{self.path}: primary header length {len(data)} != reserved {target}")
        return data

    @timed_call("write")
    def update_primary(self, updates: dict, history=()) -> None:
        """Add keywords computed while processing (e.g. jump's PRIMECRS) to the primary header,
        in the blank cards reserved when the file was laid out."""
        _apply_updates(self._primary, updates, history)
        data = self._primary_bytes()
        with open(self._tmp, "r+b") as f:
            f.write(data)

    @timed_call("write")
    def __enter__(self):
        self._tmp = self._ctx.__enter__()
        offsets = {}
        with open(self._tmp, "wb") as f:
            head = self._primary_bytes()
            self._primary_len = len(head)
            f.write(head)
            for name, dtype, shape, src in self._layout:
                f.write(_image_header(name, dtype, shape, src).tostring(padding=True).encode("ascii"))
                offsets[name] = f.tell()
                nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
                padded = -(-nbytes // BLOCK) * BLOCK
                f.seek(offsets[name] + padded)
            for t in self._images + self._tables + [asdf_hdu(self._like.meta.extra.get("READ_TIMES"))]:
                f.write(_table_bytes(t))
            f.truncate()
            try:  # reserve the blocks now: chunks then land in place instead of filling holes
                os.posix_fallocate(f.fileno(), 0, f.tell())
            except (AttributeError, OSError):  # pragma: no cover - e.g. no fallocate support
                pass
        for name, dtype, shape, _ in self._layout:
            if len(shape) == 3:  # (nints, ny, nx) is laid out as (nints, 1, ny, nx)
                shape = (shape[0], 1) + tuple(shape[1:])
            self._cubes[name] = (DiskCube(self._tmp, offsets[name], _DISK[np.dtype(dtype)][0], shape), dtype)
        self._fd = os.open(self._tmp, os.O_RDWR)
        if self.has_refout:
            self._copy_refout()
        return self

    def _copy_refout(self, chunk_bytes: int = 1 << 26) -> None:
        """Copy the input's REFOUT into the product as float32, a few integrations at a time."""
        cube, dtype = self._cubes["REFOUT"]
        nints = cube.shape[0]
        per_int = max(1, int(np.prod(cube.shape[1:])) * 4)
        step = max(1, chunk_bytes // per_int)
        for start in range(0, nints, step):
            ints = slice(start, min(nints, start + step))
            cube.write(self._fd, ints, slice(None), self._like.refout(ints), dtype)

    def can_copy_sci(self) -> bool:
        """Whether the input's SCI bytes can be copied as they are (float32, unscaled, same shape)."""
        like = self._like
        return (like._sci_disk.disk == np.dtype(">f4") and like.shape == self.shape
                and not _is_scaled(like.sci_header))

    @timed_call("write")
    def copy_sci(self) -> None:
        """Copy the input's SCI data into this product unchanged, file to file in the kernel
        (``copy_file_range``; a buffered copy where that is unavailable). For steps that leave
        SCI alone (jump, or any skipped step): ``write`` then stores GROUPDQ only, which saves
        converting and writing the largest array from the process."""
        if not self.can_copy_sci():
            raise ValueError(f"{self.path}: SCI of {self._like.path} cannot be copied byte for byte")
        src, dst = self._like._sci_disk, self._cubes["SCI"][0]
        fin, n, done = self._like._fd, src.nbytes, 0
        try:
            while done < n:
                got = os.copy_file_range(fin, self._fd, min(n - done, 1 << 30), src.offset + done,
                                         dst.offset + done)
                if got <= 0:
                    break
                done += got
        except (AttributeError, OSError):  # pragma: no cover - depends on the file systems
            pass
        if done < n:  # no copy_file_range across these file systems: copy through a buffer
            buf = np.empty(min(n - done, 1 << 26), dtype=np.uint8)
            while done < n:
                view = memoryview(buf)[:min(len(buf), n - done)]
                _pread_into(fin, view, src.offset + done, self._like.path)
                _pwrite_from(self._fd, view, dst.offset + done, str(self.path))
                done += len(view)
        self._sci_copied = True

    @timed_call("write")
    def write(self, ints: slice, rows: slice, sci: np.ndarray, gdq: np.ndarray,
              zeroframe: np.ndarray | None = None) -> None:
        """Store a chunk: ``sci`` float32 and ``gdq`` uint8 for ``[ints, :, rows, :]`` (only
        ``gdq`` after :meth:`copy_sci`; ``sci`` must then be the input's, unchanged), and the
        chunk's ZEROFRAME (float32 (nints, nrows, nx)) when the product has one."""
        arrays = [("SCI", sci), ("GROUPDQ", gdq)]
        if self.has_zeroframe:
            if zeroframe is None:
                raise ValueError(f"{self.path}: the input has a ZEROFRAME; each chunk's must be written")
            arrays.append(("ZEROFRAME", zeroframe[:, None]))
        for name, arr in arrays:
            if name == "SCI" and self._sci_copied:
                continue
            cube, dtype = self._cubes[name]
            if cube.disk.itemsize > 1:
                self._scratch = _grown(self._scratch, arr.size * cube.disk.itemsize)
            cube.write(self._fd, ints, rows, arr, dtype, scratch=self._scratch)

    @timed_call("write")
    def write_pixeldq(self, pdq: np.ndarray) -> None:
        if tuple(pdq.shape) != tuple(self.shape[2:]):
            raise ValueError(f"{self.path}: PIXELDQ shape {pdq.shape} != {self.shape[2:]}")
        cube, dtype = self._cubes["PIXELDQ"]
        cube.write(self._fd, slice(None), slice(None), pdq, dtype)
        self._written_pdq = True

    @timed_call("write")
    def __exit__(self, etype, exc, tb):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._cubes.clear()
        self._scratch = None
        if etype is None and not self._written_pdq:
            err = RuntimeError(f"{self.path}: PIXELDQ was never written")
            self._ctx.__exit__(RuntimeError, err, None)
            raise err
        if etype is None:
            return self._ctx.__exit__(None, None, None)
        self._ctx.__exit__(etype, exc, tb)
        return False
