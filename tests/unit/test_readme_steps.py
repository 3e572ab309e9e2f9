"""The README's step table lists every step of jwst's calwebb_detector1 (its ``step_defs``), once,
in the pipeline's near-infrared order with MIRI's own steps where MIRI runs them; and its "NIR"
column says "yes" exactly for the official steps rampflow implements."""

from pathlib import Path

import pytest

from rampflow.steps import DETECTOR1_ORDER

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| jwst step | NIR | MIRI | default | notes |"


def _table_rows() -> list[list[str]]:
    lines = README.read_text().splitlines()
    start = lines.index(HEADER)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_table_lists_every_detector1_step():
    jwst_d1 = pytest.importorskip("jwst.pipeline.calwebb_detector1", reason="jwst is not installed")
    names = [r[0] for r in _table_rows()]
    assert len(names) == len(set(names)), f"a step is listed twice: {names}"
    expected = list(jwst_d1.Detector1Pipeline.step_defs)
    missing = [s for s in expected if s not in names]
    assert not missing, f"README step table misses {missing}"
    extra = [s for s in names if s not in expected]
    assert not extra, f"README step table lists steps jwst's calwebb_detector1 does not have: {extra}"


def test_table_follows_the_near_infrared_order():
    names = [r[0] for r in _table_rows()]
    nir = [s for s in names if s in DETECTOR1_ORDER]
    assert nir == list(DETECTOR1_ORDER)


def test_nir_column_matches_what_rampflow_implements():
    for name, nir, *_ in _table_rows():
        assert (nir == "yes") == (name in DETECTOR1_ORDER), (name, nir)
