"""clean_flicker_noise's ``background_method='median_image'``: the scaled median image of a
time series, subtracted before the noise fit and restored after (jwst 3.0
``jwst/clean_flicker_noise/tso_median_image.py``, ``make_median_image``).

For a ramp of several integrations (the draft rateints made for the scene mask at hand):

1. NIRISS SOSS only: the background rate per integration, as jwst's background step
   (``bkg_subtract``) finds it from the BKG reference's template(s)
   (:func:`soss_background_rate`: pixels below the ``soss_source_percentile`` (35) of the
   data, per side of the template's discontinuity, scaled by the median ratio between the
   25th and 50th percentiles, the template with the smallest residual RMS); NaNs of it
   replaced by a 2-D model of the rest (:func:`~.flicker_fit.background_level`, 'model').
   Without a BKG reference the background is 0 (jwst's step is SKIPPED).
2. A flux per integration, normalised by its median: SOSS -- order 1 of the background
   subtracted rateints summed in a 15-pixel box around the PASTASOSS trace
   (:mod:`rampflow.pastasoss`), then over every column the box covers (jwst's white_light
   step); other exposure types -- the median of each integration's rate (jwst's fallback for
   modes that are not TSO spectroscopy or imaging). Non-finite fluxes take the median of the
   finite ones; none finite raises ValueError (jwst then marks the step FAILED).
3. The median over integrations of the ramp minus the background ramp (the rate times each
   group's read time, ``(NFRAMES + (NFRAMES + GROUPGAP) j) TFRAME``), pixel by pixel, read in
   chunks of rows (:func:`median_ramp`).
4. Integration i's image to subtract: flux_i x the median ramp + its background ramp, in
   float64 as jwst's (:meth:`MedianImage.integration`).

The arithmetic follows jwst's (the same numpy calls, dtypes and order), so the results agree
with jwst's bit for bit for NIS_SOSS and the non-TSO types. Memory: the draft rateints, the
SOSS background and the median ramp are held whole (nints x ny x nx, as in jwst); the ramp is
read in chunks of rows for the median, and the scaled image is made one integration at a time
(jwst holds it for the whole exposure).

SOSS's white light keeps the columns whose mean wavelength (PASTASOSS wavelength map) is
within the WAVELENGTHRANGE reference's range for order 1, as jwst's white_light step, or
every column without one (the simulator's cache has none).

Differences (on purpose): for the TSO spectroscopic and imaging types (NRS_BRIGHTOBJ,
NRC_TSGRISM, NRC_TSIMAGE, MIR_IMAGE TSO) jwst's scaling flux runs assign_wcs, extract_2d / extract_1d / white_light or
tso_photometry, which need instrument-model WCS references (and EXTRACT1D / TSOPHOT)
rampflow does not have; rampflow takes the flux from its own trace / aperture
(:func:`tso_flux`). jwst only uses that flux divided by its median across integrations, so
any aperture that holds a fixed share of the source gives the same scaling up to noise; the
median ramp and the cleaning are jwst's.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

#: jwst's hard-coded SOSS background constants (background_sub_soss.py)
BKG_DISCON_COLUMNS = (685, 725)
BACKGROUND_MASK_CUTOFF = 950
#: jwst's SOSS box width (pixels) and order for the scaling flux
SOSS_BOX_WIDTH = 15
SOSS_ORDER = 1
#: jwst's bkg_subtract defaults for SOSS
SOSS_SOURCE_PERCENTILE = 35.0
SOSS_BKG_PERCENTILE = (25.0, 50.0)
#: jwst.associations.lib.dms_base.TSO_EXP_TYPES (what jwst's ``is_tso`` accepts besides TSOVISIT)
TSO_EXP_TYPES = ("NRC_TSIMAGE", "NRC_TSGRISM", "NRS_BRIGHTOBJ")
#: exposure types whose jwst scaling flux needs a WCS (extract_1d / tso_photometry)
WCS_TSO_TYPES = ("NRS_BRIGHTOBJ", "NRC_TSGRISM", "NRC_TSIMAGE")


def is_tso(meta) -> bool:
    """jwst's ``is_tso``: TSOVISIT, or a TSO exposure type; never with fewer than 2 integrations."""
    tso = str(meta.extra.get("TSOVISIT", "F")).upper() in ("T", "TRUE", "1") or str(meta.exp_type).upper() in \
        TSO_EXP_TYPES
    return bool(tso and meta.nints >= 2)


def needs_wcs(exp_type: str, tso: bool) -> bool:
    """Whether jwst's scaling flux for this exposure type needs a WCS (rampflow then uses
    :func:`tso_flux`, its own trace / aperture)."""
    exp = str(exp_type).upper()
    return exp in WCS_TSO_TYPES or (exp == "MIR_IMAGE" and tso)


# --------------------------------------------------------------------------- SOSS background

def _find_discontinuity(image):
    from scipy import ndimage

    smoothed = ndimage.gaussian_filter(image, 3)
    gradient = np.gradient(smoothed, axis=1)
    lo, hi = BKG_DISCON_COLUMNS
    return np.argmax(gradient[:, lo:hi], axis=1) + lo


def _background_masks(template, nints, for_fitting):
    """(left, right) bool (nints, ny, nx): the two sides of the template's discontinuity
    (the right one cut at column :data:`BACKGROUND_MASK_CUTOFF` for fitting)."""
    x_disc = _find_discontinuity(template)
    _, xx = np.indices(template.shape)
    right = xx >= x_disc.reshape(-1, 1)
    left = ~right
    if for_fitting:
        right[xx > BACKGROUND_MASK_CUTOFF] = False
    return (np.repeat(left[np.newaxis], nints, axis=0), np.repeat(right[np.newaxis], nints, axis=0))


def soss_template_for(templates: np.ndarray, ny: int, ref_rows: int):
    """The BKG reference's templates for an exposure of ``ny`` rows, or None (with jwst's
    warning: the background is then not subtracted). ``templates`` (ntemplates, ny, nx) are
    already cut to the exposure's rows by the reference loader, ``ref_rows`` is the number of
    rows the reference holds: jwst uses it when it has the exposure's rows or is SUBSTRIP256
    for SUBSTRIP96 (rows 10-105, the cut's rows), and skips any other mismatch."""
    if ref_rows == ny or (ref_rows == 256 and ny == 96):
        return np.asarray(templates, dtype=np.float32)
    log.warning("Background reference file shape does not match SOSS subarray. "
                "Skipping subtraction of reference background.")
    return None


def soss_subtract_background(data, dq, templates, source_percentile=SOSS_SOURCE_PERCENTILE,
                             bkg_percentile=SOSS_BKG_PERCENTILE):
    """jwst's ``subtract_soss_bkg`` on a rateints cube: the background-subtracted copy of
    ``data`` (float32 (nints, ny, nx)), or None when no template fits.

    dq        : uint32 DQ like ``data`` (DO_NOT_USE and REFERENCE_PIXEL pixels are not used)
    templates : float32 (ntemplates, ny, nx), already cut to the exposure's rows
    """
    from .. import dq as dqflags

    data = np.array(data, dtype=np.float32)
    flag_mask = (dq & (dqflags.FLAGS["DO_NOT_USE"] | dqflags.FLAGS["REFERENCE_PIXEL"])) > 0
    finite = np.isfinite(data) & ~flag_mask
    threshold = np.nanpercentile(data[finite], source_percentile)
    data_mask = finite & (data >= threshold) | flag_mask
    nints = data.shape[0]
    best_rmse, best_idx, best_scales = np.inf, -1, np.array([np.nan, np.nan])
    for t_idx, template in enumerate(templates):
        masks = _background_masks(template, nints, for_fitting=True)
        template = np.broadcast_to(template, data.shape)  # jwst repeats it; the same values, no copy
        scales = np.array([np.nan, np.nan])
        rmse = np.array([np.inf, np.inf])
        for i, mask in enumerate(masks):
            mask[data_mask] = False
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = data[mask] / template[mask]
            ok = np.isfinite(ratio)
            if not np.any(ok):
                continue
            q1, q2 = np.nanpercentile(ratio[ok], [bkg_percentile[0], bkg_percentile[1]])
            valid = ok & (ratio > q1) & (ratio < q2)
            if not np.any(valid):
                continue
            scales[i] = np.nanmedian(ratio[valid])
            resid = data[mask][ok] - (template[mask][ok] * scales[i])
            rmse[i] = np.sqrt(np.square(resid).mean())
        if np.sum(rmse) < best_rmse:
            best_rmse, best_idx, best_scales = np.sum(rmse), t_idx, scales
    if best_idx < 0:
        log.warning("Template matching failed for background subtraction. Skipping bkg_subtract.")
        return None
    # the same split for every integration: applied as one plane (jwst repeats it per integration)
    masks = _background_masks(templates[best_idx], 1, for_fitting=False)
    for i, mask in enumerate(masks):
        data -= templates[best_idx] * mask[0] * best_scales[i]
    return data


def soss_background_rate(rateints, dq, templates):
    """The background rate per integration (float32 (nints, ny, nx)): ``rateints`` minus its
    background-subtracted copy (zeros without templates or a fit), NaNs replaced by a 2-D
    background model of the rest of the integration (its median when the model fails).
    ValueError when an integration has no finite value."""
    from .flicker_fit import background_level

    rateints = np.asarray(rateints, dtype=np.float32)
    bgsub = None if templates is None else soss_subtract_background(rateints, dq, templates)
    background = rateints - (rateints if bgsub is None else bgsub)
    for bg in background:
        invalid = ~np.isfinite(bg)
        if np.all(invalid):
            raise ValueError("No valid values in background rate")
        if np.any(invalid):
            smooth = background_level(bg, ~invalid, background_method="model")
            bg[invalid] = smooth if np.isscalar(smooth) else smooth[invalid]
    return background, (rateints if bgsub is None else bgsub)


# --------------------------------------------------------------------------- scaling flux

def soss_white_light(bgsub, pastasoss_tree, pwcpos, subarray: str = "SUBSTRIP256", waverange=None) -> np.ndarray:
    """Per integration (float64 (nints,)): order 1 of ``bgsub`` (float32 (nints, ny, nx))
    summed in a 15-pixel box around the PASTASOSS trace (in SUBSTRIP256 rows, as jwst's), then
    over the columns the box covers whose mean wavelength is within ``waverange`` ((min, max)
    um, the WAVELENGTHRANGE reference's for order 1; None: all) -- jwst's
    ``_soss_box_extract`` and white_light. ``subarray`` places the wavelength map."""
    from .. import pastasoss

    _, ny, nx = bgsub.shape
    # jwst asks for the trace without the subarray, i.e. in SUBSTRIP256 rows even for SUBSTRIP96 (its box then
    # sits 10 rows below the trace there); reproduced, the scaling only needs the same box in every integration
    xtrace, ytrace, _ = pastasoss.trace(pastasoss_tree, pwcpos, SOSS_ORDER)
    weights = pastasoss.box_weights(ytrace, SOSS_BOX_WIDTH, (ny, nx), xtrace.astype(int))
    npix = np.sum(weights, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if waverange is None:
            valid = npix != 0  # jwst: a finite mean wavelength of the box (a NaN-sum over it is always finite)
            keep = np.ones(int(valid.sum()), dtype=bool)
        else:
            wave = pastasoss.wavemap(pastasoss_tree, pwcpos, subarray, SOSS_ORDER)
            wavelength = np.nansum(wave * weights, axis=0) / npix
            valid = np.isfinite(wavelength)
            keep = (wavelength[valid] >= waverange[0]) & (wavelength[valid] <= waverange[1])
        flux = np.array([np.nansum(bgsub[i] * weights, axis=0)[valid] for i in range(bgsub.shape[0])])
    flux[:, ~keep] = np.nan
    return np.nansum(flux, axis=1)


def soss_waverange(ref_tree: dict | None, filt: str):
    """(min, max) um of order 1 for filter ``filt`` from a WAVELENGTHRANGE reference's tree
    (rows order, filter, min, max), or None without one. ValueError (jwst's) when no row or
    several rows match."""
    if ref_tree is None:
        return None
    rows = [r for r in ref_tree.get("wavelengthrange", []) if int(r[0]) == SOSS_ORDER and str(r[1]) == str(filt)]
    if not rows:
        raise ValueError(f"No reference wavelength range found for order {SOSS_ORDER} and filter {filt}.")
    if len(rows) > 1:
        raise ValueError(f"Multiple reference wavelength ranges found for order {SOSS_ORDER} and filter {filt}.")
    return float(rows[0][2]), float(rows[0][3])


def normalise_flux(flux) -> np.ndarray:
    """``flux`` / its NaN-median; non-finite values replaced by the median of the finite ones.
    ValueError when none is finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        norm = flux / np.nanmedian(flux)
    invalid = ~np.isfinite(norm)
    if np.all(invalid):
        raise ValueError("No valid flux for scaling")
    if np.any(invalid):
        log.warning("%d integration(s) out of %d had non-finite extracted flux and will be scaled by the median "
                    "flux instead.", int(invalid.sum()), norm.size)
        norm[invalid] = np.median(norm[~invalid])
    return norm


def image_median_flux(rateints) -> np.ndarray:
    """Per integration: the NaN-median of its rate (jwst's scaling for modes that are not TSO
    spectroscopy or imaging), float like ``rateints``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(rateints, axis=(1, 2))


def tso_flux(rateints, meta) -> np.ndarray:
    """Per integration (float64 (nints,)): rampflow's own scaling flux for the TSO types whose
    jwst scaling needs a WCS (:data:`WCS_TSO_TYPES`, MIR_IMAGE TSO), from the exposure's
    geometry (:mod:`rampflow.modes`) and the light-curve extraction's tools:

    * spectroscopy (NRS_BRIGHTOBJ, NRC_TSGRISM): the trace fitted to the median rate
      (:func:`rampflow.lightcurves.trace.fit_trace`, dispersion along x), every column summed
      in a box of ``box_halfwidth`` (4) rows either side of it -- jwst sums the extract_1d box
      spectrum over all wavelengths (white_light);
    * imaging (NRC_TSIMAGE, MIR_IMAGE TSO): the brightest source of the median rate
      (:func:`rampflow.lightcurves.imaging.find_source`) summed in an ``aperture_radius`` (6)
      pixel aperture, with no background subtracted -- as jwst's tso_photometry
      ``aperture_sum``, whose aperture comes from the TSOPHOT reference and the WCS.

    NaN pixels count as 0 (jwst's nansums). Only the ratios between integrations are used.
    """
    from ..lightcurves.config import DEFAULTS, is_imaging
    from ..lightcurves.imaging import aperture_weights, find_source
    from ..lightcurves.trace import box_indices, fit_trace

    rate = np.asarray(rateints, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(rate, axis=0)
    _, ny, nx = rate.shape
    if is_imaging(meta.exp_type):
        weights = aperture_weights((ny, nx), find_source(med), float(DEFAULTS["aperture_radius"]))
    else:
        rows, inside = box_indices(fit_trace(med)["center"], ny, int(DEFAULTS["box_halfwidth"]))
        weights = np.zeros((ny, nx))
        cols = np.broadcast_to(np.arange(nx)[None, :], rows.shape)
        weights[rows[inside], cols[inside]] = 1.0
    return np.array([np.nansum(frame * weights) for frame in rate])


# --------------------------------------------------------------------------- median ramp

def group_times(nframes: int, groupgap: int, frame_time: float, ngroups: int) -> list[float]:
    """Read time (s) of each group from the start of the integration: ``(nframes + (nframes +
    groupgap) j) frame_time`` (jwst's ``_make_background_ramp``)."""
    return [(nframes + (nframes + groupgap) * j) * frame_time for j in range(ngroups)]


def background_ramp(background_rate, times) -> np.ndarray:
    """float32 (..., ngroups, ny, nx): the background rate (float32 (..., ny, nx)) times each
    group's read time."""
    rate = np.asarray(background_rate, dtype=np.float32)
    out = np.zeros((*rate.shape[:-2], len(times), *rate.shape[-2:]), dtype=np.float32)
    for j, t in enumerate(times):
        out[..., j, :, :] = rate * t
    return out


def median_ramp(ramp, background_rate, times, chunk_mb: float = 256) -> np.ndarray:
    """float32 (ngroups, ny, nx): per group and pixel the NaN-median over integrations of the
    open ramp (a RampFile) minus the background ramp (None: no background), read in chunks of
    rows within ``chunk_mb``."""
    from ..runner.plan import chunk_ranges, rows_per_chunk

    nints, ngroups, ny, nx = ramp.shape
    out = np.empty((ngroups, ny, nx), dtype=np.float32)
    for rows in chunk_ranges(ny, rows_per_chunk(ramp.shape, chunk_mb)):
        sci, _ = ramp.read(slice(None), rows)
        data = np.array(sci, dtype=np.float32)  # a copy: the median overwrites it
        if background_rate is not None:
            data = data - background_ramp(background_rate[:, rows], times)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for j in range(ngroups):
                np.nanmedian(data[:, j], axis=0, overwrite_input=True, out=out[j, rows])
    return out


class MedianImage:
    """The scaled median ramp of an exposure, one integration at a time.

    norm       : float64 (nints,) normalised flux per integration
    median     : float32 (ngroups, ny, nx) median (background-subtracted) ramp
    background : float32 (nints, ny, nx) background rate, or None (SOSS only)
    times      : read time of each group (s)
    """

    def __init__(self, norm, median, background, times):
        self.norm, self.median, self.background, self.times = norm, median, background, times

    def integration(self, i: int) -> np.ndarray:
        """float64 (ngroups, ny, nx): what jwst subtracts from integration ``i``."""
        scaled = self.norm[i] * self.median
        if self.background is not None:
            scaled += background_ramp(self.background[i], self.times)
        return scaled


def make_median_image(ramp, rateints, rate_dq, *, bkg_templates=None, pastasoss_tree=None, waverange_tree=None,
                      chunk_mb: float = 256) -> MedianImage:
    """The median image of an open ramp (RampFile) from its draft ``rateints`` (float32 (nints,
    ny, nx)) and their DQ (see the module docstring). ``bkg_templates``: the BKG reference's
    templates cut to the exposure's rows (SOSS; None: no background); ``pastasoss_tree``: the
    PASTASOSS reference (SOSS); ``waverange_tree``: the WAVELENGTHRANGE reference (SOSS; None:
    every wavelength). ValueError when a median image cannot be made (jwst then marks
    the step FAILED and leaves the data alone)."""
    meta = ramp.meta
    nints = ramp.shape[0]
    if nints <= 1:
        raise ValueError("Cannot make a median image for <2 integrations")
    exp = str(meta.exp_type).upper()
    times = group_times(meta.nframes, meta.groupgap, meta.tframe, ramp.shape[1])
    if exp == "NIS_SOSS":
        background, bgsub = soss_background_rate(rateints, rate_dq, bkg_templates)
        if pastasoss_tree is None:
            raise ValueError("median_image for NIS_SOSS needs a PASTASOSS reference")
        flux = soss_white_light(bgsub, pastasoss_tree, float(meta.extra.get("PWCPOS", np.nan)), meta.subarray,
                                soss_waverange(waverange_tree, meta.extra.get("FILTER", "CLEAR")))
    elif needs_wcs(exp, is_tso(meta)):
        background = None
        flux = tso_flux(rateints, meta)
    else:
        background = None
        flux = image_median_flux(rateints)
    norm = normalise_flux(flux)
    log.info("clean_flicker_noise: making a scaled median image (flux scale %.4g to %.4g)", np.min(norm),
             np.max(norm))
    return MedianImage(norm, median_ramp(ramp, background, times, chunk_mb), background, times)
