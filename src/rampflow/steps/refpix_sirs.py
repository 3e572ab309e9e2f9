"""Simple Improved Reference Subtraction (SIRS): refpix's side-pixel correction with
convolution kernels (jwst 3.0 ``jwst/refpix/optimized_convolution.py``).

With ``refpix_algorithm="sirs"`` and a SIRSKERNEL reference, jwst replaces the running median
of the side reference pixels on NIR full frames (after the top/bottom correction, when
``use_side_ref_pixels``) by a convolution of the left and right reference columns (Rauscher
2022, JATIS 8, 028002), with one pair of kernels per amplifier ("channel"):

* Kernels (:func:`make_kernels`), once per exposure. The reference holds, per detector
  (lower-case name: ``nrca1`` ... ``nrcblong``, ``nrs1``, ``nrs2``, ``nis``), the complex
  Fourier coefficients ``gamma`` (left columns) and ``zeta`` (right columns), one row per
  channel. Each row is taken back to a real kernel (``irfft``), centred (``fftshift``),
  cut to ``2 halfwidth + 1`` taps about the centre, and smoothed by a normalised Gaussian of
  width ``gaussmooth`` over the same taps ("same"-mode convolution). A detector absent from
  the file means no kernels: the running median is used, as in jwst.
* Template (:func:`side_templates`), per group. The 2048 x 4 left and 2048 x 4 right
  reference columns (every pixel: the DQ is not consulted) are screened with a median
  absolute deviation: a pixel further than ``sigreject`` x 1.48 MAD from its side's
  median is dropped. Each row's kept pixels are summed and divided by 4; with ``n`` the
  row's count of kept pixels, the template of channel ``c`` is
  ``conv(l, gamma_c) * conv(1, gamma_c) / conv(n_l / 4, gamma_c) + (same for the right side
  with zeta_c)``, convolutions in "same" mode along the detector rows.
* Every pixel of channel ``c`` (detector columns 512 c ... 512 c + 511) and detector row
  ``r`` loses ``template[c, r]``; ``side_gain`` and ``side_smoothing_length`` are not used
  (jwst ignores them on this path), nor is ``odd_even_rows`` (MIRI only);
  ``odd_even_columns`` acts on the top/bottom correction that precedes, as always.

Precision and memory. The kernels and templates are computed with the same numpy calls
as jwst (FFT, medians, "same" convolutions), so they are identical; the pixel work (the
top/bottom means, gathering the side columns, the subtraction) is numba
(:mod:`rampflow.kernels.refpix_sirs`) in jwst's per-group working precision (float32 for
the exposure's first group, float64 after: see :mod:`.refpix`). A group's template needs
its whole side columns, which the step has: refpix works on whole planes, a chunk of
integrations at a time, and keeps only (2, 2048, 4) float64 per plane of the chunk beside it.

Deliberate difference: ``gaussmooth <= 0`` or ``halfwidth < 0`` is refused with an error
(jwst would fill the data with NaN or fail inside numpy). As in jwst, a kernel whose taps
cancel (a channel with all-zero coefficients), or rows with no kept side pixel within a
kernel's reach, give a 0 / 0 template and NaN pixels; the step logs a warning when that
happens (not expected with kernels whose taps add up to a clearly non-zero weight, as the
simulated ones do).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: jwst's factor from the median absolute deviation to a standard deviation
MAD_TO_SIGMA = 1.48
#: amplifiers ("channels") of a NIR detector, 512 detector columns each
NCHAN = 4


def kernel_coefficients(tree: dict, detector: str):
    """(gamma, zeta) of ``detector`` in a SIRSKERNEL tree (the reference's ASDF tree, or any
    mapping detector -> {"gamma", "zeta"}), matched case-insensitively; (None, None) when
    the detector is absent or lacks either array."""
    for key, node in tree.items():
        if str(key).lower() == str(detector).lower() and isinstance(node, dict):
            gamma, zeta = node.get("gamma"), node.get("zeta")
            if gamma is not None and zeta is not None:
                return np.array(gamma), np.array(zeta)
    return None, None


def check_kernel_params(gaussmooth, halfwidth) -> None:
    if not float(gaussmooth) > 0:
        raise ValueError(f"step 'refpix': gaussmooth={gaussmooth!r}: the Gaussian smoothing width "
                         "of the SIRS kernels must be > 0")
    if int(halfwidth) < 0:
        raise ValueError(f"step 'refpix': halfwidth={halfwidth!r}: the SIRS kernel half-width must be >= 0")


def make_kernels(tree: dict, detector: str, gaussmooth: float = 1.0, halfwidth: int = 30):
    """jwst's ``make_kernels``: ([left kernel per channel], [right kernel per channel]) as
    float64 arrays, or None when the reference has no coefficients for ``detector``.

    gamma, zeta : complex (nchan, nfreq) in the reference; see the module docstring.
    """
    check_kernel_params(gaussmooth, halfwidth)
    gamma, zeta = kernel_coefficients(tree, detector)
    if gamma is None:
        log.info("refpix: optimized convolution kernel coefficients NOT found for detector %s", detector)
        return None
    if gamma.ndim != 2 or zeta.shape != gamma.shape:
        raise ValueError(f"SIRSKERNEL coefficients of {detector}: gamma {gamma.shape} and zeta {zeta.shape} "
                         "must be 2-D (channel, frequency) arrays of one shape")
    hw = int(halfwidth)
    x = np.arange(-hw, hw + 1)
    window = np.exp(-(x**2) / (2 * gaussmooth**2))
    window /= np.sum(window)
    left, right = [], []
    for chan in range(gamma.shape[0]):
        n = len(gamma[chan]) - 1
        kl = np.fft.fftshift(np.fft.irfft(gamma[chan]))[n - hw:n + hw + 1]
        kr = np.fft.fftshift(np.fft.irfft(zeta[chan]))[n - hw:n + hw + 1]
        left.append(np.convolve(kl, window, mode="same"))
        right.append(np.convolve(kr, window, mode="same"))
    return [left, right]


def side_templates(cols: np.ndarray, kernels, sigreject: float = 4.0) -> np.ndarray:
    """SIRS templates of one plane: float64 (nchan, nrows).

    cols : float64 (2, nrows, 4), the left (0) and right (1) reference columns after the
    top/bottom correction, by detector row and column. kernels : from :func:`make_kernels`.
    """
    left, right = cols[0], cols[1]
    kernels_l, kernels_r = kernels
    medl = np.median(left)
    sigl = MAD_TO_SIGMA * np.median(np.abs(left - medl))
    medr = np.median(right)
    sigr = MAD_TO_SIGMA * np.median(np.abs(right - medr))
    goodl = 1 * (np.abs(left - medl) <= sigreject * sigl)
    goodr = 1 * (np.abs(right - medr) <= sigreject * sigr)
    nl = np.sum(goodl, axis=1)
    nr = np.sum(goodr, axis=1)
    suml = np.sum(left * goodl, axis=1) / 4
    sumr = np.sum(right * goodr, axis=1) / 4
    out = np.empty((len(kernels_l), left.shape[0]), np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        for chan, (kl, kr) in enumerate(zip(kernels_l, kernels_r)):
            norm_l = np.convolve(np.ones(nl.shape), kl, mode="same")
            norm_l /= np.convolve(nl / 4, kl, mode="same")
            norm_r = np.convolve(np.ones(nr.shape), kr, mode="same")
            norm_r /= np.convolve(nr / 4, kr, mode="same")
            tmpl = np.convolve(suml, kl, mode="same") * norm_l
            tmpl += np.convolve(sumr, kr, mode="same") * norm_r
            out[chan] = tmpl
    return out


def apply_sirs(sci: np.ndarray, plan, kernels, *, sigreject: float = 4.0, siglimit: float = 3.0,
               first_integration: int = 0) -> None:
    """jwst's full-frame refpix with SIRS side pixels, on ``sci`` in place.

    sci : float32 (nint, ngroups, 2048, 2048), DMS orientation; plan : a full-frame
    :class:`~.refpix.RefpixPlan` with side pixels (its ``sirs_y``/``sirs_x``/``chan_axis``
    tables); kernels : from :func:`make_kernels`, one pair per channel (4 for the NIR
    detectors); first_integration : as in :func:`.refpix.apply_plan`.
    """
    if not isinstance(sci, np.ndarray) or sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be a float32 (nint, ngroups, ny, nx) array, got "
                         f"{getattr(sci, 'dtype', type(sci))} {getattr(sci, 'shape', '')}")
    if plan.path != "fullframe" or not plan.do_side or plan.sirs_y is None:
        raise ValueError("SIRS needs a full-frame refpix plan with side pixels")
    if sci.shape[2:] != (plan.ny, plan.nx):
        raise ValueError(f"sci shape {sci.shape} does not match the plan's {(plan.ny, plan.nx)}")
    nchan = min(len(kernels[0]), NCHAN)
    nint, ngr = sci.shape[:2]
    nq = nint * ngr
    if nq == 0:
        return
    nclass = plan.class_sets.shape[0]
    refs = np.zeros((nq, nclass), np.float64)
    r32s = np.zeros((nq, nclass), np.bool_)
    roks = np.zeros((nq, nclass), np.bool_)
    cols = np.empty((nq,) + plan.sirs_y.shape, np.float64)
    f32_plane = 0 if first_integration == 0 else -1
    from ..kernels.refpix_sirs import _sirs_columns_kernel

    _sirs_columns_kernel(sci, f32_plane, plan.ref_y, plan.ref_x, plan.set_start, plan.class_sets,
                         plan.pair_parity, plan.sirs_y, plan.sirs_x, plan.side_cls, float(siglimit),
                         float(siglimit), plan.nbuf, refs, r32s, roks, cols)
    # jwst's channel c is detector columns 512 c ... 512 c + 511 whatever the file's channel
    # count: channels the file lacks are not corrected, extra ones act on no column
    template = np.zeros((nq, NCHAN, plan.sirs_y.shape[1]), np.float64)
    for q in range(nq):
        template[q, :nchan] = side_templates(cols[q], kernels, sigreject)[:nchan]
    bad = ~np.isfinite(template)
    if bad.any():
        log.warning("refpix: SIRS template not finite in %d (plane, channel, row) entries (no kept side "
                    "reference pixel within a kernel's reach); those pixels become NaN, as in jwst",
                    int(bad.sum()))
    from ..kernels.refpix_sirs import _sirs_apply_kernel

    _sirs_apply_kernel(sci, f32_plane, refs, r32s, roks, plan.cls_axis, plan.r_axis, plan.chan_axis,
                       plan.transposed, template)
