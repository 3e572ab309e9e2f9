"""numba kernels of ramp reading (private; arrays and scalars only): the rows of every group
plane of a 4-D FITS cube read into a chunk buffer with one ``pread`` system call per plane
issued from compiled code (:meth:`rampflow.io.blocks.DiskCube.read_rows`), 4-byte values
byte-swapped from FITS's big-endian order while the plane is in the CPU cache; or the same
few pixels of every plane (:meth:`rampflow.io.blocks.DiskCube.read_pixels`), one ``pread`` per
block of contiguous bytes; an uncal file's 16-bit rows read as stored (on a reader thread: the
read kernel releases the GIL) and converted to float32 after (:func:`_u16_rows_to_f32`)."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _pread(typingctx, fd, buf, nbytes, offset):
    """C's ``pread(fd, buf.data, nbytes, offset)`` (the C library's, resolved when the kernel
    is loaded, so the compiled kernel can be cached): bytes read, 0 at the end of the file,
    -1 on error."""
    sig = types.int64(types.int64, buf, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        fd_, buf_, n_, off_ = args
        ary = context.make_array(signature.args[1])(context, builder, buf_)
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(32), i8p, ir.IntType(64), ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "pread")
        return builder.call(fn, [builder.trunc(fd_, ir.IntType(32)), builder.bitcast(ary.data, i8p), n_, off_])

    return sig, codegen


@njit(cache=True, nogil=True)
def _read_plane(fd, buf, offset):
    """Fill ``buf`` (contiguous 1-D uint8) from the file ``offset``; returns the file offset
    where reading stopped short (end of file or an error), or -1 when all was read."""
    nbytes = buf.size
    done = 0
    while done < nbytes:
        got = _pread(fd, buf[done:], nbytes - done, offset + done)
        if got <= 0:
            return offset + done
        done += got
    return -1


@njit(cache=True, nogil=True)
def _read_rows(fd, offset, ny, i0, r0, out8, out32, swap4):
    """Rows r0.. of planes (i0 + k, g) of the cube of ``ny`` rows at the file's ``offset``
    into out8[k, g] (uint8 (nints, ngroups, nrows, nx * itemsize), C-contiguous); with
    ``swap4``, ``out32`` is the same memory as uint32 (nints, ngroups, nrows, nx) and each
    plane is byte-swapped once read. Returns -1, or the file offset where the file ended
    short."""
    nints, ngroups, nrows, rowbytes = out8.shape
    plane = ny * rowbytes
    for k in range(nints):
        for g in range(ngroups):
            at = offset + ((i0 + k) * ngroups + g) * plane + r0 * rowbytes
            stop = _read_plane(fd, out8[k, g].reshape(nrows * rowbytes), at)
            if stop >= 0:
                return stop
            if swap4:
                o = out32[k, g]
                for r in range(nrows):
                    for c in range(o.shape[1]):
                        x = o[r, c]
                        o[r, c] = ((x >> 24) & 0xFF) | ((x >> 8) & 0xFF00) | ((x << 8) & 0xFF0000) | (x << 24)
    return -1


@njit(cache=True, parallel=True, nogil=True)
def _u16_rows_to_f32(raw, swap, flip, sci, y0s, gdq, y0q):
    """16-bit values as read (``raw``: uint16 (nints, ngroups, nrows, nx), the file's byte
    order) into float32 rows ``[y0s, y0s + nrows)`` of ``sci`` (nints, ngroups, any rows, nx:
    a row window whole, see :func:`.row_window.window_rows`): byte-swapped with ``swap``, the
    sign bit flipped with ``flip`` (signed storage with BZERO 32768: adds BZERO exactly); rows
    ``y0q`` on of ``gdq`` (uint8) set to zero. (integration, group) planes in parallel."""
    nints, ngroups, nrows, nx = raw.shape
    for p in prange(nints * ngroups):
        i = p // ngroups
        g = p - i * ngroups
        for r in range(nrows):
            src = raw[i, g, r]
            dst = sci[i, g, y0s + r]
            q = gdq[i, g, y0q + r]
            for c in range(nx):
                v = np.uint32(src[c])
                if swap:
                    v = ((v >> 8) | (v << 8)) & 0xFFFF
                if flip:
                    v = v ^ 0x8000
                dst[c] = np.float32(v)
                q[c] = 0


@njit(cache=True, nogil=True)
def _read_pixels(fd, offset, plane, i0, blk_off, blk_len, src, scratch, out8, item, swap):
    """The same pixels of planes (i0 + k, g) of the cube at the file's ``offset`` (``plane``
    bytes each) into out8[k, g] (uint8 (nints, ngroups, npix * item), C-contiguous): each
    plane's byte blocks (``blk_off`` from the plane's start, ``blk_len`` bytes) read one
    ``pread`` each into ``scratch`` one after the other, then pixel p copied from
    scratch[src[p]:src[p] + item], byte-swapped with ``swap``. Returns -1, or the file offset
    where the file ended short."""
    nints, ngroups = out8.shape[0], out8.shape[1]
    npix = src.size
    for k in range(nints):
        for g in range(ngroups):
            base = offset + ((i0 + k) * ngroups + g) * plane
            at = 0
            for j in range(blk_off.size):
                n = blk_len[j]
                stop = _read_plane(fd, scratch[at:at + n], base + blk_off[j])
                if stop >= 0:
                    return stop
                at += n
            o = out8[k, g]
            for p in range(npix):
                s = src[p]
                d = p * item
                for b in range(item):
                    o[d + b] = scratch[s + item - 1 - b] if swap else scratch[s + b]
    return -1
