"""calwebb_detector1's step order by instrument (jwst 3.0, ``jwst/pipeline/calwebb_detector1.py``).

jwst runs MIRI exposures (``meta.instrument.name == "MIRI"``) through their own order and every
other instrument through the near-infrared one; the steps after dark_current / refpix are
shared. A step not in an instrument's order is not run for it (superbias for MIRI; emicorr,
firstframe, lastframe, reset and rscd for NIRCam, NIRSpec, NIRISS). Only the steps rampflow
implements are listed (jwst's picture_frame, skipped by default, is not; it would come between
jump and clean_flicker_noise).

Pure functions of step names and instrument names:

* :func:`family` -- ``"MIRI"`` or ``"NIR"`` for an instrument (or a detector name);
* :func:`detector1_order` -- the official steps in jwst's order for that family;
* :func:`default_steps` -- the steps jwst runs by default (its ``skip = True`` steps left out),
  plus rampflow's additions for the exposure types that need them (:data:`MODE_STEPS`);
* :func:`mode_step_params` -- the parameters of those additions for one exposure type;
* :func:`check_order` -- an explicit ``steps`` list against one family's order, naming the
  step out of place;
* :func:`steps_for` -- a ``steps`` list cut to what one family runs (custom steps kept);
* :func:`list_family` -- the family a flat ``steps`` list is written for.
"""

from __future__ import annotations

#: the shared tail of calwebb_detector1 (both families), in order
_TAIL = ("charge_migration", "jump", "clean_flicker_noise", "persistence", "ramp_fit", "gain_scale")

#: jwst 3.0's calwebb_detector1 order of the official steps rampflow implements, by family
DETECTOR1_ORDERS = {
    "NIR": ("group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity", "dark_current")
    + _TAIL,
    "MIRI": ("group_scale", "dq_init", "emicorr", "saturation", "ipc", "firstframe", "lastframe", "reset",
             "linearity", "rscd", "dark_current", "refpix") + _TAIL,
}
#: steps only one family runs
ONLY = {f: tuple(s for s in order if s not in DETECTOR1_ORDERS["MIRI" if f == "NIR" else "NIR"])
        for f, order in DETECTOR1_ORDERS.items()}
FAMILIES = tuple(DETECTOR1_ORDERS)

#: rampflow's additions to jwst's default list, by EXP_TYPE: step -> (the official step it
#: comes right before, its parameters for that exposure type). NIRCam grism time series read
#: along rows, the direction the spectrum disperses: their 1/f stripes are row offsets of every
#: group, which the ramp fit weights differently in bright (trace) and faint (background)
#: pixels once there are 4 or more groups, so no per-row term after the fit removes them; they
#: must go before the fit (group-level destriping, before jump). Whole-row medians outside 6
#: rows of the trace: F322W2 light covers outputs 1-3 of the trace's rows from side to side.
MODE_STEPS = {
    "NRC_TSGRISM": {"destripe": ("jump", {"trace_radius": 6, "per_amplifier": False})},
}

class StepOrderError(ValueError):
    """A ``steps`` list contradicts calwebb_detector1's order; the message names the step."""


def family(instrument: str) -> str:
    """``"MIRI"`` for MIRI (or a MIRI detector name, MIRIMAGE, MIRIFULONG, ...), else ``"NIR"``
    (jwst: every instrument that is not MIRI takes the near-infrared order)."""
    name = str(instrument).strip().upper()
    if not name:
        raise ValueError("instrument name is empty")
    return "MIRI" if name.startswith("MIR") else "NIR"


def _family_of(instrument: str) -> str:
    """A family name given as such ("NIR", "MIRI"), else :func:`family` of an instrument."""
    name = str(instrument).strip().upper()
    return name if name in FAMILIES else family(name)


def detector1_order(instrument: str) -> tuple[str, ...]:
    """The official steps in calwebb_detector1's order for ``instrument`` (or a family name)."""
    return DETECTOR1_ORDERS[_family_of(instrument)]


def default_steps(instrument: str, with_crds_enabled: bool = False, exp_types=()) -> list[str]:
    """What calwebb_detector1 runs by default for ``instrument``: its order without the steps
    jwst skips by default (``skip = True`` in their spec: emicorr, firstframe,
    charge_migration, persistence); ``with_crds_enabled``: with those that CRDS parameter files
    turn on per mode (:func:`crds_enabled_steps`) kept in their place.

    exp_types : the EXP_TYPEs the list is for; rampflow's additions for them
        (:data:`MODE_STEPS`, e.g. destripe before jump for NRC_TSGRISM, with the parameters
        :func:`default_step_params` gives) are inserted; none for an exposure type jwst's list
        serves as it is, or when the exposure types are not known (``()``)."""
    from . import get_step_class

    extra = crds_enabled_steps(instrument) if with_crds_enabled else ()
    steps = [s for s in detector1_order(instrument) if not get_step_class(s).skip_default or s in extra]
    for step, before in mode_additions(instrument, exp_types).items():
        if step not in steps:
            steps.insert(steps.index(before) if before in steps else len(steps), step)
    return steps


def mode_additions(instrument: str, exp_types=()) -> dict:
    """step -> the official step it goes before, of rampflow's additions (:data:`MODE_STEPS`)
    for those of ``exp_types`` that ``instrument``'s family runs."""
    fam = _family_of(instrument)
    out = {}
    for exp in sorted({str(e).upper() for e in exp_types or ()} & set(MODE_STEPS)):
        if family(exp) != fam:
            continue
        for step, (before, _) in MODE_STEPS[exp].items():
            out.setdefault(step, before)
    return out


def default_step_params(exp_types=()) -> dict:
    """step -> parameters of rampflow's default additions (:data:`MODE_STEPS`) for
    ``exp_types``, e.g. ``{"destripe": {"trace_radius": 6, "per_amplifier": False}}`` for
    NRC_TSGRISM; ``{}`` for exposure types jwst's list serves as it is."""
    out = {}
    for exp in sorted({str(e).upper() for e in exp_types or ()} & set(MODE_STEPS)):
        for step, (_, params) in MODE_STEPS[exp].items():
            out.setdefault(step, dict(params))
    return out


def crds_enabled_steps(instrument: str) -> list[str]:
    """The steps jwst skips by default that CRDS parameter files turn on for some modes
    (``crds_enables``: clean_flicker_noise, on for NIRSpec BOTS)."""
    from . import get_step_class

    return [s for s in detector1_order(instrument) if getattr(get_step_class(s), "crds_enables", False)]


def _is_official(step: str) -> bool:
    from . import get_step_class

    return get_step_class(step).official


def check_order(steps, instrument: str) -> None:
    """Raise :class:`StepOrderError` naming the first step of ``steps`` that jwst does not run
    for ``instrument`` (e.g. superbias for MIRI) or that comes before an official step jwst runs
    before it (e.g. refpix before linearity for MIRI). Custom steps are not checked here."""
    fam = _family_of(instrument)
    order = DETECTOR1_ORDERS[fam]
    official = [s for s in steps if _is_official(s)]
    for s in official:
        if s not in order:
            raise StepOrderError(f"steps: {s} is not a calwebb_detector1 step for {fam} exposures "
                                 f"(jwst runs {', '.join(order)})")
    for a, b in zip(official, official[1:]):
        if order.index(b) < order.index(a):
            raise StepOrderError(f"steps: {b} must come before {a} for {fam} exposures (calwebb_detector1 "
                                 f"order: {', '.join(s for s in order if s in official)})")


def steps_for(steps, instrument: str) -> list[str]:
    """``steps`` cut to what calwebb_detector1 runs for ``instrument``: official steps not in
    its order are dropped (superbias for MIRI, the MIRI-only steps for NIR), custom steps kept
    in place."""
    order = detector1_order(instrument)
    return [s for s in steps if s in order or not _is_official(s)]


def list_family(steps) -> str | None:
    """The family a flat ``steps`` list is written for: the one whose only-steps it holds
    (``"MIRI"`` for emicorr, firstframe, lastframe, reset, rscd; ``"NIR"`` for superbias), else
    the one whose order it follows when only one does, else None (valid for both).
    StepOrderError naming the steps when it holds steps of both families."""
    steps = list(steps)
    held = {f: [s for s in steps if s in ONLY[f]] for f in FAMILIES}
    if held["MIRI"] and held["NIR"]:
        raise StepOrderError(f"steps: {held['NIR'][0]} (near-infrared only) and {held['MIRI'][0]} (MIRI only) "
                             f"cannot be in one list; calwebb_detector1 never runs both for an exposure")
    for f in FAMILIES:
        if held[f]:
            return f
    fits = []
    for f in FAMILIES:
        try:
            check_order(steps, f)
            fits.append(f)
        except StepOrderError:
            pass
    return fits[0] if len(fits) == 1 else None


def exposure_steps(steps, instrument: str) -> list[str]:
    """The steps one exposure of ``instrument`` runs from a program's ``steps`` list, in its
    own calwebb_detector1 order: the official steps jwst runs for it (others dropped, see
    :func:`steps_for`) sorted into its order, each custom step placed after every official
    step it follows in the list (right after the latest of them in the instrument's order;
    first when it follows none), so it still sees the ramp it saw. For a list already in the
    instrument's order this is the list itself, less the steps the instrument does not run."""
    order = detector1_order(instrument)
    kept = steps_for(steps, instrument)
    after: dict[str | None, list[str]] = {}
    anchor = None  # the latest, in the instrument's order, of the official steps seen so far
    for s in kept:
        if s in order:
            if anchor is None or order.index(s) > order.index(anchor):
                anchor = s
        else:
            after.setdefault(anchor, []).append(s)
    out = list(after.get(None, []))
    for s in sorted((s for s in kept if s in order), key=order.index):
        out += [s, *after.get(s, [])]
    return out
