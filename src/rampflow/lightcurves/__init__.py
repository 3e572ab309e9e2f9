"""Per-integration light curves from Stage 1 ``rateints`` products.

For one detector, the rateints (or gain_scaleints) of all its exposure segments are stitched
in time order using their INT_TIMES tables, and light curves are extracted from the
(nints, ny, nx) float32 DN/s cubes:

Spectroscopy (NIRSpec BOTS, NIRCam grism TSO, NIRISS SOSS first order; MIRI LRS, which
disperses along y, is transposed first: ``dispersion_axis`` auto / x / y)
    * a median frame is made from (up to ``median_max_mb`` of) integrations spread over all
      segments, DQ-flagged pixels excluded;
    * the trace centre of every column is the flux-weighted centroid (within ``trace_window``
      rows of the column's peak, after a 9-column running median along the dispersion) of the
      background-subtracted median frame, and a polynomial of order ``trace_order`` in the
      column number is fitted to those centroids (weights: the column flux; 3 rounds of 4-sigma
      clipping);
    * the extraction box of a column holds the rows ``round(c(x)) - box_halfwidth ..
      round(c(x)) + box_halfwidth``;
    * the background of a column in an integration is the median of that column's good pixels
      more than ``box_halfwidth + bkg_gap`` rows from the rounded centre (and, with
      ``bkg_width``, at most ``bkg_width`` rows beyond the gap);
    * DQ-flagged pixels (``dq_flags``, default DO_NOT_USE) and non-finite values are replaced in
      **every** integration wherever they are flagged in **any** integration (so every
      integration sums the same pixels and fluxes are comparable): the replacement is the
      median spatial profile scaled to the column's good-pixel flux, so a column's flux is
      ``sum(good pixels - background) / f_good`` with ``f_good`` the fraction of the median
      profile (background-subtracted, clipped at 0, normalised to a unit sum over the box) that
      falls on good pixels. Profile values at pixels good in fewer than half of the integrations
      are interpolated along the dispersion direction at the same offset from the trace. A
      column whose ``f_good`` is below ``1 - max_bad_fraction`` (or whose profile is not
      positive) is left out of every integration;
    * variances: ``sum(ERR**2 over good pixels) / f_good**2`` plus the background term
      ``(n_good / f_good)**2 * var(median)``, with ``var(median) = (pi / 2) * mean(ERR**2) / n``
      for the ``n`` background pixels (the mean for n <= 2). Covariances between columns (1/f
      noise) are not included.
    * white light: the sum of the valid columns (``columns: [x0, x1]`` restricts the range);
      spectroscopic light curves: sums over column bins (``bin_width`` columns, or explicit
      ``bins: [[x0, x1], ...]``; half-open column ranges).

Imaging (EXP_TYPE NRC_IMAGE, NRC_TSIMAGE, NIS_IMAGE, MIR_IMAGE, ... or ``mode: imaging``)
    Circular-aperture photometry of the brightest source of the median frame (or
    ``source_position: [x, y]``, 0-based pixels): aperture radius ``aperture_radius`` (pixel
    fractions inside the circle from 5 x 5 sub-sampling), background the median of the good
    pixels of the annulus ``annulus: [r_in, r_out]``; flagged pixels are handled as above with
    the median image as the profile (unknown profile values: the point-symmetric pixel about
    the aperture centre, else the mean at the same radius).

Memory: segments are read whole (one at a time; kept between the two passes while they fit
in 512 MB), the median frame uses at most ``median_max_mb`` of frames.

Light curves are normalised by the median of the out-of-transit integrations: ``oot`` (list
of ``[start, stop)`` 0-based integration indices of the stitched series), else the first
``oot_first`` integrations, else (with ``transit`` configured) the integrations outside the
transit window, else all integrations. Errors are divided by the same number (the
uncertainty of the normaliser itself is not propagated).

Times are the INT_TIMES mid-times ``int_mid_BJD_TDB`` (as in JWST products: BJD_TDB - 2400000.5);
where that column is absent or zero in any segment, ``int_mid_MJD_UTC`` is used for every
segment and a warning is logged.

The per-integration metrics table holds jump counts (from ``{stem}_jump.fits`` GROUPDQ, when
given; else the pixel count from JUMP_DET in the rateints DQ), saturated fractions (SATURATED
in the rateints DQ), the background level and the trace centroid and width (spectroscopy) or
source centroid and RMS radius (imaging).

:func:`fit_transit` fits a trapezoid (known t0, duration, ingress) depth and a polynomial
baseline by linear least squares to a normalised light curve; :func:`transit_check` applies it
to a detector's light curves and, when no integration falls inside the configured window,
returns ``{"fitted": False, "warning": ...}`` (and logs the warning) instead of failing.

Modules: :mod:`.config` (keys, defaults, checks), :mod:`.times`, :mod:`.segments`,
:mod:`.trace` (spectroscopic geometry), :mod:`.extraction` (box extraction), :mod:`.imaging`
(aperture photometry), :mod:`.normalise`, :mod:`.metrics`, :mod:`.driver`
(:func:`extract_lightcurves`), :mod:`.transit`, :mod:`.tables`, :mod:`.plots`, :mod:`.output`
(:func:`write_lightcurves`). Exposure names: :mod:`rampflow.names`; workflow targets:
:mod:`rampflow.wiring`.
"""

from __future__ import annotations

from .config import DEFAULTS, IMAGING_EXP_TYPES, LightCurveError, check_config, is_imaging
from .driver import LightCurves, extract_lightcurves
from .extraction import box_profile, column_background, extract_box
from .imaging import aperture_photometry, aperture_weights, find_source
from .metrics import jump_counts
from .normalise import normalise, oot_mask
from .output import write_lightcurves
from .plots import bin_series, plot_metrics, plot_spectroscopic, plot_transit, plot_whitelight
from .stats import nanmedian
from .tables import read_table, write_json
from .times import integration_mid_times, stitch_order
from .trace import background_mask, box_indices, column_bins, fit_trace
from .transit import fit_transit, transit_check, transit_parameters, trapezoid

__all__ = [
    "DEFAULTS", "IMAGING_EXP_TYPES", "LightCurveError", "LightCurves", "check_config", "extract_lightcurves",
    "write_lightcurves", "integration_mid_times", "stitch_order",
    "fit_trace", "box_indices", "extract_box", "aperture_weights", "aperture_photometry",
    "normalise", "oot_mask", "column_bins", "nanmedian", "jump_counts", "trapezoid", "fit_transit",
    "transit_check", "transit_parameters",
    "plot_whitelight", "plot_spectroscopic", "plot_metrics", "plot_transit", "bin_series", "is_imaging",
    "write_json", "read_table", "background_mask", "column_background", "box_profile", "find_source",
]
