"""Many exposures, one bad: with --keep-going a corrupt uncal file fails alone. The other 23
exposures of a 24-segment program get their products, the light curves are made without the
bad one (a WARNING names it), and the QA page lists the failure."""

from __future__ import annotations

import re
from pathlib import Path

from astropy.table import Table

from tests.workflow.test_workflow import _snakemake, _tiny, _workdir

NSEG = 24
BAD = 7


def _program(folder: Path) -> tuple[list[Path], dict]:
    """24 tiny segments of one NIRSpec TSO exposure (2 integrations each), and their references."""
    from rampflow.simulate import simulate_exposure
    from rampflow.simulate.detector import make_detector
    from rampflow.simulate.kinds import resolve_physics

    det = make_detector("nirspec_tso", "NRS1", resolve_physics("nirspec_tso", {}), 11)
    first = simulate_exposure(folder, kind="nirspec_tso", detector="NRS1", segment=1, nsegments=NSEG,
                              nints=2 * NSEG, ngroups=3, size=[16, 64], seed=11, _detector_model=det)
    paths = [Path(first.uncal)]
    for seg in range(2, NSEG + 1):
        sim = simulate_exposure(folder, kind="nirspec_tso", detector="NRS1", segment=seg, nsegments=NSEG,
                                nints=2 * NSEG, ngroups=3, size=[16, 64], seed=11, write_refs=False,
                                refs=first.refs, _detector_model=det)
        paths.append(Path(sim.uncal))
    for p in folder.glob("*_truth.fits"):
        p.unlink()
    return paths, {k: str(v) for k, v in first.refs.items()}


def test_one_corrupt_exposure_of_24_fails_alone(tmp_path):
    uncal_dir = tmp_path / "wd" / "data" / "uncal"
    paths, refs = _program(uncal_dir)
    assert len(paths) == NSEG
    bad = paths[BAD - 1]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # cut short, as by a broken copy
    cfg = _tiny(program="many", steps=["group_scale", "dq_init", "saturation", "ramp_fit"])
    cfg["inputs"] = {"source": "local", "uncal_dir": str(uncal_dir)}
    cfg["references"] = {"overrides": refs}
    cfg["compute"] = {"fuse": True, "keep": [], "chunk_mb": 16, "threads": 1}
    cfg["qa"] = {"diagnostics": False}
    wd = _workdir(tmp_path / "wd", cfg)
    proc = _snakemake(wd, "--cores", "2", "--keep-going", check=False)
    out = wd / "results" / "many"
    assert proc.returncode != 0, proc.stderr[-3000:]

    stems = [p.name[: -len("_uncal.fits")] for p in paths]
    bad_stem = stems[BAD - 1]
    for stem in stems:
        for suffix in ("rate", "rateints"):
            assert (out / "stage1" / f"{stem}_{suffix}.fits").is_file() == (stem != bad_stem), (stem, suffix)
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*.part"))

    # its own job says why, naming the file
    own = "".join(p.read_text() for p in (out / "logs").glob(f"{bad_stem}_*.log"))
    assert re.search(rf"ERROR .*{re.escape(bad.name)}", own), own

    # light curves of the other 23 segments, the bad one named in a WARNING and in the table
    white = Table.read(out / "lightcurves" / "nrs1_whitelight.ecsv", format="ascii.ecsv")
    assert len(white) == 2 * (NSEG - 1)
    assert sorted(set(white["segment"])) == [s for s in range(1, NSEG + 1) if s != BAD]
    assert white.meta["left_out"] == [bad.name]
    for name in ("spectroscopic.ecsv", "metrics.csv", "whitelight.png"):
        assert (out / "lightcurves" / f"nrs1_{name}").is_file()
    lc_log = (out / "logs" / "lightcurves_nrs1.log").read_text()
    assert re.search(rf"WARNING .*{re.escape(bad_stem)} \({re.escape(bad.name)}\) left out", lc_log), lc_log

    # the QA page: the 23 exposures, and the failure with its file and error
    page = (out / "qa" / "index.html").read_text()
    failed, exposures = _section(page, "failed"), _section(page, "exposures")
    assert "Failed exposures (1)" in failed
    assert bad.name in failed and bad_stem in failed and f"{bad_stem}_rateints.fits" in failed
    assert all(s not in failed for s in stems if s != bad_stem)
    for stem in stems:
        assert (stem in exposures) == (stem != bad_stem), stem
    assert f"exposure {bad_stem} ({bad.name}) failed" in proc.stderr


def _section(page: str, anchor: str) -> str:
    """The HTML of one section of the QA page."""
    start = page.index(f"<section id='{anchor}'>")
    return page[start: page.index("</section>", start)]
