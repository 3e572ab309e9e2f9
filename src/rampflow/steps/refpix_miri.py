"""MIRI reference-pixel correction (jwst 3.0 ``RefPixStep`` with ``reference_pixels.MIRIDataset``).

MIRI's detectors have no reference rows; the full frame (1024 rows x 1032 columns) has four
reference columns on each side, x = 1-4 and 1029-1032 (0-based 0-3 and 1028-1031), one per
amplifier: the four amplifiers A-D read interleaved columns, column c belonging to amplifier
``c % 4``. jwst 3.0 does, for a full-frame exposure:

1. subtract each integration's first group from all its groups (``first_read``, a float64
   array: the differences are computed in float64 and stored back as float32);
2. for every group but the first (which is now 0), per amplifier: the sigma-clipped mean
   (``scipy.stats.sigmaclip`` at +-``siglimit`` sigma, iterated, on the reference pixels whose
   PIXELDQ lacks DO_NOT_USE) of its left and of its right reference column, separately for
   rows 1, 3, 5, ... and 2, 4, 6, ... (1-based; jwst's "odd" and "even" rows) when
   ``odd_even_rows`` (the default), else all rows together; the average of left and right
   is subtracted from every column of the amplifier (reference columns included), per row
   parity;
3. add the first group back (float64 sum, stored as float32).

If any amplifier / side / row parity has no good reference pixel, jwst stops correcting at
that point; since that depends only on PIXELDQ, it happens at the first corrected group of
the exposure, so no group is corrected -- but steps 1 and 3 still round each group through
the float32 difference, as here. The step is COMPLETE either way (jwst only warns).
GROUPDQ is not used; neither DQ array is changed.

MIRI subarrays (fewer than 1032 columns or 1024 rows, jwst's ``is_subarray``) are not
corrected: jwst logs "Refpix correction skipped for MIRI subarrays" and records the step
SKIPPED; so does rampflow. Parameters other than ``odd_even_rows`` and ``siglimit`` (the NIR
and IRS2 ones, ``refpix_algorithm``: jwst never applies SIRS to MIRI) have no effect on MIRI.

Chunking by integrations is exact: each (integration, group) plane depends only on itself,
its integration's first group and PIXELDQ. The arithmetic reproduces jwst bit for bit
(float32 clipped means with numpy's pairwise sums, float64 where jwst promotes).
"""

from __future__ import annotations

import logging

import numpy as np

from ..dq import DO_NOT_USE

log = logging.getLogger(__name__)

#: MIRI full frame (rows, columns)
MIRI_FULL = (1024, 1032)
#: 0-based reference columns of each amplifier (left, right); amplifier a reads columns c % 4 == a
REFERENCE_COLUMNS = tuple((a, 1028 + a) for a in range(4))


def is_miri_subarray(ny: int, nx: int) -> bool:
    """jwst's ``is_subarray`` for MIRI: fewer than 1032 columns or 1024 rows."""
    return nx < MIRI_FULL[1] or ny < MIRI_FULL[0]


def good_reference_sets(pixeldq: np.ndarray, odd_even_rows: bool) -> bool:
    """Whether every amplifier / side / row parity has a reference pixel without DO_NOT_USE
    (jwst's ``bad_reference_pixels`` is False)."""
    good = (pixeldq & DO_NOT_USE) == 0
    step = 2 if odd_even_rows else 1
    for left, right in REFERENCE_COLUMNS:
        for col in (left, right):
            for par in range(step):
                if not good[par::step, col].any():
                    return False
    return True


def correct_full_frame(sci: np.ndarray, pixeldq: np.ndarray, odd_even_rows: bool = True,
                       siglimit: float = 3.0) -> bool:
    """jwst's MIRI full-frame correction, in place (see the module docstring).

    sci : float32 (nints, ngroups, 1024, 1032); pixeldq : uint32 (1024, 1032).
    Returns whether the reference signal was subtracted (False: no good pixel in some
    reference set; the groups are only rounded through the first-group difference).
    """
    if sci.dtype != np.float32 or sci.ndim != 4 or sci.shape[2:] != MIRI_FULL:
        raise ValueError(f"MIRI refpix: sci must be float32 (nints, ngroups, 1024, 1032), got "
                         f"{sci.dtype} {sci.shape}")
    if pixeldq.shape != MIRI_FULL:
        raise ValueError(f"MIRI refpix: pixeldq must be (1024, 1032), got {pixeldq.shape}")
    ok = good_reference_sets(pixeldq, odd_even_rows)
    good = np.ascontiguousarray((pixeldq & DO_NOT_USE) == 0)
    from ..kernels.refpix_miri import _miri_refpix_kernel

    _miri_refpix_kernel(sci, good, bool(odd_even_rows), float(siglimit), ok)
    return ok
