"""Inter-pixel capacitance correction: jwst's ``ipc`` step (``jwst.ipc.ipc_corr``).

The IPC reference holds a deconvolution kernel: a small 2-D array (ky, kx), usually 3 x 3,
the same for every pixel, or a 4-D array (ky, kx, ny, nx) with a kernel per pixel (cut to
the exposure's subarray). Every group of every integration is convolved with it, in place,
over the science region only: reference pixels (the 4 outer rows and columns of a NIR
detector's full frame, counted for a subarray from SUBSTRT/SUBSIZE as jwst's
``get_num_ref_pixels`` does) are neither changed nor used, and pixels outside the science
region count as zero. The sums are jwst's float32 operations in jwst's order (see
:mod:`rampflow.kernels.ipc`), so the result is bit-identical.

When CRDS selects no IPC reference (N/A) the step is SKIPPED, as jwst's is. jwst's IPCStep
has no parameters and is not skipped by default; CRDS decides. Not reproduced: NIRSpec IRS2
readouts (jwst converts them with ``x_irs2`` first): the step raises NotImplementedError.
MIRI's reference-column layout is handled (no reference rows, columns 1-4 and 1029-1032).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from .base import Step

log = logging.getLogger(__name__)


class RefPixels(NamedTuple):
    """Reference rows and columns at each edge of the exposure (jwst's NumRefPixels)."""

    bottom_rows: int
    top_rows: int
    left_columns: int
    right_columns: int


def num_ref_pixels(instrument: str, substrt1: int, substrt2: int, subsize1: int, subsize2: int) -> RefPixels:
    """Reference pixels in the exposure's frame (jwst ``get_num_ref_pixels``); 1-based starts."""
    x0, y0 = substrt1 - 1, substrt2 - 1
    if instrument.upper() == "MIRI":
        return RefPixels(0, 0, max(0, 4 - x0), max(0, x0 + subsize1 - 1028))
    return RefPixels(max(0, 4 - y0), max(0, y0 + subsize2 - 2044), max(0, 4 - x0), max(0, x0 + subsize1 - 2044))


def check_kernel(kernel: np.ndarray, frame: tuple[int, int], what: str = "IPC kernel") -> np.ndarray:
    """The kernel as float32 (jwst's IPCModel holds float32): 2-D (ky, kx), or 4-D
    (ky, kx, ny, nx) matching the exposure's ``frame`` (ny, nx). Raises ValueError naming ``what``."""
    k = np.ascontiguousarray(kernel, dtype=np.float32)
    if k.ndim == 2:
        return k
    if k.ndim == 4 and k.shape[2:] == tuple(frame):
        return k
    raise ValueError(f"{what}: expected a 2-D (ky, kx) kernel or a 4-D (ky, kx, {frame[0]}, {frame[1]}) "
                     f"per-pixel kernel; got shape {k.shape}")


def ipc_correct(sci: np.ndarray, kernel: np.ndarray, nref: RefPixels) -> None:
    """Convolve every group of ``sci`` float32 (nints, ngroups, ny, nx) in place with
    ``kernel`` (float32, see :func:`check_kernel`), science region only."""
    if sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be float32 (nints, ngroups, ny, nx); got {sci.dtype} {sci.shape}")
    kernel = check_kernel(kernel, sci.shape[2:])
    ny = sci.shape[2] - nref.bottom_rows - nref.top_rows
    nx = sci.shape[3] - nref.left_columns - nref.right_columns
    if ny <= 0 or nx <= 0:
        return
    planes = sci.reshape(-1, sci.shape[2], sci.shape[3])
    if not np.shares_memory(planes, sci):
        raise ValueError("sci must be C-contiguous")
    from ..kernels.ipc import convolve_planes

    convolve_planes(planes, kernel, nref.bottom_rows, nref.left_columns, ny, nx)


class IPC(Step):
    """jwst ``IPCStep`` (class_alias "ipc"); reference IPC (N/A in CRDS: SKIPPED). No parameters."""

    name = "ipc"
    keyword = "S_IPC"
    reftypes = ("ipc",)
    optional_reftypes = ("ipc",)
    spec = ""  # jwst's IPCStep takes no parameters

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        ref = refs.get("ipc")
        if ref is None:
            self.skipped = "no IPC reference file (N/A in CRDS)"
            return
        if "IRS2" in meta.readpatt:
            raise NotImplementedError(f"{meta.filename}: ipc for IRS2 readouts ({meta.readpatt}) is not implemented")
        self.kernel = check_kernel(ref["SCI"], (meta.subsize2, meta.subsize1), f"{ref.path} [SCI]")
        self.nref = num_ref_pixels(meta.instrument, meta.substrt1, meta.substrt2, meta.subsize1, meta.subsize2)
        log.info("ipc: kernel %s; reference rows/columns bottom %d, top %d, left %d, right %d",
                 self.kernel.shape, *self.nref)

    def process(self, sci, gdq, pdq, ints, rows):
        ipc_correct(sci, self.kernel, self.nref)
