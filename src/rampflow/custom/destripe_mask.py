"""destripe's background mask: which pixels measure the 1/f stripes. A median group-difference
image of the ramp (read in row chunks), smoothed; for spectroscopic exposures the trace fitted
column by column and masked over the columns the spectrum lights (``trace``), else bright
sources sigma-clipped out (``sources``); bad pixels always excluded. Used by :mod:`.destripe`.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from .. import modes
from ..io import custom as io_custom
from ..references import cut_to_subarray

log = logging.getLogger(__name__)

#: TSO / slit / slitless spectroscopic exposure types (dispersion along x in DMS orientation)
SPECTROSCOPIC_EXP_TYPES = frozenset({
    "NRS_BRIGHTOBJ", "NRS_FIXEDSLIT", "NRS_MSASPEC", "NRS_IFU", "NRS_LAMP", "NRS_AUTOWAVE",
    "NIS_SOSS", "NIS_WFSS",
    "NRC_TSGRISM", "NRC_WFSS", "NRC_GRISM",
    "MIR_LRS-SLITLESS", "MIR_LRS-FIXEDSLIT",
})
MASK_METHODS = ("auto", "trace", "sources", "none")
#: amplifier layout: full detector width along the fast axis
DETECTOR_SIZE = 2048
DEFAULT_CHUNK_MB = 256


def is_spectroscopic(exp_type: str) -> bool:
    """True for spectroscopic exposure types (the trace mask applies)."""
    e = str(exp_type).upper()
    return e in SPECTROSCOPIC_EXP_TYPES or bool(re.search(r"(GRISM|SOSS|SPEC|LRS)", e))


# --------------------------------------------------------------------------- the mask

def _robust_stats(values: np.ndarray, nsigma: float = 3.0, iters: int = 5) -> tuple[float, float]:
    """Sigma-clipped median and standard deviation (from the MAD) of finite ``values``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 0.0
    med = float(np.median(v))
    std = float(1.4826 * np.median(np.abs(v - med)))
    for _ in range(iters):
        if std <= 0:
            break
        keep = np.abs(v - med) <= nsigma * std
        if keep.all():
            break
        v = v[keep]
        med = float(np.median(v))
        std = float(1.4826 * np.median(np.abs(v - med)))
    return med, std


def smooth_image(image: np.ndarray, bad: np.ndarray, filter_size: int) -> np.ndarray:
    """Median-filter ``image`` (float (ny, nx)) with a ``filter_size`` box; bad/NaN pixels are
    replaced by the median of the good ones first so they do not spread."""
    from scipy.ndimage import median_filter

    img = np.array(image, dtype=np.float32, copy=True)
    fill = ~np.isfinite(img) | bad
    if fill.all():
        return np.zeros_like(img)
    img[fill] = np.median(img[~fill])
    if int(filter_size) > 1:
        img = median_filter(img, size=int(filter_size), mode="nearest")
    return img


def fit_trace(smooth: np.ndarray, bad: np.ndarray, trace_radius: float = 8, trace_order: int = 2,
              snr: float = 5.0):
    """Follow a spectral trace dispersed along x: centroid per column, polynomial in x.

    smooth : float32 (ny, nx) median-filtered signal image; bad : bool (ny, nx) pixels to ignore
    For each column: background = median of its good pixels, noise = the image's robust
    standard deviation; a column whose peak exceeds ``snr`` x noise gets the flux-weighted
    centroid of the positive background-subtracted signal within ``trace_radius`` rows of the
    peak. A polynomial of degree ``trace_order`` is fitted to the centroids, weighted by the
    column flux, with two rounds of 3-sigma clipping.
    Returns (coefficients for numpy.polyval or None if fewer than trace_order + 2 columns
    qualify, x (valid columns), y centroids).
    """
    ny, nx = smooth.shape
    good = ~bad & np.isfinite(smooth)
    _, noise = _robust_stats(smooth[good])
    rows = np.arange(ny, dtype=np.float64)
    xs, ys, ws = [], [], []
    r = max(1, int(np.ceil(trace_radius)))
    for x in range(nx):
        g = good[:, x]
        if g.sum() < 3:
            continue
        col = smooth[:, x].astype(np.float64)
        bkg = np.median(col[g])
        sig = np.where(g, col - bkg, 0.0)
        peak = int(np.argmax(sig))
        if not sig[peak] > snr * max(noise, 1e-12):
            continue
        lo, hi = max(0, peak - r), min(ny, peak + r + 1)
        w = np.clip(sig[lo:hi], 0.0, None)
        total = w.sum()
        if total <= 0:
            continue
        xs.append(x)
        ys.append(float((w * rows[lo:hi]).sum() / total))
        ws.append(total)
    xs, ys, ws = np.asarray(xs, float), np.asarray(ys, float), np.asarray(ws, float)
    order = int(trace_order)
    if xs.size < order + 2:
        return None, xs, ys
    keep = np.ones(xs.size, bool)
    coeffs = None
    for _ in range(3):
        coeffs = np.polyfit(xs[keep], ys[keep], order, w=np.sqrt(ws[keep]))
        resid = ys - np.polyval(coeffs, xs)
        s = 1.4826 * np.median(np.abs(resid[keep] - np.median(resid[keep])))
        new = np.abs(resid) <= max(3 * s, 0.5)
        if (new == keep).all() or new.sum() < order + 2:
            break
        keep = new
    return coeffs, xs, ys


def resolve_method(mask_method: str, exp_type: str) -> str:
    m = str(mask_method).lower()
    if m not in MASK_METHODS:
        raise ValueError(f"destripe: mask_method must be one of {MASK_METHODS}; got {mask_method!r}")
    if m == "auto":
        return "trace" if is_spectroscopic(exp_type) else "sources"
    return m


def trace_columns(trace_x: np.ndarray, nx: int, margin: float) -> np.ndarray:
    """(nx,) bool: the columns the spectrum lights -- from the first to the last column in
    which :func:`fit_trace` found the trace, widened by ``margin`` columns on each side.

    The trace mask covers only these columns: beyond the spectrum's ends (a NIRCam grism's
    F322W2 light stops ~300 columns before the detector's edge) the trace's rows are
    background, and where the readout lines are rows (NIRCam) they are the only background
    pixels those lines have -- masking the trace's rows from edge to edge would leave the
    rows under the spectrum with no pixel to destripe them.
    """
    cols = np.zeros(int(nx), bool)
    if len(trace_x):
        m = int(np.ceil(float(margin)))
        cols[max(0, int(np.min(trace_x)) - m):min(int(nx), int(np.max(trace_x)) + m + 1)] = True
    return cols


def make_background_mask(image: np.ndarray, pdq: np.ndarray, *, method: str = "sources",
                         trace_radius: float = 8, trace_order: int = 2, filter_size: int = 3,
                         source_sigma: float = 3.0, source_grow: int = 2, user_mask: np.ndarray | None = None,
                         multi_order: bool = False):
    """Background pixels for the line medians.

    image  : float (ny, nx), median over integrations of last-minus-first group (DN)
    pdq    : uint32 (ny, nx) PIXELDQ; any flag (REFERENCE_PIXEL included) excludes the pixel
    method : "trace" (spectra), "sources" (imaging), "none" (DQ only); ignored with user_mask
    user_mask : bool (ny, nx) True = background, or None
    multi_order : with "trace", also mask the sources as "sources" finds them (several orders)
    Returns (use bool (ny, nx) True = background, info dict: method, trace coefficients,
    trace x / y centroids, number of source pixels).
    """
    image = np.asarray(image)
    pdq = np.asarray(pdq)
    if image.ndim != 2 or pdq.shape != image.shape:
        raise ValueError(f"image {image.shape} and pdq {pdq.shape} must be equal 2-D (ny, nx) shapes")
    bad = (pdq != 0) | ~np.isfinite(image)
    ny, nx = image.shape
    info = {"method": method, "coeffs": None, "trace_x": np.zeros(0), "trace_y": np.zeros(0)}
    if user_mask is not None:
        if user_mask.shape != image.shape:
            raise ValueError(f"user mask shape {user_mask.shape} != frame shape {image.shape}")
        info["method"] = "user"
        source = ~np.asarray(user_mask, dtype=bool)
    elif method == "none":
        source = np.zeros((ny, nx), bool)
    else:
        smooth = smooth_image(image, bad, filter_size)
        source = np.zeros((ny, nx), bool)
        if method == "trace":
            coeffs, tx, ty = fit_trace(smooth, bad, trace_radius, trace_order)
            info.update(coeffs=coeffs, trace_x=tx, trace_y=ty)
            if coeffs is None:
                log.warning("destripe: no spectral trace found (%d columns with signal); "
                            "masking sigma-clipped sources instead", tx.size)
                method = info["method"] = "sources"
            else:
                yfit = np.polyval(coeffs, np.arange(nx, dtype=float))
                source = np.abs(np.arange(ny, dtype=float)[:, None] - yfit[None, :]) <= float(trace_radius)
                source &= trace_columns(tx, nx, trace_radius)[None, :]
        if method == "sources" or (method == "trace" and multi_order):
            from scipy.ndimage import binary_dilation

            med, std = _robust_stats(smooth[~bad])
            found = (smooth > med + float(source_sigma) * std) & ~bad if std > 0 else np.zeros((ny, nx), bool)
            g = int(source_grow)
            if g > 0 and found.any():
                found = binary_dilation(found, structure=np.ones((2 * g + 1, 2 * g + 1), bool))
            source = source | found
        elif method not in ("trace",):
            raise ValueError(f"destripe: unknown mask method {method!r}")
    use = ~source & ~bad
    info["n_source"] = int(source.sum())
    info["n_background"] = int(use.sum())
    return use, info


def median_difference_image(ramp, chunk_mb: float = DEFAULT_CHUNK_MB) -> np.ndarray:
    """Median over integrations of (last group - first group), float32 (ny, nx).

    ramp : an open :class:`rampflow.io.RampFile`. Reads only those two groups, in blocks of
    rows sized so that the stack of differences stays within ``chunk_mb``. With one group the
    group itself is used.
    """
    nints, ngroups, ny, nx = ramp.shape
    groups = [0, ngroups - 1] if ngroups > 1 else [0]
    budget = float(chunk_mb) * 2**20
    bytes_per_row = nints * nx * 4 * (len(groups) + 2)
    nrow = int(max(1, min(ny, budget // max(1, bytes_per_row))))
    out = np.empty((ny, nx), dtype=np.float32)
    for r0 in range(0, ny, nrow):
        rows = slice(r0, min(ny, r0 + nrow))
        sci, _ = io_custom.read_groups(ramp, groups, slice(None), rows)
        diff = sci[:, -1] - sci[:, 0] if len(groups) > 1 else sci[:, 0]
        out[rows] = np.median(diff, axis=0)
    return out


def build_mask(ramp, *, mask_method="auto", trace_radius=8, trace_order=2, filter_size=3, source_sigma=3.0,
               source_grow=2, mask_path=None, chunk_mb: float = DEFAULT_CHUNK_MB):
    """Background mask of an open ramp (RampFile): returns (use, image, info)."""
    return mask_from_image(median_difference_image(ramp, chunk_mb), ramp.pixeldq(), ramp.meta, mask_method=mask_method,
                           trace_radius=trace_radius, trace_order=trace_order, filter_size=filter_size,
                           source_sigma=source_sigma, source_grow=source_grow, mask_path=mask_path)


def mask_from_image(image, pdq, meta, *, mask_method="auto", trace_radius=8, trace_order=2, filter_size=3,
                    source_sigma=3.0, source_grow=2, mask_path=None):
    """Background mask from the median last-minus-first image (:func:`median_difference_image`)
    and the PIXELDQ of the ramp it came from: returns (use, image, info)."""
    user = None
    if mask_path:
        user, _, _ = io_custom.read_mask_product(mask_path)
        user = _fit_user_mask(user, meta, mask_path)
    method = resolve_method(mask_method, meta.exp_type)
    multi = modes.from_meta(meta).multi_order
    use, info = make_background_mask(image, pdq, method=method, trace_radius=trace_radius, trace_order=trace_order,
                                     filter_size=filter_size, source_sigma=source_sigma, source_grow=source_grow,
                                     user_mask=user, multi_order=multi)
    return use, image, info


def _fit_user_mask(mask: np.ndarray, meta, path) -> np.ndarray:
    """A user mask of the exposure's shape, or full frame (cut to the exposure's subarray)."""
    shape = (meta.subsize2, meta.subsize1)
    if mask.shape == shape:
        return mask
    return np.asarray(cut_to_subarray(mask, (1, 1), meta, f"{path} [mask]"), dtype=bool)
