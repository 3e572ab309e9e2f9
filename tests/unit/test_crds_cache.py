"""The simulator's CRDS cache resolves every reference type with the real crds client.

crds reads its configuration (CRDS_PATH, mode, server) once per process, so the client runs in
a subprocess that inherits the environment set here with monkeypatch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from rampflow.simulate import REFTYPES, simulate_exposure, simulate_program, write_crds_cache

pytest.importorskip("crds")

SRC = str(Path(__file__).resolve().parents[2] / "src")

_CLIENT = r"""
import json, sys
import crds
from astropy.io import fits
from rampflow.meta import ExposureMeta
from rampflow.references import resolve
reftypes = json.loads(sys.argv[1])
out = {}
for uncal in json.loads(sys.argv[2]):
    meta = ExposureMeta.from_headers(fits.getheader(uncal), fits.getheader(uncal, "SCI"), uncal)
    got = crds.getreferences(meta.crds_parameters, reftypes=reftypes, observatory="jwst",
                             context="jwst_0001.pmap")
    paths, ctx = resolve(meta, reftypes)
    out[uncal] = {"crds": {k: str(v) for k, v in got.items()}, "resolve": paths, "context": ctx}
out["__context__"] = crds.get_context_name("jwst")
print("RESULT" + json.dumps(out))
"""


def _run_client(monkeypatch, crds_path, uncals, ignore_checksum="0", reftypes=REFTYPES):
    monkeypatch.setenv("CRDS_PATH", str(crds_path))
    monkeypatch.setenv("CRDS_MODE", "local")
    monkeypatch.setenv("CRDS_IGNORE_MAPPING_CHECKSUM", ignore_checksum)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CLIENT, json.dumps(list(reftypes)),
                           json.dumps([str(u) for u in uncals])],
                          capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    return json.loads(line[0][len("RESULT"):])


def _expected(crds_path, uncal):
    h = fits.getheader(uncal)
    instr, det = h["INSTRUME"].lower(), h["DETECTOR"].lower()
    sub = h["SUBARRAY"].lower()
    if sub == "generic":
        sub = f"generic{h['SUBSIZE2']}x{h['SUBSIZE1']}"
    root = Path(crds_path) / "references" / "jwst" / instr
    exp = {rt: root / f"jwst_{instr}_{rt}_{det}.fits" for rt in REFTYPES}
    exp["dark"] = root / f"jwst_{instr}_dark_{det}-{sub}.fits"
    return {k: os.path.realpath(v) for k, v in exp.items()}


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """Two programs (NIRSpec TSO with 2 detectors x 2 segments, then NIRCam) in one cache."""
    root = tmp_path_factory.mktemp("crdsprog")
    crds_path = root / "crds"
    nrs = simulate_program(root / "nrs", {"kind": "nirspec_tso", "detectors": ["nrs1", "nrs2"], "segments": 2,
                                          "nints": 4, "ngroups": 3, "size": [32, 512], "seed": 1}, crds_path)
    nrc = simulate_program(root / "nrc", {"kind": "nircam_image", "detectors": ["nrca1"], "segments": 1,
                                          "nints": 1, "ngroups": 3, "size": [64, 64], "seed": 1}, crds_path)
    return crds_path, nrs + nrc


def test_cache_layout(program):
    crds_path, uncals = program
    assert len(uncals) == 5
    cfg = crds_path / "config" / "jwst" / "server_config"
    info = eval(cfg.read_text(), {})          # a Python dict literal, as crds writes it
    for key in ("observatory", "operational_context", "effective_mode", "status", "last_synced"):
        assert key in info
    assert info["operational_context"] == "jwst_0001.pmap"
    maps = crds_path / "mappings" / "jwst"
    pmap = (maps / "jwst_0001.pmap").read_text()
    assert "'NIRSPEC' : 'jwst_nirspec_0001.imap'" in pmap and "'NIRCAM' : 'jwst_nircam_0001.imap'" in pmap
    for instr in ("nirspec", "nircam"):
        assert "'mapping' : 'INSTRUMENT'" in (maps / f"jwst_{instr}_0001.imap").read_text()
        for rt in REFTYPES:
            text = (maps / f"jwst_{instr}_{rt}_0001.rmap").read_text()
            for key in ("derived_from", "mapping", "name", "observatory", "parkey", "sha1sum",
                        "instrument", "filekind", "classes"):
                assert re.search(rf"'{key}' : ", text), (rt, key)
            assert "Match({" in text and "UseAfter({" in text
    dark = (maps / "jwst_nirspec_dark_0001.rmap").read_text()
    assert "('NRS1', 'GENERIC')" in dark and "('NRS2', 'GENERIC')" in dark
    mask = (maps / "jwst_nircam_mask_0001.rmap").read_text()
    assert "('NRCA1', 'N/A')" in mask
    refs = sorted(p.name for p in (crds_path / "references" / "jwst" / "nirspec").glob("*.fits"))
    assert len(refs) == 2 * len(REFTYPES)


def test_crds_client_resolves_every_type(program, monkeypatch):
    crds_path, uncals = program
    res = _run_client(monkeypatch, crds_path, uncals, ignore_checksum="0")   # checksums are valid too
    assert res["__context__"] == "jwst_0001.pmap"
    for uncal in uncals:
        r = res[str(uncal)]
        expected = _expected(crds_path, uncal)
        got = {k: os.path.realpath(v) for k, v in r["crds"].items()}
        assert got == expected, uncal
        assert {k: os.path.realpath(v) for k, v in r["resolve"].items()} == expected
        assert r["context"] == "jwst_0001.pmap"


def test_sirskernel_is_one_file_per_instrument_for_any_detector(program, monkeypatch):
    """SIRSKERNEL: one ASDF file per instrument (no DETECTOR), which CRDS selects for every
    detector and subarray of the instrument, as its sirskernel rmaps do."""
    crds_path, uncals = program
    maps = crds_path / "mappings" / "jwst"
    for instr in ("nirspec", "nircam"):
        text = (maps / f"jwst_{instr}_sirskernel_0001.rmap").read_text()
        assert "('N/A', 'N/A') : UseAfter({" in text
        assert f"'jwst_{instr}_sirskernel_0001.asdf'" in text
        assert f"'sirskernel' : 'jwst_{instr}_sirskernel_0001.rmap'" in (maps / f"jwst_{instr}_0001.imap").read_text()
    res = _run_client(monkeypatch, crds_path, uncals, reftypes=["sirskernel"])
    for uncal in uncals:
        instr = fits.getheader(uncal)["INSTRUME"].lower()
        got = res[str(uncal)]["crds"]["sirskernel"]
        assert os.path.realpath(got) == os.path.realpath(
            crds_path / "references" / "jwst" / instr / f"jwst_{instr}_sirskernel_0001.asdf")


def test_write_crds_cache_copies_foreign_files(tmp_path, monkeypatch):
    exp = simulate_exposure(tmp_path / "exp", detector="NRS2", nints=1, ngroups=2, size=[16, 256], seed=2)
    assert exp.refs["mask"].parent == tmp_path / "exp" / "references"
    cache = tmp_path / "cache"
    assert write_crds_cache(cache, {"NRS2": exp.refs}) == "jwst_0001.pmap"
    for p in exp.refs.values():
        assert (cache / "references" / "jwst" / "nirspec" / p.name).is_file()
    res = _run_client(monkeypatch, cache, [exp.uncal], ignore_checksum="1")
    got = {k: os.path.realpath(v) for k, v in res[str(exp.uncal)]["crds"].items()}
    assert got == _expected(cache, exp.uncal)


def test_refuses_to_overwrite_a_foreign_cache(tmp_path):
    cfg = tmp_path / "config" / "jwst"
    cfg.mkdir(parents=True)
    (cfg / "server_config").write_text("{'observatory': 'jwst', 'operational_context': 'jwst_1322.pmap'}")
    with pytest.raises(ValueError, match="did not write"):
        write_crds_cache(tmp_path, {})
