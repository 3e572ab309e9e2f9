"""RSCD flagging: jwst's ``rscd`` step (``jwst.rscd.rscd_sub``, jwst 3.0).

MIRI's reset-switch charge decay makes the first groups of an integration unreliable. In jwst
3.0 the step no longer corrects the data: it flags the first N groups of each integration
DO_NOT_USE in GROUPDQ. N comes from the RSCD reference's RSCD_GROUP_SKIP table, the row
whose SUBARRAY and READPATT match the exposure's (the old LRS name SUBPRISM read as
SLITLESSPRISM): ``group_skip1`` for integration 1 (a negative value -- an old reference --
means 1) and ``group_skip`` for integrations 2 and later. Then, as jwst:

* fewer than 3 groups: SKIPPED; no matching row: SKIPPED;
* 5 groups or fewer: N = 1 for every integration;
* the N+3 guard: when NGROUPS < N + 3, N becomes max(0, NGROUPS - 3) (integration 1; and
  integrations 2+ when NINTS > 1), so that at least 3 groups are left;
* saturation back-off: a pixel whose group N+2 (1-based) is SATURATED (but not its group 1)
  gets N lowered until its group at the new limit is not saturated (jwst's loop lowers every
  still-saturated pixel of the integration range by one and looks one group earlier, while any
  pixel of the range is still saturated there); pixels lowered in any integration get
  FLUX_ESTIMATED in PIXELDQ.
* integration 1 is the file's first integration only when INTSTART is 1 (a later segment's
  integrations all use the 2+ value); integrations 2+ are flagged only when NINTS > 1.

The headers record INT1SKIP, INT2SKIP, INT1BORS, INT2BORS (pixels backed off), INT1UGP1,
INT2UGP1 (pixels left with their first group), as jwst's ``meta.rscd``.

A detector that is not MIRI's, or no RSCD reference (CRDS N/A): SKIPPED, as in jwst.

Difference from jwst, by design of the chunked runner: jwst runs its back-off loop once over
all integrations 2+; rampflow runs it over each chunk of integrations. The two agree whenever
a pixel's SATURATED flags, once set, stay set in later groups of the integration (which is how
the saturation step flags them); the pixel counts in INT2BORS / INT2UGP1 are unions over the
chunks, as jwst's are over all integrations.
"""

from __future__ import annotations

import logging

import numpy as np

from ..dq import DO_NOT_USE, FLUX_ESTIMATED, SATURATED
from .base import Step
from .lastframe import miri_only

log = logging.getLogger(__name__)


def rscd_skip_counts(table, subarray: str, readpatt: str) -> tuple[int, int] | None:
    """(group_skip1, group_skip) of the RSCD_GROUP_SKIP row matching ``subarray`` and
    ``readpatt`` (first match, as jwst), or None. SUBPRISM is read as SLITLESSPRISM; a
    negative group_skip1 (deprecated reference) becomes 1."""
    sub = "SLITLESSPRISM" if subarray.upper() == "SUBPRISM" else subarray
    names = {c.lower(): c for c in table.colnames}
    for need in ("subarray", "readpatt", "group_skip", "group_skip1"):
        if need not in names:
            raise ValueError(f"RSCD_GROUP_SKIP table has no {need.upper()} column (has {table.colnames})")
    for row in table:
        if str(row[names["subarray"]]).strip() == sub and str(row[names["readpatt"]]).strip() == readpatt:
            skip1, skip2p = int(row[names["group_skip1"]]), int(row[names["group_skip"]])
            if skip1 < 0:
                log.warning("rscd: deprecated RSCD reference (no value for integration 1); flagging 1 group")
                skip1 = 1
            return skip1, skip2p
    return None


def guarded_skips(ngroups: int, nints: int, skip1: int, skip2p: int) -> tuple[int, int]:
    """The groups to flag in integration 1 and in integrations 2+ after jwst's rules: 1 and 1
    with 5 groups or fewer; the N+3 guard (at least 3 groups left) otherwise."""
    if ngroups <= 5:
        skip1 = skip2p = 1
    if ngroups < skip1 + 3:
        skip1 = max(0, ngroups - 3)
    if nints > 1 and ngroups < skip2p + 3:
        skip2p = max(0, ngroups - 3)
    return skip1, skip2p


def skip_per_pixel(gdq: np.ndarray, skip: int) -> tuple[np.ndarray, bool]:
    """(int64 (nints, ny, nx): groups to flag per integration and pixel, ``skip`` lowered for
    saturation as jwst's ``flag_rscd`` does over the integrations of ``gdq`` (uint8 (nints,
    ngroups, ny, nx), ngroups >= skip + 2); whether any pixel needed lowering)."""
    sat = np.uint8(SATURATED)
    out = np.full((gdq.shape[0],) + gdq.shape[2:], skip, dtype=np.int64)
    group1_sat = (gdq[:, 0] & sat) > 0
    level = skip + 2  # 1-based group whose saturation forces a back-off
    problem = ((gdq[:, level - 1] & sat) > 0) & ~group1_sat
    lowered = bool(problem.any())
    while problem.any() and level > 1:
        out[problem] = np.maximum(out[problem] - 1, 0)
        level -= 1
        problem = ((gdq[:, level - 1] & sat) > 0) & ~group1_sat
    return out, lowered


def flag_rscd(gdq: np.ndarray, pdq: np.ndarray, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Flag the first groups of every integration of ``gdq`` DO_NOT_USE in place (``skip``
    each, lowered for saturation), and FLUX_ESTIMATED in ``pdq`` where lowered.

    gdq : uint8 (nints, ngroups, ny, nx); pdq : uint32 (ny, nx).
    Returns (backed_off, one_group): bool (ny, nx) masks of the pixels whose count was lowered
    in some integration, and of the pixels left with 0 groups to flag in some integration
    (counted, as jwst does, only when some pixel needed lowering).
    """
    if gdq.ndim != 4 or gdq.dtype != np.uint8:
        raise ValueError(f"gdq must be uint8 (nints, ngroups, ny, nx); got {gdq.dtype} {gdq.shape}")
    if pdq.shape != gdq.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 {gdq.shape[2:]}; got {pdq.dtype} {pdq.shape}")
    if skip + 2 > gdq.shape[1]:
        raise ValueError(f"cannot flag {skip} groups of {gdq.shape[1]}-group integrations (needs skip + 2 groups)")
    n, lowered = skip_per_pixel(gdq, skip)
    groups = np.arange(gdq.shape[1])
    mask = groups[None, :, None, None] < n[:, None, :, :]
    gdq[mask] |= np.uint8(DO_NOT_USE)
    backed_off = np.any(n < skip, axis=0)
    pdq[backed_off] |= np.uint32(FLUX_ESTIMATED)
    one_group = np.any(n == 0, axis=0) if lowered else np.zeros(pdq.shape, dtype=bool)
    return backed_off, one_group


class Rscd(Step):
    """jwst ``RscdStep`` (class_alias "rscd"); reference RSCD, no parameters."""

    name = "rscd"
    keyword = "S_RSCD"
    reftypes = ("rscd",)
    optional_reftypes = ("rscd",)
    spec = ""  # jwst's RscdStep takes no parameters
    modifies_sci = False

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        self.first_is_int1 = int(meta.extra.get("INTSTART", 1) or 1) == 1
        self._masks = {1: None, 2: None}
        if not miri_only(self):
            return
        ref = refs.get("rscd")
        if ref is None:
            self.skipped = "no RSCD reference file (CRDS: N/A)"
            return
        table = ref.tables.get("RSCD_GROUP_SKIP")
        if table is None:
            raise ValueError(f"{ref.path}: RSCD reference has no RSCD_GROUP_SKIP table (has {sorted(ref.tables)})")
        found = rscd_skip_counts(table, meta.subarray, meta.readpatt)
        if found is None:
            self.skipped = (f"READPATT {meta.readpatt}, SUBARRAY {meta.subarray} combination not found in "
                            f"{ref.name}")
            return
        if meta.ngroups < 3:
            self.skipped = f"too few groups per integration ({meta.ngroups} < 3)"
            return
        self.skip1, self.skip2p = guarded_skips(meta.ngroups, meta.nints, *found)
        log.info("rscd: groups flagged in integration 1: %d; in integrations 2+: %d", self.skip1, self.skip2p)

    def _merge(self, which, masks):
        old = self._masks[which]
        self._masks[which] = masks if old is None else (old[0] | masks[0], old[1] | masks[1])

    def process(self, sci, gdq, pdq, ints, rows):
        start = 0
        if self.first_is_int1 and ints.start == 0:
            self._merge(1, flag_rscd(gdq[:1], pdq, self.skip1))
            start = 1
        if self.meta.nints > 1 and start < gdq.shape[0]:
            self._merge(2, flag_rscd(gdq[start:], pdq, self.skip2p))

    def header_updates(self):
        if self.skipped:
            return {}
        out = {}
        for which, skip in ((1, self.skip1), (2, self.skip2p)):
            masks = self._masks[which]
            if masks is None:
                continue
            out[f"INT{which}SKIP"] = (skip, f"Number of groups skipped in int {'1' if which == 1 else '2 and higher'}")
            out[f"INT{which}BORS"] = (int(masks[0].sum()), "RSCD back-off due to saturation (pixels)")
            out[f"INT{which}UGP1"] = (int(masks[1].sum()), "Pixels where the first group is kept")
        return out
