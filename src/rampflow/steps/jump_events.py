"""Snowball (``expand_large_events``) and shower (``find_showers``) flagging of jwst's jump
step, one integration at a time.

stcal 1.20's ``flag_large_events`` and ``find_faint_extended`` (stcal.jump.jump) work on
the whole 4-D GROUPDQ, but every operation they make is confined to one integration except
three whole-exposure quantities, which the caller supplies:

* the saturated snowball cores of integration ``i - 1`` (``persist_jumps``), OR-ed into
  groups ``1 .. persist_grps_flagged - 1`` of integration ``i`` after all snowballs are
  found (:func:`flag_snowballs_int` returns integration ``i``'s for the next one);
* the number of group planes that are DO_NOT_USE in every pixel (``count_dnu_groups``);
* the per-pixel median of the first differences (and their sigma): a nanmedian over all
  integrations and differences, or, with ``nints >= minimum_sigclip_groups``, astropy's
  ``sigma_clipped_stats`` across integrations per difference (:func:`shower_statistics`;
  per pixel, so it may be computed on blocks of pixels).

Contours and ellipses are those of stcal 1.20: scikit-image ``measure.label`` /
``regionprops`` (``_sk_filter_areas``) and ``draw.ellipse`` (``_sk_ellipse``), the ring
kernel of astropy's ``Ring2DKernel`` and scipy's ``oaconvolve`` (``convolve_fast``); the
code below follows stcal's statement by statement so the flags are identical (including
the quirks: ``near_edge`` compares both centre coordinates with the number of rows; the
saturated cores are *set* to SATURATED, dropping the other bits of those groups; jwst passes
stcal ``JumpData``'s default ``max_shower_amplitude`` of 6 DN/s, not the step parameter).

Parameters (:class:`EventParams`) are in stcal's units: ``sat_expand`` and
``max_extended_width`` are jwst's ``sat_expand`` and ``max_extended_radius`` times 2, the
group counts are jwst's times divided by the group time (see :func:`event_params`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .. import dq as dqflags

SAT = np.uint8(dqflags.SATURATED)
JUMP = np.uint8(dqflags.JUMP_DET)
DNU = np.uint8(dqflags.DO_NOT_USE)
REFPIX = int(dqflags.REFERENCE_PIXEL)

#: stcal ``JumpData.max_shower_amplitude`` (DN/s): jwst 3.0 multiplies this default by the
#: group time and never passes its own ``max_shower_amplitude`` parameter (4) to stcal
STCAL_MAX_SHOWER_AMPLITUDE = 6
#: stcal ``find_faint_extended``'s ``min_diffs_for_shower`` (jwst leaves the default)
MIN_DIFFS_FOR_SHOWER = 10
#: astropy ``sigma_clipped_stats`` sigma in ``find_faint_extended``
SHOWER_SIGCLIP_SIGMA = 5


@dataclass(frozen=True)
class EventParams:
    """What stcal's ``JumpData`` holds for snowballs and showers, in stcal's units."""

    expand_large_events: bool = False
    min_jump_area: float = 5.0
    min_sat_area: float = 1.0
    expand_factor: float = 2.0
    sat_required_snowball: bool = True
    min_sat_radius_extend: float = 2.5
    sat_expand: int = 4                   # jwst sat_expand * 2
    edge_size: int = 25
    mask_persist_grps_next_int: bool = True
    persist_grps_flagged: int = 25        # int(snowball_time_masked_next_int // group_time)
    find_showers: bool = False
    extend_snr_threshold: float = 1.2
    extend_min_area: int = 90
    extend_inner_radius: float = 1.0
    extend_outer_radius: float = 2.6
    extend_ellipse_expand_ratio: float = 1.1
    max_extended_width: int = 400         # jwst max_extended_radius * 2
    grps_masked_after_shower: int = 5     # int(time_masked_after_shower // group_time)
    max_shower_amplitude: float = 6.0     # DN/group: 6 DN/s * group_time
    minimum_sigclip_groups: int = 100
    nframes: int = 1


def event_params(p, group_time: float, nframes: int) -> EventParams:
    """stcal's settings from jwst JumpStep parameters ``p`` (a JumpParams), as jwst 3.0's
    ``JumpStep._setup_jump_data`` makes them."""
    return EventParams(
        expand_large_events=bool(p.expand_large_events), min_jump_area=p.min_jump_area,
        min_sat_area=p.min_sat_area, expand_factor=p.expand_factor,
        sat_required_snowball=bool(p.sat_required_snowball), min_sat_radius_extend=p.min_sat_radius_extend,
        sat_expand=p.sat_expand * 2, edge_size=p.edge_size,
        mask_persist_grps_next_int=bool(p.mask_snowball_core_next_int),
        persist_grps_flagged=int(p.snowball_time_masked_next_int // group_time),
        find_showers=bool(p.find_showers), extend_snr_threshold=p.extend_snr_threshold,
        extend_min_area=p.extend_min_area, extend_inner_radius=p.extend_inner_radius,
        extend_outer_radius=p.extend_outer_radius, extend_ellipse_expand_ratio=p.extend_ellipse_expand_ratio,
        max_extended_width=p.max_extended_radius * 2,
        grps_masked_after_shower=int(p.time_masked_after_shower // group_time),
        max_shower_amplitude=STCAL_MAX_SHOWER_AMPLITUDE * group_time,
        minimum_sigclip_groups=p.minimum_sigclip_groups, nframes=int(nframes))


# ---------------------------------------------------------------- contours and ellipses

def filter_areas(image, threshold):
    """stcal ``_sk_filter_areas``: ellipses ``((cx, cy), (minor, major), angle_deg)`` of the
    8-connected regions of the binary ``image`` whose filled area is >= ``threshold``.

    The same regions, values and order as stcal's loop over every region's ``area_filled``,
    without building a region object for each of the many small ones (a jump and its four
    flagged neighbours): a region's filled area is at most its bounding box's, so regions
    whose box is below ``threshold`` are dropped first; of the rest, one whose own area
    reaches ``threshold`` needs no hole filling."""
    import skimage.measure
    from scipy import ndimage

    if not image.any():  # no region (what label/regionprops would return)
        return []
    lim = skimage.measure.label(image)
    boxes = ndimage.find_objects(lim)
    keep = np.zeros(len(boxes) + 1, dtype=bool)
    for label, box in enumerate(boxes, start=1):
        if box is not None and (box[0].stop - box[0].start) * (box[1].stop - box[1].start) >= threshold:
            keep[label] = True
    if not keep.any():
        return []
    out = []
    for region in skimage.measure.regionprops(np.where(keep[lim], lim, 0)):
        if region.area < threshold and region.area_filled < threshold:
            continue
        w = region.axis_major_length - 1
        h = region.axis_minor_length - 1
        out.append(((float(region.centroid[1]), float(region.centroid[0])), (h, w), np.degrees(region.orientation)))
    return out


def find_ellipses(dqplane, bitmask, min_area):
    """stcal ``find_ellipses``."""
    pixels = np.bitwise_and(dqplane, bitmask) if bitmask is not None else dqplane
    return filter_areas(pixels, min_area)


def ellipse_subim(ceny, cenx, axis1, axis2, alpha, value, shape):
    """stcal ``ellipse_subim``: a filled ellipse (full axes ``axis1``, ``axis2``, angle
    ``alpha`` in degrees) drawn with ``value`` in a small uint8 image; returns
    ``((iy1, iy2, ix1, ix2), image)`` with ``full[iy1:iy2, ix1:ix2]`` its place."""
    import skimage.draw

    yc, xc = round(ceny), round(cenx)
    dn_over_2 = max(round(axis1 / 2), round(axis2 / 2)) + 2
    ix1 = max(yc - dn_over_2, 0)
    ix2 = min(yc + dn_over_2 + 1, shape[1])
    iy1 = max(xc - dn_over_2, 0)
    iy2 = min(xc + dn_over_2 + 1, shape[0])
    image = np.zeros(shape=(iy2 - iy1, ix2 - ix1), dtype=np.uint8)
    a0, a1 = round(axis1 / 2), round(axis2 / 2)
    if a0 != 0 and a1 != 0:
        saty, satx = skimage.draw.ellipse(xc - iy1, yc - ix1, a1, a0, (iy2 - iy1, ix2 - ix1), np.radians(alpha))
        image[saty, satx] = value
    return (iy1, iy2, ix1, ix2), image


def compute_axes(expand_by_ratio, ellipse, expansion, max_extended_width):
    """stcal ``compute_axes``: expanded semi-axes (rounded)."""
    if expand_by_ratio:
        if ellipse[1][1] < ellipse[1][0]:
            axis1 = ellipse[1][0] + (expansion - 1.0) * ellipse[1][1]
            axis2 = ellipse[1][1] * expansion
        else:
            axis1 = ellipse[1][0] * expansion
            axis2 = ellipse[1][1] + (expansion - 1.0) * ellipse[1][0]
    else:
        axis1 = ellipse[1][0] + expansion
        axis2 = ellipse[1][1] + expansion
    axis1 = min(axis1, max_extended_width)
    axis2 = min(axis2, max_extended_width)
    return (round(axis1 / 2), round(axis2 / 2))


def extend_ellipses(cube, grp, ellipses, ep: EventParams, expansion, expand_by_ratio=True, num_grps_masked=1):
    """stcal ``extend_ellipses`` on one integration's GROUPDQ ``cube`` (ngroups, ny, nx), in
    place: each ellipse, expanded, is OR-ed as JUMP into groups ``grp .. grp +
    num_grps_masked`` where not SATURATED (a pixel SATURATED in one of them is left out of
    the later ones too, as in stcal). Returns the number of ellipses."""
    ngroups, nrows, ncols = cube.shape
    for ellipse in ellipses:
        ceny = ellipse[0][0]
        cenx = ellipse[0][1]
        axes = compute_axes(expand_by_ratio, ellipse, expansion, ep.max_extended_width)
        alpha = ellipse[2]
        indx, jump_ellipse = ellipse_subim(ceny, cenx, axes[0] * 2, axes[1] * 2, alpha, JUMP, (nrows, ncols))
        (iy1, iy2, ix1, ix2) = indx
        for flg_grp in range(grp, min(grp + num_grps_masked + 1, ngroups)):
            sat_pix = cube[flg_grp, iy1:iy2, ix1:ix2] & SAT
            jump_ellipse[sat_pix == SAT] = 0
            cube[flg_grp, iy1:iy2, ix1:ix2] |= jump_ellipse
    return len(ellipses)


# ---------------------------------------------------------------- snowballs

def point_inside_ellipse(point, ellipse):
    """stcal ``point_inside_ellipse``."""
    angle = np.radians(180 - ellipse[2])
    cos_angle = np.cos(angle)
    sin_angle = np.sin(angle)
    xc = point[0] - ellipse[0][0]
    yc = point[1] - ellipse[0][1]
    xct = xc * cos_angle - yc * sin_angle
    yct = xc * sin_angle + yc * cos_angle
    if ellipse[1][1] >= ellipse[1][0]:
        semi_major_axis = ellipse[1][1] * 0.5
        semi_minor_axis = ellipse[1][0] * 0.5
    else:
        semi_major_axis = ellipse[1][0] * 0.5
        semi_minor_axis = ellipse[1][1] * 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        rad_cc = (xct**2 / semi_major_axis**2) + (yct**2 / semi_minor_axis**2)
    return rad_cc <= 1


def near_edge(jump, low_threshold, high_threshold):
    """stcal ``near_edge`` (both coordinates against the row-based thresholds, as stcal)."""
    return (jump[0][0] < low_threshold or jump[0][1] < low_threshold
            or jump[0][0] > high_threshold or jump[0][1] > high_threshold)


def extend_saturation(cube, grp, sat_ellipses, ep: EventParams, persist):
    """stcal ``extend_saturation``: saturated cores with minor axis > ``min_sat_radius_extend``
    are grown by ``sat_expand`` and SET to SATURATED in groups ``grp ..`` of ``cube``; the
    un-grown core is marked JUMP in ``persist`` (ny, nx) for the next integration."""
    ngroups, nrows, ncols = cube.shape
    satcolor = 22
    for ellipse in sat_ellipses:
        ceny = ellipse[0][0]
        cenx = ellipse[0][1]
        minor_axis = min(ellipse[1][1], ellipse[1][0])
        if minor_axis > ep.min_sat_radius_extend:
            axis1 = ellipse[1][0] + ep.sat_expand
            axis2 = ellipse[1][1] + ep.sat_expand
            axis1 = min(axis1, ep.max_extended_width)
            axis2 = min(axis2, ep.max_extended_width)
            alpha = ellipse[2]
            indx, sat_ellipse = ellipse_subim(ceny, cenx, axis1, axis2, alpha, satcolor, (nrows, ncols))
            (iy1, iy2, ix1, ix2) = indx
            is_sat = sat_ellipse == satcolor
            for i in range(grp, ngroups):
                cube[i][iy1:iy2, ix1:ix2][is_sat] = SAT
            ax1, ax2 = (ellipse[1][0], ellipse[1][1])
            indx, persist_ellipse = ellipse_subim(ceny, cenx, ax1, ax2, alpha, satcolor, (nrows, ncols))
            (iy1, iy2, ix1, ix2) = indx
            persist[iy1:iy2, ix1:ix2][persist_ellipse == satcolor] = JUMP


def make_snowballs(cube, group, jump_ellipses, sat_ellipses, next_sat_ellipses, ep: EventParams, persist,
                   nrows_exposure):
    """stcal ``make_snowballs`` for one integration: the jump ellipses holding the centre of
    a (new) saturated core in this or the next group, or near the edge; extends the cores."""
    ngroups = cube.shape[0]
    low_threshold = ep.edge_size
    high_threshold = max(0, nrows_exposure - ep.edge_size)
    snowballs = []
    for jump in jump_ellipses:
        if near_edge(jump, low_threshold, high_threshold):
            snowballs.append(jump)
        else:
            for sat in sat_ellipses:
                if point_inside_ellipse(sat[0], jump) and jump not in snowballs:
                    snowballs.append(jump)
            if group < ngroups - 1:
                for next_sat in next_sat_ellipses:
                    if point_inside_ellipse(next_sat[0], jump) and jump not in snowballs:
                        snowballs.append(jump)
    extend_saturation(cube, group, sat_ellipses, ep, persist)
    return snowballs


def max_box_areas(cube, flag):
    """The largest bounding-box area of the 8-connected regions of pixels with ``flag`` in
    each plane of ``cube`` (uint8 (ngroups, ny, nx)), int64 (ngroups,); 0 for none."""
    from ..kernels.jump_bits import _max_box_area_kernel

    cube = np.ascontiguousarray(cube)
    nw = cube.shape[2] // 8
    words = np.ascontiguousarray(cube[:, :, :8 * nw]).view(np.uint64)
    boxes = np.zeros(cube.shape[0], dtype=np.int64)
    _max_box_area_kernel(cube, words, np.uint8(flag), boxes)
    return boxes


def flag_snowballs_int(cube, ep: EventParams, persist_prev=None, nrows_exposure=None):
    """stcal ``flag_large_events`` for one integration's GROUPDQ ``cube`` (ngroups, ny, nx;
    after the two-point detection), in place.

    ``persist_prev``: the previous integration's saturated cores (ny, nx; None for the
    first integration), OR-ed into groups ``1 .. persist_grps_flagged - 1`` after the search
    when ``mask_persist_grps_next_int`` (stcal does it after all integrations, which is the
    same: the search never sees those flags). ``nrows_exposure``: rows of the exposure
    (``near_edge``). Returns (number of snowballs, this integration's cores (ny, nx) uint8,
    whether ``cube`` may have changed: False only when no snowball was extended, no
    saturated core grown and no core of the previous integration OR-ed in).

    A group with no SATURATED pixel and no JUMP region box of ``min_jump_area`` has nothing to
    search (no saturated core, no jump ellipse: no snowball, no change) and is skipped. The
    last but one is always searched: stcal's last iteration reuses its ``next_new_sat`` (not
    recomputed for the last group); a skipped group before it would leave an older value,
    which could only be empty where the correct one is the last group's new cores, found
    there as ``sat_ellipses`` anyway, so this is a precaution, not a needed exception.
    """
    ngrps, nrows, ncols = cube.shape
    nrows_exposure = nrows if nrows_exposure is None else int(nrows_exposure)
    # the largest JUMP region box of each group now: the search only clears JUMP bits of later
    # groups (SATURATED set over them), which cannot make a box larger, so a group whose box
    # is below min_jump_area has no jump ellipse (filter_areas would find none), unsearched
    boxes = max_box_areas(cube, JUMP)
    persist = np.zeros((nrows, ncols), dtype=np.uint8)
    total = 0
    next_new_sat = np.zeros(cube.shape[1:], dtype=np.uint8)
    changed = False
    for group in range(1, ngrps):
        current_sat = np.bitwise_and(cube[group], SAT)
        if boxes[group] < ep.min_jump_area and group != ngrps - 2 and not current_sat.any():
            continue
        prev_sat = np.bitwise_and(cube[group - 1], SAT)
        new_sat = current_sat * np.logical_not(prev_sat)
        if group < ngrps - 1:
            next_sat = np.bitwise_and(cube[group + 1], SAT)
            next_new_sat = next_sat * np.logical_not(current_sat)
        next_sat_ellipses = find_ellipses(next_new_sat, SAT, ep.min_sat_area)
        sat_ellipses = find_ellipses(new_sat, SAT, ep.min_sat_area)
        jump_ellipses = find_ellipses(cube[group], JUMP, ep.min_jump_area) if boxes[group] >= ep.min_jump_area else []
        if ep.sat_required_snowball:
            changed |= any(min(e[1][0], e[1][1]) > ep.min_sat_radius_extend for e in sat_ellipses)  # grown
            snowballs = make_snowballs(cube, group, jump_ellipses, sat_ellipses, next_sat_ellipses, ep, persist,
                                       nrows_exposure)
        else:
            snowballs = jump_ellipses
        total += len(snowballs)
        changed |= bool(snowballs)
        extend_ellipses(cube, group, snowballs, ep, expansion=ep.expand_factor, num_grps_masked=0)
    if ep.mask_persist_grps_next_int and persist_prev is not None and ep.persist_grps_flagged >= 1:
        last = min(ep.persist_grps_flagged, ngrps)
        cube[1:last] |= persist_prev[np.newaxis]
        changed |= bool(persist_prev.any())
    return total, persist, changed


# ---------------------------------------------------------------- showers

def nan_invalid_data(data, gdq):
    """stcal ``nan_invalid_data``: NaN where GROUPDQ is exactly JUMP+DNU, SAT+DNU, SAT, JUMP or
    DNU (in place; returns ``data``)."""
    for v in (JUMP + DNU, SAT + DNU, SAT, JUMP, DNU):
        data[gdq == v] = np.nan
    return data


def count_dnu_planes(cube):
    """Group planes of ``cube`` (ngroups, ny, nx) with DO_NOT_USE in every pixel."""
    return int(sum(bool(np.all(np.bitwise_and(cube[g], DNU))) for g in range(cube.shape[0])))


def first_diffs(sci_e, gdq):
    """First differences (float32) of electrons ``sci_e`` (..., ngroups, ny, nx) with the
    groups stcal treats as invalid set to NaN (on a copy)."""
    data = nan_invalid_data(sci_e.copy(), gdq)
    return np.diff(data, axis=-3)


def shower_statistics(diffs, readnoise_e, ep: EventParams, nints: int):
    """stcal's per-pixel statistics for shower detection from the first differences of ALL
    integrations of some pixels, ``diffs`` (nints, ngroups - 1, ny, nx) float32 (as from
    :func:`first_diffs`), and the read noise in electrons (ny, nx).

    Returns ("median", median (ny, nx), sigma (ny, nx)) when ``nints <
    minimum_sigclip_groups``, else ("sigclip", median, stddev) of astropy's
    ``sigma_clipped_stats(sigma=5, axis=0)``, each (ngroups - 1, ny, nx). Per pixel: blocks
    of pixels give the same values as the whole frame.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        if nints >= ep.minimum_sigclip_groups:
            import astropy.stats as stats

            _, median, stddev = stats.sigma_clipped_stats(diffs, sigma=SHOWER_SIGCLIP_SIGMA, axis=0)
            return "sigclip", np.asarray(median), np.asarray(stddev)
        read_noise_2 = readnoise_e**2
        median_diffs = np.nanmedian(diffs, axis=(0, 1))
        sigma = np.sqrt(np.abs(median_diffs) + read_noise_2 / ep.nframes)
        return "median", median_diffs, sigma


def ring_kernel(ep: EventParams) -> np.ndarray:
    """astropy ``Ring2DKernel(extend_inner_radius, extend_outer_radius).array``."""
    from astropy.convolution import Ring2DKernel

    return Ring2DKernel(ep.extend_inner_radius, ep.extend_outer_radius).array


def convolve_fast(array, kernel):
    """stcal ``convolve_fast`` (astropy ``convolve(preserve_nan=True)``); modifies ``array``."""
    from scipy import signal

    good = np.isfinite(array)
    array[~good] = 0
    convolved_array = signal.oaconvolve(array, kernel, mode="same")
    padded_good_arr = np.ones((good.shape[0] + kernel.shape[0] - 1, good.shape[1] + kernel.shape[1] - 1))
    n = kernel.shape[0] // 2
    padded_good_arr[n:-n, n:-n] = good
    norm = signal.oaconvolve(padded_good_arr, kernel, mode="valid")
    good &= norm > 1e-3 * np.mean(kernel)
    convolved_array /= norm
    convolved_array[~good] = np.nan
    return convolved_array


def big_ellipses(ratio_plane, gdq_plane, pdq, ep: EventParams, kernel):
    """stcal ``get_bigellipses`` for one group: the ratio plane masked where GROUPDQ | PIXELDQ
    has JUMP, SATURATED or DO_NOT_USE, ring-convolved, thresholded at
    ``extend_snr_threshold``; ellipses of the regions of at least ``extend_min_area``."""
    masked_ratio = ratio_plane.copy()
    combined = np.bitwise_or(gdq_plane, pdq)
    masked_ratio[np.bitwise_and(combined, int(JUMP | SAT | DNU)) != 0] = np.nan
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        smoothed = convolve_fast(masked_ratio, kernel)
        extended = (smoothed > ep.extend_snr_threshold).astype(np.uint8)
    return filter_areas(extended, ep.extend_min_area)


def first_good_group(cube):
    """stcal ``find_first_good_group``: first group not DO_NOT_USE in every pixel (0 if none)."""
    for grp in range(cube.shape[0]):
        if not np.all(np.bitwise_and(cube[grp], DNU)):
            return grp
    return 0


def max_flux_revert(sci_e, gdq_in, gdq, ep: EventParams):
    """stcal ``max_flux_showers`` for one integration: pixels whose mean group difference
    (ignoring DNU / SAT / JUMP groups) becomes NaN or changes by more than
    ``max_shower_amplitude`` get their flags before the shower flagging back (in place)."""
    invalid = int(DNU | SAT | JUMP)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        t = sci_e.copy()
        t[gdq_in & invalid != 0] = np.nan
        image1 = np.nanmean(np.diff(t, axis=0), axis=0)
        t = sci_e.copy()
        t[gdq & invalid != 0] = np.nan
        image2 = np.nanmean(np.diff(t, axis=0), axis=0)
        del t
        diff = np.abs(image1 - image2)
        indx = np.where((np.isfinite(diff) == False) | (diff > ep.max_shower_amplitude))  # noqa: E712
    gdq[:, indx[0], indx[1]] = gdq_in[:, indx[0], indx[1]]


def find_showers_int(sci_e, gdq_in, pdq, stats, intg: int, ep: EventParams, kernel=None):
    """stcal ``find_faint_extended`` for integration ``intg``: ``sci_e`` its electrons
    (ngroups, ny, nx) float32, ``gdq_in`` its GROUPDQ after snowballs (not modified),
    ``pdq`` the PIXELDQ (ny, nx), ``stats`` from :func:`shower_statistics` over the whole
    exposure. Returns (GROUPDQ with showers (new array), number of showers). The caller
    checks stcal's ``min_diffs_for_shower`` over the exposure first."""
    kernel = ring_kernel(ep) if kernel is None else kernel
    gdq = gdq_in.copy()
    refy, refx = np.where(pdq == REFPIX)
    gdq[:, refy, refx] = DNU
    diffs = first_diffs(sci_e, gdq_in)
    kind, median, spread = stats
    ellipses_by_group = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        if kind == "median":
            ratio = np.abs(diffs - median[np.newaxis, :, :]) / spread[np.newaxis, :, :]
        ngrps = gdq.shape[0]
        for grp in range(first_good_group(gdq) + 1, ngrps):
            if kind == "sigclip":
                r = np.abs(diffs[grp - 1] - median[grp - 1]) / spread[grp - 1]
            else:
                r = ratio[grp - 1]
            ellipses = big_ellipses(r, gdq[grp], pdq, ep, kernel)
            if ellipses:
                ellipses_by_group.append((grp, ellipses))
    total = 0
    for grp, ellipses in ellipses_by_group:
        total += extend_ellipses(gdq, grp, ellipses, ep, expansion=ep.extend_ellipse_expand_ratio,
                                 expand_by_ratio=True, num_grps_masked=ep.grps_masked_after_shower)
    max_flux_revert(sci_e, gdq_in, gdq, ep)
    return gdq, total


# ---------------------------------------------------------------- whole-exposure forms

def flag_large_events(gdq, ep: EventParams):
    """stcal ``flag_large_events`` on a whole GROUPDQ (nints, ngroups, ny, nx), in place,
    integration after integration. Returns the number of snowballs."""
    total = 0
    persist = None
    for i in range(gdq.shape[0]):
        n, persist, _ = flag_snowballs_int(gdq[i], ep, persist, gdq.shape[2])
        total += n
    return total


def find_faint_extended(data_e, gdq, pdq, readnoise_e, ep: EventParams):
    """stcal ``find_faint_extended`` on whole arrays: electrons ``data_e`` (nints, ngroups,
    ny, nx), GROUPDQ ``gdq`` (not modified), PIXELDQ, read noise in electrons. Returns (new
    GROUPDQ, number of showers)."""
    nints, ngrps = gdq.shape[:2]
    dnu = sum(count_dnu_planes(gdq[i]) for i in range(nints))
    if nints * (ngrps - 1) - dnu < MIN_DIFFS_FOR_SHOWER:
        return gdq, 0
    stats = shower_statistics(first_diffs(data_e, gdq), readnoise_e, ep, nints)
    out = np.empty_like(gdq)
    total = 0
    kernel = ring_kernel(ep)
    for i in range(nints):
        out[i], n = find_showers_int(data_e[i], gdq[i], pdq, stats, i, ep, kernel)
        total += n
    return out, total
