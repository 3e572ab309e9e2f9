"""Charge migration flagging: jwst's ``charge_migration`` step
(``jwst.charge_migration.charge_migration``).

In a pixel collecting much charge, some of it migrates to the neighbouring pixels
("brighter-fatter"); jwst does not correct this but stops using the affected groups. Every
group whose value exceeds ``signal_threshold`` (DN; compared in float32) and whose GROUPDQ is
not exactly DO_NOT_USE starts a run: that group and all later groups of the integration, in
the pixel and its four nearest neighbours (north, south, east, west; none across the frame
edge), get CHARGELOSS | DO_NOT_USE. SCI is not changed. With fewer than 3 groups per
integration the step is SKIPPED, as in jwst.

ramp_fit then fits the ramps without those groups (they are DO_NOT_USE) and recomputes the
read-noise variance of integrations holding CHARGELOSS groups as if they were unflagged
(stcal's ``ramp_fit_pixel_rnoise_chargeloss``), see :mod:`rampflow.steps.ramp_fit`.

jwst's step is skipped by default (``skip = True`` in its spec): rampflow runs it only when
``charge_migration`` is in the config's ``steps`` list. The flagging of one integration
needs all rows (neighbours), so chunks are of integrations.
"""

from __future__ import annotations

import logging

import numpy as np

from ..dq import CHARGELOSS, DO_NOT_USE
from .base import Step

log = logging.getLogger(__name__)


def flag_charge_migration(sci: np.ndarray, gdq: np.ndarray, signal_threshold: float) -> None:
    """Flag CHARGELOSS | DO_NOT_USE in place (see the module docstring).

    sci : float32 (nints, ngroups, ny, nx), not modified
    gdq : uint8, same shape, modified in place
    signal_threshold : DN; compared with SCI in float32 (as numpy 2 does in jwst)
    """
    if sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be float32 (nints, ngroups, ny, nx); got {sci.dtype} {sci.shape}")
    if gdq.shape != sci.shape or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 {sci.shape}; got {gdq.dtype} {gdq.shape}")
    thr = np.float32(signal_threshold)
    first = np.empty(sci.shape[2:], dtype=np.int64)
    flag = np.uint8(CHARGELOSS | DO_NOT_USE)
    from ..kernels.charge_migration import flag_integration

    for i in range(sci.shape[0]):
        flag_integration(sci[i], gdq[i], thr, np.uint8(DO_NOT_USE), flag, first)


class ChargeMigration(Step):
    """jwst ``ChargeMigrationStep`` (class_alias "charge_migration"); no reference file.

    Parameters as jwst's spec: ``signal_threshold`` (25000.0 DN). (jwst's ``skip = True``
    default is the config's ``steps`` list here.)
    """

    name = "charge_migration"
    keyword = "S_CHGMIG"
    reftypes = ()
    spec = """
        signal_threshold = float(default=25000)  # DN above which a group and the rest of its ramp get CHARGELOSS
    """
    skip_default = True
    modifies_sci = False

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        if meta.ngroups < 3:
            self.skipped = f"too few groups per integration ({meta.ngroups} < 3)"
        else:
            log.info("charge_migration: signal_threshold %.2f", float(self.params["signal_threshold"]))

    def process(self, sci, gdq, pdq, ints, rows):
        flag_charge_migration(sci, gdq, self.params["signal_threshold"])
