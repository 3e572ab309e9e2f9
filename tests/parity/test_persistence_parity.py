"""persistence parity with jwst 3.0's PersistenceStep on two consecutive simulated segments of
one NIRSpec exposure: the first starts with no array and saves it; the second carries it in
(jwst: ``persistence_array_file``; rampflow: the ``persistence_array`` input). GROUPDQ exactly,
SCI untouched, and the saved arrays hold the same windows."""

import asdf
import numpy as np
import pytest
from parity_helpers import jwst_stage, run_jwst_step

from rampflow import dq, io
from rampflow.steps import get_step_class
from rampflow.steps.persistence import read_array_input

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump"]


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_pers")
    return [simulate_exposure(out / f"s{k}", kind="nirspec_tso", detector="NRS1", segment=k, nsegments=2, nints=6,
                              ngroups=5, size=[32, 256], seed=31, peak_well_fraction=1.3) for k in (1, 2)]


def _ours(case, model, entry, out, **params):
    with io.open_ramp(case.uncal) as rf:
        meta = rf.meta
    step = get_step_class("persistence")(meta, {}, {"persistence_array": entry}, **params)
    sci = np.array(model.data, np.float32)
    gdq = np.array(model.groupdq, np.uint8)
    pdq = np.array(model.pixeldq, np.uint32)
    for i in range(sci.shape[0]):  # one integration a chunk, as the runner may
        step.process(sci[i:i + 1], gdq[i:i + 1], pdq, slice(i, i + 1), slice(0, sci.shape[2]))
    step.finish({"persistence_array": str(out)})
    return sci, gdq


def test_persistence_across_segments(jwst_offline, segments, tmp_path):
    models = [jwst_stage(c, PREV) for c in segments]
    thr = float(np.percentile(np.asarray(models[0].data), 98.0))
    ptime = int(2 * models[0].meta.exposure.integration_time + 1)
    params = dict(persistence_time=ptime, dn_threshold=thr)
    theirs_file = tmp_path / "jwst_pers.asdf"
    ours_files = [tmp_path / f"seg{k}_persistence_array.asdf" for k in (1, 2)]
    entry = None
    for k, (case, model) in enumerate(zip(segments, models)):
        extra = {"persistence_array_file": str(theirs_file)} if k else {}
        theirs = run_jwst_step("persistence", model, case.refs, skip=False, save_persistence=str(theirs_file),
                               **params, **extra)
        assert theirs.meta.cal_step.persistence == "COMPLETE"
        sci, gdq = _ours(case, model, entry, ours_files[k], **params)
        np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq), err_msg=f"segment {k + 1} GROUPDQ")
        np.testing.assert_array_equal(sci, np.asarray(model.data))
        flagged = (gdq & dq.PERSISTENCE) != 0
        assert flagged.any() and not flagged.all()
        mine, jw = asdf.load(str(ours_files[k]))["NRS1"], asdf.load(str(theirs_file))["NRS1"]
        np.testing.assert_array_equal(mine["rows"], jw["rows"])
        np.testing.assert_array_equal(mine["cols"], jw["cols"])
        np.testing.assert_array_equal(mine["vals"], jw["vals"])
        entry = read_array_input(ours_files[k], case.meta)
    # the second segment's first groups carry windows opened in the first
    assert (gdq[0, 0] & dq.PERSISTENCE).any()
