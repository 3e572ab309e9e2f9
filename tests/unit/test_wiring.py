"""The workflow's plan (rampflow.wiring), without Snakemake: jobs, files, parameters, targets, manifest."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.utils import validate

from rampflow import config as rfconfig
from rampflow import wiring
from rampflow.steps import get_step_class

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
S1 = "jw09999001001_04101_00001-seg001_nrs1"
S2 = "jw09999001001_04101_00001-seg001_nrs2"
OUT = "results/demo-tso"
CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "destripe",
         "jump"]
#: with ipc (which needs whole planes) the chain cannot run in one pass: the two-job fused layout
IPC_CHAIN = CHAIN[:3] + ["ipc"] + CHAIN[3:]
IPC_STEPS = IPC_CHAIN + ["ramp_fit", "gain_scale"]


def _cfg(base=None, **over) -> dict:
    """A config as the workflow sees it: shorthands expanded, schema defaults filled, checked."""
    cfg = copy.deepcopy(DEMO if base is None else base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    rfconfig.prepare(cfg)
    validate(cfg, SCHEMA)
    rfconfig.check(cfg)
    return cfg


def p(suffix, stem="{stem}"):
    return f"{OUT}/stage1/{stem}_{suffix}.fits"


def _by_name(jobs):
    return {j.name: j for j in jobs}


# --------------------------------------------------------------------------- step jobs

def test_default_config_jobs_one_per_step():
    cfg = _cfg()
    jobs = wiring.jobs(cfg, "steps")
    assert [j.name for j in jobs] == [f"step_{s}" for s in CHAIN] + ["ramp_fit", "gain_scale"]
    j = _by_name(jobs)
    assert j["step_group_scale"].inputs == {"ramp": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert j["step_dq_init"].inputs == {"ramp": p("group_scale")}
    assert j["step_saturation"].outputs == {"saturation": p("saturation")}
    assert j["step_saturation"].params == {"saturation": {}}
    assert j["step_saturation"].needs == {"refs": f"{OUT}/crds/.ready"}
    assert j["step_saturation"].overrides == {}
    # destripe reads its mask as an input, not as a parameter
    assert j["step_destripe"].inputs == {"ramp": p("dark_current"), "destripe_mask": p("destripe_mask")}
    assert j["step_destripe"].params == {"destripe": {"trace_radius": 6}}
    assert j["step_jump"].log == f"{OUT}/logs/{{stem}}_jump.log"
    assert j["step_jump"].benchmark == f"{OUT}/benchmarks/{{stem}}_jump.tsv"
    assert j["step_jump"].threads == 2 and j["step_jump"].script == "run_steps.py"
    assert j["step_jump"].settings == {"context": None, "chunk_mb": 256.0, "use_crds_pars": True}
    rf = j["ramp_fit"]
    assert rf.steps == ("ramp_fit",) and rf.inputs == {"ramp": p("jump")}
    assert rf.outputs == {"rate": p("rate"), "rateints": p("rateints")}
    assert rf.params == {"ramp_fit": {}} and rf.log == f"{OUT}/logs/{{stem}}_ramp_fit.log"
    gs = j["gain_scale"]
    assert gs.inputs == {"rate": p("rate"), "rateints": p("rateints")}
    assert gs.outputs == {"gain_scale": p("gain_scale"), "gain_scaleints": p("gain_scaleints")}
    assert gs.threads == 1 and gs.log == f"{OUT}/logs/{{stem}}_gain_scale.log"


def test_destripe_mask_job_gets_the_users_mask():
    cfg = _cfg(step_params={"destripe": {"trace_radius": 6, "mask_path": "my_mask.fits"}})
    (mask,) = wiring.jobs(cfg, "step_input")
    assert mask.name == "destripe_mask" and mask.script == "custom_destripe_mask.py"
    assert mask.inputs == {"ramp": p("dark_current"), "user_mask": "my_mask.fits"}
    assert mask.outputs == {"destripe_mask": p("destripe_mask")}
    assert mask.params == {"destripe": {"trace_radius": 6, "mask_path": "my_mask.fits"}}
    assert mask.log == f"{OUT}/logs/{{stem}}_destripe_mask.log"
    assert mask.benchmark == f"{OUT}/benchmarks/{{stem}}_destripe_mask.tsv" and mask.threads == 1
    # the step itself reads the mask product
    assert _by_name(wiring.jobs(cfg, "steps"))["step_destripe"].params == {"destripe": {"trace_radius": 6}}


def test_destripe_starts_a_new_fused_group():
    cfg = _cfg(compute={"fuse": True})
    assert wiring.one_pass(cfg)  # the default chain: one pass, destripe's mask made in the job
    assert wiring.fused_groups(cfg) == [CHAIN] and wiring.in_ramp_fit_job(cfg) == CHAIN
    cfg = _cfg(steps=IPC_STEPS, compute={"fuse": True})
    assert not wiring.one_pass(cfg)
    assert wiring.fused_groups(cfg) == [IPC_CHAIN[:8], ["destripe"], ["jump"]]
    assert wiring.jump_in_ramp_fit(cfg) and wiring.in_ramp_fit_job(cfg) == ["jump"]
    cfg = _cfg(steps=["dq_init", "saturation", "refpix", "linearity", "jump", "ramp_fit"], compute={"fuse": True})
    assert wiring.one_pass(cfg)  # every step works on row chunks: one group, inside the ramp_fit job
    assert wiring.fused_groups(cfg) == [["dq_init", "saturation", "refpix", "linearity", "jump"]]
    assert wiring.in_ramp_fit_job(cfg) == ["dq_init", "saturation", "refpix", "linearity", "jump"]
    cfg = _cfg(steps=["dq_init", "saturation", "refpix", "linearity", "jump", "ramp_fit"], compute={"fuse": False})
    assert not wiring.one_pass(cfg) and wiring.in_ramp_fit_job(cfg) == []


def test_one_pass_job_from_the_uncal():
    """compute.fuse, no destripe: one job per exposure, the whole chain reading the uncal file
    once; a kept step's product is written from the same pass, the others are not."""
    cfg = _cfg(steps=CHAIN[:7] + ["jump", "ramp_fit", "gain_scale"], compute={"fuse": True, "keep": ["saturation"]})
    j = _by_name(wiring.jobs(cfg, "steps"))
    assert list(j) == ["ramp_fit"]  # gain_scale too: one job per exposure
    rf = j["ramp_fit"]
    assert rf.steps == tuple(CHAIN[:7] + ["jump", "ramp_fit", "gain_scale"])
    assert rf.inputs == {"ramp": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert rf.outputs == {"rate": p("rate"), "rateints": p("rateints"), "saturation": p("saturation"),
                          "gain_scale": p("gain_scale"), "gain_scaleints": p("gain_scaleints")}
    assert set(rf.params) == set(CHAIN[:7] + ["jump", "ramp_fit", "gain_scale"])
    assert wiring.produced_ramps(cfg) == ["saturation"]


def test_one_pass_with_destripe_makes_and_writes_its_mask():
    cfg = _cfg(compute={"fuse": True, "keep": []}, step_params={"destripe": {"mask_path": "u.fits"}})
    j = _by_name(wiring.jobs(cfg, "steps"))
    assert list(j) == ["ramp_fit"]
    assert j["ramp_fit"].steps == tuple(CHAIN + ["ramp_fit", "gain_scale"])
    assert j["ramp_fit"].inputs == {"ramp": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert j["ramp_fit"].outputs == {"rate": p("rate"), "rateints": p("rateints"), "gain_scale": p("gain_scale"),
                                     "gain_scaleints": p("gain_scaleints"), "destripe_mask": p("destripe_mask")}
    assert j["ramp_fit"].params["destripe"] == {"mask_path": "u.fits"}  # the job makes the mask from it
    assert not [x for x in wiring.jobs(cfg, "step_input") if x.name == "destripe_mask"]
    assert wiring.made_in_job(cfg, "destripe") == ("destripe_mask",)


def test_fuse_with_keep_saturation():
    cfg = _cfg(steps=IPC_STEPS, compute={"fuse": True, "keep": ["saturation"]})
    jobs = wiring.jobs(cfg, "steps")
    assert [j.name for j in jobs] == ["fused_group_scale_to_dark_current", "step_destripe", "ramp_fit", "gain_scale"]
    j = _by_name(jobs)
    fused = j["fused_group_scale_to_dark_current"]
    assert fused.steps == tuple(IPC_CHAIN[:8])
    assert fused.inputs == {"ramp": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert fused.outputs == {"saturation": p("saturation"), "dark_current": p("dark_current")}
    assert fused.params["saturation"] == {} and fused.params["refpix"] == {} and fused.params["ipc"] == {}
    assert fused.log == f"{OUT}/logs/{{stem}}_group_scale_to_dark_current.log"
    assert fused.benchmark == f"{OUT}/benchmarks/{{stem}}_group_scale_to_dark_current.tsv"
    ds = j["step_destripe"]
    assert ds.outputs == {"destripe": p("destripe")}
    assert ds.log == f"{OUT}/logs/{{stem}}_destripe_to_destripe.log"
    rf = j["ramp_fit"]
    assert rf.steps == ("jump", "ramp_fit") and rf.inputs == {"ramp": p("destripe")}
    assert rf.outputs == {"rate": p("rate"), "rateints": p("rateints")}     # jump not kept: not written
    assert rf.params == {"jump": {}, "ramp_fit": {}}
    assert wiring.produced_ramps(cfg) == ["saturation", "dark_current", "destripe"]


def test_fuse_keep_jump_and_fitopt():
    cfg = _cfg(steps=["dq_init", "saturation", "jump", "ramp_fit"], compute={"fuse": True, "keep": ["jump"]},
               step_params={"ramp_fit": {"save_opt": True}})
    j = _by_name(wiring.jobs(cfg, "steps"))
    assert list(j) == ["ramp_fit"]  # one pass from the uncal file
    assert j["ramp_fit"].inputs == {"ramp": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert j["ramp_fit"].outputs == {"rate": p("rate"), "rateints": p("rateints"), "fitopt": p("fitopt"),
                                     "jump": p("jump")}
    assert wiring.final_suffixes(cfg) == ["rate", "rateints"]


def test_likely_save_opt_writes_its_chisq_not_fitopt():
    """jwst 3.0: with algorithm LIKELY, save_opt writes the likely_chisq image, not fitopt."""
    cfg = _cfg(steps=["dq_init", "saturation", "jump", "ramp_fit"],
               step_params={"ramp_fit": {"save_opt": True, "algorithm": "LIKELY"}})
    rf = _by_name(wiring.jobs(cfg, "steps"))["ramp_fit"]
    assert rf.outputs == {"rate": p("rate"), "rateints": p("rateints"), "likely_chisq": p("likely_chisq")}
    rfconfig.check(cfg)   # the parameter value passes the config checks


def test_fuse_runs_likely_with_jump_in_one_row_chunked_job():
    """compute.fuse: LIKELY is a ramp_fit parameter like any other, so the chain (here every
    step can share the one pass) and ramp_fit (LIKELY) share the ramp_fit job, whose runner
    pass goes over row chunks (ramp_fit's chunking)."""
    cfg = _cfg(steps=["dq_init", "saturation", "jump", "ramp_fit"], compute={"fuse": True, "keep": []},
               step_params={"ramp_fit": {"algorithm": "LIKELY", "save_opt": True}})
    rf = _by_name(wiring.jobs(cfg, "steps"))["ramp_fit"]
    assert rf.steps == ("dq_init", "saturation", "jump", "ramp_fit")
    assert rf.inputs == {"ramp": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert rf.params == {"dq_init": {}, "saturation": {}, "jump": {},
                         "ramp_fit": {"algorithm": "LIKELY", "save_opt": True}}
    assert rf.outputs == {"rate": p("rate"), "rateints": p("rateints"), "likely_chisq": p("likely_chisq")}
    assert get_step_class("ramp_fit").chunking == get_step_class("jump").chunking == "rows"


def test_fuse_with_keep_null_writes_everything():
    cfg = _cfg(steps=IPC_STEPS, compute={"fuse": True, "keep": None})
    fused = _by_name(wiring.jobs(cfg, "steps"))["fused_group_scale_to_dark_current"]
    assert list(fused.outputs) == IPC_CHAIN[:8]
    assert wiring.produced_ramps(cfg) == IPC_CHAIN
    cfg = _cfg(compute={"fuse": True, "keep": None})  # one pass: every ramp from the same pass
    assert set(CHAIN) <= set(_by_name(wiring.jobs(cfg, "steps"))["ramp_fit"].outputs)
    assert wiring.produced_ramps(cfg) == CHAIN


def test_no_ramp_fit_gives_the_last_ramp_as_final_product():
    cfg = _cfg(steps=["group_scale", "dq_init", "saturation", "jump"])
    assert [j.name for j in wiring.jobs(cfg, "steps")] == ["step_group_scale", "step_dq_init", "step_saturation",
                                                           "step_jump"]
    assert wiring.final_products(cfg, [S1, S2]) == [p("jump", S1), p("jump", S2)]
    assert wiring.lightcurve_targets(cfg, [S1]) == [] and wiring.qa_targets(cfg) == []
    cfg = _cfg(steps=["group_scale", "dq_init", "saturation", "jump"], compute={"fuse": True, "keep": []})
    assert _by_name(wiring.jobs(cfg, "steps"))["step_jump"].outputs == {"jump": p("jump")}   # last: written


def test_final_products_with_and_without_gain_scale():
    assert wiring.final_products(_cfg(), [S1]) == [p("gain_scale", S1), p("gain_scaleints", S1)]
    cfg = _cfg(steps=["dq_init", "saturation", "jump", "ramp_fit"])
    assert wiring.final_products(cfg, [S1]) == [p("rate", S1), p("rateints", S1)]
    assert wiring.ints_product(cfg) == "rateints" and wiring.ints_product(_cfg()) == "gain_scaleints"


def test_custom_saturation_reference_per_exposure():
    cfg = _cfg(custom={"saturation": {"scale": 0.5, "n_pix_grow_sat": 2}}, step_params={"saturation": {}},
               references={"overrides": {"mask": "m.fits"}})
    (ref,) = wiring.jobs(cfg, "saturation_reference")
    assert ref.name == "custom_saturation_reference"
    assert ref.inputs == {"uncal": f"{OUT}/uncal/{{stem}}_uncal.fits"}
    assert ref.outputs == {"saturation": f"{OUT}/references/{{stem}}_saturation_custom.fits"}
    assert ref.settings["options"] == {"scale": 0.5} and ref.overrides == {"mask": "m.fits"}
    assert ref.log == f"{OUT}/logs/{{stem}}_saturation_custom.log"
    sat = _by_name(wiring.jobs(cfg, "steps"))["step_saturation"]
    assert sat.params == {"saturation": {"n_pix_grow_sat": 2}}
    assert sat.needs["saturation_reference"] == f"{OUT}/references/{{stem}}_saturation_custom.fits"
    one = sat.for_stem(S1)
    assert one.overrides == {"mask": "m.fits", "saturation": f"{OUT}/references/{S1}_saturation_custom.fits"}
    assert one.inputs == {"ramp": p("dq_init", S1)} and one.log == f"{OUT}/logs/{S1}_saturation.log"
    over = sat.per_exposure("overrides")(SimpleNamespace(stem=S2))
    assert over["saturation"] == f"{OUT}/references/{S2}_saturation_custom.fits"
    # other steps see only the config's overrides
    assert _by_name(wiring.jobs(cfg, "steps"))["step_dq_init"].overrides == {"mask": "m.fits"}


def test_local_inputs_and_exposure_jobs():
    cfg = _cfg(inputs={"source": "local", "uncal_dir": "data/uncal/"})
    assert wiring.uncal_path(cfg, S1) == f"data/uncal/{S1}_uncal.fits"
    first = wiring.exposure_jobs(cfg, S1, "steps")[0]
    assert first.name == "step_group_scale" and first.inputs == {"ramp": f"data/uncal/{S1}_uncal.fits"}
    assert first.outputs == {"group_scale": p("group_scale", S1)}


# --------------------------------------------------------------------------- diagnostics, light curves, QA

def test_diagnostics_of_the_default_steps():
    cfg = _cfg()
    assert wiring.diagnostic_names(cfg) == ["linearity_ratio.png", "dq_tally.csv", "dq_tally.png", "saturation.png",
                                            "jump_counts.png", "jump_ramps.png", "destripe.png", "refpix.png"]
    d = _by_name(wiring.jobs(cfg, "diagnostic"))
    assert d["diag_linearity_ratio"].inputs == {"before": p("refpix"), "after": p("linearity")}
    assert d["diag_linearity_ratio"].settings == {"max_points": 200000, "chunk_mb": 256.0}
    assert d["diag_jump"].inputs == {"ramp": p("jump"), "rateints": [p("rateints")]}
    assert d["diag_jump"].settings["n_examples"] == 9
    assert d["diag_destripe"].inputs == {"before": p("dark_current"), "after": p("destripe"),
                                         "mask": p("destripe_mask")}
    assert d["diag_dq_tally"].inputs == {"ramps": [p(s) for s in CHAIN]}
    assert d["diag_dq_tally"].outputs == {"csv": f"{OUT}/diagnostics/{{stem}}_dq_tally.csv",
                                          "png": f"{OUT}/diagnostics/{{stem}}_dq_tally.png"}
    assert d["diag_saturation"].log == f"{OUT}/logs/{{stem}}_diag_saturation.log"
    targets = wiring.diagnostic_targets(cfg, [S1, S2])
    assert len(targets) == 16 and targets[0] == f"{OUT}/diagnostics/{S1}_linearity_ratio.png"
    assert targets[8] == f"{OUT}/diagnostics/{S2}_linearity_ratio.png"


def test_diagnostics_only_for_written_products_and_switched_off():
    cfg = _cfg(compute={"fuse": True, "keep": ["saturation"]})
    assert wiring.diagnostic_names(cfg) == ["saturation.png"]  # one pass: dark_current is not written
    cfg = _cfg(steps=IPC_STEPS, compute={"fuse": True, "keep": ["saturation"]})
    assert wiring.diagnostic_names(cfg) == ["saturation.png", "destripe.png"]
    assert wiring.diagnostic_targets(_cfg(qa={"diagnostics": False}), [S1]) == []
    ta = _cfg(inputs={"source": "local", "uncal_dir": "u"}, qa={"diagnostics": {"jump_examples": 4}})
    (job,) = [j for j in wiring.jobs(ta, "diagnostic") if j.name == "diag_ta_quicklook"]
    assert job.all_uncal and job.outputs == {"plot": f"{OUT}/diagnostics/ta_quicklook.png"}
    assert job.log == f"{OUT}/logs/diag_ta_quicklook.log"
    assert wiring.diagnostic_targets(ta, [S1])[-1] == f"{OUT}/diagnostics/ta_quicklook.png"
    assert _by_name(wiring.jobs(ta, "diagnostic"))["diag_jump"].settings["n_examples"] == 4


def test_lightcurve_targets_and_inputs():
    cfg = _cfg()
    names = ["whitelight.ecsv", "whitelight.csv", "whitelight.png", "spectroscopic.ecsv", "spectroscopic.png",
             "metrics.csv", "metrics.png", "trace.png", "transit.json", "transit.png"]
    assert wiring.lightcurve_targets(cfg, [S2, S1]) == ([f"{OUT}/lightcurves/nrs1_{n}" for n in names]
                                                        + [f"{OUT}/lightcurves/nrs2_{n}" for n in names])
    no_transit = _cfg(lightcurves={"transit": None})
    assert len(wiring.lightcurve_targets(no_transit, [S1])) == 8
    seg2 = S1.replace("seg001", "seg002")
    assert wiring.lightcurve_inputs(cfg, [S1, S2, seg2], "nrs1") == {
        "products": [p("gain_scaleints", S1), p("gain_scaleints", seg2)], "jumps": [p("jump", S1), p("jump", seg2)]}
    fused = _cfg(compute={"fuse": True, "keep": []})
    assert wiring.lightcurve_inputs(fused, [S1], "nrs1")["jumps"] == []
    assert wiring.qa_targets(cfg) == [f"{OUT}/qa/index.html"]


def test_manifest_of_the_demo():
    cfg = _cfg()
    m = wiring.manifest(cfg, [S1, S2])
    assert all(set(e) == {"section", "title", "path", "kind", "stem", "detector", "caption"} for e in m)
    assert all(e["title"] == wiring.SECTIONS[e["section"]] for e in m)
    assert all((ROOT / e["caption"]).is_file() for e in m), {e["caption"] for e in m}
    sections = [e["section"] for e in m]
    assert sections == sorted(sections, key=list(wiring.SECTIONS).index)   # in page order
    by = {}
    for e in m:
        by.setdefault(e["section"], []).append(e["path"])
    assert by["exposures"] == [p("gain_scaleints", S1), p("gain_scaleints", S2)]
    lc = f"{OUT}/lightcurves"
    assert by["lightcurves"][:3] == [f"{lc}/nrs1_whitelight.ecsv", f"{lc}/nrs1_whitelight.csv",
                                     f"{lc}/nrs1_whitelight.png"]
    assert len(by["lightcurves"]) == 20 and by["lightcurves"][-1] == f"{lc}/nrs2_transit.png"
    dg = f"{OUT}/diagnostics"
    assert by["onef"] == [f"{dg}/{S1}_destripe.png", f"{dg}/{S2}_destripe.png"]
    assert by["saturation"] == [f"{dg}/{S1}_saturation.png", f"{dg}/{S2}_saturation.png"]
    assert by["jumps"] == [f"{dg}/{s}_{n}" for s in (S1, S2) for n in ("jump_counts.png", "jump_ramps.png")]
    assert by["dq"] == [f"{dg}/{s}_dq_tally.{x}" for s in (S1, S2) for x in ("csv", "png")]
    assert by["linearity"] == [f"{dg}/{S1}_linearity_ratio.png", f"{dg}/{S2}_linearity_ratio.png"]
    assert by["refpix"] == [f"{dg}/{S1}_refpix.png", f"{dg}/{S2}_refpix.png"]
    assert "ta" not in by
    first = m[0]
    assert first == {"section": "exposures", "title": "Exposures", "path": p("gain_scaleints", S1),
                     "kind": "product", "stem": S1, "detector": "nrs1",
                     "caption": "workflow/report/stage1_products.rst"}
    kinds = {Path(e["path"]).name.split("_", 1)[-1]: e["kind"] for e in m if e["section"] == "lightcurves"}
    assert kinds == {"whitelight.ecsv": "lightcurve", "whitelight.csv": "lightcurve", "whitelight.png": "plot",
                     "spectroscopic.ecsv": "lightcurve", "spectroscopic.png": "plot", "metrics.csv": "table",
                     "metrics.png": "plot", "trace.png": "plot", "transit.json": "json", "transit.png": "plot"}
    assert {e["detector"] for e in m if e["section"] == "lightcurves"} == {"nrs1", "nrs2"}
    # the manifest holds exactly what rule all builds besides the Stage 1 products
    built = set(wiring.targets(cfg, [S1, S2])) - set(wiring.final_products(cfg, [S1, S2]))
    assert built - {f"{OUT}/qa/index.html"} == {e["path"] for e in m} - set(by["exposures"])


def test_manifest_without_ramp_fit_has_only_diagnostics():
    cfg = _cfg(steps=["dq_init", "saturation"], inputs={"source": "local", "uncal_dir": "u"})
    m = wiring.manifest(cfg, [S1])
    assert [(e["section"], Path(e["path"]).name) for e in m] == [
        ("saturation", f"{S1}_saturation.png"), ("dq", f"{S1}_dq_tally.csv"), ("dq", f"{S1}_dq_tally.png"),
        ("ta", "ta_quicklook.png")]
    assert m[-1]["stem"] is None and m[-1]["detector"] is None


def test_config_errors_name_the_key():
    with pytest.raises(rfconfig.ConfigError, match="'saturation' is not in steps"):
        _cfg(steps=["dq_init", "jump"], custom={"saturation": {"level": 4e4}})
    with pytest.raises(rfconfig.ConfigError, match="disagree"):
        _cfg(custom={"saturation": {"level": 4e4, "n_pix_grow_sat": 2}},
             step_params={"saturation": {"n_pix_grow_sat": 1}})


@pytest.mark.parametrize("fuse", [False, True])
def test_persistence_carries_the_previous_exposures_array(fuse):
    """persistence's job reads the previous exposure's array of the same detector (a carried
    input, resolved per exposure) and always writes its own; step by step or fused."""
    steps = ["group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity", "dark_current",
             "charge_migration", "jump", "persistence", "ramp_fit", "gain_scale"]
    cfg = _cfg(steps=steps, compute={"fuse": fuse})
    job = [j for j in wiring.jobs(cfg, "steps") if "persistence" in j.steps][0]
    assert job.carried == {"persistence_array": "persistence_array"}
    assert job.outputs["persistence_array"] == p("persistence_array").replace(".fits", ".asdf")
    assert "persistence_array" not in job.inputs
    assert not [j for j in wiring.jobs(cfg, "step_input") if j.name == "persistence_array"]
    s2 = S1.replace("seg001", "seg002")
    stems = [s2, S1, S2]
    assert wiring.carried_path(cfg, job, stems, S1, "persistence_array") == []
    assert wiring.carried_path(cfg, job, stems, S2, "persistence_array") == []
    assert wiring.carried_path(cfg, job, stems, s2, "persistence_array") == \
        f"{OUT}/stage1/{S1}_persistence_array.asdf"
    rf = [j for j in wiring.jobs(cfg, "steps") if j.name == "ramp_fit"][0]
    assert rf.inputs["ramp"] == p("persistence")
