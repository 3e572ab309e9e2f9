"""Each exposure in its own instrument's calwebb_detector1 order: the plan by instrument family.

jwst runs MIRI exposures through MIRI's step order and all others through the near-infrared
one (:mod:`rampflow.steps.order`). The plan of one family is the plan of the config *as that
family sees it* (:func:`family_config`): its ``steps`` cut to what the family runs, in the
family's order (or, when the config left ``steps`` out, jwst's default for the family). Every
planning function of :mod:`rampflow.wiring` then works unchanged on that view.

A program of one family gets that family's jobs under their usual names. A program mixing
families (a local folder of MIRI and NIRSpec exposures) gets each per-exposure job once per
family, named ``<job>_<family>`` (``step_refpix_miri``, ``step_refpix_nir``) and restricted to
the family's exposures by :func:`stem_regex` (the rule's wildcard constraint), so a MIRI
exposure's refpix reads its dark_current product and a NIRSpec one's its superbias product.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import config as rfconfig
from .. import names
from ..steps import order as step_order

#: a stem's detector is its last ``_`` token; MIRI's detectors start with ``mir``
_FAMILY_REGEX = {"MIRI": r"[^/]*_[mM][iI][rR][^_/]*", "NIR": r"[^/]*_(?![mM][iI][rR])[^_/]+"}


def stem_family(stem: str) -> str:
    """``"MIRI"`` or ``"NIR"`` for exposure ``stem``, from its detector (``..._mirimage``)."""
    return step_order.family(names.stem_detector(stem))


def stem_regex(family: str | None) -> dict:
    """The wildcard constraint of a job planned for ``family`` (``{"stem": regex}``), or ``{}``
    for a job of every exposure."""
    return {"stem": _FAMILY_REGEX[family]} if family else {}


def program_families(config: dict, stems=()) -> tuple[str, ...]:
    """The families of the program's exposures: those of ``stems`` when given (sorted), else
    the one the config names (:func:`rampflow.config.program_family`), else ()."""
    fams = sorted({stem_family(s) for s in stems})
    if fams:
        return tuple(fams)
    fam = rfconfig.program_family(config)
    return (fam,) if fam else ()


def family_config(config: dict, family: str | None) -> dict:
    """The config as exposures of ``family`` see it: ``steps`` in the family's calwebb_detector1
    order, cut to what it runs (:func:`rampflow.steps.order.exposure_steps`), or jwst's default
    for the family when the schema filled ``steps`` (listed in ``_defaults_applied``). ``family``
    None: the config itself."""
    if family is None:
        return config
    if "steps" in (config.get("_defaults_applied") or ()):
        steps = step_order.default_steps(family)
    else:
        steps = step_order.exposure_steps(config["steps"], family)
    if steps == list(config["steps"]):
        return config
    return {**config, "steps": steps}


def stem_config(config: dict, stem: str) -> dict:
    """:func:`family_config` for exposure ``stem``'s family."""
    return family_config(config, stem_family(stem))


def exposure_chain(config: dict, stem: str) -> list[str]:
    """The ramp steps exposure ``stem`` runs, in its own instrument's calwebb_detector1 order."""
    return rfconfig.ramp_steps(stem_config(config, stem)["steps"])


def plan_by_family(config: dict, families, plan) -> list:
    """``plan(view)`` (a list of jobs) for each family's view of the config. One family (or
    none given): its jobs as they are. Several: each per-exposure job once per family, renamed
    ``<name>_<family>`` and marked with the family; program-wide jobs once."""
    families = tuple(families or ())
    if len(families) <= 1:
        return plan(family_config(config, families[0] if families else None))
    out, seen = [], set()
    for fam in families:
        for job in plan(family_config(config, fam)):
            if job.subcategory != "{stem}":
                if job.name not in seen:
                    seen.add(job.name)
                    out.append(job)
                continue
            out.append(replace(job, name=f"{job.name}_{fam.lower()}", family=fam))
    return out


def variants(jobs: dict, name: str) -> list:
    """The jobs planned from job ``name`` (``jobs``: name -> Job): the job itself, or its
    per-family copies ``<name>_<family>`` in a mixed program."""
    pattern = re.compile(re.escape(name) + r"(_(miri|nir))?$")
    return [j for n, j in jobs.items() if pattern.fullmatch(n)]
