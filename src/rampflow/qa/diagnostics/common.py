"""Helpers shared by the diagnostics: chunks of integrations that fit a memory budget, group
times, and the group flags that make a group unusable."""

from __future__ import annotations

import numpy as np

from ... import dq as dqflags

#: memory budget (MB) of one chunk of integrations read by a diagnostic
DEFAULT_CHUNK_MB = 256
#: GROUPDQ bits of a group a diagnostic leaves out
BAD_GROUP = dqflags.DO_NOT_USE | dqflags.SATURATED


def int_chunks(rf, chunk_mb: float, ngroups_read: int | None = None) -> list[slice]:
    """Slices of integrations whose read (``ngroups_read`` groups, float32 + uint8) fits chunk_mb."""
    nints, ngroups, ny, nx = rf.shape
    ng = ngroups if ngroups_read is None else ngroups_read
    per_int = max(1, ng * ny * nx * 5)
    n = max(1, int(float(chunk_mb) * 2**20 // per_int))
    return [slice(i, min(nints, i + n)) for i in range(0, nints, n)]


def group_times(meta, ngroups: int) -> np.ndarray:
    """Time (s) at the end of each group from the start of the integration."""
    tg = float(meta.tgroup) if meta.tgroup else 1.0
    return (np.arange(ngroups) + 1.0) * tg
