"""The workflow with ipc, charge_migration and persistence: each exposure's persistence job
depends on the previous exposure's array (same detector, time order), the first exposure of a
detector starts from none, and the flags carried across segments are those of one run over
both segments."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from test_workflow import _snakemake, _tiny, _workdir, pytestmark  # noqa: F401

from rampflow import dq, io, wiring


def _cfg():
    cfg = _tiny(steps=["group_scale", "dq_init", "saturation", "ipc", "superbias", "refpix", "linearity",
                       "dark_current", "charge_migration", "jump", "persistence", "ramp_fit", "gain_scale"])
    cfg["inputs"]["simulate"].update({"detectors": ["nrs1"], "segments": 2, "peak_well_fraction": 1.3})
    cfg["step_params"] = {"persistence": {"persistence_time": 400, "dn_threshold": 20000.0},
                          "charge_migration": {"signal_threshold": 20000.0}}
    cfg.setdefault("qa", {})["diagnostics"] = False
    return cfg


@pytest.mark.slow
def test_persistence_chain_in_the_dag(tmp_path):
    cfg = _cfg()
    wd = _workdir(tmp_path, cfg)
    _snakemake(wd, "--cores", "2")
    out = wd / "results" / "tiny" / "stage1"
    stems = sorted(p.name[: -len("_uncal.fits")] for p in (wd / "results/tiny/uncal").glob("*_uncal.fits"))
    assert len(stems) == 2
    for stem in stems:
        hdr = fits.getheader(out / f"{stem}_persistence.fits")
        assert hdr["S_IPC"] == "COMPLETE" and hdr["S_CHGMIG"] == "COMPLETE" and hdr["S_PERSIS"] == "COMPLETE"
        assert (out / f"{stem}_persistence_array.asdf").is_file()
        prev = wiring.previous_exposure(stems, stem)
        if prev is None:
            assert "seg001" in stem and hdr["PERSARR"].startswith("none")
        else:
            assert "seg002" in stem and prev == stem.replace("seg002", "seg001")
            assert hdr["PERSARR"] == f"{prev}_persistence_array.asdf"
    # seg002 of nrs1 starts with windows opened in seg001: rerunning it from an empty array differs
    stem2 = [s for s in stems if "seg002" in s and s.endswith("nrs1")][0]
    with io.open_ramp(out / f"{stem2}_persistence.fits") as rf:
        _, carried = rf.read()
    from rampflow import runner

    alone = tmp_path / "alone.fits"
    runner.run(["persistence"], {"ramp": out / f"{stem2}_jump.fits"}, {"persistence": alone},
               params={"persistence": cfg["step_params"]["persistence"]})
    with io.open_ramp(alone) as rf:
        _, fresh = rf.read()
    assert ((carried & dq.PERSISTENCE) != 0).sum() > ((fresh & dq.PERSISTENCE) != 0).sum()
    np.testing.assert_array_equal(fresh & ~np.uint8(dq.PERSISTENCE), carried & ~np.uint8(dq.PERSISTENCE))


def test_previous_exposure_is_per_detector_in_time_order():
    stems = ["jw01366003001_04101_00001-seg002_nrs1", "jw01366003001_04101_00001-seg001_nrs2",
             "jw01366003001_04101_00001-seg001_nrs1", "jw01366002001_04101_00001-seg003_nrs1",
             "jw01366003001_04101_00001-seg010_nrs1"]
    assert wiring.time_order(stems)[0] == "jw01366002001_04101_00001-seg003_nrs1"
    assert wiring.previous_exposure(stems, "jw01366003001_04101_00001-seg001_nrs1") == \
        "jw01366002001_04101_00001-seg003_nrs1"
    assert wiring.previous_exposure(stems, "jw01366003001_04101_00001-seg010_nrs1") == \
        "jw01366003001_04101_00001-seg002_nrs1"
    assert wiring.previous_exposure(stems, "jw01366003001_04101_00001-seg001_nrs2") is None
