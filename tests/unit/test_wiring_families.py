"""Each exposure in its own instrument's calwebb_detector1 order (rampflow.wiring.families):
the plan of the config as each family sees it, per-family jobs in a mixed program, targets per
exposure. Pure functions, no Snakemake."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from snakemake.utils import validate

from rampflow import config as rfconfig
from rampflow import wiring
from rampflow.steps.order import default_steps

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
MIRI = "jw01366002001_04103_00001-seg001_mirimage"
NRS = "jw01366003001_04101_00001-seg001_nrs1"
OUT = "results/mixed"


def _local(steps=None) -> dict:
    """A local-folder program as the Snakefile sees it (schema defaults filled and recorded)."""
    cfg = {"program": "mixed", "inputs": {"source": "local", "uncal_dir": "data/uncal"}}
    if steps is not None:
        cfg["steps"] = steps
    rfconfig.prepare(cfg)
    given = copy.deepcopy(cfg)
    validate(cfg, SCHEMA)
    cfg["_defaults_applied"] = rfconfig.defaults_applied(given, cfg)
    rfconfig.check(cfg)
    return cfg


def p(suffix, stem="{stem}"):
    return f"{OUT}/stage1/{stem}_{suffix}.fits"


def test_stem_family_and_regex():
    assert wiring.stem_family(MIRI) == "MIRI" and wiring.stem_family(NRS) == "NIR"
    assert wiring.stem_family("jw01_nrcalong") == "NIR"
    miri, nir = wiring.stem_regex("MIRI")["stem"], wiring.stem_regex("NIR")["stem"]
    assert re.fullmatch(miri, MIRI) and not re.fullmatch(miri, NRS)
    assert re.fullmatch(nir, NRS) and not re.fullmatch(nir, MIRI)
    assert wiring.stem_regex(None) == {}


def test_program_families():
    cfg = _local()
    assert wiring.program_families(cfg, [NRS, MIRI, MIRI]) == ("MIRI", "NIR")
    assert wiring.program_families(cfg, []) == ()
    sim = {"inputs": {"source": "simulate", "simulate": {"kind": "miri_lrs_tso"}}}
    assert wiring.program_families(sim) == ("MIRI",)


def test_default_steps_follow_each_family():
    cfg = _local()
    assert wiring.family_config(cfg, "MIRI")["steps"] == default_steps("MIRI")
    assert wiring.family_config(cfg, "NIR")["steps"] == default_steps("NIR") == cfg["steps"]
    assert wiring.exposure_chain(cfg, MIRI) == ["group_scale", "dq_init", "saturation", "ipc", "lastframe", "reset",
                                                "linearity", "rscd", "dark_current", "refpix", "jump"]
    assert wiring.family_config(cfg, None) is cfg


def test_an_explicit_list_is_cut_and_ordered_per_family():
    steps = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "destripe",
             "jump", "ramp_fit"]
    cfg = _local(steps)
    assert wiring.family_config(cfg, "NIR") is cfg
    assert wiring.exposure_chain(cfg, MIRI) == ["group_scale", "dq_init", "saturation", "linearity", "dark_current",
                                                "refpix", "destripe", "jump"]


def test_one_family_keeps_the_usual_job_names():
    cfg = _local()
    names = [j.name for j in wiring.jobs(cfg, "steps", families=("MIRI",))]
    assert names == [f"step_{s}" for s in wiring.exposure_chain(cfg, MIRI)] + ["ramp_fit", "gain_scale"]
    jobs = {j.name: j for j in wiring.jobs(cfg, "steps", families=("MIRI",))}
    assert jobs["step_refpix"].inputs == {"ramp": p("dark_current")} and jobs["step_refpix"].constraints == {}
    assert jobs["step_linearity"].inputs == {"ramp": p("reset")}


def test_a_mixed_program_gets_per_family_jobs_with_constraints():
    cfg = _local()
    jobs = {j.name: j for j in wiring.jobs(cfg, families=("MIRI", "NIR"))}
    assert jobs["step_refpix_miri"].inputs == {"ramp": p("dark_current")}
    assert jobs["step_refpix_nir"].inputs == {"ramp": p("superbias")}
    assert jobs["step_rscd_miri"].family == "MIRI" and "step_rscd_nir" not in jobs
    assert "step_superbias_miri" not in jobs and "step_superbias_nir" in jobs
    assert jobs["ramp_fit_miri"].constraints == wiring.stem_regex("MIRI")
    assert jobs["diag_refpix_miri"].inputs["before"] == p("dark_current")
    assert "diag_ta_quicklook" in jobs and "diag_ta_quicklook_miri" not in jobs   # the program's, once
    assert [j.name for j in wiring.variants(jobs, "step_refpix")] == ["step_refpix_miri", "step_refpix_nir"]
    assert [j.name for j in wiring.variants(jobs, "diag_ta_quicklook")] == ["diag_ta_quicklook"]


def test_targets_per_exposure_family():
    cfg = _local(["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current",
                  "jump"])
    assert wiring.final_products(cfg, [MIRI, NRS]) == [p("jump", MIRI), p("jump", NRS)]
    cfg = _local()
    diag = wiring.diagnostic_targets(cfg, [MIRI, NRS])
    assert f"{OUT}/diagnostics/{MIRI}_refpix.png" in diag and f"{OUT}/diagnostics/{NRS}_refpix.png" in diag
    mine = [e for e in wiring.manifest(cfg, [MIRI, NRS]) if e["stem"] == MIRI]
    assert mine and all(MIRI in e["path"] for e in mine)
    assert [j.name for j in wiring.exposure_jobs(cfg, MIRI, "steps")][4:7] == ["step_lastframe", "step_reset",
                                                                               "step_linearity"]
