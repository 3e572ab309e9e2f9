"""What the workflow's references job resolved for each exposure, for the step jobs after it.

The references job (:mod:`rampflow.prefetch`) writes one line per exposure and item to its
``.ready`` marker: ``<uncal name> <reftype> <path>`` for each reference file (``N/A`` for an
optional type CRDS marks not applicable), ``<uncal name> pars-<step> <path or N/A>`` for each
step's CRDS parameter file (N/A: none), and ``<uncal name> context <CRDS context>``. A step
job given that list (:func:`using`, from ``runner.run(..., resolved=...)``) takes its
exposure's entries instead of asking CRDS again, so it does not import the CRDS client at all
(about half a second a job, eleven times in the per-step layout). Products are the same: the
files are the ones CRDS gave, recorded as ``crds://<name>`` with the same ``CRDS_CTX``.
Anything the list lacks, or a file it names that is gone, is resolved through CRDS as before;
a job pinned to another context than the list's ignores the list.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: the value for "no file" (a parameter file CRDS does not have, an optional reference CRDS marks
#: not applicable)
NONE = "N/A"
CONTEXT = "context"


@dataclass
class Resolved:
    """One exposure's entries of a references job's list."""

    exposure: str
    refs: dict = field(default_factory=dict)   # reftype -> path or NONE
    pars: dict = field(default_factory=dict)   # step -> path, or None for no parameter file
    context: str | None = None


def read(path, exposure: str) -> Resolved | None:
    """The entries of ``exposure`` (an uncal file's name) in the list ``path``; None when the
    list cannot be read or has none for it (the job then asks CRDS, as without a list)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        log.warning("%s: cannot read the references job's list %s (%s): asking CRDS", exposure, path, exc)
        return None
    res = Resolved(exposure)
    found = False
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) != 3 or parts[0] != exposure:
            continue
        found = True
        _, key, value = parts
        if key == CONTEXT:
            res.context = value
        elif key.startswith("pars-"):
            res.pars[key[len("pars-"):]] = None if value == NONE else value
        else:
            res.refs[key.lower()] = value
    return res if found else None


_CURRENT: Resolved | None = None


@contextlib.contextmanager
def using(res: Resolved | None, context: str | None = None):
    """Within the block, :func:`reference` and :func:`pars_file` answer from ``res`` (unless the
    job is pinned to a ``context`` other than the list's)."""
    global _CURRENT
    before = _CURRENT
    if res is not None and context and res.context and context != res.context:
        log.info("%s: the job's CRDS context %s is not the references job's %s: asking CRDS",
                 res.exposure, context, res.context)
        res = None
    _CURRENT = res
    try:
        yield
    finally:
        _CURRENT = before


def reference(reftype: str, optional: bool) -> str | None:
    """The listed file of ``reftype`` (:data:`NONE` for an optional type listed as not
    applicable), or None when the list has no usable entry (no list, no line, a file gone)."""
    if _CURRENT is None:
        return None
    value = _CURRENT.refs.get(reftype)
    if value is None:
        return None
    if value == NONE:
        return NONE if optional else None
    return value if os.path.isfile(value) else None


def pars_file(step: str) -> tuple[bool, str | None]:
    """(listed, path): whether the list says which parameter file ``step`` has, and that file
    (None: it has none). A listed file that is gone counts as not listed."""
    if _CURRENT is None or step not in _CURRENT.pars:
        return False, None
    value = _CURRENT.pars[step]
    if value is not None and not os.path.isfile(value):
        return False, None
    return True, value


def context() -> str | None:
    """The list's CRDS context (None: no list in use, or it names none)."""
    return None if _CURRENT is None else _CURRENT.context
