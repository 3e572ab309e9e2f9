"""rampflow.mast against a fake MAST on 127.0.0.1, through astroquery's real code path.

No test here reaches the network: the ``loopback_only`` fixture (pulled in by
``fake_mast``) refuses any connection or name lookup off the loopback range.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fakemast  # noqa: E402
from fakemast import FakeMast, NetworkBlocked  # noqa: E402

from rampflow import mast  # noqa: E402

#: fixtures: ``loopback_only`` refuses any host off 127.0.0.0/8 (and turns astroquery's
#: cache off); ``fake_mast`` is a started FakeMast behind that fence
loopback_only = fakemast.loopback_only
fake_mast = fakemast.fake_mast

PROGRAM = {"proposal_id": "1366", "instrument_name": "NIRSPEC/SLIT", "filters": "F290LP;G395H",
           "target_name": "WASP-39", "obs_collection": "JWST"}
CRITERIA = {k: PROGRAM[k] for k in ("proposal_id", "instrument_name", "filters", "target_name")}
SCIENCE = [f"jw01366003001_04101_00001-seg{s:03d}_{d}_uncal.fits"
           for d in ("nrs1", "nrs2") for s in (1, 2, 3)]
TA = "jw01366003001_02101_00001_nrs1_uncal.fits"
L3 = "jw01366-o003_t001_nirspec_f290lp-g395h-s1600a1-sub2048"


def _uncal_bytes(path: Path, name: str, seed: int, exp_type: str = "NRS_BRIGHTOBJ") -> bytes:
    """A tiny but genuine uncal file (stdatamodels Level1bModel), as bytes."""
    from stdatamodels.jwst.datamodels import Level1bModel

    rng = np.random.default_rng(seed)
    ngroups = 2 if "TA" in exp_type or "WATA" in exp_type else 4
    model = Level1bModel(data=rng.integers(0, 60000, (2, ngroups, 16, 64)).astype(np.uint16))
    model.meta.instrument.name = "NIRSPEC"
    model.meta.instrument.detector = name.split("_")[-2].upper()
    model.meta.exposure.type = exp_type
    model.meta.filename = name
    model.save(path / name)
    return (path / name).read_bytes()


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    """name -> bytes of every file the fake server serves (made once per module)."""
    src = tmp_path_factory.mktemp("served")
    files = {name: _uncal_bytes(src, name, seed) for seed, name in enumerate(SCIENCE)}
    files[TA] = _uncal_bytes(src, TA, 99, exp_type="NRS_WATA")
    return files


def _program(fake: FakeMast, payloads, *, ta_in_level3=True, exclusive=False,
             ta_product_type="SCIENCE"):
    return fake.add_jwst_exposures({n: payloads[n] for n in SCIENCE}, level3_obs_id=L3,
                                   ta_files={TA: payloads[TA]}, ta_in_level3=ta_in_level3,
                                   exclusive=exclusive, ta_product_type=ta_product_type,
                                   dataproduct_type="timeseries", **PROGRAM)


@pytest.fixture
def program(fake_mast, payloads):
    _program(fake_mast, payloads)
    return fake_mast


def _products(fake, names):
    """Product rows as query_products returns them, for the given file names."""
    table = mast.query_products(CRITERIA, include_ta=True, server=fake.url)
    keep = [i for i, n in enumerate(table["productFilename"]) if n in set(names)]
    return table[keep]


def _nothing_left(directory: Path):
    return sorted(p.name for p in directory.iterdir())


# ----------------------------------------------------------------------------- query


def test_query_uses_astroquery_endpoints(program):
    table = mast.query_products(CRITERIA, server=program.url)
    assert list(table["productFilename"]) == sorted(SCIENCE)
    assert not any(table["is_ta"])
    assert set(table["detector"]) == {"nrs1", "nrs2"}
    assert sorted(set(table["segment"])) == [1, 2, 3]
    assert all(table["productSubGroupDescription"] == "UNCAL")
    assert list(table["size"]) == [len(program.files[u].data) for u in table["dataURI"]]

    posts = [r for r in program.requests if r.method == "POST"]
    configs = [r.form["colConfigId"] for r in posts if r.path.endswith("/columnsconfig")]
    services = [r.service for r in posts if r.path == "/api/v0/invoke"]
    assert configs[0] == "Mast.Caom.Cone"  # astroquery builds the filter set from it
    assert "Mast.Caom.Products" in configs
    # 7 observations match (the combined one and one per exposure): products in batches of 5
    assert services == ["Mast.Caom.Filtered", "Mast.Caom.Products", "Mast.Caom.Products"]
    batches = [json.loads(r.form["request"])["params"]["obsid"].split(",") for r in posts
               if r.service == "Mast.Caom.Products"]
    assert [len(b) for b in batches] == [5, 2]
    request = json.loads(next(r for r in posts if r.service == "Mast.Caom.Filtered").form["request"])
    filters = {f["paramName"]: f for f in request["params"]["filters"]}
    assert filters["proposal_id"]["values"] == ["1366"]
    assert filters["filters"]["separator"] == ";"
    assert "Mast.Caom.Products" in [r.service for r in posts]
    assert all(r.headers["User-Agent"].startswith("astroquery/") for r in program.requests)


def test_query_pages_through_results(program):
    obs = mast.observations_client(program.url)
    obs._portal_api_connection.PAGESIZE = 3  # force several pages of observations and products
    table = mast.query_products(CRITERIA, observations=obs)
    assert list(table["productFilename"]) == sorted(SCIENCE)
    pages = [json.loads(r.form["request"])["page"] for r in program.requests
             if r.service == "Mast.Caom.Filtered"]
    assert pages == [1, 2, 3]


def test_wildcard_criteria(program):
    table = mast.query_products({"proposal_id": "1366", "filters": "*G395H*",
                                 "obs_id": "jw01366003001_04101_00001-seg002*"}, server=program.url)
    assert list(table["productFilename"]) == [SCIENCE[1], SCIENCE[4]]
    request = json.loads(next(r for r in program.requests
                              if r.service == "Mast.Caom.Filtered").form["request"])
    free = {f["paramName"]: f.get("freeText") for f in request["params"]["filters"]}
    assert free["obs_id"] == "jw01366003001_04101_00001-seg002%"


def test_nothing_found_names_the_criteria(program):
    criteria = dict(CRITERIA, target_name="WASP-96")
    with pytest.raises(mast.NoProductsFound) as err:
        mast.query_products(criteria, server=program.url)
    message = str(err.value)
    assert "target_name='WASP-96'" in message and "proposal_id='1366'" in message
    assert program.url in message


def test_empty_answer_is_reported(program):
    program.empty_results = True
    with pytest.raises(mast.NoProductsFound, match="no observations for proposal_id='1366'"):
        mast.query_products(CRITERIA, server=program.url)


def test_unknown_criterion_is_rejected_by_astroquery(program):
    from astroquery.exceptions import InvalidQueryError

    with pytest.raises(InvalidQueryError, match="exp_type"):
        mast.query_products({"proposal_id": "1366", "exp_type": "NRS_BRIGHTOBJ"}, server=program.url)


def test_query_retries_on_503(program):
    program.fail(503, times=2, endpoint="invoke")
    table = mast.query_products(CRITERIA, server=program.url, backoff=0.01)
    assert len(table) == len(SCIENCE)


def test_exposure_selection(program):
    table = mast.query_products(CRITERIA, server=program.url, detectors=["nrs2"], segments=[1, 3])
    assert list(table["productFilename"]) == [SCIENCE[3], SCIENCE[5]]
    table = mast.query_products(CRITERIA, server=program.url, exposure_filter="*seg002_nrs1*")
    assert list(table["productFilename"]) == [SCIENCE[1]]
    table = mast.query_products(CRITERIA, server=program.url,
                                exposure_filter=lambda row: row["segment"] == 3)
    assert sorted(table["productFilename"]) == [SCIENCE[2], SCIENCE[5]]
    with pytest.raises(mast.NoProductsFound, match="none passed the selection"):
        mast.query_products(CRITERIA, server=program.url, detectors=["nrs3"])


# ----------------------------------------------------------------------------- TA


def test_ta_listed_with_the_science_is_excluded_or_included(program):
    without = mast.query_products(CRITERIA, server=program.url)
    assert TA not in list(without["productFilename"])
    with_ta = mast.query_products(CRITERIA, server=program.url, include_ta=True)
    assert list(with_ta["productFilename"]) == sorted(SCIENCE + [TA])
    assert list(with_ta["productFilename"][with_ta["is_ta"]]) == [TA]
    # TA exposures are never cut by the segment selection (they are unsegmented)
    some = mast.query_products(CRITERIA, server=program.url, include_ta=True, segments=[2])
    assert sorted(some["productFilename"]) == sorted([SCIENCE[1], SCIENCE[4], TA])


@pytest.mark.parametrize("ta_product_type", ["SCIENCE", "AUXILIARY"])
def test_ta_catalogued_separately_is_found_through_its_visit(fake_mast, payloads, ta_product_type):
    _program(fake_mast, payloads, ta_in_level3=False, ta_product_type=ta_product_type)
    without = mast.query_products(CRITERIA, server=fake_mast.url)
    assert list(without["productFilename"]) == sorted(SCIENCE)
    with_ta = mast.query_products(CRITERIA, server=fake_mast.url, include_ta=True)
    assert list(with_ta["productFilename"][with_ta["is_ta"]]) == [TA]
    visit_query = [json.loads(r.form["request"]) for r in fake_mast.requests
                   if r.service == "Mast.Caom.Filtered"][-1]
    free = {f["paramName"]: f.get("freeText") for f in visit_query["params"]["filters"]}
    assert free["obs_id"] == "jw01366003001_%"


def test_ta_mask_rules():
    from astropy.table import Table

    names = SCIENCE[:2] + [TA, "jw01234001001_02101_00001_nrca1_uncal.fits"]
    table = Table({"productFilename": names, "description": ["", "", "", ""]})
    assert list(mast.target_acquisition_mask(table)) == [False, False, True, False]
    table["exp_type"] = ["NRS_BRIGHTOBJ", "NRS_BRIGHTOBJ", "NRS_WATA", "NRC_TACQ"]
    assert list(mast.target_acquisition_mask(table)) == [False, False, True, True]


# ----------------------------------------------------------------------------- download


def test_download_is_byte_identical_and_writes_a_manifest(program, tmp_path):
    table = mast.query_products(CRITERIA, server=program.url, include_ta=True)
    out = tmp_path / "uncal"
    paths = mast.download(table, out, server=program.url, manifest_path=tmp_path / "manifest.json")
    assert [p.name for p in paths] == list(table["productFilename"])
    for p in paths:
        assert p.read_bytes() == program.files[f"mast:JWST/product/{p.name}"].data
    assert _nothing_left(out) == sorted(SCIENCE + [TA])  # no .part left behind

    doc = mast.read_manifest(tmp_path / "manifest.json")
    assert doc["server"] == program.url
    entry = next(e for e in doc["files"] if e["filename"] == SCIENCE[4])
    assert entry == {
        "filename": SCIENCE[4], "stem": "jw01366003001_04101_00001-seg002_nrs2",
        "size": len(program.files[entry["dataURI"]].data),
        "md5": hashlib.md5(program.files[entry["dataURI"]].data).hexdigest(), "checksum": None,
        "obs_id": "jw01366003001_04101_00001-seg002_nrs2", "detector": "nrs2", "segment": 2,
        "is_ta": False, "dataURI": f"mast:JWST/product/{SCIENCE[4]}"}
    assert mast.manifest_stems(tmp_path / "manifest.json") == [n[: -len("_uncal.fits")]
                                                               for n in sorted(SCIENCE)]
    assert len(mast.manifest_stems(tmp_path / "manifest.json", include_ta=True)) == 7

    from stdatamodels.jwst import datamodels

    with datamodels.open(paths[0]) as model:
        assert model.data.dtype == np.uint16

    # a second run finds everything in place and fetches nothing
    before = len(program.downloads())
    mast.download(table, out, server=program.url)
    assert len(program.downloads()) == before


def test_url_is_astroquerys(program, tmp_path):
    uri = f"mast:JWST/product/{SCIENCE[0]}"
    obs = mast.observations_client(program.url)
    assert mast.download_url(uri, program.url) == (
        f"{program.url}/api/v0.1/Download/file?uri=mast:JWST/product/{SCIENCE[0]}")
    assert mast.download_url(uri, observations=obs) == mast.download_url(uri, program.url)
    assert mast.download_url(uri) == (
        "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:JWST/product/" + SCIENCE[0])
    # astroquery's own downloader, on the same fake endpoint, gets the same file
    status, msg, _ = obs.download_file(uri, local_path=str(tmp_path / SCIENCE[0]), cache=False,
                                       verbose=False)
    assert status == "COMPLETE", msg
    assert (tmp_path / SCIENCE[0]).read_bytes() == program.files[uri].data


def test_interrupted_download_resumes_with_range(program, tmp_path):
    name = SCIENCE[0]
    program.drop_after(name, 5000)
    [path] = mast.download(_products(program, [name]), tmp_path, server=program.url, backoff=0.01)
    gets = program.downloads(name)
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"] == "bytes=5000-"
    assert path.read_bytes() == program.files[f"mast:JWST/product/{name}"].data
    assert _nothing_left(tmp_path) == [name]


def test_partial_file_from_an_earlier_run_is_resumed(program, tmp_path):
    name = SCIENCE[1]
    data = program.files[f"mast:JWST/product/{name}"].data
    (tmp_path / (name + ".part")).write_bytes(data[:2880])
    [path] = mast.download(_products(program, [name]), tmp_path, server=program.url)
    [get] = program.downloads(name)
    assert get.headers["Range"] == "bytes=2880-"
    assert path.read_bytes() == data


@pytest.mark.parametrize("mode", ["truncate", "extend"])
def test_size_mismatch_keeps_nothing(program, tmp_path, mode):
    name = SCIENCE[2]
    program.corrupt(name, mode)
    with pytest.raises(mast.ChecksumMismatch, match=name):
        mast.download(_products(program, [name]), tmp_path, server=program.url, backoff=0.01)
    assert _nothing_left(tmp_path) == []


def test_checksum_mismatch_keeps_nothing(loopback_only, payloads, tmp_path):
    with FakeMast(report_md5=True) as fake:  # a product table that reports an md5
        _program(fake, payloads)
        products = _products(fake, [SCIENCE[0], SCIENCE[3]])
        assert "md5" in products.colnames
        fake.corrupt(SCIENCE[3], "flip")  # same length, one byte wrong
        with pytest.raises(mast.ChecksumMismatch, match=f"{SCIENCE[3]}: md5 checksum"):
            mast.download(products, tmp_path, server=fake.url)
        assert _nothing_left(tmp_path) == [SCIENCE[0]]  # the good one was verified and kept
    assert not fake.errors


def test_503_then_success(program, tmp_path):
    name = SCIENCE[3]
    program.fail(503, times=2, filename=name)
    [path] = mast.download(_products(program, [name]), tmp_path, server=program.url, backoff=0.01)
    assert [r.headers.get("Range") for r in program.downloads(name)] == [None, None, None]
    assert path.read_bytes() == program.files[f"mast:JWST/product/{name}"].data


def test_gives_up_after_the_retries(program, tmp_path):
    name = SCIENCE[4]
    program.fail(503, times=None, filename=name)
    with pytest.raises(mast.DownloadError, match=f"{name}: giving up after 2 retries"):
        mast.download(_products(program, [name]), tmp_path, server=program.url,
                      retries=2, backoff=0.01)
    assert len(program.downloads(name)) == 3
    assert not (tmp_path / name).exists()


# ----------------------------------------------------------------------------- token


def test_exclusive_data_needs_the_token(fake_mast, payloads, tmp_path):
    _program(fake_mast, payloads, exclusive=True)
    products = mast.query_products(CRITERIA, server=fake_mast.url)[:1]
    name = products["productFilename"][0]
    with pytest.raises(mast.DownloadError, match=f"{name}: HTTP 401.*MAST token"):
        mast.download(products, tmp_path / "anon", server=fake_mast.url)

    [path] = mast.download(products, tmp_path / "auth", server=fake_mast.url, token="good-token")
    assert path.read_bytes() == fake_mast.files[products["dataURI"][0]].data
    whoami = [r for r in fake_mast.requests if r.path == "/whoami"]
    assert whoami and whoami[-1].cookies["mast_token"] == "good-token"
    assert fake_mast.downloads(name)[-1].cookies["mast_token"] == "good-token"


def test_token_from_the_environment(fake_mast, payloads, tmp_path, monkeypatch):
    _program(fake_mast, payloads, exclusive=True)
    monkeypatch.setenv("MAST_API_TOKEN", "good-token")
    products = mast.query_products(CRITERIA, server=fake_mast.url)[:1]
    [path] = mast.download(products, tmp_path, server=fake_mast.url)
    assert fake_mast.downloads()[-1].cookies["mast_token"] == "good-token"
    assert path.exists()


def test_bad_token_is_refused(fake_mast):
    from astroquery.exceptions import LoginError

    with pytest.raises(LoginError):
        mast.observations_client(fake_mast.url, token="wrong")


# ----------------------------------------------------------------------------- config, misc


def test_fetch_from_config(program, tmp_path):
    cfg = {**CRITERIA, "server": program.url, "include_ta": True, "detectors": ["nrs1"],
           "segments": [1, 2], "retries": 1, "backoff": 0.01}
    files = mast.fetch(cfg, tmp_path / "uncal", tmp_path / "manifest.json")
    assert [f["filename"] for f in files] == sorted([SCIENCE[0], SCIENCE[1], TA])
    assert [f["is_ta"] for f in files] == [f["filename"] == TA for f in files]


def test_split_config():
    criteria, options = mast.split_config(
        {**CRITERIA, "server": "http://127.0.0.1:1", "include_ta": True, "obs_id": None})
    assert criteria == CRITERIA
    assert options == {"server": "http://127.0.0.1:1", "include_ta": True}


def test_parse_filename():
    p = mast.parse_filename("jw01366003001_04101_00001-seg003_nrs2_uncal.fits")
    assert (p["stem"], p["visit"], p["detector"], p["segment"]) == (
        "jw01366003001_04101_00001-seg003_nrs2", "jw01366003001", "nrs2", 3)
    assert (p["program"], p["observation"], p["visit_group"], p["activity"], p["exposure"]) == (
        1366, 3, 4, 1, 1)
    assert mast.parse_filename("jw02736001001_02105_00001_nrcb1_uncal.fits")["segment"] == 0
    assert mast.parse_filename("notes.txt") is None


def test_parse_filename_is_names_parse():
    from rampflow import names

    name = "jw01366003001_04101_00001-seg003_nrs2_uncal.fits"
    p = mast.parse_filename(name)
    assert p == names.parse(name).as_dict()
    assert set(p) == {"visit", "program", "observation", "visit_number", "visit_group", "parallel",
                      "activity", "exposure", "segment", "detector", "suffix", "stem"}
    assert (p["visit_number"], p["parallel"], p["suffix"]) == (1, 1, "uncal")


def test_manifest_rejects_a_bad_file(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"version": 1, "files": [{"filename": "x"}]}))
    with pytest.raises(ValueError, match=r"files\[0\] lacks"):
        mast.read_manifest(tmp_path / "m.json")


def test_the_network_is_fenced_off(loopback_only):
    # the default server is the real MAST: the guard must stop the attempt, loudly
    with pytest.raises((NetworkBlocked, mast.MastQueryError)) as err:
        mast.query_products(CRITERIA, retries=0)
    assert "only 127.0.0.1 is allowed" in str(err.value) + str(err.value.__cause__ or "")
