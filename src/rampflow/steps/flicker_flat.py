"""clean_flicker_noise's use of the FLAT reference (jwst 3.0).

* :func:`flat_image` -- jwst's ``read_flat_file``: the flat's SCI cut to the exposure's
  subarray (the runner's reference loader cuts it, as jwst's ``get_subarray_model`` does), its
  zero and non-finite pixels replaced by a smoothed local level (the ``'model'`` background of
  the good pixels, :func:`~.flicker_fit.background_level`). The step divides the draft rate
  and every image by it before the background and noise fits and multiplies the cleaned image
  by it after (``apply_flat_field``, or ``autoparam`` when a flat exists).
* :func:`flat_field_dq` -- for MIRI imaging with ``mask_science_regions``, jwst runs its
  ``flat_field`` step on the draft rate and ORs the result's DQ into the rate's; the scene
  mask then leaves out DO_NOT_USE and NON_SCIENCE pixels. Only that DQ matters, so rampflow
  computes it as ``flat_field``'s ``apply_flat_field`` does for imaging (no NIRSpec branch):
  the flat's DQ (through its DQ_DEF), DO_NOT_USE | NO_FLAT_FIELD where the flat is NaN or 0,
  DO_NOT_USE where NO_FLAT_FIELD is set, then DO_NOT_USE wherever the flat-fielded rate or its
  flat variance is NaN (``match_nans_and_flags``). Not implemented: the rate's own Poisson
  and read-noise variances enter that last test in jwst; rampflow's draft rate has them
  finite wherever its SCI is finite, so they flag nothing more there.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import dq
from .flicker_fit import background_level

log = logging.getLogger(__name__)


def flat_image(flat_ref) -> np.ndarray | None:
    """float32 (ny, nx) flat to divide by (module docstring), or None without a FLAT.

    flat_ref : the loaded FLAT (rampflow.references.Reference, already cut to the
               exposure's subarray) or None.
    """
    if flat_ref is None:
        return None
    flat = np.array(flat_ref["SCI"], dtype=np.float32)
    if flat.ndim != 2:
        raise ValueError(f"{flat_ref.path}: FLAT SCI must be 2-D, got shape {flat.shape}")
    bad = (flat == 0) | ~np.isfinite(flat)
    if np.any(bad):
        smoothed = background_level(flat, ~bad, background_method="model")
        if np.isscalar(smoothed):  # the 2-D model failed: the median of the good pixels
            flat[bad] = smoothed
        else:
            flat[bad] = smoothed[bad]
    return flat


def flat_field_dq(flat_ref, rate: np.ndarray) -> np.ndarray:
    """uint32 DQ (like ``rate``: (ny, nx) or (nints, ny, nx)) that jwst's flat_field step ORs
    into a MIRI imaging draft rate ``rate`` (float32 SCI), from the loaded FLAT ``flat_ref``
    (module docstring). Zeros without a FLAT (jwst's flat_field is then skipped)."""
    out = np.zeros(rate.shape, dtype=np.uint32)
    if flat_ref is None:
        return out
    flat = np.array(flat_ref["SCI"], dtype=np.float32)
    flat_dq = (flat_ref.dq() if "DQ" in flat_ref else np.zeros(flat.shape, np.uint32)).astype(np.uint32)
    err = np.array(flat_ref["ERR"], dtype=np.float32) if "ERR" in flat_ref else np.zeros_like(flat)
    if flat.shape != rate.shape[-2:]:
        raise ValueError(f"{flat_ref.path}: FLAT shape {flat.shape} does not fit the rate {rate.shape}")
    dnu, no_flat = np.uint32(dq.DO_NOT_USE), np.uint32(dq.FLAGS["NO_FLAT_FIELD"])
    flat_dq[np.isnan(flat) | (flat == 0.0)] |= dnu | no_flat
    flat_dq[(flat_dq & no_flat) > 0] |= dnu
    flat[(flat_dq & dnu) > 0] = 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sci = rate / flat
        var_flat = sci ** 2 / (flat * flat) * err ** 2
    out |= flat_dq
    out[np.isnan(sci) | np.isnan(var_flat)] |= dnu
    return out
