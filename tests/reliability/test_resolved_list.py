"""Step jobs take their reference and parameter files from the references job's list
(rampflow.resolved) instead of asking CRDS again: the same products and provenance, no CRDS
client imported; a list that lacks something, names a file that is gone or another context
falls back to CRDS."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from rampflow import resolved
from tests.reliability.helpers import child_env, crds_cache_without, run_child

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump",
         "ramp_fit"]

CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from rampflow import prefetch

    uncal, out, steps = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    assert prefetch.write_ready(out / ".ready", [uncal], steps) == 0
    print("LINES " + json.dumps((out / ".ready").read_text().splitlines()))
""")

JOB = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from astropy.io import fits
    from rampflow import runner

    uncal, out, steps, listed = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4] == "1"
    outs = {k: out / ("listed" if listed else "crds") / f"{k}.fits" for k in ("rate", "rateints")}
    kw = dict(resolved=str(out / ".ready"), exposure=Path(uncal).name) if listed else {}
    runner.run(steps, {"ramp": uncal}, outs, **kw)
    with fits.open(outs["rate"]) as h:
        head = {k: str(v) for k, v in h[0].header.items() if k.startswith(("R_", "P_", "S_", "CRDS_CTX"))}
    print("RESULT " + json.dumps({"crds": any(m == "crds" or m.startswith("crds.") for m in sys.modules),
                                  "head": head}))
""")


def _result(proc, tag):
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(tag + " ")][-1]
    return json.loads(line[len(tag) + 1:])


@pytest.fixture(scope="module")
def listed_run(sim_exposure, tmp_path_factory):
    """The references job's list for the simulated exposure, then the one-pass job run twice in
    fresh processes: with the list, and asking CRDS (a local cache, no server)."""
    tmp = tmp_path_factory.mktemp("resolved_list")
    cache = crds_cache_without(tmp / "crds", sim_exposure)
    env = child_env(CRDS_PATH=cache, CRDS_MODE="local", CRDS_SERVER_URL="https://127.0.0.1:9")
    args = [str(sim_exposure.uncal), str(tmp), json.dumps(CHAIN)]
    lines = _result(run_child(["-c", CHILD, *args], env), "LINES")
    with_list = _result(run_child(["-c", JOB, *args, "1"], env), "RESULT")
    with_crds = _result(run_child(["-c", JOB, *args, "0"], env), "RESULT")
    return tmp, lines, with_list, with_crds


def test_references_job_lists_files_parameter_files_and_context(listed_run, sim_exposure):
    _, lines, _, _ = listed_run
    name = sim_exposure.uncal.name
    got = dict(line.split(" ", 2)[1:] for line in lines)
    assert all(line.startswith(name + " ") for line in lines)
    for rt in ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain"):
        assert got[rt].endswith(".fits"), rt
    # every official step's parameter file was looked up: a file, or N/A for none
    for s in ("dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump", "ramp_fit"):
        assert got[f"pars-{s}"] == resolved.NONE or got[f"pars-{s}"].endswith(".asdf"), s
    assert got["context"].endswith(".pmap")


def test_job_with_the_list_imports_no_crds_and_records_the_same_provenance(listed_run):
    tmp, _, with_list, with_crds = listed_run
    from astropy.io import fits

    assert with_list["crds"] is False  # the CRDS client was not even imported
    assert with_crds["crds"] is True
    assert with_list["head"] == with_crds["head"]
    assert with_list["head"]["CRDS_CTX"].endswith(".pmap")
    assert with_list["head"]["R_GAIN"].startswith("crds://")
    for k in ("rate", "rateints"):
        with fits.open(tmp / "listed" / f"{k}.fits") as a, fits.open(tmp / "crds" / f"{k}.fits") as b:
            for ext in ("SCI", "DQ", "ERR", "VAR_POISSON", "VAR_RNOISE"):
                assert np.array_equal(a[ext].data, b[ext].data, equal_nan=True), (k, ext)


def test_list_entries_and_fallbacks(tmp_path):
    gain = tmp_path / "gain.fits"
    gain.write_bytes(b"x")
    pars = tmp_path / "jump.asdf"
    pars.write_bytes(b"x")
    ready = tmp_path / ".ready"
    ready.write_text("\n".join([
        f"a_uncal.fits gain {gain}", "a_uncal.fits ipc N/A", f"a_uncal.fits readnoise {tmp_path / 'gone.fits'}",
        f"a_uncal.fits pars-jump {pars}", "a_uncal.fits pars-ramp_fit N/A", "a_uncal.fits context jwst_0042.pmap",
        f"b_uncal.fits gain {tmp_path / 'other.fits'}", "b_uncal.fits context jwst_0001.pmap", ""]))
    assert resolved.read(ready, "c_uncal.fits") is None  # not listed: CRDS as before
    assert resolved.read(tmp_path / "missing", "a_uncal.fits") is None
    res = resolved.read(ready, "a_uncal.fits")
    assert res.context == "jwst_0042.pmap" and res.pars == {"jump": str(pars), "ramp_fit": None}
    assert resolved.reference("gain", False) is None  # no list in use
    with resolved.using(res):
        assert resolved.reference("gain", False) == str(gain)
        assert resolved.reference("ipc", True) == resolved.NONE
        assert resolved.reference("ipc", False) is None  # N/A only where the type is optional here
        assert resolved.reference("readnoise", False) is None  # the file is gone: CRDS
        assert resolved.reference("dark", False) is None  # not listed
        assert resolved.pars_file("jump") == (True, str(pars))
        assert resolved.pars_file("ramp_fit") == (True, None)
        assert resolved.pars_file("saturation") == (False, None)
        assert resolved.context() == "jwst_0042.pmap"
    with resolved.using(res, context="jwst_0042.pmap"):
        assert resolved.reference("gain", False) == str(gain)
    with resolved.using(res, context="jwst_0050.pmap"):  # pinned to another context: ignored
        assert resolved.reference("gain", False) is None and resolved.pars_file("jump") == (False, None)
    assert resolved.context() is None
