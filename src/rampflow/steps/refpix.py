"""Reference-pixel correction for the NIR detectors (jwst ``RefPixStep``, non-IRS2).

Reproduces jwst 3.0 ``jwst/refpix/refpix_step.py`` + ``reference_pixels.py`` for
NIRCam, NIRSpec and NIRISS (and the FGS guiders) read out in the traditional mode:

* Geometry. jwst embeds a subarray in a 2048 x 2048 frame (reference-pixel border
  flagged DO_NOT_USE | REFERENCE_PIXEL outside the subarray), flips/transposes it to
  the detector frame with FASTAXIS/SLOWAXIS (``science_detector_frame_transform``),
  corrects there and transforms back. We never move pixels: :func:`plan_geometry`
  builds, once per exposure, index tables saying where each detector-frame reference
  pixel lives in the DMS array; the kernel corrects the DMS planes in place.
* Full frame, or a subarray read with NOUTPUTS = 4 ("do_fullframe_corrections"):
  per amplifier (detector columns 512 a ... 512 a + 511), the sigma-clipped mean
  (``scipy.stats.sigmaclip``, +-``siglimit`` sigma, iterated) of the top (detector rows
  2044-2047) and of the bottom (rows 0-3) reference rows, separately for even and odd
  detector columns if ``odd_even_columns`` (else all columns together); top and bottom
  are averaged (or whichever exists) and subtracted from every pixel of the
  amplifier's columns; if one parity of an amplifier has no good reference pixel the
  amplifier is left uncorrected. Then, if ``use_side_ref_pixels``, the left (columns
  0-3) and right (2044-2047) reference columns, already corrected, are median filtered
  along the rows (window ``side_smoothing_length`` rows x 4 columns, reflected at the
  detector edges, an even length +1 for the reflection but not for the window, as jwst
  does), averaged left/right (one side if the other has no good pixel, 0 if neither),
  scaled by ``side_gain`` and subtracted from every pixel of the detector row.
* Subarray with one output (NOUTPUTS != 4), e.g. NIRSpec SUB2048 ("do_subarray_corrections"):
  every pixel of the subarray flagged REFERENCE_PIXEL and not DO_NOT_USE in PIXELDQ
  feeds one sigma-clipped mean per detector-column parity (or one in all if not
  ``odd_even_columns``), subtracted from the whole plane; side pixels are not used.
  NIRSpec SUB512, SUB512S and SUB32 have no reference pixels on their edges: as in jwst
  their first and last four DMS columns are treated as reference pixels. A subarray
  with no usable reference pixel is left unchanged and the step is still COMPLETE
  (jwst's behaviour: ``bad_reference_pixels`` is set but never reported). A subarray
  that does not fit in 2048 x 2048 is SKIPPED.
* Reference pixels are excluded only by PIXELDQ DO_NOT_USE; GROUPDQ is not used and
  neither DQ array is changed. Every group is corrected, the first one included (its
  level was removed by superbias); there is no state across integrations.

Precision (why results are bit-identical to jwst rather than merely close): jwst re-uses
one group buffer for the whole exposure. It starts as float32 and, in the full-frame
path with side pixels, becomes the float64 result of the side subtraction, so the very
first group of the exposure is worked in float32 and every later one in float64
(sigma clipping, top/bottom subtraction, medians). The clipped means reproduce numpy's
float32/float64 pairwise summation and its float64 division by the count, and the
zero-variance case returns a float64 mean as jwst does. This is a function of the
absolute (integration, group) index only, so chunking by integrations is exact.

MIRI: jwst's own MIRI algorithm (left/right reference columns per amplifier, after
subtracting each integration's first group), and MIRI subarrays SKIPPED, as jwst does: see
:mod:`.refpix_miri`.

``refpix_algorithm="sirs"`` (jwst 3.0): on NIR full frames (SUBARRAY containing "FULL") jwst
asks CRDS for a SIRSKERNEL reference. With one that has kernels for the detector, the side
correction is the SIRS convolution of :mod:`.refpix_sirs` instead of the running median
(only when ``use_side_ref_pixels``); without one (N/A), or without the detector in it, it warns
and uses the running median above (``side_smoothing_length``, ``side_gain``); on subarrays
(and MIRI) it ignores SIRS. rampflow does the same: the runner resolves SIRSKERNEL only in
that case (:meth:`RefPixStep.reftypes_for`).

Out of scope (clear errors): IRS2 readouts (NRSIRS2 / NRSIRS2RAPID, 3200-pixel axis); SIRS
on a 4-output subarray whose SUBARRAY name contains "FULL" (not a real mode); multistripe/
superstripe subarrays (not described by our metadata). The ZEROFRAME
extension, which jwst also corrects, is not carried by
rampflow's ramp products. Deliberate difference: a one-output subarray whose
reference pixels all share one column parity makes jwst raise IndexError; here that
subarray is left uncorrected with a warning. ``odd_even_rows``, ``ovr_corr_mitigation_ftr``,
``preserve_irs2_refpix`` and ``irs2_mean_subtraction`` only act on MIRI or IRS2 data and are
accepted and ignored; ``sigreject``, ``gaussmooth`` and ``halfwidth`` act with SIRS only.
"""

from __future__ import annotations

import logging

import numpy as np

from . import refpix_miri, refpix_sirs
from .base import Step
from .refpix_geometry import (  # noqa: F401 (public here)
    AMP_WIDTH,
    NFULL,
    NIR_DETECTORS,
    NRS_EDGELESS_SUBARRAYS,
    RefpixPlan,
    _check_axes,
    _flip,
    _side_tables,
    _subarray_sets,
    detector_to_dms,
    detector_to_dms_index,
    dms_to_detector,
    embed_pixeldq,
    is_subarray,
    plan_geometry,
    subarray_fits,
)
from .refpix_planes import (  # noqa: F401 (public here)
    PlaneCorrections,
    apply_corrections,
    measure_planes,
    pixel_plan,
    plan_pixels,
)

log = logging.getLogger(__name__)

# --- the correction -------------------------------------------------------------------------

def apply_plan(sci: np.ndarray, plan: RefpixPlan, *, side_gain: float = 1.0, siglimit: float = 3.0,
               first_integration: int = 0) -> None:
    """Correct ``sci`` in place following ``plan`` (from :func:`plan_geometry`).

    sci : float32 (nint, ngroups, ny, nx), DMS orientation, integrations
        ``first_integration ...`` of the exposure (this matters only for the working
        precision of the exposure's very first group, see the module docstring).
    """
    if not isinstance(sci, np.ndarray) or sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be a float32 (nint, ngroups, ny, nx) array, got "
                         f"{getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    if sci.shape[2:] != (plan.ny, plan.nx):
        raise ValueError(f"sci shape {sci.shape} does not match the plan's {(plan.ny, plan.nx)}")
    if plan.path == "none" or sci.size == 0:
        return
    f32_plane = 0 if (plan.do_side and first_integration == 0) else -1
    from ..kernels.refpix import _refpix_kernel

    _refpix_kernel(sci, f32_plane, plan.ref_y, plan.ref_x, plan.set_start, plan.class_sets,
                   plan.pair_parity, plan.cls_axis, plan.r_axis, plan.transposed, plan.side_y,
                   plan.side_x, plan.side_cls, plan.do_side, plan.win_lo, plan.win_len,
                   float(side_gain), float(siglimit), float(siglimit), plan.nbuf)


def correct_refpix(sci: np.ndarray, pixeldq: np.ndarray, *, xstart: int = 1, ystart: int = 1,
                   fastaxis: int = 1, slowaxis: int = 2, noutputs: int | None = 4,
                   subarray: str = "FULL", odd_even_columns: bool = True,
                   use_side_ref_pixels: bool = True, side_smoothing_length: int = 11,
                   side_gain: float = 1.0, siglimit: float = 3.0, first_integration: int = 0) -> str:
    """jwst's NIR reference-pixel correction of a ramp, in place.

    sci : float32 (nint, ngroups, ny, nx), DMS orientation (modified in place).
    pixeldq : uint32 (ny, nx) (not modified).
    xstart, ystart : 1-based SUBSTRT1/2; fastaxis, slowaxis : FASTAXIS/SLOWAXIS;
    noutputs : NOUTPUTS; subarray : SUBARRAY name (for NIRSpec's edgeless subarrays).
    first_integration : index in the exposure of sci's first integration.
    Returns "COMPLETE", or "SKIPPED" when the subarray does not fit in 2048 x 2048.
    """
    if not isinstance(sci, np.ndarray) or sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be a float32 (nint, ngroups, ny, nx) array, got "
                         f"{getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    pixeldq = np.asarray(pixeldq)
    if pixeldq.shape != sci.shape[2:] or pixeldq.dtype != np.uint32:
        raise ValueError(f"pixeldq must be uint32 {sci.shape[2:]}, got {pixeldq.dtype} {pixeldq.shape}")
    if is_subarray(pixeldq.shape) and not subarray_fits(xstart, ystart, pixeldq.shape[1], pixeldq.shape[0]):
        return "SKIPPED"
    plan = plan_geometry(pixeldq, xstart=xstart, ystart=ystart, fastaxis=fastaxis, slowaxis=slowaxis,
                         noutputs=noutputs, subarray=subarray, odd_even_columns=odd_even_columns,
                         use_side_ref_pixels=use_side_ref_pixels,
                         side_smoothing_length=side_smoothing_length)
    apply_plan(sci, plan, side_gain=side_gain, siglimit=siglimit, first_integration=first_integration)
    return "COMPLETE"


# --- Step wrapper ---------------------------------------------------------------------------

class RefPixStep(Step):
    """jwst RefPixStep (S_REFPIX) for NIR non-IRS2 data; see the module docstring."""

    name = "refpix"
    keyword = "S_REFPIX"
    reftypes = ()
    # jwst's spec; side_smoothing_length >= 2 is rampflow's (its running median needs two rows;
    # jwst states no range)
    spec = """
        odd_even_columns = boolean(default=True)  # reference signal separately for even/odd columns
        use_side_ref_pixels = boolean(default=True)  # side reference pixels for each row's signal
        side_smoothing_length = integer(default=11, min=2)  # median window height for the side signal
        side_gain = float(default=1.0)  # factor for the side signal before subtracting it from rows
        odd_even_rows = boolean(default=True)  # reference signal separately for even/odd rows
        ovr_corr_mitigation_ftr = float(default=3.0)  # IRS2 overcorrection mitigation factor
        preserve_irs2_refpix = boolean(default=False)  # keep the reference pixels in the output
        irs2_mean_subtraction = boolean(default=False)  # mean offset subtraction before IRS2 correction
        refpix_algorithm = option("median", "sirs", default="median")  # NIR full-frame side pixel algorithm
        sigreject = float(default=4.0)  # sigmas to reject as outliers
        gaussmooth = float(default=1.0)  # width of the Gaussian smoothing kernel
        halfwidth = integer(default=30)  # half-width of the convolution kernel
        siglimit = float(default=3.0)  # sigma clipping limit for outlier rejection
    """
    chunking = "integrations"
    rows_ok = True  # after a pre-pass measuring each whole plane's correction (NIR; not MIRI's)
    prepass_needs_gdq = False
    #: asked for only with refpix_algorithm='sirs' on NIR full frames (:meth:`reftypes_for`)
    optional_reftypes = ("sirskernel",)

    @staticmethod
    def wants_sirs(meta, params) -> bool:
        """jwst asks for the SIRSKERNEL reference: 'sirs' on a NIR full frame."""
        return (params.get("refpix_algorithm") == "sirs" and meta.instrument != "MIRI"
                and "FULL" in str(meta.subarray))

    @classmethod
    def reftypes_for(cls, meta, params):
        return ("sirskernel",) if cls.wants_sirs(meta, params) else ()

    @classmethod
    def one_pass_conflict(cls, meta, params):
        if meta.instrument == "MIRI":
            return "MIRI's reference-pixel correction works on whole frames (no pre-pass measures it)"
        if cls.wants_sirs(meta, params):
            return "refpix_algorithm='sirs' on a full frame: SIRS convolves whole side columns (no pre-pass)"
        return None

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        p = self.params
        for key in ("odd_even_columns", "use_side_ref_pixels", "odd_even_rows",
                    "preserve_irs2_refpix", "irs2_mean_subtraction"):
            if not isinstance(p[key], (bool, np.bool_)):
                raise ValueError(f"step 'refpix': {key} must be a boolean, got {p[key]!r}")
        for key in ("side_smoothing_length", "halfwidth"):
            if isinstance(p[key], bool) or not isinstance(p[key], (int, np.integer)):
                raise ValueError(f"step 'refpix': {key} must be an integer, got {p[key]!r}")
        for key in ("side_gain", "ovr_corr_mitigation_ftr", "sigreject", "gaussmooth", "siglimit"):
            if isinstance(p[key], bool) or not isinstance(p[key], (int, float, np.floating, np.integer)):
                raise ValueError(f"step 'refpix': {key} must be a number, got {p[key]!r}")
        if p["refpix_algorithm"] not in ("median", "sirs"):
            raise ValueError(f"step 'refpix': refpix_algorithm must be 'median' or 'sirs', "
                             f"got {p['refpix_algorithm']!r}")
        self._miri = meta.instrument == "MIRI"
        self.sirs_fallback = False
        self._sirs = None
        self._corr: PlaneCorrections | None = None  # measured in a pre-pass (row chunks)
        self._zf_corr: PlaneCorrections | None = None
        self._pix_plan: RefpixPlan | None = None  # the plan on the pre-pass's reference pixels alone
        if self._miri:
            if p["refpix_algorithm"] == "sirs":
                log.info("refpix: Simple Improved Reference Subtraction (SIRS) not applied for MIRI data.")
            if refpix_miri.is_miri_subarray(meta.subsize2, meta.subsize1):
                self.skipped = "Refpix correction skipped for MIRI subarrays (as jwst)"
            self._plan = None
            return
        if max(meta.subsize1, meta.subsize2) > NFULL:
            raise NotImplementedError(
                f"step 'refpix': {meta.instrument} {meta.detector} data with an axis of "
                f"{max(meta.subsize1, meta.subsize2)} pixels is an IRS2 readout "
                f"({meta.readpatt}); IRS2 reference-pixel correction is not implemented")
        if self.wants_sirs(meta, p):
            kernel = refs.get("sirskernel")
            if kernel is None:
                log.warning("refpix: No reference file found for the optimized convolution kernel.")
                log.warning("refpix: REFPIX step will use the running median algorithm for side pixels.")
                self.sirs_fallback = True
            else:
                log.info("refpix: Using SIRS reference file: %s", kernel.path)
                if p["use_side_ref_pixels"]:   # jwst builds the kernels in its side correction only
                    self._sirs = refpix_sirs.make_kernels(kernel.tree, meta.detector, p["gaussmooth"],
                                                          p["halfwidth"])
                    if self._sirs is None:
                        log.info("refpix: The REFPIX step will use the running median")
                        self.sirs_fallback = True
                    elif is_subarray((meta.subsize2, meta.subsize1)):
                        raise NotImplementedError(
                            f"step 'refpix': SIRS on the {meta.subsize1} x {meta.subsize2} subarray "
                            f"{meta.subarray!r} (a 'FULL' name on a subarray) is not implemented")
        elif p["refpix_algorithm"] == "sirs":
            log.info("refpix: Simple Improved Reference Subtraction (SIRS) not applied for subarray data.")
        if meta.detector not in NIR_DETECTORS:
            log.warning("refpix: unrecognized detector %s, treated as a NIR detector (as jwst does)",
                        meta.detector)
        self._sub = is_subarray((meta.subsize2, meta.subsize1))
        if self._sub and not subarray_fits(meta.substrt1, meta.substrt2, meta.subsize1, meta.subsize2):
            self.skipped = (f"subarray at SUBSTRT1={meta.substrt1}, SUBSTRT2={meta.substrt2} "
                            f"({meta.subsize1} x {meta.subsize2}) does not fit in the detector")
        use_side = p["use_side_ref_pixels"]
        if (not self._sub or meta.noutputs == 4) and use_side:
            L = int(p["side_smoothing_length"])
            half = (L + 1 if L % 2 == 0 else L) // 2
            if L < 2 or half > NFULL - 2:
                raise ValueError(f"step 'refpix': side_smoothing_length={L}: jwst's running median "
                                 f"needs 2 <= length <= {2 * (NFULL - 2)}")
        self._plan: RefpixPlan | None = None

    def plan(self, pixeldq: np.ndarray) -> RefpixPlan:
        """The exposure's plan (built from PIXELDQ on first use; PIXELDQ is not changed by refpix)."""
        if self._plan is None:
            m, p = self.meta, self.params
            self._plan = plan_geometry(
                pixeldq, xstart=m.substrt1, ystart=m.substrt2, fastaxis=m.fastaxis,
                slowaxis=m.slowaxis, noutputs=m.noutputs, subarray=m.subarray,
                odd_even_columns=p["odd_even_columns"], use_side_ref_pixels=p["use_side_ref_pixels"],
                side_smoothing_length=p["side_smoothing_length"])
            for note in self._plan.notes:
                log.warning("refpix %s: %s", m.filename, note)
            log.info("refpix %s: %s path, %d reference pixels in %d sets%s", m.filename,
                     self._plan.path, self._plan.nref, len(self._plan.set_start) - 1,
                     ", side pixels used" if self._plan.do_side else "")
        return self._plan

    def prepass_rounds(self) -> int:
        """One pre-pass before row chunks: each plane's correction needs the reference pixels
        of the whole plane, which are all the pre-pass reads (:meth:`prepass_pixels`; NIR:
        MIRI's frames are corrected whole, :meth:`one_pass_conflict`)."""
        return 0 if self.skipped or self._miri or self._sirs is not None else 1

    def collect(self, round, sci, gdq, pdq, ints, zf=None):
        self._measure(self.plan(pdq), sci, ints, zf)

    def prepass_pixels(self, pdq):
        """The reference pixels the plan's statistics read (:func:`plan_pixels`)."""
        return plan_pixels(self.plan(pdq))

    def collect_pixels(self, round, sci, pdq, ints, zf=None):
        if self._pix_plan is None:
            self._pix_plan = pixel_plan(self.plan(pdq))
        self._measure(self._pix_plan, sci, ints, zf)

    def _measure(self, plan, sci, ints, zf):
        """Each plane's correction of ``sci`` (whole planes, or the pixels of ``plan``) into
        the stored corrections; ZEROFRAME's too."""
        p = self.params
        if self._corr is None:
            nints, ngroups = self.meta.nints, sci.shape[1]
            self._corr = PlaneCorrections.empty(plan, nints, ngroups)
            if zf is not None and self.meta.zeroframe:
                self._zf_corr = PlaneCorrections.empty(plan, nints, 1)
        measure_planes(sci, plan, self._corr, ints, side_gain=p["side_gain"], siglimit=p["siglimit"])
        if self._zf_corr is not None and zf is not None:
            measure_planes(np.ascontiguousarray(zf[:, None]), plan, self._zf_corr, ints, side_gain=p["side_gain"],
                           siglimit=p["siglimit"], float32_first=False)  # as process_zeroframe

    def process(self, sci, gdq, pdq, ints, rows):
        if self.skipped:
            return
        if self._miri:
            if (rows.start or 0) != 0 or sci.shape[2] != self.meta.subsize2:
                raise ValueError(f"step 'refpix' needs whole MIRI frames: got rows {rows} of {self.meta.subsize2}")
            if not refpix_miri.correct_full_frame(sci, pdq, self.params["odd_even_rows"], self.params["siglimit"]):
                log.warning("refpix %s: a MIRI reference-pixel set has no good pixel; no correction "
                            "(as jwst)", self.meta.filename)
            return
        ny = sci.shape[2]
        if self._corr is not None:  # measured in a pre-pass: any rows
            apply_corrections(sci, self.plan(pdq), self._corr, ints, rows.start or 0)
            return
        if (rows.start or 0) != 0 or ny != pdq.shape[0] or ny != self.meta.subsize2:
            raise ValueError(f"step 'refpix' needs whole planes: got rows {rows} of "
                             f"{self.meta.subsize2} (chunking='integrations', no pre-pass)")
        plan = self.plan(pdq)
        self._zf_plan = plan
        self._apply(sci, plan, ints.start or 0)

    def _apply(self, sci, plan, first_integration):
        p = self.params
        if self._sirs is not None and plan.do_side:
            refpix_sirs.apply_sirs(sci, plan, self._sirs, sigreject=p["sigreject"], siglimit=p["siglimit"],
                                   first_integration=first_integration)
        else:
            apply_plan(sci, plan, side_gain=p["side_gain"], siglimit=p["siglimit"],
                       first_integration=first_integration)

    def process_zeroframe(self, zf, ints, rows):
        """jwst (ZEROFRAM true): ZEROFRAME is corrected as a one-group ramp with the same
        geometry (``process_zeroframe_correction``); values that were 0 (unusable) stay 0."""
        if self.skipped or self._miri or not self.meta.zeroframe or self._plan is None:
            return
        zero = zf == 0.0
        z = np.ascontiguousarray(zf[:, None])
        # jwst corrects ZEROFRAME after every group, in its re-used group buffer: float64 by
        # then when side pixels are used, so no ZEROFRAME plane is the float32 "first group"
        if self._zf_corr is not None:  # measured so in the pre-pass (collect)
            apply_corrections(z, self._plan, self._zf_corr, ints, rows.start or 0)
        else:
            self._apply(z, self._zf_plan, 1)
        zf[...] = z[:, 0]
        zf[zero] = 0.0

    def header_updates(self):
        return {"R_REFPIX": ("N/A", "refpix reference file (IRS2 only)")}
