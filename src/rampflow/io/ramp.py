"""Reading ramps: :func:`open_ramp` opens a genuine ``*_uncal.fits`` (uint16 SCI, INT_TIMES /
GROUP tables, ASDF extension) or one of our ramp intermediates (float32 SCI, PIXELDQ, GROUPDQ)
as a :class:`RampFile`, which hands out chunks of integrations / rows as native arrays, read
with one system call per contiguous slab into buffers reused from chunk to chunk, and can
prefetch the ramp into the page cache.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
from astropy.io import fits

from ..meta import ExposureMeta
from .blocks import DiskCube, _mem_available
from .fitsfile import ProductError, _grown, _is_scaled, _open_fits, _scaled, _table
from .headers import read_times_of
from .timing import timed_call


def _int_starts(hdu) -> tuple | None:
    """``int_start_MJD_UTC`` of an INT_TIMES table HDU as a tuple of floats (None without it)."""
    if hdu is None or hdu.data is None or "int_start_MJD_UTC" not in hdu.columns.names:
        return None
    starts = tuple(float(v) for v in hdu.data["int_start_MJD_UTC"])
    # drop the table's memory map while the file is whole: astropy touches a mapped table when the
    # file is closed, and a file cut short in the meantime would then kill the process (SIGBUS)
    del hdu.data
    return starts


class RampFile:
    """A 4-D ramp (uncal or intermediate): headers and tables through astropy, chunks of
    SCI / GROUPDQ read directly from the file (see :meth:`read`).

    Attributes: ``path``, ``meta`` (ExposureMeta), ``primary_header``, ``sci_header``,
    ``shape`` (nints, ngroups, ny, nx), ``is_uncal``, ``tables`` (name -> BinTableHDU, e.g.
    INT_TIMES, GROUP), ``int_times`` (astropy Table or None).
    """

    def __init__(self, path):
        self.path = str(path)
        self._hdul = _open_fits(self.path)
        h = self._hdul
        if "SCI" not in h:
            raise ProductError(f"{self.path}: no SCI extension (extensions: {[x.name for x in h]})")
        sci = h["SCI"]
        if sci.data is None or sci.data.ndim != 4:
            shape = None if sci.data is None else sci.data.shape
            raise ProductError(
                f"{self.path}: SCI must be 4-D (nints, ngroups, ny, nx) for a ramp, got shape {shape}"
            )
        self.primary_header = h[0].header
        self.sci_header = sci.header
        self._sci = sci.data
        self.shape = tuple(int(n) for n in sci.data.shape)
        self.is_uncal = "GROUPDQ" not in h
        self._gdq = None if self.is_uncal else h["GROUPDQ"].data
        # chunks are read with plain system calls (DiskCube), not through the memory map
        self._sci_disk = DiskCube(self.path, sci.fileinfo()["datLoc"], sci.data.dtype, self.shape)
        self._gdq_disk = None if self.is_uncal else DiskCube(
            self.path, h["GROUPDQ"].fileinfo()["datLoc"], self._gdq.dtype, self._gdq.shape)
        self._fd = None
        self._pdq = h["PIXELDQ"] if "PIXELDQ" in h else None
        self._gdq_header = None if self.is_uncal else h["GROUPDQ"].header
        if self._gdq is not None and tuple(self._gdq.shape) != self.shape:
            raise ProductError(f"{self.path}: GROUPDQ shape {self._gdq.shape} != SCI shape {self.shape}")
        if self._pdq is not None and tuple(self._pdq.data.shape) != self.shape[2:]:
            raise ProductError(f"{self.path}: PIXELDQ shape {self._pdq.data.shape} != {self.shape[2:]}")
        self._zf = None
        if "ZEROFRAME" in h and h["ZEROFRAME"].data is not None:
            zhdu = h["ZEROFRAME"]
            zshape = tuple(int(n) for n in zhdu.data.shape)
            if zshape != (self.shape[0],) + self.shape[2:]:
                raise ProductError(f"{self.path}: ZEROFRAME shape {zshape} must be (nints, ny, nx) = "
                                   f"{(self.shape[0],) + self.shape[2:]}")
            self._zf = zhdu
            self._zf_disk = DiskCube(self.path, zhdu.fileinfo()["datLoc"], zhdu.data.dtype,
                                     (zshape[0], 1) + zshape[1:])
        self._refout = None
        if "REFOUT" in h and h["REFOUT"].data is not None:
            rhdu = h["REFOUT"]
            rshape = tuple(int(n) for n in rhdu.data.shape)
            if len(rshape) != 4 or rshape[:2] != self.shape[:2]:
                raise ProductError(f"{self.path}: REFOUT shape {rshape} must be 4-D (nints, ngroups, ny, nx) "
                                   f"with the SCI's nints, ngroups = {self.shape[:2]}")
            self._refout = rhdu
            self._refout_disk = DiskCube(self.path, rhdu.fileinfo()["datLoc"], rhdu.data.dtype, rshape)
        self.tables = {x.name: x for x in h[1:] if isinstance(x, fits.BinTableHDU) and x.name != "ASDF"}
        #: other 2-D image extensions (e.g. AVDRKCUR), carried forward by RampWriter
        self.extra_images = {x.name: x for x in h[1:] if isinstance(x, fits.ImageHDU)
                             and x.name not in ("SCI", "PIXELDQ", "GROUPDQ") and x.data is not None
                             and x.data.ndim == 2}
        try:
            self.meta = ExposureMeta.from_headers(self.primary_header, self.sci_header, self.path, self.shape)
        except KeyError as exc:
            raise ProductError(str(exc.args[0])) from None
        if (self.meta.nints, self.meta.ngroups) != self.shape[:2]:
            # a segment holds a subset of the exposure's integrations: trust the array
            self.meta = _replace_counts(self.meta, self.shape)
        starts = _int_starts(self.tables.get("INT_TIMES"))
        if starts is not None:  # integration start times (MJD UTC), for steps that need them (persistence)
            self.meta.extra["INT_START_MJD_UTC"] = starts
        read_times = read_times_of(h, self.path)
        if read_times is not None:  # jwst's meta.exposure.read_times (uneven groups), from the ASDF extension
            self.meta.extra["READ_TIMES"] = read_times
        if (self.meta.subsize2, self.meta.subsize1) != self.shape[2:]:
            raise ProductError(
                f"{self.path}: SUBSIZE2 x SUBSIZE1 = {self.meta.subsize2} x {self.meta.subsize1} "
                f"does not match SCI frame shape {self.shape[2:]}"
            )
        self._fd = os.open(self.path, os.O_RDONLY)
        self._buffers: dict = {}

    # -- context manager
    def close(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None
        self._hdul.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def sci_is_uint16(self) -> bool:
        """Whether every SCI value is an integer 0 .. 65535 (an uncal file's counts: 16-bit
        integers on disk, unsigned or signed with BZERO 32768, BSCALE 1), so uint16 holds it
        exactly."""
        disk = self._sci_disk.disk
        bzero = self.sci_header.get("BZERO", 0) or 0
        if disk.itemsize != 2 or (self.sci_header.get("BSCALE", 1) or 1) != 1:
            return False
        return (disk.kind == "u" and bzero == 0) or (disk.kind == "i" and bzero == 32768)

    @property
    def int_times(self):  # astropy Table or None
        return _table(self._hdul, "INT_TIMES")

    @property
    def nbytes_per_int(self) -> int:
        """Bytes one integration occupies as float32 SCI + uint8 GROUPDQ in memory."""
        n = int(np.prod(self.shape[1:]))
        return n * 5

    @timed_call("read")
    def read(self, ints: slice = slice(None), rows: slice = slice(None),
             reuse: bool = False, slot: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """SCI (float32) and GROUPDQ (uint8) for integrations ``ints`` and rows ``rows``.

        Native-endian, C-contiguous arrays of just the chunk (uncal: GROUPDQ zeros). They
        are fresh arrays unless ``reuse``: then they live in buffers this RampFile keeps and
        the next ``read(reuse=True)`` of the same ``slot`` overwrites them (the runner's
        chunk loops use this, so a run allocates its chunk memory once; a loop that reads
        the next chunk while the current one is processed alternates two slots).
        """
        bufs = self._buffers.setdefault(slot, {}) if reuse else {}
        shape = self._sci_disk.block_shape(ints, rows)
        n = int(np.prod(shape))
        if self._reads_rows(rows):
            sci = self._buffer(bufs, "sci", 4 * n)[:4 * n].view(np.float32).reshape(shape)
            gdq = self._buffer(bufs, "gdq", n)[:n].reshape(shape)
            self._sci_disk.read_rows(self._fd, ints, rows, sci)
            if self._gdq_disk is None:
                gdq[...] = 0
            else:
                self._gdq_disk.read_rows(self._fd, ints, rows, gdq)
            return sci, gdq
        if self._sci_disk.disk == np.dtype(">f4") and not _is_scaled(self.sci_header):
            # float32 on disk: read straight into the result
            sci = self._sci_disk.read(self._fd, ints, rows, buffer=self._buffer(bufs, "sci", 4 * n))
            sci = sci.view(np.float32)
        else:  # e.g. uint16 of an uncal file: converted into the result
            sci = self._buffer(bufs, "sci", 4 * n)[:4 * n].view(np.float32).reshape(shape)
            self._read_scaled(ints, rows, sci)
        gdq_buf = self._buffer(bufs, "gdq", n)
        if self._gdq_disk is None:
            gdq = gdq_buf[:n].reshape(shape)
            gdq[...] = 0
        else:
            gdq = self._gdq_disk.read(self._fd, ints, rows, buffer=gdq_buf)
            if gdq.dtype != np.uint8:
                gdq = _scaled(gdq, self._gdq_header, np.uint8)
        return sci, gdq

    @timed_call("read")
    def read_pixels(self, ints: slice, blocks) -> np.ndarray:
        """SCI (float32 (nints, ngroups, npix), a fresh array) of the same pixels of every group
        plane of integrations ``ints``: ``blocks`` (rampflow.io.blocks.PixelBlocks, from
        :func:`~rampflow.io.blocks.pixel_blocks` with this file's SCI value size,
        :attr:`sci_itemsize`) say which and how to read them; the file's other bytes are not
        read."""
        i0, i1, _ = ints.indices(self.shape[0])
        raw = np.empty((i1 - i0, self.shape[1], blocks.src.size), self._sci_disk.disk.newbyteorder("="))
        self._sci_disk.read_pixels(self._fd, ints, blocks, raw)
        return _scaled(raw, self.sci_header, np.float32)

    @property
    def sci_itemsize(self) -> int:
        """Bytes of one SCI value in the file (2 for an uncal's counts, 4 for float32)."""
        return self._sci_disk.disk.itemsize

    def _reads_rows(self, rows: slice) -> bool:
        """Whether :meth:`read` reads chunks of ``rows`` plane by plane from compiled code
        (:meth:`.blocks.DiskCube.read_rows`): chunks of fewer rows than a frame (whole frames
        are one system call per integration) of unscaled float32 SCI and uint8 GROUPDQ (a
        ramp product's)."""
        r0, r1, _ = rows.indices(self.shape[2])
        return (r1 - r0 < self.shape[2] and self._sci_disk.disk == np.dtype(">f4")
                and not _is_scaled(self.sci_header)
                and (self._gdq_disk is None or self._gdq_disk.disk == np.dtype(np.uint8)))

    def _read_scaled(self, ints: slice, rows: slice, sci: np.ndarray) -> None:
        """SCI stored as integers (an uncal's uint16) into the float32 ``sci``, BZERO / BSCALE
        applied, one integration at a time (no temporary of the block's size)."""
        header = self.sci_header
        self._sci_disk.read_converted(self._fd, ints, rows, sci,
                                      lambda raw, out: _scaled(raw, header, np.float32, out=out))

    @timed_call("read")
    def read_into(self, rows: slice, sci: np.ndarray, gdq: np.ndarray, zf: np.ndarray | None = None) -> None:
        """Rows ``rows`` of every integration into ``sci`` (float32) and ``gdq`` (uint8), arrays
        of shape (nints, ngroups, nrows, nx) whose group planes are each contiguous (e.g. rows
        of a larger window of rows), and their ZEROFRAME into ``zf`` (float32 (nints, nrows,
        nx)) when given. As :meth:`read`, without a temporary of the block's size (an uint16
        uncal's SCI is converted one integration at a time)."""
        ints = slice(None)
        if self._sci_disk.disk == np.dtype(">f4") and not _is_scaled(self.sci_header):
            self._sci_disk.read(self._fd, ints, rows, out=sci)
        else:
            self._read_scaled(ints, rows, sci)
        if self._gdq_disk is None:
            gdq[...] = 0
        elif self._gdq_disk.disk == np.dtype(np.uint8):
            self._gdq_disk.read(self._fd, ints, rows, out=gdq)
        else:
            np.copyto(gdq, _scaled(self._gdq_disk.read(self._fd, ints, rows), self._gdq_header, np.uint8))
        if zf is not None:
            zf[...] = self.zeroframe(ints, rows)

    @property
    def reads_rows_ahead(self) -> bool:
        """Whether rows can be read as stored on a reader thread and converted after
        (:meth:`read_raw_rows`, :meth:`convert_raw_rows`; :class:`.row_ahead.RowReadAhead`):
        an uncal file (no GROUPDQ on disk) whose SCI is 16-bit counts (:attr:`sci_is_uint16`)."""
        return self.is_uncal and self.sci_is_uint16

    def read_raw_rows(self, rows: slice, out8: np.ndarray) -> None:
        """SCI rows ``rows`` of every integration as stored (16-bit values in the file's byte
        order) into ``out8`` (uint8 (nints, ngroups, nrows, 2 * nx), C-contiguous), GIL
        released (for a reader thread); see :meth:`reads_rows_ahead`."""
        if not self.reads_rows_ahead:
            raise ValueError(f"{self.path}: only an uncal file's 16-bit SCI is read as stored")
        self._sci_disk.read_rows_raw(self._fd, slice(None), rows, out8)

    @timed_call("read")
    def convert_raw_rows(self, raw8: np.ndarray, rows: slice, sci: np.ndarray, gdq: np.ndarray,
                         zf: np.ndarray | None = None) -> None:
        """What :meth:`read_raw_rows` read for ``rows`` into ``sci`` / ``gdq`` / ``zf`` as
        :meth:`read_into` reads them (same values: BZERO applied by the same integer
        operation, GROUPDQ zeros), the conversion parallel over group planes."""
        from ..kernels.row_read import _u16_rows_to_f32
        from ..kernels.row_window import window_rows

        disk = self._sci_disk.disk
        raw = raw8.view(np.uint16)
        if raw.shape != sci.shape or sci.dtype != np.float32 or gdq.shape != sci.shape:
            raise ValueError(f"{self.path}: raw rows {raw.shape} do not fit float32 SCI {sci.dtype} {sci.shape} "
                             f"and GROUPDQ {gdq.shape}")
        wsci, y0s = window_rows(sci)
        wgdq, y0q = window_rows(gdq)
        _u16_rows_to_f32(raw, disk.byteorder not in ("=", "|"), disk.kind == "i", wsci, y0s, wgdq, y0q)
        if zf is not None:
            zf[...] = self.zeroframe(slice(None), rows)

    def read_groupdq(self, ints: slice = slice(None), rows: slice = slice(None)) -> np.ndarray:
        """GROUPDQ alone (uint8 (nints, ngroups, nrows, nx), a fresh array; zeros for an uncal
        file), e.g. for a scan of the whole exposure's flags before the chunks are fitted."""
        if self._gdq_disk is None:
            return np.zeros(self._sci_disk.block_shape(ints, rows), dtype=np.uint8)
        gdq = self._gdq_disk.read(self._fd, ints, rows)
        return gdq if gdq.dtype == np.uint8 else _scaled(gdq, self._gdq_header, np.uint8)

    def reserve(self, nints: int, nrows: int) -> None:
        """Allocate the reusable read buffers for chunks of up to ``nints`` x ``nrows`` at once
        (a chunk loop whose first chunk is not its largest would otherwise grow them)."""
        n = int(nints) * self.shape[1] * int(nrows) * self.shape[3]
        bufs = self._buffers.setdefault(0, {})
        self._buffer(bufs, "sci", 4 * n)
        self._buffer(bufs, "gdq", n)

    def release(self) -> None:
        """Drop the reusable read buffers (e.g. a pre-pass's chunks of integrations before a
        row stream that brings its own window)."""
        self._buffers.clear()

    def _buffer(self, bufs: dict, name: str, nbytes: int) -> np.ndarray:
        bufs[name] = _grown(bufs.get(name), nbytes)
        return bufs[name]

    @property
    def data_span(self) -> tuple[int, int]:
        """(first byte, end byte) of the SCI and GROUPDQ data in the file."""
        cubes = [c for c in (self._sci_disk, self._gdq_disk) if c is not None]
        return min(c.offset for c in cubes), max(c.offset + c.nbytes for c in cubes)

    @timed_call("read")
    def prefetch(self, max_fraction: float = 0.5) -> bool:
        """Read the ramp data into the page cache sequentially, if it fits comfortably.

        Row chunks touch every plane of the file for each chunk; read cold from disk one
        strided slab at a time that is several times slower than one sequential pass. This
        pass goes kernel-to-kernel (``sendfile`` to /dev/null: nothing is copied into the
        process) and is skipped when the data exceed ``max_fraction`` of the memory
        available, where it would only evict itself. Returns whether it ran.
        """
        start, end = self.data_span
        avail = _mem_available()
        if avail is not None and end - start > max_fraction * avail:
            return False
        if not hasattr(os, "sendfile"):  # pragma: no cover
            return False
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            off = start
            while off < end:
                try:
                    got = os.sendfile(null, self._fd, off, min(end - off, 1 << 28))
                except OSError:  # pragma: no cover - e.g. a file system without sendfile
                    return False
                if got <= 0:
                    break
                off += got
        finally:
            os.close(null)
        return True

    @property
    def has_zeroframe(self) -> bool:
        """Whether the file holds a ZEROFRAME extension (the first frame of each integration)."""
        return self._zf is not None

    def zeroframe(self, ints: slice = slice(None), rows: slice = slice(None)) -> np.ndarray | None:
        """ZEROFRAME for integrations ``ints`` and rows ``rows`` as float32 (nints, nrows, nx)
        (stored uint16 in uncal files, float32 in ramp products), or None without one."""
        if self._zf is None:
            return None
        raw = self._zf_disk.read(self._fd, ints, rows)
        return np.ascontiguousarray(_scaled(raw, self._zf.header, np.float32)[:, 0])

    @property
    def refout_shape(self) -> tuple | None:
        """Shape of the REFOUT extension (MIRI's reference output, 4-D), or None without one."""
        return None if self._refout is None else self._refout_disk.shape

    def refout(self, ints: slice = slice(None)) -> np.ndarray | None:
        """REFOUT for integrations ``ints`` as float32 (stored uint16 in uncal files, float32 in
        ramp products, as jwst's Level1bModel / RampModel), or None without one."""
        if self._refout is None:
            return None
        return _scaled(self._refout_disk.read(self._fd, ints), self._refout.header, np.float32)

    def extra_image(self, name: str) -> np.ndarray | None:
        """A carried 2-D image extension (e.g. AVDRKCUR) as float32, or None if absent."""
        hdu = self.extra_images.get(name.upper())
        return None if hdu is None else _scaled(np.asarray(hdu.data), hdu.header, np.float32)

    def pixeldq(self) -> np.ndarray:
        """PIXELDQ as uint32 (ny, nx); zeros for an uncal file."""
        if self._pdq is None:
            return np.zeros(self.shape[2:], dtype=np.uint32)
        return _scaled(np.asarray(self._pdq.data), self._pdq.header, np.uint32)


def _replace_counts(meta: ExposureMeta, shape) -> ExposureMeta:
    """``meta`` with NINTS / NGROUPS taken from the SCI array's ``shape``."""
    return replace(meta, nints=int(shape[0]), ngroups=int(shape[1]))


def open_ramp(path) -> RampFile:
    """Open an uncal file or a ramp intermediate (see RampFile)."""
    return RampFile(path)
