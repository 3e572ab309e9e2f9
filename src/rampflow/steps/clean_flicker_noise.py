"""jwst 3.0's ``clean_flicker_noise`` step: fit and remove 1/f ("flicker") noise from every
group difference of a ramp (``jwst/clean_flicker_noise/clean_flicker_noise.py``).

In calwebb_detector1 it runs after jump (and picture_frame) and before persistence and
ramp_fit; jwst's spec skips it by default (``skip = True``), CRDS parameter files turn it on
per mode (e.g. NIRSpec BOTS).

Algorithm (as jwst's ``do_correction`` on a ramp)
-------------------------------------------------
1. Scene mask, once per exposure (:mod:`.flicker_mask`): ``user_mask`` if given, else a draft
   rate (``single_mask``) or rateints from ramp_fit with jwst's default parameters, where
   pixels that are NaN or 0 or above ``n_sigma`` clipped sigmas (or below 3) are not
   background. rampflow makes it in a first pass over the step's input ramp, in chunks of rows.
2. For every integration and group j >= 1, the difference d = group j - group j-1 (of the
   input) is cleaned (:func:`~.flicker_fit.clean_one_image`): the mask loses the pixels whose
   GROUPDQ of group j is DO_NOT_USE or JUMP_DET and NaN pixels; a background (``median``: the
   median of the 3-sigma clipped background pixels; ``model``: photutils' Background2D; None:
   0) is subtracted, the mask clipped again at ``n_sigma`` from the lower half of the
   distribution, the noise fitted and removed -- ``median``: the masked median of each line
   along the detector's slow axis (SLOWAXIS; per 512-pixel channel with ``fit_by_channel``
   on full frames), ``fft``: NSClean (:mod:`.flicker_fft`; NIRSpec only) -- and the
   background restored. Then group j = cleaned group j-1 + cleaned d. Group 0 is unchanged;
   a difference with no background pixel left is not cleaned (group j keeps its input value).

Streaming: the mask needs the whole exposure (the draft rate), the correction of an image
needs the whole frame (the background and clipping statistics are frame-wide, and the
median lines run across the frame along the slow axis -- whole columns for NIRSpec), and the
groups of an integration are chained. So after the mask pass the step works on chunks of
whole integrations (``chunking = "integrations"``): memory is one chunk of integrations,
bounded by ``compute.chunk_mb`` down to one integration, plus the mask.

Status as jwst: SKIPPED by default; FAILED (data unchanged) for MIRI types other than
MIR_IMAGE, ``fit_method='fft'`` on non-NIRSpec types, or a mask whose shape does not fit.

FLAT reference (:mod:`.flicker_flat`), asked for only when needed (:meth:`CleanFlickerNoise.reftypes_for`,
optional: CRDS may say N/A): ``apply_flat_field`` divides the draft rate and every image by the
flat (zeros / NaNs replaced by its smoothed level) before fitting and restores the flat
structure after; ``autoparam`` on NRC_IMAGE / NIS_IMAGE (:mod:`.flicker_autoparam`) makes its
own draft rate in :meth:`~CleanFlickerNoise.prepare`, sets ``background_method``,
``fit_by_channel`` and ``apply_flat_field`` (on when a FLAT exists) as jwst's does, then the
step proceeds with them; MIRI imaging's ``mask_science_regions`` takes the non-science areas
from the DQ jwst's flat_field step would give the draft rate.

``background_method='median_image'`` (:mod:`.flicker_median_image`): the draft rateints give
the scene mask (per integration) and a scaled median ramp across integrations (on NIS_SOSS
with the BKG reference's background and the PASTASOSS trace's box flux); every group,
the first included, minus it is cleaned with no further background, and it is added back.
``mask_science_regions`` on NIS_SOSS masks the PASTASOSS traces (:mod:`.flicker_mask`).

Differences from jwst (on purpose or not implemented), each raising a clear error:
``mask_science_regions`` is not implemented for the exposure types whose regions need a WCS
(see :mod:`.flicker_mask`). On purpose: ``median_image`` on the TSO types whose jwst scaling
needs a WCS (NRS_BRIGHTOBJ, NRC_TSGRISM, NRC_TSIMAGE, MIR_IMAGE TSO) takes the per-integration
scaling from rampflow's own trace / aperture (see :mod:`.flicker_median_image`). MIRI
imaging's non-science DQ comes from the FLAT the step resolved (``references.overrides.flat``
included), where jwst's inner FlatFieldStep asks CRDS and ignores the step's
``override_flat``. An FFT fit failing
(singular matrix) part way raises RuntimeError instead of jwst's FAILED status with the input
restored: earlier chunks of integrations are already written.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from .. import dq, io
from .base import Step
from .flicker_autoparam import AUTOPARAM_EXP_TYPES
from .flicker_fit import clean_one_image
from .flicker_mask import check_science_regions, draft_rate, scene_mask
from .flicker_median_image import make_median_image, soss_template_for

log = logging.getLogger(__name__)

SPEC = """
    autoparam = boolean(default=False) # Automatically select some fit and background parameters for the input data.
    fit_method = option('fft', 'median', default='median')  # Noise fitting algorithm.
    fit_by_channel = boolean(default=False)  # Fit noise separately by amplifier (NIR only).
    background_method = option('median', 'model', 'median_image', None, default='median') # Background fit.
    background_box_size = int_list(min=2, max=2, default=None)  # Background box size.
    mask_science_regions = boolean(default=False)  # Mask known science regions.
    apply_flat_field = boolean(default=False)  # Apply a flat correction before fitting.
    n_sigma = float(default=2.0)  # Clipping level for non-background signal.
    fit_histogram = boolean(default=False)  # Fit a value histogram to derive sigma.
    single_mask = boolean(default=True)  # Make a single mask for all integrations.
    user_mask = string(default=None)  # Path to user-supplied mask
    save_mask = boolean(default=False)  # Save the created mask
    save_background = boolean(default=False)  # Save the fit background
    save_noise = boolean(default=False)  # Save the fit noise
"""

#: exposure types jwst's fft fit accepts
FFT_EXP_TYPES = ("NRS_MSASPEC", "NRS_IFU", "NRS_FIXEDSLIT", "NRS_BRIGHTOBJ")


def wants_flat(meta, params: dict) -> bool:
    """Whether the step reads the FLAT reference: jwst asks CRDS for it with ``apply_flat_field``
    and with ``autoparam`` on NRC_IMAGE / NIS_IMAGE, and (through its flat_field step on the
    draft rate) with ``mask_science_regions`` on MIR_IMAGE when it makes the scene mask."""
    exp = str(meta.exp_type).upper()
    user_mask = params.get("user_mask")
    return bool(params.get("apply_flat_field")
                or (params.get("autoparam") and exp in AUTOPARAM_EXP_TYPES)
                or (params.get("mask_science_regions") and exp == "MIR_IMAGE"
                    and (user_mask is None or str(user_mask).lower() == "none")))


def check_input(exp_type: str, fit_method: str) -> str | None:
    """Why jwst would skip (status FAILED) the step for this exposure type and fit method, or None."""
    exp = str(exp_type).upper()
    if exp.startswith("MIR") and exp != "MIR_IMAGE":
        return f"EXP_TYPE {exp} is not supported"
    if fit_method == "fft" and exp not in FFT_EXP_TYPES:
        return f"Fit method 'fft' cannot be applied to exp_type {exp}"
    return None


def standardize(params: dict, meta) -> dict:
    """jwst's ``_standardize_parameters``: 'none' strings as None, the axis to correct (the slow
    axis; 1 for MIRI), fit_by_channel only on full-frame near-IR data, single_mask off for
    median_image, and the FFT cut-off frequencies (gentler for ALLSLITS)."""
    p = dict(params)
    exp = str(meta.exp_type).upper()
    if str(p["user_mask"]).lower() == "none":
        p["user_mask"] = None
    if str(p["background_method"]).lower() == "none":
        p["background_method"] = None
    p["axis_to_correct"] = 1 if exp.startswith("MIR") else abs(int(meta.slowaxis))
    if p["background_method"] == "median_image" and p["single_mask"]:
        log.warning("The median_image background method requires draft rateints files; setting single_mask to False.")
        p["single_mask"] = False
    if p["fit_by_channel"] and (str(meta.subarray).upper() != "FULL" or exp.startswith("MIR")):
        log.warning("Fit by channel can only be used for full-frame NIR data; setting fit_by_channel to False.")
        p["fit_by_channel"] = False
    p["fc"] = (150, 200, 49943, 49957) if str(meta.subarray).upper() == "ALLSLITS" else (1061, 1211, 49943, 49957)
    return p


def _soss_median_image_check(meta, std, refs) -> str | None:
    """Why jwst's step would be FAILED before starting for NIS_SOSS with ``median_image``: a
    subarray without traces, or no PASTASOSS reference; else None."""
    from ..pastasoss import SUPPORTED_SUBARRAYS

    if str(meta.exp_type).upper() != "NIS_SOSS" or std["background_method"] != "median_image":
        return None
    if str(meta.subarray).upper() not in SUPPORTED_SUBARRAYS:
        return f"median_image processing is not available for SOSS subarray {meta.subarray}."
    if refs.get("pastasoss") is None:
        log.warning("No PASTASOSS reference file found")
        return "median_image processing is not available for SOSS without a pastasoss file."
    return None


class _Saved:
    """A 4-D optional product (flicker_bkg, flicker_noise) kept on disk while the chunks are
    processed (a temporary memory map), written as a RampModel at the end."""

    def __init__(self, shape):
        self._dir = tempfile.TemporaryDirectory(prefix="rampflow_flicker_")
        self.data = np.lib.format.open_memmap(Path(self._dir.name) / "a.npy", mode="w+", dtype=np.float32,
                                              shape=shape)

    def write(self, path, like, updates, history):
        nints, _, ny, nx = self.data.shape
        with io.RampWriter(path, like, updates=updates, history=history) as w:
            for i in range(nints):
                zf = np.zeros((1, ny, nx), np.float32) if w.has_zeroframe else None
                w.write(slice(i, i + 1), slice(None), np.asarray(self.data[i:i + 1]),
                        np.zeros(self.data[i:i + 1].shape, np.uint8), zf)
            w.write_pixeldq(np.zeros((ny, nx), np.uint32))
        del self.data
        self._dir.cleanup()


class CleanFlickerNoise(Step):
    """jwst ``CleanFlickerNoiseStep`` (class_alias "clean_flicker_noise") on ramps; see the
    module docstring. The draft rate uses the READNOISE and GAIN references."""

    name = "clean_flicker_noise"
    keyword = "S_CLNFNS"
    reftypes = ("readnoise", "gain")
    #: the FLAT, asked for only when :func:`wants_flat` (N/A: the step goes on without it, as jwst's);
    #: NIS_SOSS only: the traces (mask_science_regions, median_image) and the background templates (median_image)
    optional_reftypes = ("flat", "pastasoss", "bkg", "wavelengthrange")
    spec = SPEC
    skip_default = True
    #: CRDS parameter files turn it on per mode (NIRSpec BOTS): in the default steps with skip: null
    crds_enables = True
    implemented_values = {"background_method": ("median", "model", "median_image", "None", None)}
    #: the scene mask comes from a first pass over the step's input ramp (:meth:`prepare`)
    needs_input_ramp = True
    products = ("clean_flicker_noise", "mask", "flicker_bkg", "flicker_noise")
    optional_products = {"mask": "save_mask", "flicker_bkg": "save_background", "flicker_noise": "save_noise"}

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        p = self.params
        #: autoparam waits for the ramp (its draft rate) in :meth:`prepare`
        self.autoparam = bool(p["autoparam"]) and str(meta.exp_type).upper() in AUTOPARAM_EXP_TYPES
        if p["autoparam"] and not self.autoparam:
            log.warning("Auto parameters are not available for exposure type %s; using input parameters as "
                        "provided", meta.exp_type)
        self.flat = None
        self.mask = None
        self.mask_source = None
        self.median = None
        self.cleaned = self.left = 0
        self._ramp = None
        self._saved: dict[str, _Saved] = {}
        reason = check_input(meta.exp_type, p["fit_method"])
        if reason:
            log.warning("%s; step will be skipped", reason)
            self.skipped, self.failed = reason, True
            return
        self.std = standardize(p, meta)
        if self.std["user_mask"] is None:
            check_science_regions(meta.exp_type, p["mask_science_regions"])
        reason = _soss_median_image_check(meta, self.std, refs)
        if reason:
            log.warning("Skipping: %s", reason)
            self.skipped, self.failed = reason, True
            return
        if not self.autoparam:
            self._read_flat()

    @classmethod
    def reftypes_for(cls, meta, params):
        """READNOISE and GAIN; the FLAT when :func:`wants_flat`; on NIS_SOSS also PASTASOSS (as
        jwst asks for it) and, for ``median_image``, the BKG templates jwst's background step uses
        and the WAVELENGTHRANGE its white_light step uses."""
        extra = ("flat",) if wants_flat(meta, params) else ()
        if str(meta.exp_type).upper() == "NIS_SOSS":
            extra += ("pastasoss", "bkg", "wavelengthrange") if str(params.get("background_method")) == \
                "median_image" else ("pastasoss",)
        return cls.reftypes + extra

    def _read_flat(self, flat: np.ndarray | None = None) -> None:
        """The flat to divide by with ``apply_flat_field`` (:func:`~.flicker_flat.flat_image`, or
        ``flat`` when autoparam has read it already)."""
        if not self.params["apply_flat_field"]:
            return
        from .flicker_flat import flat_image

        ref = self.refs.get("flat")
        if ref is None:
            log.warning("Flat correction is not available for exposure type %s without a user-supplied flat.",
                        self.meta.exp_type)
            return
        log.info("Using FLAT reference file: %s", ref.name)
        self.flat = flat if flat is not None else flat_image(ref)
        if self.flat.shape != (self.meta.subsize2, self.meta.subsize1):
            raise ValueError(f"{ref.path}: FLAT cut to the subarray has shape {self.flat.shape}, the exposure "
                             f"{(self.meta.subsize2, self.meta.subsize1)}")

    def _set_auto_parameters(self, ramp, chunk_mb: float) -> None:
        """jwst's ``_set_auto_parameters`` for NRC_IMAGE / NIS_IMAGE: a draft rate of the ramp,
        the FLAT if CRDS has one, and :func:`~.flicker_autoparam.image_parameters`; the
        parameters it returns replace the configured ones."""
        from .flicker_autoparam import image_parameters
        from .flicker_flat import flat_image
        from .flicker_mask import draft_rate

        log.info("clean_flicker_noise: creating a draft rate for auto parameters")
        rate, _ = draft_rate(ramp, self.refs, return_cube=False, chunk_mb=chunk_mb)
        axis = abs(int(self.meta.slowaxis))
        flat = flat_image(self.refs.get("flat"))
        override = image_parameters(self.meta.exp_type, rate, flat, axis)
        if override is None:
            log.warning("Auto parameter setting failed.")
            log.info("Using input parameters as provided; no overrides applied.")
        else:
            log.info("Auto parameters set for %s:", self.meta.exp_type)
            for name, value in override.items():
                log.info("  %s: %s", name, value)
            self.params.update(override)
            self.std = standardize(self.params, self.meta)
        self._read_flat(flat)

    def prepare(self, ramp, chunk_mb: float = 256) -> None:
        """First pass: the scene mask from the step's input ramp (an open RampFile; the draft
        rate is read in row chunks within ``chunk_mb``)."""
        if self.skipped:
            return
        if ramp is None:
            raise ValueError("clean_flicker_noise must be the first step of its pass (it reads its input ramp)")
        self._ramp = ramp
        if self.autoparam:
            self._set_auto_parameters(ramp, chunk_mb)
        draft = None
        if self.std["background_method"] == "median_image":
            log.info("clean_flicker_noise: creating draft rateints for the median image")
            draft = draft_rate(ramp, self.refs, return_cube=True, chunk_mb=chunk_mb)
        mask, self.mask_source = scene_mask(ramp, self.refs, self.std, chunk_mb, flat=self.flat, draft=draft)
        nints, _, ny, nx = ramp.shape
        if mask.shape[-2:] != (ny, nx) or (mask.ndim == 3 and mask.shape[0] != nints) or mask.ndim not in (2, 3):
            log.warning("Mask does not match data shape. Step will be skipped.")
            self.skipped = f"the mask's shape {mask.shape} does not fit the data ({nints}, {ny}, {nx})"
            self.failed = True
            return
        if draft is not None and not self._prepare_median_image(ramp, draft, chunk_mb):
            return
        self.mask = mask
        log.info("clean_flicker_noise: scene mask from %s, %d background pixels (%s)", self.mask_source,
                 int(mask.sum()), "per integration" if mask.ndim == 3 else "all integrations")
        for key, suffix in (("save_background", "flicker_bkg"), ("save_noise", "flicker_noise")):
            if self.params[key]:
                self._saved[suffix] = _Saved(ramp.shape)

    def _prepare_median_image(self, ramp, draft, chunk_mb) -> bool:
        """Make the scaled median image (:mod:`.flicker_median_image`); False (step FAILED, data
        unchanged, as jwst) when it cannot be made."""
        templates = None
        bkg = self.refs.get("bkg")
        if bkg is not None:
            ref_rows = int(bkg.header.get("SUBSIZE2") or bkg["SCI"].shape[-2])
            cut = np.asarray(bkg["SCI"], dtype=np.float32)
            templates = soss_template_for(cut[None] if cut.ndim == 2 else cut, ramp.shape[2], ref_rows)
        pasta, wrange = self.refs.get("pastasoss"), self.refs.get("wavelengthrange")
        try:
            # jwst divides the draft rateints by the flat (apply_flat_field) before the median image
            rate = draft[0] if self.flat is None else draft[0] / self.flat
            self.median = make_median_image(ramp, rate, draft[1], bkg_templates=templates,
                                            pastasoss_tree=None if pasta is None else pasta.tree,
                                            waverange_tree=None if wrange is None else wrange.tree, chunk_mb=chunk_mb)
        except ValueError as err:
            log.warning("A median image could not be created: %s. The step will be skipped.", err)
            self.skipped, self.failed = f"a median image could not be created: {err}", True
            return False
        return True

    def _process_median_image(self, sci, ints):
        """Each group of each integration minus its scaled median image, cleaned with no further
        background, plus the median image (jwst's loop with ``median_image``: groups are
        independent, the first included, and the scene mask is not cut by GROUPDQ)."""
        std = self.std
        bkg = self._saved.get("flicker_bkg")
        noise = self._saved.get("flicker_noise")
        for i in range(sci.shape[0]):
            gi = ints.start + i
            scene = self.mask[gi] if self.mask.ndim == 3 else self.mask
            med = self.median.integration(gi)
            before = sci[i].copy() if noise is not None else None
            for j in range(sci.shape[1]):
                cleaned, _, ok = clean_one_image(
                    sci[i, j] - med[j], scene.copy(), background_method=None,
                    background_box_size=std["background_box_size"], n_sigma=std["n_sigma"],
                    fit_method=std["fit_method"], detector=str(self.meta.detector).upper(), fc=std["fc"],
                    axis_to_correct=std["axis_to_correct"], fit_by_channel=std["fit_by_channel"], flat=self.flat)
                if not ok:
                    raise RuntimeError(f"clean_flicker_noise: cleaning failed for integration {gi + 1}, group "
                                       f"{j + 1} (jwst marks the step FAILED and restores its input)")
                if cleaned is None:
                    log.warning("No usable data in integration %d, group %d. Skipping correction for this image.",
                                gi + 1, j + 1)
                    self.left += 1
                    continue
                sci[i, j] = med[j] + cleaned
                self.cleaned += 1
                if bkg is not None:
                    bkg.data[gi, j] = med[j]
            if noise is not None:
                noise.data[gi] = sci[i] - before

    def process(self, sci, gdq, pdq, ints, rows):
        if rows.start != 0 or rows.stop != sci.shape[2] or sci.shape[2] != self.meta.subsize2:
            raise ValueError("clean_flicker_noise works on whole frames (chunks of integrations)")
        if self.median is not None:
            self._process_median_image(sci, ints)
            return
        std = self.std
        unusable = np.uint8(dq.GROUP_FLAGS["DO_NOT_USE"] | dq.GROUP_FLAGS["JUMP_DET"])
        bkg = self._saved.get("flicker_bkg")
        noise = self._saved.get("flicker_noise")
        for i in range(sci.shape[0]):
            gi = ints.start + i
            scene = self.mask[gi] if self.mask.ndim == 3 else self.mask
            before = sci[i].copy() if noise is not None else None
            prev = sci[i, 0].copy()
            for j in range(sci.shape[1] - 1):
                nxt = sci[i, j + 1].copy()
                mask = scene.copy()
                mask[(gdq[i, j + 1] & unusable) > 0] = False
                cleaned, background, ok = clean_one_image(
                    nxt - prev, mask, background_method=std["background_method"],
                    background_box_size=std["background_box_size"], n_sigma=std["n_sigma"],
                    fit_method=std["fit_method"], detector=str(self.meta.detector).upper(), fc=std["fc"],
                    axis_to_correct=std["axis_to_correct"], fit_by_channel=std["fit_by_channel"], flat=self.flat)
                prev = nxt
                if not ok:
                    raise RuntimeError(f"clean_flicker_noise: cleaning failed for integration {gi + 1}, group "
                                       f"{j + 2} (jwst marks the step FAILED and restores its input)")
                if cleaned is None:
                    log.warning("No usable data in integration %d, group %d. Skipping correction for this image.",
                                gi + 1, j + 1)
                    self.left += 1
                    continue
                sci[i, j + 1] = sci[i, j] + cleaned
                self.cleaned += 1
                if bkg is not None:
                    bkg.data[gi, j + 1] = background
            if noise is not None:
                noise.data[gi] = sci[i] - before

    def finish(self, outputs: dict) -> None:
        """Write the optional products asked for: the scene mask (``mask``: ImageModel, or
        CubeModel per integration, 1 = background) and the fitted background and noise
        (``flicker_bkg``, ``flicker_noise``: RampModels), as jwst's save_mask /
        save_background / save_noise do."""
        if self._ramp is None:
            return
        history = [f"rampflow clean_flicker_noise {s} product" for s in ("mask", "flicker_bkg", "flicker_noise")]
        path = outputs.get("mask")
        if path and self.mask is not None:
            model = "CubeModel" if self.mask.ndim == 3 else "ImageModel"
            io.write_image_product(path, {"SCI": self.mask.astype(np.float32)}, self._ramp.primary_header,
                                   updates={"CFNMASK": (self.mask_source, "clean_flicker_noise mask source")},
                                   history=history[:1], datamodel=model)
        for suffix, saved in self._saved.items():
            if outputs.get(suffix):
                saved.write(outputs[suffix], self._ramp, {}, [history[1 if suffix == "flicker_bkg" else 2]])
        self._saved.clear()

    def header_updates(self):
        if self.failed:  # found in prepare, after the status was first recorded
            return {self.keyword: ("FAILED", f"rampflow {self.name}")}
        if self.mask is None:
            return {}
        return {"CFNMASK": (str(self.mask_source), "clean_flicker_noise scene mask from"),
                "CFNNBKG": (int(self.mask.sum()), "clean_flicker_noise background pixels in the mask")}
