"""Downloads from MAST in the workflow: the mast_query checkpoint only queries and writes the
manifest, then each file is fetched by its own mast_download job, at most
``inputs.mast.connections`` at once, resumed from a partial file, verified, and never fetched
again once verified (also after MAST is queried again). Against the loopback fake MAST."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml

from tests.fakemast import FakeMast
from tests.workflow.test_workflow import _snakemake, _tiny, _workdir

FIELDS = {"proposal_id": "9999", "instrument_name": "NIRSPEC/SLIT", "filters": "F290LP;G395H",
          "target_name": "SIM-1", "obs_collection": "JWST"}
LEVEL3 = "jw09999-o001_t001_nirspec_f290lp-g395h-s1600a1-sub2048"
NAMES = [f"jw09999001001_04101_00001-seg{s:03d}_nrs1_uncal.fits" for s in (1, 2, 3, 4)]


def _files(nbytes=60_000):
    """Four distinct files (MAST serves any bytes; these are never opened as FITS here)."""
    return {n: hashlib.sha256(n.encode()).digest() * (nbytes // 32) for n in NAMES}


def _setup(tmp_path, fake, files, **mast):
    fake.add_jwst_exposures(files, level3_obs_id=LEVEL3, dataproduct_type="timeseries", **FIELDS)
    cfg = _tiny(program="dl", steps=["group_scale", "dq_init"])
    cfg["inputs"] = {"source": "mast", "mast": {**FIELDS, "server": fake.url, "retries": 0, "backoff": 0.01,
                                                 **mast}}
    cfg["references"] = {"overrides": {}}
    wd = _workdir(tmp_path / "wd", cfg)
    out = wd / "results" / "dl"
    targets = [f"results/dl/uncal/{n}" for n in files]  # only the downloads, not the reduction
    return wd, out, targets


def _file_requests(fake):
    return fake.downloads()


def test_each_file_its_own_job_bounded_in_parallel_and_never_fetched_twice(tmp_path, loopback_only):
    files = _files(2_400_000)
    with FakeMast() as fake:
        fake.slow(3.0)  # every file answer waits: downloads that may overlap do
        wd, out, targets = _setup(tmp_path, fake, files, connections=2)
        proc = _snakemake(wd, "--cores", "4", *targets)
        # the query wrote the manifest and fetched nothing; one mast_download job per file
        query_log = (out / "logs" / "mast_query.log").read_text()
        assert "4 files to download" in query_log
        assert len(re.findall(r"rule mast_download:", proc.stderr + proc.stdout)) == 4
        for name, data in files.items():
            assert (out / "uncal" / name).read_bytes() == data
            stem = name[: -len("_uncal.fits")]
            log = (out / "logs" / f"mast_download_{stem}.log").read_text()
            assert f"{name}: downloading {len(data)} bytes" in log
            assert re.search(rf"{name}: 1\.\d of 2\.4 MB \(\d+%\)", log), log  # progress
            assert f"{name}: complete and verified ({len(data)} bytes, md5 {hashlib.md5(data).hexdigest()})" in log
            # the log is its own: no other file in it
            assert not any(other in log for other in files if other != name)
        assert len(_file_requests(fake)) == 4
        # in parallel, bounded by the mast_connections resource (inputs.mast.connections)
        assert fake.max_active_downloads == 2
        doc = json.loads((out / "uncal" / "manifest.json").read_text())
        assert doc["version"] == 2 and sorted(e["filename"] for e in doc["files"]) == NAMES
        assert all(e["size"] == len(files[e["filename"]]) and e["md5"] is None for e in doc["files"])

        # a rerun fetches nothing; nor does one that queries MAST again (the query's settings
        # changed) or downloads with other settings
        _snakemake(wd, "--cores", "4", *targets)
        queries = len([r for r in fake.requests if r.service == "Mast.Caom.Filtered"])
        cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
        cfg["inputs"]["mast"].update({"detectors": ["nrs1"], "retries": 2, "connections": 3})
        (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
        _snakemake(wd, "--cores", "4", *targets)
        assert len([r for r in fake.requests if r.service == "Mast.Caom.Filtered"]) > queries
        assert "4 files to download" in (out / "logs" / "mast_query.log").read_text()
        assert len(_file_requests(fake)) == 4, [r.query for r in _file_requests(fake)[4:]]

        # a file lost locally is fetched again, alone
        (out / "uncal" / NAMES[2]).unlink()
        _snakemake(wd, "--cores", "4", *targets)
        again = _file_requests(fake)[4:]
        assert [r.query["uri"][0].rsplit("/", 1)[1] for r in again] == [NAMES[2]]
        assert (out / "uncal" / NAMES[2]).read_bytes() == files[NAMES[2]]


def test_a_partial_file_is_resumed_with_a_range_request_and_verified(tmp_path, loopback_only):
    files = _files()
    broken = NAMES[1]
    with FakeMast() as fake:
        fake.drop_after(broken, 25_000, times=1)  # the connection drops after 25000 bytes
        wd, out, targets = _setup(tmp_path, fake, files)
        proc = _snakemake(wd, "--cores", "2", "--keep-going", *targets, check=False)
        assert proc.returncode != 0
        stem = broken[: -len("_uncal.fits")]
        log = (out / "logs" / f"mast_download_{stem}.log").read_text()
        assert f"{broken}: giving up after 0 retries" in log and f"{broken}.part" in log
        assert not (out / "uncal" / broken).exists()
        assert (out / "uncal" / f"{broken}.part").stat().st_size == 25_000
        # the other files are in place: each download failed or succeeded alone
        assert all((out / "uncal" / n).read_bytes() == files[n] for n in NAMES if n != broken)
        before = len(fake.downloads())

        _snakemake(wd, "--cores", "2", *targets)
        again = fake.downloads()[before:]
        assert [r.query["uri"][0].rsplit("/", 1)[1] for r in again] == [broken]
        assert again[0].headers.get("Range") == "bytes=25000-"
        assert (out / "uncal" / broken).read_bytes() == files[broken]
        assert not (out / "uncal" / f"{broken}.part").exists()
        log = (out / "logs" / f"mast_download_{stem}.log").read_text()
        assert "resuming a 25000-byte partial file" in log
        md5 = hashlib.md5(files[broken]).hexdigest()
        assert f"complete and verified ({len(files[broken])} bytes, md5 {md5})" in log


@pytest.fixture
def loopback_only(monkeypatch):
    """Only the test process's own lookups are fenced by tests.fakemast.loopback_only; the
    Snakemake subprocess talks to 127.0.0.1 only because the config names the fake server."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
