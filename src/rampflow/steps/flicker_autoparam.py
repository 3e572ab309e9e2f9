"""clean_flicker_noise's ``autoparam`` for NIRCam and NIRISS imaging (jwst 3.0
``jwst/clean_flicker_noise/autoparam.py``): from a quickly cleaned draft rate, choose
``background_method`` and ``fit_by_channel`` (and ``apply_flat_field``: on when a FLAT exists).

1. :func:`quick_clean`: the draft rate (one image; from the ramp by the step's draft ramp fit),
   divided by the flat if any; all pixels start as background, are clipped (2 sigma up, 3
   down), NaNs are left out, the median background removed, clipped again at 2 sigma from the
   lower half, median-cleaned along the slow axis (whole lines) and the background restored.
2. A 2-D ``'model'`` background of the cleaned image (which clips the mask once more) replaces
   the masked pixels; the masked fraction is noted.
3. Averages over the middle quarter of rows (one per column) and of columns (one per row);
   a line fitted to each gives the column and row slopes and the scatter of the residuals
   (10-sigma clipped standard deviation). NIRISS takes its channel scatter from the rows
   10/12 to 11/12 of the frame (its channel 1 can differ), NIRCam from the column averages.
4. The largest step between the 3-sigma clipped means of the four 512-pixel channels (full
   frame only, else 0): of the row averages for NIRISS, of the column averages for NIRCam.
5. The decision tree of :func:`image_decision_tree` with each instrument's :data:`LIMITS`.

Every statistic is computed as jwst computes it (numpy's Polynomial.fit, astropy's
sigma_clipped_stats, the step's own clipping, background and median functions), so the
same draft rate gives the same choices.
"""

from __future__ import annotations

import logging
import warnings
from fractions import Fraction

import numpy as np

from .flicker_fit import FULL, background_level, clip_to_background, median_clean

log = logging.getLogger(__name__)

#: exposure types autoparam handles
AUTOPARAM_EXP_TYPES = ("NIS_IMAGE", "NRC_IMAGE")
#: heuristic limits of the decision tree, per exposure type (jwst's values)
LIMITS = {
    "NIS_IMAGE": {"mask_frac": 0.07, "max_offset_low_mask": 0.02, "max_offset_high_mask": 0.07,
                  "max_slope_low_offset": 1e-5, "max_slope_high_offset": 1e-4, "slope_ratio": 5.0,
                  "channel_sigma": 0.02},
    "NRC_IMAGE": {"mask_frac": 0.1, "max_offset_low_mask": 0.02, "max_offset_high_mask": 0.07,
                  "max_slope_low_offset": 1e-5, "max_slope_high_offset": 1e-5, "slope_ratio": 3.0,
                  "channel_sigma": 0.02},
}


def quick_clean(rate: np.ndarray, flat: np.ndarray | None, axis_to_correct: int) -> tuple[np.ndarray, np.ndarray]:
    """A median-cleaned copy of the draft rate (step 1 of the module docstring).

    rate : float32 (ny, nx) draft rate (not modified); flat : float32 (ny, nx) or None
    Returns (cleaned float32 (ny, nx), NaN where the rate / flat is NaN; mask bool (ny, nx),
    True = background).
    """
    image = np.array(rate, dtype=np.float32)
    if flat is not None:
        image /= flat
    mask = np.full(image.shape, True)
    clip_to_background(image, mask)
    nan_pix = np.isnan(image)
    image[nan_pix] = 0.0
    mask[nan_pix] = False
    background = background_level(image, mask)
    image -= background
    clip_to_background(image, mask, lower_half_only=True)
    image = median_clean(image, mask, axis_to_correct)
    image += background
    image[nan_pix] = np.nan
    return image, mask


def row_average(image, start=0.0, stop=1.0) -> np.ndarray:
    """Mean over the rows from ``start`` to ``stop`` (fractions of the height, rounded to
    indices), one value per column (NaNs ignored)."""
    ny = image.shape[0]
    return np.nanmean(image[int(round(start * ny)):int(round(stop * ny)), :], axis=0)


def col_average(image, start=0.0, stop=1.0) -> np.ndarray:
    """Mean over the columns from ``start`` to ``stop`` (fractions of the width), one value per row."""
    nx = image.shape[1]
    return np.nanmean(image[:, int(round(start * nx)):int(round(stop * nx))], axis=1)


def line_fit(data) -> tuple[float, float, float]:
    """(intercept, slope, sigma) of a least-squares line through the finite values of 1-D
    ``data`` against their index; sigma: the 10-sigma clipped standard deviation of the
    residuals. A fit that comes back with one coefficient (numpy does so for a flat line on
    some machines) has slope 0."""
    from astropy.stats import sigma_clipped_stats

    good = np.isfinite(data)
    x = np.arange(data.size)
    fit = np.polynomial.Polynomial.fit(x[good], data[good], deg=1)
    coef = fit.convert().coef
    slope = coef[1] if len(coef) > 1 else 0.0
    _, _, sigma = sigma_clipped_stats(data[good] - fit(x[good]), sigma=10.0)
    return coef[0], slope, sigma


def max_channel_offset(data) -> float:
    """Largest absolute difference between the 3-sigma clipped means of consecutive 512-pixel
    channels of 1-D ``data`` (2048 values); 0.0 for any other size."""
    from astropy.stats import sigma_clipped_stats

    if data.size != FULL:
        return 0.0
    means = np.zeros(4)
    for c in range(4):
        means[c], _, _ = sigma_clipped_stats(data[c * 512:(c + 1) * 512], sigma=3.0)
    return float(np.max(np.abs(means[1:] - means[:-1])))


def image_decision_tree(parameters: dict, limits: dict, mask_frac, max_offset, max_slope, slope_ratio,
                        channel_sigma) -> None:
    """Set ``parameters["background_method"]`` and ``parameters["fit_by_channel"]`` (in place)
    from the image statistics and the limits, as jwst's ``_image_decision_tree``; the branch
    taken is logged at DEBUG level in jwst's words."""
    log.debug("Image stats: mask fraction %.5g, max offset %.5g, max slope %.5g, slope ratio %.5g, "
              "channel sigma %.5g", mask_frac, max_offset, max_slope, slope_ratio, channel_sigma)
    high_mask_frac = mask_frac >= limits["mask_frac"]
    high_max_offset = max_offset >= limits["max_offset_high_mask"]
    high_slope_low_offset = max_slope >= limits["max_slope_low_offset"]
    high_slope_high_offset = max_slope >= limits["max_slope_high_offset"]
    high_slope_ratio = slope_ratio >= limits["slope_ratio"]
    high_channel_sigma = channel_sigma >= limits["channel_sigma"]

    def choose(method, why):
        log.debug("  %s", why)
        parameters["background_method"] = method

    if not high_mask_frac and high_max_offset:
        choose("median", "Low mask, high offset: median background, fit by channel")
        parameters["fit_by_channel"] = True
    elif high_mask_frac:
        parameters["fit_by_channel"] = False
        if not high_max_offset:
            if high_slope_low_offset:
                choose("model", "High mask, low offset, high slope: model background, fit whole image")
            else:
                choose("median", "High mask, low offset, low slope: median background, fit whole image")
        elif high_slope_high_offset:
            choose("model", "High mask, high offset, high slope: model background, fit whole image")
        else:
            choose("median", "High mask, high offset, low slope: median background, fit whole image")
    else:
        if high_slope_high_offset:
            choose("model", "Low mask, low offset, high slope: model background")
        elif high_slope_low_offset:
            if not high_slope_ratio:
                choose("model", "Low mask, low offset, medium slope, low slope ratio: model background")
            else:
                choose("median", "Low mask, low offset, medium slope, high slope ratio: median background")
        else:
            choose("median", "Low mask, low offset, low slope: median background")
        if max_offset > 0 and high_channel_sigma:
            log.debug("  High channel sigma: fit by channel")
            parameters["fit_by_channel"] = True
        else:
            log.debug("  Low channel sigma: fit whole image")
            parameters["fit_by_channel"] = False


def image_parameters(exp_type: str, rate: np.ndarray, flat: np.ndarray | None, axis_to_correct: int) -> dict:
    """The parameters autoparam sets for a NIRCam or NIRISS image (module docstring).

    exp_type : "NRC_IMAGE" or "NIS_IMAGE"
    rate     : float32 (ny, nx) draft rate; flat : the flat to divide by (float32 (ny, nx),
               :func:`~.flicker_flat.flat_image`) or None when there is no FLAT
    axis_to_correct : the slow axis (1 or 2)
    Returns {"apply_flat_field": flat given, "background_method": ..., "fit_by_channel": ...}.
    """
    exp = str(exp_type).upper()
    if exp not in LIMITS:
        raise ValueError(f"clean_flicker_noise autoparam: EXP_TYPE {exp_type} is not one of {sorted(LIMITS)}")
    parameters = {"apply_flat_field": flat is not None, "background_method": "median", "fit_by_channel": False}
    cleaned, mask = quick_clean(rate, flat, axis_to_correct)
    background_2d = background_level(cleaned, mask, background_method="model")
    if np.isscalar(background_2d):
        cleaned[~mask] = background_2d
    else:
        cleaned[~mask] = background_2d[~mask]
    mask_frac = np.sum(~mask) / mask.size
    middle = dict(start=Fraction(3, 8), stop=Fraction(5, 8))
    avg_over_row = row_average(cleaned, **middle)
    avg_over_col = col_average(cleaned, **middle)
    _, col_slope, col_sigma = line_fit(avg_over_row)
    _, row_slope, _ = line_fit(avg_over_col)
    abs_slopes = np.abs([row_slope, col_slope])
    max_slope, min_slope = np.max(abs_slopes), np.min(abs_slopes)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
        slope_ratio = max_slope / min_slope
    if exp == "NIS_IMAGE":
        _, _, channel_sigma = line_fit(row_average(cleaned, Fraction(10, 12), Fraction(11, 12)))
        max_offset = max_channel_offset(avg_over_col)
    else:
        channel_sigma = col_sigma
        max_offset = max_channel_offset(avg_over_row)
    image_decision_tree(parameters, LIMITS[exp], mask_frac, max_offset, max_slope, slope_ratio, channel_sigma)
    return parameters
