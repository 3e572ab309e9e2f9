"""clean_flicker_noise's image-level pieces (jwst 3.0 ``jwst/clean_flicker_noise``): the
background statistics (``background_level.py``), the median noise fit, and the cleaning of
one image (``_clean_one_image``). The FFT fit is in :mod:`.flicker_fft`.

Every function follows jwst's step by step (same dtypes, same order of operations) so the
results agree to float32 rounding. The clipped statistics are astropy's
``sigma_clipped_stats`` (jwst calls it too; astropy is a rampflow dependency) and the 2-D
background model of ``background_method='model'`` is photutils' ``Background2D``, as in jwst.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

#: sigma of the basic clipped statistics (jwst's ``sigma_limit``)
SIGMA_LIMIT = 3.0
#: full-frame size of a near-IR detector (jwst's fit_by_channel: 4 channels of 512)
FULL = 2048
CHANNEL = 512


def _clipped_stats(values, mask=None):
    from astropy.stats import sigma_clipped_stats
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning, message=".* slice")
        return sigma_clipped_stats(values, mask=mask, sigma=SIGMA_LIMIT)


def _histogram_fit(data, center, sigma):
    """(center, sigma) of a Gaussian fitted to a 2000-bin histogram of ``data`` within 4 sigma
    of ``center``; None when the histogram or the fit fails (jwst then keeps its clip stats)."""
    from scipy.optimize import curve_fit

    try:
        hist, edges = np.histogram(data, bins=2000, range=(center - 4.0 * sigma, center + 4.0 * sigma))
    except ValueError:
        log.error("Histogram failed; using clip center and sigma.")
        return None
    values = (edges[1:] + edges[0:-1]) / 2.0
    ind = np.argmax(hist)

    def gaussian(x, g_amp, g_mean, g_sigma):
        return g_amp * np.exp(-0.5 * ((x - g_mean) / g_sigma) ** 2)

    start = (hist[ind], values[ind], sigma)
    bounds = [(0, values[0], 0), (np.inf, values[-1], values[-1] - values[0])]
    try:
        opt, _ = curve_fit(gaussian, values, hist, p0=start, bounds=bounds)
    except RuntimeError:
        log.error("Gaussian fit failed; using clip center and sigma.")
        return None
    return opt[1], opt[2]


def clip_to_background(image, mask, sigma_lower=3.0, sigma_upper=2.0, fit_histogram=False,
                       lower_half_only=False) -> None:
    """Unset ``mask`` (bool (ny, nx), True = background, updated in place) where ``image``
    (float (ny, nx)) is above ``center + sigma_upper * sigma`` (signal) or below
    ``center - sigma_lower * sigma`` (bad values).

    center, sigma: the 3-sigma clipped median (mean with ``fit_histogram``) and standard
    deviation of the masked-in pixels, in float64; with ``lower_half_only`` redone on the
    values at or below the center mirrored about it; with ``fit_histogram`` refined by a
    Gaussian fit to their histogram. Nothing happens when no pixel is masked in.
    """
    image = image.astype(np.float64)
    if not np.any(mask):
        return
    mean, median, sigma = _clipped_stats(image, mask=~mask)
    center = mean if fit_histogram else median
    if lower_half_only:
        low = image[mask & (image <= center)]
        data = np.concatenate(((low - center), (center - low))) + center
        mean, median, sigma = _clipped_stats(data)
        center = mean if fit_histogram else median
    else:
        data = image[mask]
    if fit_histogram:
        fitted = _histogram_fit(data, center, sigma)
        if fitted is not None:
            center, sigma = fitted
    mask[image < center - sigma_lower * sigma] = False
    mask[image > center + sigma_upper * sigma] = False


def default_box_size(shape) -> list[int]:
    """jwst's Background2D box: per axis the largest size <= 32 that divides the axis evenly."""
    recommended = np.arange(1, 33)
    return [int(recommended[n % recommended == 0][-1]) for n in shape]


def background_level(image, mask, background_method="median", background_box_size=None):
    """The background to remove before the noise fit (and restore after): 0.0 for None; the
    median of the background pixels (float, NaNs ignored) for "median"; photutils'
    Background2D (3-sigma clipped box medians, 5 x 5 filter) for "model", an array like
    ``image`` (its median if the model fails). First clips ``mask`` (updated in place) to
    3 sigma either side, with sigma from the lower half of the distribution."""
    if background_method is None:
        return 0.0
    clip_to_background(image, mask, sigma_lower=SIGMA_LIMIT, sigma_upper=SIGMA_LIMIT, lower_half_only=True)
    if background_method != "model":
        return np.nanmedian(image[mask])
    from astropy.stats import SigmaClip
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.background import Background2D, MedianBackground

    box = list(background_box_size) if background_box_size is not None else default_box_size(image.shape)
    if image.shape[0] % box[0] or image.shape[1] % box[1]:
        log.warning("Background box size %s does not divide evenly into the image shape %s.", box, image.shape)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=AstropyUserWarning)
            bkg = Background2D(image, box_size=box, filter_size=(5, 5), mask=~mask,
                               sigma_clip=SigmaClip(sigma=SIGMA_LIMIT, maxiters=5), bkg_estimator=MedianBackground())
        return bkg.background
    except ValueError:
        log.error("Background fit failed, using median value.")
        return np.nanmedian(image[mask])


def median_clean(image, mask, axis_to_correct: int, fit_by_channel: bool = False) -> np.ndarray:
    """``image`` (float32 (ny, nx)) minus the median of the background pixels (``mask`` True)
    of each line along ``axis_to_correct`` (1: along y, one value per column; 2: along x, one
    per row; jwst's SLOWAXIS convention). With ``fit_by_channel`` and a 2048-pixel line, the
    median is taken per 512-pixel channel. A line (segment) with no background pixel is left
    as it is. Returns a new array (float64 for a float64 image, as numpy.ma gives jwst,
    else float32)."""
    from ..kernels.flicker import _masked_line_medians_kernel

    dtype = np.float64 if image.dtype == np.float64 else np.float32
    image = np.ascontiguousarray(image, dtype=dtype)
    along_x = int(axis_to_correct) == 2
    n = image.shape[1 if along_x else 0]
    if fit_by_channel and n == FULL:
        starts = np.arange(0, FULL, CHANNEL, dtype=np.int64)
        stops = starts + CHANNEL
    else:
        starts, stops = np.zeros(1, np.int64), np.full(1, n, np.int64)
    nlines = image.shape[0 if along_x else 1]
    stripes = np.empty((starts.size, nlines), dtype=dtype)
    _masked_line_medians_kernel(image, np.ascontiguousarray(mask, dtype=np.bool_), along_x, starts, stops, stripes)
    out = np.empty_like(image)
    for s, (a, b) in enumerate(zip(starts, stops)):
        if along_x:
            out[:, a:b] = image[:, a:b] - stripes[s][:, None]
        else:
            out[a:b, :] = image[a:b, :] - stripes[s][None, :]
    return out


def clean_one_image(image, mask, *, background_method, background_box_size, n_sigma, fit_method, detector, fc,
                    axis_to_correct, fit_by_channel, flat=None):
    """Fit and remove the flicker noise of one image (jwst's ``_clean_one_image``).

    image : float (ny, nx), e.g. a group difference; not modified
    mask  : bool (ny, nx) scene mask (True = background); updated in place (NaNs, clipping)
    Returns (cleaned float32 (ny, nx) or None, background (float or array) or None, success):
    (None, None, True) when no background pixel is left (the image is left alone);
    (None, None, False) when the FFT fit fails (jwst then fails the whole step).
    """
    from .flicker_fft import fft_clean_full_frame, fft_clean_subarray

    image = image.astype(np.float32)
    if flat is not None:
        image /= flat
    nan_pix = np.isnan(image)
    image[nan_pix] = 0.0
    mask[nan_pix] = False
    if not np.any(mask):
        return None, None, True
    if str(background_method).lower() == "none":
        background = 0.0
        bkg_sub = image
    else:
        background = background_level(image, mask, background_method=background_method,
                                      background_box_size=background_box_size)
        bkg_sub = image - background
        if n_sigma > 0:
            clip_to_background(bkg_sub, mask, sigma_lower=n_sigma, sigma_upper=n_sigma, lower_half_only=True)
    if fit_method == "fft":
        if bkg_sub.shape == (FULL, FULL):
            cleaned = fft_clean_full_frame(bkg_sub, mask, detector)
        else:
            cleaned = fft_clean_subarray(bkg_sub, mask, detector, fc=fc)
    else:
        cleaned = median_clean(bkg_sub, mask, axis_to_correct, fit_by_channel=fit_by_channel)
    if cleaned is None:
        return None, None, False
    cleaned += background
    if flat is not None:
        cleaned *= flat
    cleaned[nan_pix] = np.nan
    return cleaned, background, True
