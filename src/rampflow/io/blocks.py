"""Block I/O of FITS image data with system calls: :class:`DiskCube` reads and writes blocks of
integrations and rows of an image extension with one ``preadv`` / ``pwrite`` per contiguous slab,
into or out of reused in-memory buffers, over the threads set by :func:`set_io_threads`.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .fitsfile import _DISK, ProductError


def _mem_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no /proc)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: threads that issue the read/write system calls of one chunk (see set_io_threads)
_IO_THREADS = 1


def set_io_threads(n: int | None) -> None:
    """Use ``n`` threads for the system calls of chunk reads and writes (the rule's
    ``threads:``). Copying between the page cache and the process is kernel CPU time, which
    threads share out; on 2 cores two threads write a 3.5 GB ramp about twice as fast."""
    global _IO_THREADS
    _IO_THREADS = max(1, int(n or 1))


def _run_slabs(fn, slabs: list) -> None:
    """Call ``fn(slab)`` for every slab, split into contiguous runs over _IO_THREADS threads."""
    nthr = min(_IO_THREADS, len(slabs))
    if nthr <= 1:
        for sl in slabs:
            fn(sl)
        return
    bounds = np.linspace(0, len(slabs), nthr + 1).astype(int)

    def run(k):
        for sl in slabs[bounds[k]:bounds[k + 1]]:
            fn(sl)

    with ThreadPoolExecutor(nthr) as ex:
        for f in [ex.submit(run, k) for k in range(nthr)]:
            f.result()


def _pread_into(fd: int, buf: memoryview, offset: int, path: str) -> None:
    """Fill ``buf`` (a byte memoryview) from ``offset`` of the open file ``fd``."""
    done, total = 0, len(buf)
    while done < total:
        if hasattr(os, "preadv"):
            got = os.preadv(fd, [buf[done:]], offset + done)
        else:  # pragma: no cover - platforms without preadv
            os.lseek(fd, offset + done, os.SEEK_SET)
            got = os.readv(fd, [buf[done:]])
        if got <= 0:
            raise ProductError(f"{path}: file ends at byte {offset + done} but the data run to byte "
                               f"{offset + total} (truncated file?)")
        done += got


def _pwrite_from(fd: int, buf: memoryview, offset: int, path: str) -> None:
    """Write all of ``buf`` (a byte memoryview) at ``offset`` of the open file ``fd``."""
    done, total = 0, len(buf)
    while done < total:
        got = os.pwrite(fd, buf[done:], offset + done)
        if got <= 0:
            raise OSError(f"{path}: could not write at byte {offset + done}")
        done += got


@dataclass(frozen=True)
class PixelBlocks:
    """Where some pixels of a plane lie in the file (:func:`pixel_blocks`): blocks of
    contiguous bytes (``offset`` from the plane's start and ``length``, int64) and each
    pixel's byte offset ``src`` (int64) in the blocks read one after the other."""

    item: int
    offset: np.ndarray
    length: np.ndarray
    src: np.ndarray


def pixel_blocks(pix: np.ndarray, item: int, gap: int = 0) -> PixelBlocks:
    """The blocks to read for the pixels ``pix`` (flat indices ``y * nx + x`` into a plane,
    sorted, distinct) of ``item``-byte values: runs of consecutive pixels (the end of one row
    and the start of the next are consecutive), two runs merged into one block when at most
    ``gap`` bytes lie between them (one system call instead of two, the bytes between read
    and dropped)."""
    pix = np.asarray(pix, np.int64)
    if pix.ndim != 1 or (pix.size and (pix[0] < 0 or np.any(np.diff(pix) <= 0))):
        raise ValueError("pixels must be sorted distinct non-negative flat indices")
    if pix.size == 0:
        z = np.zeros(0, np.int64)
        return PixelBlocks(int(item), z, z, z)
    starts = np.flatnonzero(np.diff(pix) * item > item + gap) + 1
    first = np.concatenate(([0], starts))
    last = np.concatenate((starts - 1, [pix.size - 1]))
    offset = pix[first] * item
    length = (pix[last] + 1) * item - offset
    blk = np.repeat(np.arange(first.size), np.diff(np.concatenate((first, [pix.size]))))
    src = (np.concatenate(([0], np.cumsum(length)[:-1])) - offset)[blk] + pix * item
    return PixelBlocks(int(item), offset, length, src)


class DiskCube:
    """An image extension's data as it lies in a FITS file: on-disk dtype, shape and offset.

    Reads and writes ``[ints, :, rows, :]`` blocks of a 4-D array (or any block of a 2-D
    one) with one system call per contiguous (integration, group) slab, straight into or
    out of ordinary in-memory arrays. This replaces strided slicing of a memory map, which
    touches the file one page fault at a time and byte-swaps element by element: on a
    3.5 GB TSO ramp read in row chunks it is about 10x faster, and nothing of the file
    stays mapped into the process.
    """

    def __init__(self, path: str, offset: int, disk_dtype, shape):
        self.path = str(path)
        self.offset = int(offset)
        self.disk = np.dtype(disk_dtype)
        self.shape = tuple(int(n) for n in shape)

    def _slabs(self, ints: slice, rows: slice, per_plane: bool = False):
        """(index into the block, file offset, byte count) of each contiguous slab (one per
        group plane with ``per_plane``, else one per integration for whole frames)."""
        shape, item = self.shape, self.disk.itemsize
        if len(shape) == 2:
            r0, r1, _ = rows.indices(shape[0])
            yield (slice(None),), self.offset + r0 * shape[1] * item, (r1 - r0) * shape[1] * item
            return
        nints, ngroups, ny, nx = shape
        i0, i1, _ = ints.indices(nints)
        r0, r1, _ = rows.indices(ny)
        plane = ny * nx * item
        if r0 == 0 and r1 == ny and not per_plane:  # whole frames: one slab per integration
            for k, i in enumerate(range(i0, i1)):
                yield (k,), self.offset + i * ngroups * plane, ngroups * plane
            return
        for k, i in enumerate(range(i0, i1)):
            for g in range(ngroups):
                yield (k, g), self.offset + (i * ngroups + g) * plane + r0 * nx * item, (r1 - r0) * nx * item

    def block_shape(self, ints: slice, rows: slice) -> tuple:
        if len(self.shape) == 2:
            return (len(range(*rows.indices(self.shape[0]))), self.shape[1])
        nints, ngroups, ny, nx = self.shape
        return (len(range(*ints.indices(nints))), ngroups, len(range(*rows.indices(ny))), nx)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.disk.itemsize

    def read(self, fd: int, ints: slice = slice(None), rows: slice = slice(None),
             buffer: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The block in native byte order (the on-disk type, BZERO not yet applied).

        With ``buffer`` (a flat uint8 array at least as large as the block) the block is
        read into its start and a view of it is returned: reusing one buffer for every
        chunk saves allocating (and page-faulting) fresh memory each time. With ``out`` (an
        array of the block's shape and the on-disk type in native byte order, e.g. a window
        of rows of a larger array, each slab of which is contiguous) it is read into ``out``.
        """
        for s in (ints, rows):
            if s.step not in (None, 1):
                raise ValueError(f"{self.path}: only contiguous slices can be read, got {s}")
        shape = self.block_shape(ints, rows)
        n = int(np.prod(shape)) * self.disk.itemsize
        if out is not None:
            native = self.disk.newbyteorder("=")
            if tuple(out.shape) != shape or out.dtype != native:
                raise ValueError(f"{self.path}: read target must be {native} {shape}; got {out.dtype} {out.shape}")
            target = out.view(self.disk)
        elif buffer is None:
            target = np.empty(shape, dtype=self.disk)
        else:
            if buffer.dtype != np.uint8 or buffer.ndim != 1 or buffer.nbytes < n:
                raise ValueError(f"{self.path}: read buffer must be flat uint8 of >= {n} bytes")
            target = buffer[:n].view(self.disk).reshape(shape)

        def one(slab):
            idx, off, n = slab
            view = target[idx]
            assert view.nbytes == n and view.flags.c_contiguous
            _pread_into(fd, memoryview(view.reshape(-1).view(np.uint8)), off, self.path)

        _run_slabs(one, list(self._slabs(ints, rows, per_plane=out is not None)))
        if self.disk.byteorder not in ("=", "|") and self.disk.itemsize > 1:
            target = target.byteswap(inplace=True).view(self.disk.newbyteorder("="))
        return target

    def read_converted(self, fd: int, ints: slice, rows: slice, out: np.ndarray, convert) -> None:
        """The block, converted, into ``out`` (an array of the block's shape in the in-memory
        type, e.g. float32; any strides, e.g. rows of a larger window): one integration at a
        time through a small buffer per thread, which ``convert(raw, out_k)`` turns into
        ``out[k]`` (``raw``: the integration's block in native byte order, the on-disk type).
        Unlike :meth:`read` followed by a conversion, no buffer of the block's size in the
        on-disk type is held, and each integration is converted while it is in the CPU cache."""
        for s in (ints, rows):
            if s.step not in (None, 1):
                raise ValueError(f"{self.path}: only contiguous slices can be read, got {s}")
        shape = self.block_shape(ints, rows)
        if tuple(out.shape) != shape:
            raise ValueError(f"{self.path}: read target must have the shape {shape}; got {out.shape}")
        i0 = ints.indices(self.shape[0])[0]
        nbytes = int(np.prod(shape[1:])) * self.disk.itemsize
        swap = self.disk.byteorder not in ("=", "|") and self.disk.itemsize > 1
        local = threading.local()

        def one(k):
            buf = getattr(local, "buf", None)
            if buf is None:
                buf = local.buf = np.empty(nbytes, dtype=np.uint8)
            raw = buf.view(self.disk).reshape((1,) + shape[1:])
            for idx, off, n in self._slabs(slice(i0 + k, i0 + k + 1), rows):
                view = raw[idx]
                assert view.nbytes == n and view.flags.c_contiguous
                _pread_into(fd, memoryview(view.reshape(-1).view(np.uint8)), off, self.path)
            if swap:
                raw = raw.byteswap(inplace=True).view(self.disk.newbyteorder("="))
            convert(raw[0], out[k])

        _run_slabs(one, list(range(shape[0])))

    def can_read_rows(self) -> bool:
        """Whether :meth:`read_rows` handles this cube (4-D, values of 1 or 4 bytes)."""
        return len(self.shape) == 4 and self.disk.itemsize in (1, 4)

    def read_rows(self, fd: int, ints: slice, rows: slice, out: np.ndarray) -> None:
        """The block ``[ints, :, rows, :]`` into ``out`` (C-contiguous, the block's shape, the
        on-disk type in native byte order): one ``pread`` per group plane issued from compiled
        code, each plane byte-swapped while it is in the CPU cache.

        For row chunks of a long cube this replaces :meth:`read`'s system calls made one by
        one from Python and its separate byte-swap pass (a 1-row chunk of a 155 x 70 group
        TSO segment is 10850 slabs of 8 kB, whose Python-side handling cost more than the
        reading): about 3x less CPU time, the same bytes. Single-threaded (the runner reads
        the next chunk while the current one is processed)."""
        from ..kernels.row_read import _read_rows

        if not self.can_read_rows():
            raise ValueError(f"{self.path}: rows can only be read this way from 4-D cubes of 1- or 4-byte values")
        for s in (ints, rows):
            if s.step not in (None, 1):
                raise ValueError(f"{self.path}: only contiguous slices can be read, got {s}")
        shape = self.block_shape(ints, rows)
        if tuple(out.shape) != shape or out.dtype.itemsize != self.disk.itemsize or not out.flags.c_contiguous:
            raise ValueError(f"{self.path}: read target must be C-contiguous {self.disk.newbyteorder('=')} "
                             f"{shape}; got {out.dtype} {out.shape}")
        item = self.disk.itemsize
        swap = self.disk.byteorder not in ("=", "|") and item > 1
        out8 = out.view(np.uint8)
        out32 = out.view(np.uint32) if item == 4 else np.empty((1, 1, 1, 1), np.uint32)
        stop = _read_rows(fd, self.offset, self.shape[2], ints.indices(self.shape[0])[0],
                          rows.indices(self.shape[2])[0], out8, out32, swap)
        if stop >= 0:
            raise ProductError(f"{self.path}: file ends at byte {stop} but the data run further "
                               f"(truncated file?)")

    def read_rows_raw(self, fd: int, ints: slice, rows: slice, out8: np.ndarray) -> None:
        """The block ``[ints, :, rows, :]`` as stored (the file's byte order, no conversion)
        into ``out8`` (uint8 (nints, ngroups, nrows, nx * itemsize), C-contiguous): one ``pread``
        per group plane from compiled code that releases the GIL, so a reader thread runs
        alongside the kernels. ProductError naming the file when it ends short."""
        from ..kernels.row_read import _read_rows

        if len(self.shape) != 4:
            raise ValueError(f"{self.path}: rows can only be read this way from 4-D cubes")
        nrows = len(range(*rows.indices(self.shape[2])))
        want = self.block_shape(ints, rows)[:3] + (self.shape[3] * self.disk.itemsize,)
        if out8.dtype != np.uint8 or tuple(out8.shape) != want or not out8.flags.c_contiguous:
            raise ValueError(f"{self.path}: raw read target must be C-contiguous uint8 {want}; "
                             f"got {out8.dtype} {out8.shape}")
        if nrows == 0:
            return
        stop = _read_rows(fd, self.offset, self.shape[2], ints.indices(self.shape[0])[0],
                          rows.indices(self.shape[2])[0], out8, np.empty((1, 1, 1, 1), np.uint32), False)
        if stop >= 0:
            raise ProductError(f"{self.path}: file ends at byte {stop} but the data run further "
                               f"(truncated file?)")

    def read_pixels(self, fd: int, ints: slice, blocks: PixelBlocks, out: np.ndarray) -> None:
        """The same pixels of every group plane of integrations ``ints`` (``blocks``, from
        :func:`pixel_blocks`) into ``out`` (C-contiguous (nints, ngroups, npix), the on-disk
        type in native byte order), read from compiled code: one ``pread`` per block of each
        plane, e.g. the last side columns of one row and the first of the next, which lie next
        to each other in the file. Single-threaded."""
        from ..kernels.row_read import _read_pixels

        if len(self.shape) != 4:
            raise ValueError(f"{self.path}: pixels can only be read this way from 4-D cubes")
        if ints.step not in (None, 1):
            raise ValueError(f"{self.path}: only contiguous slices can be read, got {ints}")
        nints, ngroups, ny, nx = self.shape
        i0, i1, _ = ints.indices(nints)
        shape = (i1 - i0, ngroups, blocks.src.size)
        if tuple(out.shape) != shape or out.dtype.itemsize != self.disk.itemsize or not out.flags.c_contiguous:
            raise ValueError(f"{self.path}: read target must be C-contiguous {self.disk.newbyteorder('=')} "
                             f"{shape}; got {out.dtype} {out.shape}")
        if blocks.item != self.disk.itemsize:
            raise ValueError(f"{self.path}: pixel blocks made for {blocks.item}-byte values, the cube holds "
                             f"{self.disk.itemsize}-byte values")
        if out.size == 0:
            return
        item = self.disk.itemsize
        swap = self.disk.byteorder not in ("=", "|") and item > 1
        scratch = np.empty(max(int(blocks.length.sum()), 1), np.uint8)
        stop = _read_pixels(fd, self.offset, ny * nx * item, i0, blocks.offset, blocks.length, blocks.src,
                            scratch, out.reshape(shape[0], ngroups, -1).view(np.uint8), item, swap)
        if stop >= 0:
            raise ProductError(f"{self.path}: file ends at byte {stop} but the data run further "
                               f"(truncated file?)")

    def write(self, fd: int, ints: slice, rows: slice, arr: np.ndarray, dtype,
              scratch: np.ndarray | None = None) -> None:
        """Store ``arr`` (in-memory ``dtype``) as the block ``[ints, :, rows, :]``.

        The block is converted to its on-disk form in one pass, into ``scratch`` (a flat
        uint8 buffer, reused between chunks) when given; one-byte data are written as they are.
        """
        want = self.block_shape(ints, rows)
        if tuple(arr.shape) != want:
            raise ValueError(f"{self.path}: block of shape {arr.shape} does not fit [{ints}, :, {rows}, :] "
                             f"(expected {want})")
        dtype = np.dtype(dtype)
        if self.disk.itemsize == 1 and arr.dtype == dtype:
            disk = arr  # uint8: the memory layout is the disk layout
        else:
            n = int(np.prod(want)) * self.disk.itemsize
            if scratch is not None and scratch.nbytes >= n:
                disk = scratch[:n].view(self.disk).reshape(want)
            else:
                disk = np.empty(want, dtype=self.disk)
            bzero = _DISK[dtype][2]
            if bzero is not None:
                arr = (np.asarray(arr, dtype=dtype) ^ np.array(bzero, dtype=dtype)).view(self.disk.newbyteorder("="))
            np.copyto(disk, arr, casting="unsafe")

        def one(slab_loc):
            idx, off, n = slab_loc
            slab = disk[idx]
            if not slab.flags.c_contiguous:
                slab = np.ascontiguousarray(slab)
            assert slab.nbytes == n
            _pwrite_from(fd, memoryview(slab.reshape(-1).view(np.uint8)), off, self.path)

        _run_slabs(one, list(self._slabs(ints, rows)))
