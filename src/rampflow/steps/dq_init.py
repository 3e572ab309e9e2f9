"""Data-quality initialisation: jwst's ``dq_init`` step (``jwst.dq_init.dq_initialization``).

For NIR science ramps (RampModel) jwst does:

* ``PIXELDQ |= MASK`` where MASK is the MASK reference DQ translated to pipeline bits through
  its DQ_DEF table (so reference pixels arrive as REFERENCE_PIXEL, dead pixels as DEAD, ...),
  cut to the exposure's subarray, OR-ed with the optional ``user_supplied_dq`` array (raw
  pipeline bits, no DQ_DEF translation, same shape as the cut mask);
* ``GROUPDQ |= MASK & DO_NOT_USE`` in every integration and group, so no ramp is fitted to
  a pixel the mask marks DO_NOT_USE.

GROUPDQ/PIXELDQ arrays are zero-initialised by the reader when the uncal has none (jwst's
``check_dimensions``). Not reproduced: FGS guide-star exposures (DQ instead of PIXELDQ) and
superstripe subarrays -- neither is a ramp product this package handles.
"""

from __future__ import annotations

import numpy as np

from .. import dq as dqflags
from .base import Step


def combine_mask(mask_dq: np.ndarray, user_dq: np.ndarray | None = None) -> np.ndarray:
    """The DQ to apply: ``mask_dq | user_dq`` as uint32 (new array).

    mask_dq : integer (ny, nx), pipeline bits; user_dq : integer (ny, nx) or None.
    Raises ValueError naming the shapes when ``user_dq`` does not match.
    """
    mask = np.array(mask_dq, dtype=np.uint32, copy=True)
    if mask.ndim != 2:
        raise ValueError(f"mask_dq must be 2-D (ny, nx); got shape {mask.shape}")
    if user_dq is not None:
        user_dq = np.asarray(user_dq)
        if user_dq.shape != mask.shape:
            raise ValueError(f"user_dq has shape={user_dq.shape} but expecting {mask.shape}")
        mask |= user_dq.astype(np.uint32)
    return mask


def init_dq(gdq: np.ndarray, pdq: np.ndarray, mask: np.ndarray) -> None:
    """Apply the mask in place: ``pdq |= mask``; ``gdq |= mask & DO_NOT_USE`` in every group.

    gdq : uint8 (nints, ngroups, ny, nx); pdq : uint32 (ny, nx); mask : uint32 (ny, nx).
    """
    if gdq.ndim != 4 or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 (nints, ngroups, ny, nx); got {gdq.dtype} {gdq.shape}")
    if pdq.shape != gdq.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 {gdq.shape[2:]}; got {pdq.dtype} {pdq.shape}")
    if mask.shape != pdq.shape:
        raise ValueError(f"mask must have shape {pdq.shape}; got {mask.shape}")
    pdq |= mask.astype(np.uint32, copy=False)
    dnu = (mask & np.uint32(dqflags.DO_NOT_USE)).astype(np.uint8)
    if dnu.any():
        gdq |= dnu


class DQInit(Step):
    """jwst ``DQInitStep`` (class_alias "dq_init"); reference MASK.

    Parameter ``user_supplied_dq`` (default None): path of a FITS file whose first data array
    (as ``astropy.io.fits.getdata`` finds it) is OR-ed into the mask, as in jwst.
    """

    name = "dq_init"
    keyword = "S_DQINIT"
    reftypes = ("mask",)
    spec = """
        user_supplied_dq = string(default=None)  # FITS user-supplied DQ file
    """

    rows_ok = True  # pixel by pixel: any chunk of rows
    modifies_sci = False  # only GROUPDQ / PIXELDQ, as jwst's

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        ref = refs["mask"]
        user = None
        path = self.params["user_supplied_dq"]
        if path is not None:
            from .. import io

            user = io.read_first_image(path)
        self.mask = combine_mask(ref.dq(), user)

    def process(self, sci, gdq, pdq, ints, rows):
        init_dq(gdq, pdq, self.mask[rows])
