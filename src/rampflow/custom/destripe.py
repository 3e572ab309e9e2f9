"""Group-level 1/f destriping for time-series observations (custom step ``destripe``).

Why lines along the fast axis
-----------------------------
A near-IR SIDECAR/HxRG detector is read pixel after pixel along the *fast* axis (about 10 us
per pixel) and line after line along the *slow* axis. 1/f ("flicker") noise of the readout
electronics is a slowly wandering offset: it barely changes while one fast-read line is read
(~5-20 ms) but differs from one line to the next. So in every group it appears as a constant
offset per fast-read line -- stripes running along the fast axis. In DMS orientation the fast
axis is FITS axis 2 (y) for NIRSpec and NIRISS (``FASTAXIS = +-2``: the stripes are *columns*;
so NIRISS SOSS stripes cross its dispersion like NIRSpec's) and axis 1 (x) for NIRCam
(``FASTAXIS = +-1``: the stripes are *rows*, along a grism time series' dispersion). The step
reads the exposure's ``FASTAXIS`` / ``SLOWAXIS`` keywords (:mod:`rampflow.modes`) instead of
guessing from the instrument name.

Algorithm
---------
1. Background mask (``make_background_mask``), made once per exposure from the median over
   integrations of the last-minus-first group difference, median-filtered (``filter_size``):

   * spectra (EXP_TYPE NRS_BRIGHTOBJ, NIS_SOSS, NRC_TSGRISM and the other spectroscopic types
     in :data:`SPECTROSCOPIC_EXP_TYPES`; ``mask_method: trace``): the trace is followed column
     by column (dispersion along x in DMS orientation) with a flux-weighted centroid within
     ``trace_radius`` of the column's peak, a polynomial of degree ``trace_order`` is fitted
     (weighted by the column flux, 3-sigma clipped), and pixels within ``trace_radius`` of it
     are masked in the columns the spectrum lights (first to last column where the trace was
     found, widened by ``trace_radius``): beyond the spectrum's ends the trace's rows stay
     background, which a NIRCam grism needs (its lines are rows). A multi-order mode (NIRISS
     SOSS, :attr:`rampflow.modes.ModeGeometry.multi_order`) also masks every source pixel as
     the imaging method finds them (orders 2 and 3 and the wings of order 1), so no order's
     light enters a line median;
   * imaging (``mask_method: sources``): pixels above the sigma-clipped background by more
     than ``source_sigma`` standard deviations, grown by ``source_grow`` pixels, are masked;
   * ``mask_path``: a user mask (FITS, non-zero = background, as jwst's
     ``user_background_mask``), the exposure's shape or full frame (then cut to the subarray);
   * always: reference pixels and every pixel with a PIXELDQ flag are excluded, and in each
     group the pixels with any GROUPDQ flag (saturated, jump, do-not-use) and NaNs.

2. In every group of every integration, the median of the background pixels of each
   fast-read line -- or of each amplifier's part of the line with ``per_amplifier`` (NOUTPUTS
   amplifiers of 2048 / NOUTPUTS = 512 pixels along the fast axis, in detector coordinates so
   subarrays are cut correctly) -- is subtracted from every pixel of that line (segment).
   Lines with fewer than ``min_pixels`` background pixels are left unchanged.

This subtracts the per-group background level together with the 1/f offsets (a uniform
background is indistinguishable from a common-mode offset), which is what TSO light-curve
extraction wants; unlike jwst's ``clean_flicker_noise`` (which cleans each group *difference*
image after fitting a background), it runs at group level on our chunked ramps, before jump
detection, with a trace-following mask. Memory: the mask product needs only the first and last
group of each integration (read memory-mapped, in row blocks); the step then works in place
on each chunk of integrations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import io
from ..io import custom as io_custom
from ..steps.base import Step, register_input
from .destripe_mask import (  # noqa: F401 (public here)
    DEFAULT_CHUNK_MB,
    DETECTOR_SIZE,
    MASK_METHODS,
    SPECTROSCOPIC_EXP_TYPES,
    _fit_user_mask,
    _robust_stats,
    build_mask,
    fit_trace,
    is_spectroscopic,
    make_background_mask,
    mask_from_image,
    median_difference_image,
    resolve_method,
    smooth_image,
    trace_columns,
)

log = logging.getLogger(__name__)



def fast_axis_index(fastaxis: int, slowaxis: int) -> int:
    """numpy axis of a (ny, nx) frame along which the fast read runs: 0 (y) or 1 (x).

    FASTAXIS / SLOWAXIS are the JWST keywords: +-1 = FITS axis 1 (x), +-2 = FITS axis 2 (y)
    of the DMS-oriented frame; the sign is the read direction, irrelevant here.
    """
    f, s = abs(int(fastaxis)), abs(int(slowaxis))
    if {f, s} != {1, 2}:
        raise ValueError(f"FASTAXIS={fastaxis}, SLOWAXIS={slowaxis}: expected one of them +-1 and the other +-2")
    return 1 if f == 1 else 0


def amplifier_edges(n_fast: int, start_fast: int = 1, noutputs: int = 1, per_amplifier: bool = False) -> np.ndarray:
    """Segment boundaries (int64) along the fast axis of a frame of ``n_fast`` pixels.

    start_fast : 1-based detector coordinate of the frame's first pixel along the fast axis
                 (SUBSTRT1 if the fast axis is x, SUBSTRT2 if y)
    With ``per_amplifier`` and NOUTPUTS > 1 the boundaries are at multiples of
    2048 / NOUTPUTS detector pixels inside the frame; otherwise one segment [0, n_fast].
    """
    edges = [0]
    if per_amplifier and int(noutputs) > 1:
        width = DETECTOR_SIZE // int(noutputs)
        first = int(start_fast) - 1
        for b in range(width, DETECTOR_SIZE, width):
            local = b - first
            if 0 < local < n_fast:
                edges.append(local)
    edges.append(int(n_fast))
    return np.asarray(edges, dtype=np.int64)


def _check_frame_args(use, fast_axis, edges, ny, nx):
    if use.shape != (ny, nx) or use.dtype != np.bool_:
        raise ValueError(f"use must be bool ({ny}, {nx}); got {use.dtype} {use.shape}")
    if fast_axis not in (0, 1):
        raise ValueError(f"fast_axis must be 0 or 1; got {fast_axis}")
    n_fast = ny if fast_axis == 0 else nx
    edges = np.asarray(edges, dtype=np.int64)
    if edges.ndim != 1 or edges.size < 2 or edges[0] != 0 or edges[-1] != n_fast or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must increase from 0 to {n_fast} (the fast-axis size); got {edges.tolist()}")
    return edges


def destripe_groups(data: np.ndarray, gdq: np.ndarray, use: np.ndarray, fast_axis: int,
                    edges=None, min_pixels: int = 5) -> np.ndarray:
    """Subtract the masked median of every fast-read line (segment) from every group, in place.

    data      : float32 (nints, ngroups, ny, nx), DN; modified in place
    gdq       : uint8 (nints, ngroups, ny, nx); flagged groups are left out of the medians
    use       : bool (ny, nx); True = background pixel allowed in the medians
    fast_axis : numpy axis of the fast read (see :func:`fast_axis_index`)
    edges     : int64 segment boundaries along the fast axis (:func:`amplifier_edges`);
                None = whole lines
    min_pixels: lines (segments) with fewer usable pixels are not corrected
    Returns the subtracted medians, float32 (nints, ngroups, nseg, nlines), NaN where a line
    segment was left unchanged.
    """
    from ..kernels.destripe import _line_median_kernel

    if data.ndim != 4 or data.dtype != np.float32:
        raise ValueError(f"data must be float32 (nints, ngroups, ny, nx); got {data.dtype} {data.shape}")
    if gdq.shape != data.shape or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 with data's shape {data.shape}; got {gdq.dtype} {gdq.shape}")
    nints, ngroups, ny, nx = data.shape
    if edges is None:
        edges = [0, ny if fast_axis == 0 else nx]
    edges = _check_frame_args(use, fast_axis, edges, ny, nx)
    if int(min_pixels) < 1:
        raise ValueError(f"min_pixels must be >= 1; got {min_pixels}")
    nlines = nx if fast_axis == 0 else ny
    medians = np.empty((nints, ngroups, edges.size - 1, nlines), dtype=np.float32)
    use = np.ascontiguousarray(use)
    for i in range(nints):
        _line_median_kernel(data[i], gdq[i], use, int(fast_axis), edges, int(min_pixels), True, medians[i])
    return medians


def line_medians(image: np.ndarray, use: np.ndarray, fast_axis: int, edges=None, min_pixels: int = 5) -> np.ndarray:
    """Masked median of each fast-read line (segment) of a 2-D image, float32 (nseg, nlines).

    image : float (ny, nx), e.g. a group-difference image; not modified.
    """
    from ..kernels.destripe import _line_median_kernel

    image = np.ascontiguousarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (ny, nx); got {image.shape}")
    ny, nx = image.shape
    if edges is None:
        edges = [0, ny if fast_axis == 0 else nx]
    edges = _check_frame_args(use, fast_axis, edges, ny, nx)
    nlines = nx if fast_axis == 0 else ny
    out = np.empty((1, edges.size - 1, nlines), dtype=np.float32)
    _line_median_kernel(image[None], np.zeros((1, ny, nx), np.uint8), np.ascontiguousarray(use),
                        int(fast_axis), edges, max(1, int(min_pixels)), False, out)
    return out[0]


def write_mask(in_path, out_path, params: dict | None = None, chunk_mb: float = DEFAULT_CHUNK_MB) -> Path:
    """Make the background mask of ramp ``in_path`` and write it as a FITS product (MASK, SCI,
    TRACE) at ``out_path``. ``params``: the destripe step's parameters (mask ones are used)."""
    p = _checked_params(params)
    with io.open_ramp(in_path) as rf:
        use, image, info = build_mask(rf, **_mask_params(p), chunk_mb=chunk_mb)
        write_mask_product(out_path, use, image, info, p, rf.meta, rf.primary_header, Path(in_path).name)
    return Path(out_path)


def write_mask_product(out_path, use, image, info: dict, p: dict, meta, primary, source: str) -> None:
    """Write a mask made by :func:`build_mask` (or in a one-pass job's pre-pass, from the ramp
    ``source`` names) as the mask product."""
    trace = None
    if info["coeffs"] is not None:
        x = np.arange(meta.subsize1)
        fit = np.polyval(info["coeffs"], x)
        cen = np.full(x.size, np.nan)
        cen[info["trace_x"].astype(int)] = info["trace_y"]
        trace = Table({"x": x.astype(np.int32), "y_centroid": cen, "y_fit": fit})
    fa = fast_axis_index(meta.fastaxis, meta.slowaxis)
    updates = {
        "DSTRMETH": (info["method"], "destripe mask method"),
        "DSTRNBKG": (info["n_background"], "background pixels used for line medians"),
        "DSTRNSRC": (info["n_source"], "pixels masked as source"),
        "DSTRAXIS": ("columns" if fa == 0 else "rows", "fast-read lines (1/f stripes)"),
        "DSTRRAD": (float(p["trace_radius"]), "trace mask radius (pixels)"),
    }
    mask_keys = sorted(_mask_params(p))
    history = [f"rampflow destripe mask from {source}: " + ", ".join(f"{k}={p[k]!r}" for k in mask_keys)]
    io_custom.write_mask_product(out_path, use, image, primary, updates=updates, history=history, trace=trace)
    log.info("destripe mask: %s (%s, %d background pixels, %d masked as source)", out_path, info["method"],
             info["n_background"], info["n_source"])


def _checked_params(params: dict | None) -> dict:
    """The parameters over the defaults; ValueError naming an unknown name or, as
    ``step_params.destripe.<name>``, a value its spec does not allow."""
    Destripe.check_params(dict(params or {}))
    return {**Destripe.defaults, **(params or {})}


def _mask_params(p: dict) -> dict:
    keys = ("mask_method", "trace_radius", "trace_order", "filter_size", "source_sigma", "source_grow", "mask_path")
    return {k: p[k] for k in keys}


class Destripe(Step):
    """Custom step ``destripe``: group-level 1/f destriping (see the module docstring).

    Its background mask is an input (``destripe_mask``), resolved and loaded by the runner
    as it does reference files: from the mask product the workflow's ``destripe_mask`` rule
    wrote (:func:`write_mask`), or, without one, built from the step's input ramp with the
    mask parameters below (:func:`mask_from_ramp`, the same mask the rule makes). The step
    receives the array (``inputs={"destripe_mask": bool (ny, nx)}``, True = background).

    Parameters (``step_params.destripe``):
      mask_path (None): a user background mask (FITS image, non-zero = background) the mask
        is made from instead of the ramp's own signal
      mask_method ("auto"): auto | trace | sources | none
      trace_radius (8), trace_order (2): spectral trace mask half-width (pixels) and degree
      filter_size (3): median filter box for the mask image
      source_sigma (3.0), source_grow (2): imaging source threshold and growth (pixels)
      per_amplifier (False): medians per amplifier (NOUTPUTS x 512 pixels along the fast axis)
      min_pixels (5): minimum background pixels for a line (segment) to be corrected
      save_mask (None): with a mask made in the job (no ``destripe_mask`` file given), write it
        to this file as the mask product (the runner sets it when ``destripe_mask`` is an output)

    In a row pass (the one-pass Stage 1, which reads the uncal file once in chunks of rows) the
    step works from pre-passes over its input (:mod:`rampflow.runner.prepass`): without a mask
    file, the first one collects every integration's last-minus-first image and makes the mask
    exactly as :func:`write_mask` would from the ramp file; when the fast-read lines are columns
    (NIRSpec), the next one measures every line's median on the whole planes, which the row
    chunks then subtract. Results equal the step's on the whole ramp, bit for bit.
    """

    name = "destripe"
    keyword = "S_DESTRI"
    reftypes = ()
    official = False
    products = ("destripe", "destripe_mask")
    #: the mask product, written by a job that made the mask itself (see below)
    optional_products = {"destripe_mask": "save_mask"}
    inputs = ("destripe_mask",)
    #: in a row pass (the one-pass Stage 1) the mask is made in a pre-pass over the step's
    #: input as it streams by, instead of from a ramp file
    prepass_inputs = ("destripe_mask",)
    rows_ok = True
    input_keywords = {"destripe_mask": ("DSTRMASK", "destripe mask")}
    spec_source = "rampflow"
    spec = """
        mask_path = string(default=None)  # user background mask (FITS image, non-zero = background)
        mask_method = option("auto", "trace", "sources", "none", default="auto")
        trace_radius = float(default=8, min=0)  # trace mask half-width (pixels)
        trace_order = integer(default=2, min=0)  # degree of the trace polynomial
        filter_size = integer(default=3, min=1)  # median filter box for the mask image (pixels)
        source_sigma = float(default=3.0, min=0)  # imaging source threshold (standard deviations)
        source_grow = integer(default=2, min=0)  # growth of the source mask (pixels)
        per_amplifier = boolean(default=False)  # medians per amplifier
        min_pixels = integer(default=5, min=1)  # minimum background pixels to correct a line
        save_mask = string(default=None)  # write the mask made in the job to this file
    """

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        p = self.params
        resolve_method(p["mask_method"], meta.exp_type)  # validate early
        self.fast_axis = fast_axis_index(meta.fastaxis, meta.slowaxis)
        start = meta.substrt2 if self.fast_axis == 0 else meta.substrt1
        n_fast = meta.subsize2 if self.fast_axis == 0 else meta.subsize1
        self.edges = amplifier_edges(n_fast, start, meta.noutputs, bool(p["per_amplifier"]))
        self.last_medians = None
        self._medians = None  # (nints, ngroups, nseg, nlines), measured in a pre-pass
        self._diffs = self._built = None
        self._primary = None
        use = self.extra_inputs["destripe_mask"]
        if use is None:  # made in a pre-pass (prepass_inputs)
            self.use = None
            return
        if isinstance(use, BuiltMask):  # built from the input ramp in the job: finish() can write it
            self._built = (use.image, use.info)
            use = use.use
        use = np.asarray(use)
        shape = (meta.subsize2, meta.subsize1)
        if use.shape != shape:
            raise ValueError(f"destripe: the background mask has shape {use.shape}, the exposure's frame is {shape}")
        self.use = np.ascontiguousarray(use, dtype=bool)
        self._log_mask()

    def _log_mask(self):
        log.info("destripe: %d background pixels, lines along %s, %d segment(s) per line", int(self.use.sum()),
                 "y (columns)" if self.fast_axis == 0 else "x (rows)", self.edges.size - 1)

    def start(self, images, primary):
        self._primary = primary

    def prepass_rounds(self) -> int:
        """A round making the mask when none was given, and one measuring the line medians
        when lines are columns (they span every row chunk)."""
        return int(self.extra_inputs["destripe_mask"] is None) + int(self.fast_axis == 0)

    def collect(self, round, sci, gdq, pdq, ints, zf=None):
        nints, ngroups, ny, nx = self.meta.shape
        if round == 0 and self.use is None:  # the mask: every integration's last - first group
            if self._diffs is None:
                self._diffs = np.empty((nints, ny, nx), np.float32)
            self._diffs[ints] = sci[:, -1] - sci[:, 0] if ngroups > 1 else sci[:, 0]
            return
        from ..kernels.destripe import _line_median_kernel

        if self._medians is None:
            self._medians = np.empty((nints, ngroups, self.edges.size - 1, nx), np.float32)
        use = np.ascontiguousarray(self.use & (pdq == 0))
        for k in range(sci.shape[0]):
            _line_median_kernel(sci[k], gdq[k], use, int(self.fast_axis), self.edges, int(self.params["min_pixels"]),
                                False, self._medians[(ints.start or 0) + k])

    def end_round(self, round, pdq):
        if round == 0 and self.use is None:
            image = np.median(self._diffs, axis=0)  # as median_difference_image, pixel by pixel
            self._diffs = None
            use, image, info = mask_from_image(image, pdq, self.meta, **_mask_params(self.params))
            self.use = np.ascontiguousarray(use, dtype=bool)
            self._built = (image, info)
            self._log_mask()

    def process(self, sci, gdq, pdq, ints, rows):
        if self._medians is None:
            use = self.use[rows] & (pdq == 0)
            self.last_medians = destripe_groups(sci, gdq, use, self.fast_axis, self.edges,
                                                int(self.params["min_pixels"]))
            return
        from ..kernels.destripe import _subtract_medians_kernel

        self.last_medians = self._medians[ints]
        for k in range(sci.shape[0]):
            _subtract_medians_kernel(sci[k], int(rows.start or 0), int(self.fast_axis), self.edges,
                                     self._medians[(ints.start or 0) + k])

    def finish(self, outputs):
        path = outputs.get("destripe_mask")
        if path and self._built is not None:
            image, info = self._built
            write_mask_product(path, self.use, image, info, self.params, self.meta, self._primary,
                               "the step's input, in the job")

    def header_updates(self):
        return {
            # 0 until a mask made in a pre-pass exists (the runner writes the late value)
            "DSTRNBKG": (0 if self.use is None else int(self.use.sum()), "background pixels used for line medians"),
            "DSTRAXIS": ("columns" if self.fast_axis == 0 else "rows", "fast-read lines (1/f stripes)"),
            "DSTRNSEG": (int(self.edges.size - 1), "segments (amplifiers) per line"),
        }


def read_mask(path, meta) -> np.ndarray:
    """The ``destripe_mask`` input from a file: our mask product or any FITS image (non-zero =
    background), of the exposure's shape or full frame (then cut to its subarray).
    Returns bool (ny, nx), True = background. Raises ValueError naming a missing file."""
    if not Path(path).is_file():
        raise ValueError(f"destripe: mask {path} does not exist")
    use, _, _ = io_custom.read_mask_product(path)
    return _fit_user_mask(use, meta, path)


@dataclass
class BuiltMask:
    """A background mask built from the step's input ramp in the job (``use``: bool (ny, nx),
    True = background), with the image and information the mask product records."""

    use: np.ndarray
    image: np.ndarray
    info: dict


def mask_from_ramp(ramp, params: dict | None = None) -> BuiltMask:
    """The ``destripe_mask`` input built from an open ramp (RampFile) with the destripe
    parameters ``params`` (the mask ones are used): the mask :func:`write_mask` would write."""
    p = _checked_params(params)
    return BuiltMask(*build_mask(ramp, **_mask_params(p)))


register_input("destripe_mask", read=read_mask, build=mask_from_ramp, built_name="built from input")
