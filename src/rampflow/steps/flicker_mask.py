"""clean_flicker_noise's scene mask (jwst 3.0 ``create_mask`` / ``_make_scene_mask``), made in
a first pass over the step's input ramp: a draft rate (or rateints with ``single_mask=False``)
from rampflow's ramp_fit with jwst's default parameters -- what jwst's ``make_rate`` gets from
``RampFitStep()`` -- read in chunks of rows, then the mask of background pixels.

Science regions (``mask_science_regions``): jwst masks NIRSpec slits and IFU slices from the
WCS (``assign_wcs``, which needs the instrument-model reference files), MIRI imaging's
non-science areas from a draft flat field, and NIRISS SOSS traces from the PASTASOSS
reference. rampflow does MIRI imaging's: the DQ jwst's flat_field step gives the draft rate
(:func:`~.flicker_flat.flat_field_dq`, from the FLAT reference) is OR-ed into the rate's DQ, and
DO_NOT_USE or NON_SCIENCE pixels are not background. NIRISS SOSS traces are masked as jwst's
``mask_soss_traces`` does, from the PASTASOSS reference (:func:`soss_trace_mask`: every order's
trace at the exposure's PWCPOS, +-16 rows). For the WCS types the option raises
NotImplementedError naming it. For the other exposure types (NIRCam, NIRISS imaging, ...)
jwst's option does nothing, and neither does rampflow's.

With a flat (``apply_flat_field``), the draft rate is divided by it before the mask is made,
as jwst does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import dq
from .flicker_fit import clip_to_background

log = logging.getLogger(__name__)

#: exposure types whose science regions jwst masks from data rampflow does not have
SCIENCE_REGION_TYPES = ("NRS_IFU", "NRS_FIXEDSLIT", "NRS_BRIGHTOBJ", "NRS_MSASPEC")
#: rows either side of a SOSS trace that jwst's mask_soss_traces masks
SOSS_HALFWIDTH = 16


def check_science_regions(exp_type: str, mask_science_regions: bool) -> None:
    """Raise NotImplementedError for ``mask_science_regions`` on an exposure type whose
    science regions need a WCS or a flat (see the module docstring)."""
    if mask_science_regions and str(exp_type).upper() in SCIENCE_REGION_TYPES:
        raise NotImplementedError(
            f"clean_flicker_noise: mask_science_regions=True for EXP_TYPE {exp_type} needs jwst's WCS "
            "(assign_wcs) or flat reference data, which rampflow does not implement; set "
            "mask_science_regions: false or give a user_mask")


def draft_rate(ramp, refs: dict, return_cube: bool, chunk_mb: float = 256) -> tuple[np.ndarray, np.ndarray]:
    """The draft rate of an open ramp (RampFile): rampflow's ramp_fit (OLS_C) with jwst's default
    parameters and the READNOISE and GAIN references ``refs``, fitted in chunks of rows.

    Returns (SCI, DQ): float32 / uint32 (ny, nx), or (nints, ny, nx) with ``return_cube``.
    """
    from ..runner.plan import chunk_ranges, rows_per_chunk
    from .ramp_fit import RampFit

    fit = RampFit(ramp.meta, {k: refs[k] for k in RampFit.reftypes})
    fit.scan(ramp)  # MIRI: the leading / trailing groups stcal discards (nothing for near-IR data)
    fit.start({n: ramp.extra_image(n) for n in ramp.extra_images}, ramp.primary_header)
    pdq = ramp.pixeldq()
    ny = ramp.shape[2]
    for rows in chunk_ranges(ny, rows_per_chunk(ramp.shape, chunk_mb)):
        sci, gdq = ramp.read(slice(None), rows)
        fit.fit(sci, gdq, pdq[rows], rows, zeroframe=ramp.zeroframe(slice(None), rows))
    prod = fit.product_arrays()["rateints" if return_cube else "rate"]
    return prod["SCI"], prod["DQ"]


def soss_trace_mask(meta, refs: dict, shape) -> np.ndarray:
    """bool (ny, nx), True on the NIRISS SOSS traces (every order of the PASTASOSS reference in
    ``refs`` at the exposure's PWCPOS, +-:data:`SOSS_HALFWIDTH` rows; jwst's mask_soss_traces).
    ValueError naming what is missing without a PASTASOSS reference or PWCPOS."""
    from .. import pastasoss

    ref = refs.get("pastasoss")
    if ref is None:
        raise ValueError(f"{meta.filename}: clean_flicker_noise mask_science_regions on NIS_SOSS needs a PASTASOSS "
                         "reference (CRDS gave none; set references.overrides.pastasoss)")
    pwcpos = meta.extra.get("PWCPOS")
    if pwcpos is None:
        raise ValueError(f"{meta.filename}: PWCPOS (pupil wheel position) is missing from the header")
    return pastasoss.trace_mask(ref.tree, float(pwcpos), meta.subarray, shape, halfwidth=SOSS_HALFWIDTH)


def create_mask(data: np.ndarray, pixel_dq: np.ndarray, exp_type: str, *, mask_science_regions=False,
                n_sigma=2.0, fit_histogram=False, single_mask=False, soss_traces=None) -> np.ndarray:
    """Background pixels of a rate image or cube (jwst's ``create_mask``).

    data     : float (ny, nx) or (nints, ny, nx) draft rate(s)
    pixel_dq : its DQ (with ``mask_science_regions``: NIRSpec's MSA_FAILED_OPEN, MIRI imaging's
               DO_NOT_USE and NON_SCIENCE are not background)
    Pixels that are NaN or exactly 0 are not background; with ``n_sigma > 0`` each plane is
    clipped (:func:`~.flicker_fit.clip_to_background`, upper ``n_sigma``, lower 3). With
    ``single_mask`` a cube's planes are AND-ed into one. Returns bool, True = background.
    """
    exp = str(exp_type).upper()
    check_science_regions(exp, mask_science_regions)
    mask = np.full(data.shape, True)
    if mask_science_regions and exp.startswith("NRS"):
        mask[(pixel_dq & dq.FLAGS["MSA_FAILED_OPEN"]) > 0] = False
    if mask_science_regions and exp == "MIR_IMAGE":
        mask[(pixel_dq & (dq.DO_NOT_USE | dq.FLAGS["NON_SCIENCE"])) > 0] = False
    if mask_science_regions and exp == "NIS_SOSS":
        if soss_traces is None:
            raise ValueError("clean_flicker_noise: mask_science_regions on NIS_SOSS needs the SOSS trace mask")
        mask[..., soss_traces] = False
    mask[np.isnan(data) | (data == 0)] = False
    if n_sigma > 0:
        planes = range(data.shape[0]) if data.ndim == 3 else [None]
        for i in planes:
            img, msk = (data, mask) if i is None else (data[i], mask[i])
            clip_to_background(img, msk, sigma_upper=n_sigma, fit_histogram=fit_histogram)
    if single_mask and mask.ndim == 3:
        mask = np.all(mask, axis=0)
    return mask


def read_user_mask(path) -> np.ndarray:
    """A user mask (any jwst image model; its data cast to bool, True = background), as jwst
    reads ``user_mask``. Raises ValueError naming a missing file."""
    from stdatamodels.jwst import datamodels

    if not Path(str(path)).is_file():
        raise ValueError(f"clean_flicker_noise: user_mask {path} does not exist")
    with datamodels.open(str(path)) as model:
        return np.asarray(model.data).copy().astype(np.bool_)


def scene_mask(ramp, refs: dict, params: dict, chunk_mb: float = 256, flat=None,
               draft=None) -> tuple[np.ndarray, str]:
    """The scene mask for an open ramp and the step's (standardised) parameters: the user
    mask if given, else from the draft rate(s) (``draft``: (SCI, DQ) when already made),
    divided by ``flat`` (float32 (ny, nx)) if given. ``refs["flat"]`` (if there) gives MIRI
    imaging's non-science DQ, ``refs["pastasoss"]`` NIRISS SOSS's traces. Returns (mask bool
    (ny, nx) or (nints, ny, nx), what it was made from)."""
    if params["user_mask"] is not None:
        return read_user_mask(params["user_mask"]), Path(str(params["user_mask"])).name
    single = bool(params["single_mask"])
    log.info("clean_flicker_noise: creating a draft rate%s for scene masking", "" if single else "ints")
    data, rate_dq = draft if draft is not None else draft_rate(ramp, refs, return_cube=not single, chunk_mb=chunk_mb)
    if params["mask_science_regions"] and str(ramp.meta.exp_type).upper() == "MIR_IMAGE":
        from .flicker_flat import flat_field_dq

        log.info("clean_flicker_noise: retrieving flat DQ values for scene masking")
        rate_dq = rate_dq | flat_field_dq(refs.get("flat"), data)
    if flat is not None:
        data = data / flat
    traces = None
    if params["mask_science_regions"] and str(ramp.meta.exp_type).upper() == "NIS_SOSS":
        traces = soss_trace_mask(ramp.meta, refs, data.shape[-2:])
    mask = create_mask(data, rate_dq, ramp.meta.exp_type, mask_science_regions=params["mask_science_regions"],
                       n_sigma=params["n_sigma"], fit_histogram=params["fit_histogram"], single_mask=single,
                       soss_traces=traces)
    return mask, "draft rateints" if mask.ndim == 3 else "draft rate"
