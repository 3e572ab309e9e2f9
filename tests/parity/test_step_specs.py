"""Every official step's parameter spec against the jwst step class's own ``spec`` string.

jwst's spec is read with configobj's ``validate`` (the parser stpipe uses), independently of
rampflow's reader: names, checks (types), defaults and options must match, and every range
jwst states must hold in rampflow too (rampflow may be stricter: a range jwst leaves open).
The differences on purpose are listed in DELIBERATE and must still be differences.
"""

from __future__ import annotations

import importlib

import pytest

from rampflow.steps import get_step_class, step_names

validate = pytest.importorskip("validate", reason="configobj (installed with jwst) is not installed")
pytest.importorskip("jwst", reason="jwst is not installed")

#: rampflow step -> jwst step class
JWST_CLASSES = {
    "group_scale": "jwst.group_scale.GroupScaleStep",
    "dq_init": "jwst.dq_init.DQInitStep",
    "saturation": "jwst.saturation.SaturationStep",
    "superbias": "jwst.superbias.SuperBiasStep",
    "refpix": "jwst.refpix.RefPixStep",
    "linearity": "jwst.linearity.LinearityStep",
    "dark_current": "jwst.dark_current.DarkCurrentStep",
    "jump": "jwst.jump.JumpStep",
    "ramp_fit": "jwst.ramp_fitting.RampFitStep",
    "gain_scale": "jwst.gain_scale.GainScaleStep",
    "ipc": "jwst.ipc.IPCStep",
    "charge_migration": "jwst.charge_migration.ChargeMigrationStep",
    "persistence": "jwst.persistence.PersistenceStep",
    "emicorr": "jwst.emicorr.EmiCorrStep",
    "firstframe": "jwst.firstframe.FirstFrameStep",
    "lastframe": "jwst.lastframe.LastFrameStep",
    "reset": "jwst.reset.ResetStep",
    "rscd": "jwst.rscd.RscdStep",
    "clean_flicker_noise": "jwst.clean_flicker_noise.CleanFlickerNoiseStep",
}

#: (step, parameter) -> what differs on purpose (documented in the step's spec comments)
DELIBERATE = {
    ("ramp_fit", "weighting"): "rampflow only",   # jwst's fixed weighting, recorded as a parameter
}


def _jwst_spec(step: str) -> dict:
    module, cls = JWST_CLASSES[step].rsplit(".", 1)
    text = getattr(importlib.import_module(module), cls).spec
    v = validate.Validator()
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, check = (x.strip() for x in line.split("=", 1))
        kind, args, kwargs, _ = v._parse_with_caching(check)
        default = v.get_default_value(check)
        out[name] = dict(kind=kind, args=args, kwargs=kwargs, default=default)
    return out


def test_every_official_step_is_compared():
    official = [s for s in step_names() if get_step_class(s).official]
    assert sorted(official) == sorted(JWST_CLASSES)


@pytest.mark.parametrize("step", sorted(JWST_CLASSES))
def test_spec_matches_jwst(step):
    ours = get_step_class(step).param_specs
    theirs = _jwst_spec(step)
    # a spec's own ``skip`` default (jwst skips charge_migration and persistence unless told) is
    # the step's skip_default in rampflow: such a step is left out of the default steps list
    skip = theirs.pop("skip", None)
    assert get_step_class(step).skip_default == (skip is not None and skip["default"] is True), step
    extra = {n for n in set(ours) - set(theirs) if DELIBERATE.get((step, n)) != "rampflow only"}
    assert not extra, f"{step}: parameters jwst does not have: {sorted(extra)}"
    assert not set(theirs) - set(ours), f"{step}: jwst parameters missing: {sorted(set(theirs) - set(ours))}"
    for name, j in theirs.items():
        o = ours[name]
        assert o.kind == j["kind"], (step, name, o.kind, j["kind"])
        assert o.default == j["default"] and (o.default is None) == (j["default"] is None), \
            (step, name, o.default, j["default"])
        if j["kind"] == "option":
            if DELIBERATE.get((step, name)) == "options":
                assert set(o.options) < set(j["args"]), (step, name, "no longer differs from jwst")
            else:
                assert list(o.options) == j["args"], (step, name, o.options, j["args"])
        for bound, ours_bound in (("min", o.min), ("max", o.max)):
            if bound in j["kwargs"]:
                jb = float(j["kwargs"][bound])
                assert ours_bound is not None, (step, name, f"jwst states {bound}={jb}")
                assert (ours_bound >= jb) if bound == "min" else (ours_bound <= jb), (step, name, bound)


def test_deliberate_differences_are_real():
    for (step, name), what in DELIBERATE.items():
        theirs = _jwst_spec(step)
        if what == "rampflow only":
            assert name not in theirs and name in get_step_class(step).param_specs
