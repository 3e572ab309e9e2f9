"""Helpers shared by the parity tests: run an official jwst step offline, run rampflow's step
on the same model, and compare. Imported by name (``from parity_helpers import ...``) so that
test modules never import a ``conftest`` (which collides between test directories).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path

import numpy as np

#: our step name -> jwst step class
JWST_STEPS = {
    "group_scale": "jwst.group_scale.GroupScaleStep",
    "dq_init": "jwst.dq_init.DQInitStep",
    "saturation": "jwst.saturation.SaturationStep",
    "ipc": "jwst.ipc.IPCStep",
    "superbias": "jwst.superbias.SuperBiasStep",
    "refpix": "jwst.refpix.RefPixStep",
    "linearity": "jwst.linearity.LinearityStep",
    "dark_current": "jwst.dark_current.DarkCurrentStep",
    "charge_migration": "jwst.charge_migration.ChargeMigrationStep",
    "jump": "jwst.jump.JumpStep",
    "persistence": "jwst.persistence.PersistenceStep",
    "ramp_fit": "jwst.ramp_fitting.RampFitStep",
    "gain_scale": "jwst.gain_scale.GainScaleStep",
    "emicorr": "jwst.emicorr.EmiCorrStep",
    "firstframe": "jwst.firstframe.FirstFrameStep",
    "lastframe": "jwst.lastframe.LastFrameStep",
    "reset": "jwst.reset.ResetStep",
    "rscd": "jwst.rscd.RscdStep",
}
#: reference types each jwst step is given as overrides
JWST_OVERRIDES = {
    "group_scale": [],
    "dq_init": ["mask"],
    "saturation": ["saturation", "superbias"],
    "ipc": ["ipc"],
    "superbias": ["superbias"],
    "refpix": [],
    "linearity": ["linearity"],
    "dark_current": ["dark"],
    "charge_migration": [],
    "jump": ["readnoise", "gain"],
    "persistence": [],
    "ramp_fit": ["readnoise", "gain"],
    "gain_scale": ["gain"],
    "emicorr": ["emicorr"],
    "firstframe": [],
    "lastframe": [],
    "reset": ["reset"],
    "rscd": ["rscd"],
}
FIXED_OVERRIDES = {"refpix": {"override_refpix": "N/A", "override_sirskernel": "N/A"}}


@contextlib.contextmanager
def offline_env(root: Path):
    """Environment under which jwst steps run with no network over the cache at ``root``
    (restored afterwards)."""
    from rampflow.simulate import override_only_crds

    env = override_only_crds(root)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield root
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def jwst_step_class(name: str):
    mod, cls = JWST_STEPS[name].rsplit(".", 1)
    return getattr(importlib.import_module(mod), cls)


def run_jwst_step(name: str, model, refs: dict, **params):
    """Run the official jwst step ``name`` on ``model`` (a datamodel or a path), offline.

    ``refs`` maps reftype -> path; the step gets the overrides it needs. Returns the
    step's output model (a tuple for ramp_fit: (rate, rateints)).
    """
    kw = {f"override_{rt}": str(refs[rt]) for rt in JWST_OVERRIDES[name]}
    kw.update(FIXED_OVERRIDES.get(name, {}))
    kw.update(params)
    return jwst_step_class(name).call(model, **kw)


def jwst_chain(uncal, refs: dict, steps: list[str], params: dict | None = None):
    """Run jwst steps in order from an uncal file; returns the last output model."""
    params = params or {}
    model = str(uncal)
    for s in steps:
        model = run_jwst_step(s, model, refs, **params.get(s, {}))
    return model


def run_our_step(name: str, model, meta, refs: dict, **params):
    """Run rampflow's step ``name`` on copies of a jwst RampModel's arrays (whole cube).

    Returns (sci float32, groupdq uint8, pixeldq uint32, step instance).
    """
    from rampflow.references import load_reference
    from rampflow.steps import get_step_class

    cls = get_step_class(name)
    loaded = {rt: load_reference(rt, refs[rt], meta) for rt in cls.reftypes}
    step = cls(meta, loaded, **params)
    sci = np.array(model.data, dtype=np.float32, copy=True)
    gdq = np.array(model.groupdq, dtype=np.uint8, copy=True)
    pdq = np.array(model.pixeldq, dtype=np.uint32, copy=True)
    if step.skipped is None:
        step.process(sci, gdq, pdq, slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return sci, gdq, pdq, step


def assert_ramp_parity(ours, theirs, *, rtol=1e-6, atol=0.0, extra_pixeldq=None):
    """SCI to float32 rounding; GROUPDQ and PIXELDQ exactly. ``extra_pixeldq`` (uint32 (ny, nx)):
    flags rampflow adds on purpose (documented differences), OR-ed into jwst's PIXELDQ."""
    sci, gdq, pdq = ours[:3]
    expected = np.asarray(theirs.pixeldq, dtype=np.uint32)
    if extra_pixeldq is not None:
        expected = expected | extra_pixeldq
    np.testing.assert_array_equal(pdq, expected, err_msg="PIXELDQ differs")
    np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq, dtype=np.uint8), err_msg="GROUPDQ differs")
    np.testing.assert_allclose(sci, np.asarray(theirs.data, dtype=np.float32), rtol=rtol, atol=atol,
                               err_msg="SCI differs")


def with_overrides(cls, **attrs):
    """A subclass of the jwst step class ``cls`` whose instances carry ``attrs`` (e.g.
    ``override_gain``). jwst steps that build other steps inside them (clean_flicker_noise's
    draft rate, flat field, background) do not pass their own overrides on: the parity tests
    patch those inner classes with this one so they read the case's reference files offline."""

    def __init__(self, *args, **kwargs):
        cls.__init__(self, *args, **kwargs)
        for name, value in attrs.items():
            setattr(self, name, value)

    return type("Offline" + cls.__name__, (cls,), {"__init__": __init__})


def draft_ramp_fit(refs: dict):
    """jwst's RampFitStep reading the case's GAIN and READNOISE (clean_flicker_noise's draft rate)."""
    from jwst.ramp_fitting import RampFitStep

    return with_overrides(RampFitStep, override_gain=str(refs["gain"]), override_readnoise=str(refs["readnoise"]))


def run_our_flicker(refs: dict, model, tmp_path, **params):
    """rampflow's clean_flicker_noise on a jwst RampModel, saved first (the draft rate is a
    pass over a file), with the references the runner would resolve for it taken from
    ``refs`` (reftype -> path). Returns (sci, groupdq, pixeldq, step)."""
    from rampflow import io
    from rampflow.references import load_reference
    from rampflow.steps import get_step_class

    path = tmp_path / "flicker_in.fits"
    model.save(str(path))
    cls = get_step_class("clean_flicker_noise")
    with io.open_ramp(path) as rf:
        types = [rt for rt in cls.reftypes_for(rf.meta, {**cls.defaults, **params}) if rt in refs]
        step = cls(rf.meta, {rt: load_reference(rt, refs[rt], rf.meta) for rt in types}, **params)
        step.prepare(rf)
        sci, gdq = (np.array(a) for a in rf.read())
        pdq = rf.pixeldq()
        if not step.skipped:
            step.process(sci, gdq, pdq, slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return sci, gdq, pdq, step


# --- simulated cases (small, session-scoped) -------------------------------------------


#: (uncal path, steps) -> jwst output model, shared by the parity tests of consecutive steps
_JWST_STAGES: dict = {}


def jwst_stage(case, steps):
    """jwst's output (default parameters) after ``steps`` applied to ``case.uncal``, cached for
    the session; continues from the longest cached prefix. Do not modify the returned model
    (jwst steps called standalone, and run_our_step, work on copies)."""
    steps = tuple(steps)
    key = (str(case.uncal), steps)
    if key not in _JWST_STAGES:
        model = str(case.uncal)
        start = 0
        for n in range(len(steps) - 1, 0, -1):
            if (str(case.uncal), steps[:n]) in _JWST_STAGES:
                model, start = _JWST_STAGES[(str(case.uncal), steps[:n])], n
                break
        for n in range(start, len(steps)):
            model = run_jwst_step(steps[n], model, case.refs)
            _JWST_STAGES[(str(case.uncal), steps[:n + 1])] = model
    return _JWST_STAGES[key]
