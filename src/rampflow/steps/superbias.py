"""Superbias subtraction: jwst's ``superbias`` step (``jwst.superbias.bias_sub``).

Every group of every integration has the SUPERBIAS reference SCI (cut to the subarray, NaN
replaced by 0) subtracted, in float32; PIXELDQ |= the reference DQ (through DQ_DEF).
jwst also subtracts the bias from a ZEROFRAME (keeping zeros at zero); the chunk interface
carries no ZEROFRAME, so :func:`subtract_superbias` offers it as an optional array.
Superstripe subarrays are not handled.
"""

from __future__ import annotations

import numpy as np

from .base import Step
from .nonfinite import inf_to_nan, nonfinite_flags


def prepare_bias(bias: np.ndarray) -> np.ndarray:
    """float32 (ny, nx) copy of the superbias with NaN -> 0."""
    b = np.array(bias, dtype=np.float32, copy=True)
    if b.ndim != 2:
        raise ValueError(f"superbias must be 2-D (ny, nx); got shape {b.shape}")
    b[np.isnan(b)] = 0.0
    return b


def subtract_superbias(sci: np.ndarray, pdq: np.ndarray, bias: np.ndarray, bias_dq: np.ndarray | None = None,
                       zframe: np.ndarray | None = None) -> None:
    """In place: ``sci -= bias`` (every group), ``pdq |= bias_dq``, ZEROFRAME likewise.

    sci : float32 (nints, ngroups, ny, nx); pdq : uint32 (ny, nx); bias : float32 (ny, nx)
    without NaN (see :func:`prepare_bias`); bias_dq : uint32 (ny, nx) or None;
    zframe : float32 (nints, ny, nx) or None (zeros stay zero: they mark bad data).
    """
    if sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be float32 (nints, ngroups, ny, nx); got {sci.dtype} {sci.shape}")
    if bias.shape != sci.shape[2:] or bias.dtype != np.float32:
        raise ValueError(f"bias must be float32 {sci.shape[2:]}; got {bias.dtype} {bias.shape}")
    if pdq.shape != sci.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 {sci.shape[2:]}; got {pdq.dtype} {pdq.shape}")
    if bias_dq is not None:
        pdq |= bias_dq.astype(np.uint32, copy=False)
    sci -= bias
    if zframe is not None:
        zero = zframe == 0.0
        zframe -= bias
        zframe[zero] = 0.0


class SuperBias(Step):
    """jwst ``SuperBiasStep`` (class_alias "superbias"); reference SUPERBIAS, no parameters.

    Difference from jwst: a NaN or inf bias value is subtracted as 0 (jwst: NaN as 0, inf as
    inf) *and* the pixel gets DO_NOT_USE | UNRELIABLE_BIAS in PIXELDQ (jwst: no flag, so a
    ramp that still holds its bias is fitted as a good pixel). Finite biases give jwst's
    result bit for bit.
    """

    name = "superbias"
    keyword = "S_SUPERB"
    reftypes = ("superbias",)
    spec = ""  # jwst's SuperBiasStep takes no parameters

    rows_ok = True  # pixel by pixel: any chunk of rows

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        ref = refs["superbias"]
        self.bias = prepare_bias(inf_to_nan(ref["SCI"]))
        self.bias_dq = ref.dq() if "DQ" in ref else np.zeros(self.bias.shape, dtype=np.uint32)
        self.bias_dq = self.bias_dq | nonfinite_flags(ref["SCI"], "UNRELIABLE_BIAS", f"{ref.path} [SCI]")

    def process(self, sci, gdq, pdq, ints, rows):
        subtract_superbias(sci, pdq, self.bias[rows], self.bias_dq[rows])

    def elementwise(self, rows):
        return "bias", self.bias[rows], self.bias_dq[rows]

    def process_zeroframe(self, zf, ints, rows):
        """jwst (ZEROFRAM true): the bias is subtracted from ZEROFRAME too; zeros stay zero."""
        if self.meta.zeroframe:
            zero = zf == 0.0
            zf -= self.bias[rows]
            zf[zero] = 0.0
