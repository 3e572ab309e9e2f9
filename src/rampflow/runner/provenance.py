"""What a product records about the steps that made it: S_ keywords, R_ keywords (reference
files and step inputs), CRDS_CTX and HISTORY lines."""

from __future__ import annotations

from pathlib import Path

#: reference types whose R_ keyword is not R_ + their first 6 letters (stdatamodels' schema)
_REF_KEYWORDS = {"emicorr": "R_MIREMI", "sirskernel": "R_SIRSKL"}


def ref_keyword(reftype: str) -> str:
    """jwst's R_ keyword for a reference type (R_ + first 6 letters, upper case, but for the
    exceptions of :data:`_REF_KEYWORDS`: EMICORR's is R_MIREMI, SIRSKERNEL's R_SIRSKL)."""
    return _REF_KEYWORDS.get(reftype.lower(), "R_" + reftype.upper()[:6])


def pars_keyword(keyword: str) -> str:
    """The keyword recording a step's CRDS parameter file: P_ + its S_ keyword's name
    (S_JUMP -> P_JUMP, S_SATURA -> P_SATURA); 'N/A' when none was used."""
    return "P_" + keyword[2:]


def ref_value(path, overrides: dict | None) -> str:
    """What jwst records in R_<TYPE>: the path as given for an override, else crds://<name>."""
    if str(path) == "N/A":  # an optional reference CRDS marks not applicable: recorded as jwst does
        return "N/A"
    given = {str(v) for v in (overrides or {}).values()}
    return str(path) if str(path) in given else f"crds://{Path(path).name}"


def provenance(step, paths: dict, ctx: str | None, overrides: dict | None = None,
               input_names: dict | None = None) -> tuple[dict, list[str]]:
    """Header keywords and HISTORY lines recording what ran.

    paths : reftype -> reference file used; ctx : the CRDS context (None if every file was
    an override); input_names : step input -> what to record for it (file name, or how it
    was built), in the keyword the step names in ``input_keywords``.
    """
    status = "FAILED" if getattr(step, "failed", False) else ("SKIPPED" if step.skipped else "COMPLETE")
    updates = {step.keyword: (status, f"rampflow {step.name}")}
    resolved = getattr(step, "resolved", None)
    if resolved is not None and step.official:
        updates[pars_keyword(step.keyword)] = (resolved.pars_name, "CRDS parameter file of the step")
    for rt, p in paths.items():
        updates[ref_keyword(rt)] = (ref_value(p, overrides), f"{rt} reference file")
    if ctx:
        updates["CRDS_CTX"] = (ctx, "CRDS context used")
    for key, value in (input_names or {}).items():
        keyword, comment = step.input_keywords[key]
        updates[keyword] = (str(value)[:67], comment)
    updates.update(step.header_updates())
    return updates, step.history()


def late_updates(steps, updates: dict) -> dict:
    """Keywords the steps computed while processing (e.g. jump's PRIMECRS) that ``updates``,
    made before the first chunk, does not hold yet."""
    late: dict = {}
    for step in steps:
        late.update(step.header_updates())
    return {k: v for k, v in late.items() if updates.get(k) != v}
