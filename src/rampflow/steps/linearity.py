"""Classic linearity correction: jwst's ``linearity`` step (``stcal.linearity.linearity_correction``).

Coefficients (LINEARITY reference COEFFS, float32 (ncoeffs, ny, nx), cut to the subarray)
are prepared once, as stcal's ``prepare_coefficients`` does:

1. PIXELDQ |= reference DQ (through DQ_DEF);
2. pixels with NO_LIN_CORR in the reference DQ get the identity polynomial (0, 1, 0, ...);
3. pixels with any NaN coefficient get the identity and NO_LIN_CORR in PIXELDQ;
4. pixels whose linear coefficient (index 1) is 0 get the identity and NO_LIN_CORR.

Then every group NOT flagged SATURATED in GROUPDQ becomes ``sum_k c_k * DN**k``, evaluated by
Horner's rule in float32 in stcal's order (a numba kernel); saturated groups are unchanged.

Read-level correction (jwst 3.0): when the reference file also holds INV_COEFFS and
NFRAMES > 1, jwst (with no explicit ``read_times`` in the exposure metadata, the case for
JWST uncal files) passes the inverse coefficients and the frame read pattern to stcal, which
reconstructs the individual frames of each averaged group from a per-pixel count rate,
linearises them one by one and averages them again. That path is reproduced here with the
same numpy operations as stcal (:func:`correct_read_level`); the inverse coefficients are
prepared like the forward ones (steps 2-4, their NaN / zero-linear pixels also flagged).

The ZEROFRAME correction is available through ``zframe`` of :func:`linearity_correction`;
the Step's chunk interface carries no ZEROFRAME.
"""

from __future__ import annotations

import numpy as np

from .. import dq as dqflags
from .base import Step
from .nonfinite import inf_to_nan, nonfinite_flags


def prepare_coefficients(coeffs: np.ndarray, lin_dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients with bad pixels replaced by the identity, and the PIXELDQ flags to add.

    coeffs : float (ncoeffs, ny, nx), ncoeffs >= 2; lin_dq : integer (ny, nx), pipeline bits.
    Returns ``(coeffs float32 (ncoeffs, ny, nx) new array, flags uint32 (ny, nx))`` where
    ``flags = lin_dq | NO_LIN_CORR`` on NaN-coefficient and zero-linear-term pixels.
    """
    c = np.array(coeffs, dtype=np.float32, copy=True)
    if c.ndim != 3 or c.shape[0] < 2:
        raise ValueError(f"linearity coefficients must be (ncoeffs>=2, ny, nx); got shape {c.shape}")
    lin_dq = np.asarray(lin_dq)
    if lin_dq.shape != c.shape[1:]:
        raise ValueError(f"linearity DQ has shape {lin_dq.shape}; coefficients are {c.shape}")
    flags = lin_dq.astype(np.uint32, copy=True)
    nlc = np.uint32(dqflags.NO_LIN_CORR)
    identity = np.zeros(c.shape[0], dtype=np.float32)
    identity[1] = 1.0
    flagged = (lin_dq.astype(np.uint32) & nlc) == nlc
    c[:, flagged] = identity[:, None]
    nan = np.isnan(c).any(axis=0)
    c[:, nan] = identity[:, None]
    flags[nan] |= nlc
    zero = c[1] == 0
    c[:, zero] = identity[:, None]
    flags[zero] |= nlc
    return c, flags


def apply_polynomial(data: np.ndarray, coeffs: np.ndarray, gdq: np.ndarray | None = None) -> np.ndarray:
    """numpy Horner evaluation, exactly stcal's ``apply_polynomial`` (returns a new array).

    data (..., ny, nx); coeffs (ncoeffs, ny, nx); with ``gdq`` saturated values are kept.
    """
    n = coeffs.shape[0]
    result = coeffs[n - 1] * data
    for j in range(n - 2, 0, -1):
        result += coeffs[j]
        result *= data
    result += coeffs[0]
    if gdq is not None:
        result = np.where(np.bitwise_and(gdq, dqflags.SATURATED), data, result)
    return result


def correct_groups(data: np.ndarray, gdq: np.ndarray, coeffs: np.ndarray) -> None:
    """Classic correction in place (numba): unsaturated groups -> polynomial(group), in float32
    and stcal's Horner order (the one pass's elementwise kernel with only its polynomial on).

    data float32 (nints, ngroups, ny, nx); gdq uint8 same shape; coeffs float32 (ncoeffs, ny, nx)
    from :func:`prepare_coefficients`.
    """
    from ..kernels.elementwise import apply_elementwise

    if data.ndim != 4 or data.dtype != np.float32:
        raise ValueError(f"data must be float32 (nints, ngroups, ny, nx); got {data.dtype} {data.shape}")
    if gdq.shape != data.shape or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 {data.shape}; got {gdq.dtype} {gdq.shape}")
    if coeffs.ndim != 3 or coeffs.shape[1:] != data.shape[2:] or coeffs.dtype != np.float32:
        raise ValueError(f"coeffs must be float32 (ncoeffs, {data.shape[2]}, {data.shape[3]}); "
                         f"got {coeffs.dtype} {coeffs.shape}")
    apply_elementwise(data, gdq, poly=np.ascontiguousarray(coeffs), sat=int(dqflags.SATURATED))


def _read_level_tile(data, gdq, lin_coeffs, ilin_coeffs, read_pattern):
    """stcal ``_linearity_correction_tile`` (no additional correction, no saturation cap)."""
    ngroups, nrows, ncols = data.shape
    sat = dqflags.SATURATED
    mean_read_resultant = np.array([np.mean(reads) for reads in read_pattern])
    n_unsaturated = np.zeros((nrows, ncols), dtype=np.int32)
    for g in range(ngroups):
        n_unsaturated += (gdq[g] & sat) == 0
    n_unsaturated -= 1
    n_unsaturated[n_unsaturated < 2] = 2
    firstread_lin = apply_polynomial(data[0], lin_coeffs, gdq[0])
    lastvalidresultant = n_unsaturated - 1
    idx = lastvalidresultant[np.newaxis]
    last_data = np.take_along_axis(data, idx, axis=0)[0]
    last_gdq = np.take_along_axis(gdq, idx, axis=0)[0]
    lastread_lin = apply_polynomial(last_data, lin_coeffs, last_gdq)
    d_reads = mean_read_resultant[lastvalidresultant] - mean_read_resultant[0]
    countrate = (lastread_lin - firstread_lin) / d_reads
    for i in range(ngroups):
        reads_since_first = np.array(read_pattern[i]) - mean_read_resultant[0]
        reads_linearized = firstread_lin[None, :, :] + countrate[None, :, :] * reads_since_first[:, None, None]
        reads_unlinearized = apply_polynomial(reads_linearized, ilin_coeffs)
        predicted_cts = np.mean(reads_unlinearized, axis=0)
        offset = data[i] - predicted_cts
        reads_unlinearized += offset[np.newaxis, :, :]
        reads_corrected = np.zeros_like(reads_unlinearized)
        for j in range(reads_corrected.shape[0]):
            reads_corrected[j] = apply_polynomial(reads_unlinearized[j], lin_coeffs)
        resultant_saturated = (gdq[i] & sat) != 0
        corrected_resultant = np.mean(reads_corrected, axis=0)
        data[i] = np.where(resultant_saturated, data[i], corrected_resultant)


def correct_read_level(data: np.ndarray, gdq: np.ndarray, coeffs: np.ndarray, inv_coeffs: np.ndarray,
                       read_pattern, tile_rows: int = 64) -> None:
    """Read-level correction of frame-averaged groups, in place (stcal's path with ``ilin_coeffs``).

    data float32 (nints, ngroups, ny, nx); gdq uint8 same shape; coeffs, inv_coeffs float32
    (ncoeffs, ny, nx) prepared; read_pattern: 1-based frame numbers per group. Works on
    tiles of ``tile_rows`` rows (64 as stcal; results do not depend on it).
    """
    if data.ndim != 4 or data.dtype != np.float32 or gdq.shape != data.shape:
        raise ValueError(f"data float32 (nints, ngroups, ny, nx) and gdq of its shape needed; "
                         f"got {data.dtype} {data.shape}, {gdq.shape}")
    if len(read_pattern) < data.shape[1]:
        raise ValueError(f"read_pattern has {len(read_pattern)} groups; data has {data.shape[1]}")
    nrows = data.shape[2]
    for i in range(data.shape[0]):
        for r0 in range(0, nrows, tile_rows):
            r1 = min(r0 + tile_rows, nrows)
            _read_level_tile(data[i, :, r0:r1, :], gdq[i, :, r0:r1, :], coeffs[:, r0:r1, :],
                             inv_coeffs[:, r0:r1, :], read_pattern)


def linearity_correction(data: np.ndarray, gdq: np.ndarray, pdq: np.ndarray, coeffs: np.ndarray,
                         lin_dq: np.ndarray, inv_coeffs: np.ndarray | None = None, read_pattern=None,
                         zframe: np.ndarray | None = None) -> None:
    """The whole step on arrays, in place (data, pdq, zframe); reference arrays untouched.

    data float32 (nints, ngroups, ny, nx); gdq uint8 same shape; pdq uint32 (ny, nx);
    coeffs (ncoeffs, ny, nx); lin_dq (ny, nx) pipeline bits; inv_coeffs + read_pattern
    select the read-level path; zframe float32 (nints, ny, nx) or None (zeros stay zero).
    """
    c, flags = prepare_coefficients(coeffs, lin_dq)
    if inv_coeffs is not None:
        if read_pattern is None:
            raise ValueError("When inv_coeffs is provided, read_pattern must also be provided")
        ic, iflags = prepare_coefficients(inv_coeffs, lin_dq)
        flags |= iflags
        correct_read_level(data, gdq, c, ic, read_pattern)
    else:
        correct_groups(data, gdq, c)
    pdq |= flags
    if zframe is not None:
        zero = zframe == 0.0
        z = zframe[:, None].copy()
        correct_groups(z, np.where(z == 0.0, dqflags.SATURATED, 0).astype(np.uint8), c)
        zframe[...] = z[:, 0]
        zframe[zero] = 0.0


class Linearity(Step):
    """jwst ``LinearityStep`` (class_alias "linearity"); reference LINEARITY, no parameters.

    Difference from jwst: a pixel with a NaN or inf coefficient (COEFFS, or INV_COEFFS when
    the read-level correction uses them) gets the identity and NO_LIN_CORR as in jwst, and
    DO_NOT_USE too (jwst: NO_LIN_CORR only for NaN; an inf coefficient turns its data into
    inf or NaN). An uncorrected non-linear ramp is not a good slope. Finite coefficients give
    jwst's result bit for bit.
    """

    name = "linearity"
    keyword = "S_LINEAR"
    reftypes = ("linearity",)
    spec = ""  # jwst's LinearityStep takes no parameters

    rows_ok = True  # pixel by pixel: any chunk of rows

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        ref = refs["linearity"]
        coeffs = ref["COEFFS"]
        lin_dq = ref.dq() if "DQ" in ref else np.zeros(coeffs.shape[1:], dtype=np.uint32)
        # +-inf coefficients take jwst's NaN path (identity, NO_LIN_CORR); all are also DO_NOT_USE
        self.coeffs, self.flags = prepare_coefficients(inf_to_nan(coeffs), lin_dq)
        self.flags |= nonfinite_flags(coeffs, "NO_LIN_CORR", f"{ref.path} [COEFFS]")
        self.inv_coeffs = None
        self.read_pattern = None
        if "INV_COEFFS" in ref and meta.nframes > 1:
            self.inv_coeffs, iflags = prepare_coefficients(inf_to_nan(ref["INV_COEFFS"]), lin_dq)
            self.flags |= iflags | nonfinite_flags(ref["INV_COEFFS"], "NO_LIN_CORR", f"{ref.path} [INV_COEFFS]")
            self.read_pattern = [[x + 1 + g * meta.nframes for x in range(meta.nframes)]
                                 for g in range(meta.ngroups)]

    def process(self, sci, gdq, pdq, ints, rows):
        if self.inv_coeffs is not None:
            correct_read_level(sci, gdq, self.coeffs[:, rows], self.inv_coeffs[:, rows], self.read_pattern)
        else:
            correct_groups(sci, gdq, self.coeffs[:, rows])
        pdq |= self.flags[rows]

    def elementwise(self, rows):
        """The classic correction (not the read-level one of frame-averaged groups)."""
        if self.inv_coeffs is not None:
            return None
        return "poly", self.coeffs[:, rows], self.flags[rows]

    def process_zeroframe(self, zf, ints, rows):
        """jwst (ZEROFRAM true): ZEROFRAME is corrected as a one-group ramp with the (forward)
        coefficients; zeros (unusable values) stay zero."""
        if self.meta.zeroframe:
            zero = zf == 0.0
            z = zf[:, None].copy()
            correct_groups(z, np.where(z == 0.0, dqflags.SATURATED, 0).astype(np.uint8), self.coeffs[:, rows])
            zf[...] = z[:, 0]
            zf[zero] = 0.0
