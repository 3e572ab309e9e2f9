"""persistence (jwst 3.0's flagging window): jwst's own unit cases (jwst/persistence/tests) with
their inputs and expected flags, the carried array file, and the step wrapper."""

import logging

import asdf
import numpy as np
import pytest

from rampflow import dq
from rampflow.meta import ExposureMeta
from rampflow.steps import get_step_class
from rampflow.steps.persistence import array_from_entry, group_times, mjd_to_epoch, read_array_input

SAT, PERS = dq.SATURATED, dq.PERSISTENCE
GROUP_TIME = 21.47354
START = 59672.47338658912



def _timing(ngroups: int) -> dict:
    """The readout timing keywords every header must carry (NIRCam RAPID frame time)."""
    return {"NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 10.73676, "TGROUP": 10.73676}

def _meta(nints=2, ngroups=7, ny=1, nx=2, start=START, int_starts=None):
    """jwst's create_sci_model: NIRCam NRCA1, group time 21.47354 s, integration time
    ngroups * group time, EXPSTART 59672.47338658912."""
    hdr = {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "TGROUP": GROUP_TIME, "EXPSTART": start, "NGROUPS": ngroups,
           "NFRAMES": 1, "TFRAME": GROUP_TIME,
           "EFFINTTM": ngroups * GROUP_TIME, "SUBSTRT1": 257, "SUBSTRT2": 769}
    meta = ExposureMeta.from_headers(hdr, {}, "dummy_uncal.fits", shape=(nints, ngroups, ny, nx))
    if int_starts is not None:
        meta.extra["INT_START_MJD_UTC"] = tuple(int_starts)
    return meta


def _run(meta, inputs=None, sat_pixel=(0, 1), sci=None, **params):
    """jwst's test ramp: ones, SATURATED from group 5 of integration 0 in ``sat_pixel``."""
    shape = (meta.nints, meta.ngroups, meta.subsize2, meta.subsize1)
    sci = np.ones(shape, np.float32) if sci is None else sci
    gdq = np.zeros(shape, np.uint8)
    if sat_pixel is not None:
        gdq[0, 5:, sat_pixel[0], sat_pixel[1]] |= SAT
    step = get_step_class("persistence")(meta, {}, inputs or {"persistence_array": None}, **params)
    if not step.skipped:
        step.process(sci, gdq, np.zeros(shape[2:], np.uint32), slice(0, meta.nints), slice(0, shape[2]))
    return step, gdq


def test_window_from_exposure_start():
    """jwst test_persistence_time_nonneg_sec: a 70 s window opened at the first saturated
    group (group 5) covers group 6 and groups 0-1 of the next integration."""
    _, gdq = _run(_meta(), persistence_time=70)
    np.testing.assert_array_equal(gdq[0, :, 0, 0], 0)
    np.testing.assert_array_equal(gdq[1, :, 0, 0], 0)
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 34, 34])
    np.testing.assert_array_equal(gdq[1, :, 0, 1], [32, 32, 0, 0, 0, 0, 0])


def test_window_from_int_times():
    """jwst test_persistence_int_times: integration starts from INT_TIMES."""
    meta = _meta(int_starts=[59672.64004629629, 59672.64178605069])
    _, gdq = _run(meta, persistence_time=70)
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 34, 34])
    np.testing.assert_array_equal(gdq[1, :, 0, 1], [32, 32, 0, 0, 0, 0, 0])
    assert not gdq[:, :, 0, 0].any()


def test_window_from_dn_threshold():
    """jwst test_persistence_time_nonneg_sec_thresh: 1500 DN per group passes 8000 at group 5."""
    meta = _meta()
    sci = np.ones((2, 7, 1, 2), np.float32)
    sci[0, :, 0, 1] = 1500.0 * np.arange(1, 8)
    _, gdq = _run(meta, sat_pixel=None, sci=sci, persistence_time=70, dn_threshold=8000.0)
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 32, 32])
    np.testing.assert_array_equal(gdq[1, :, 0, 1], [32, 32, 0, 0, 0, 0, 0])
    assert not gdq[:, :, 0, 0].any()


def test_do_not_use_with_persistence_dnu():
    """jwst test_persistence_time_dnu."""
    _, gdq = _run(_meta(), persistence_time=70, persistence_dnu=True)
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 35, 35])
    np.testing.assert_array_equal(gdq[1, :, 0, 1], [33, 33, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("ptime", [None, 0, -100])
def test_invalid_persistence_time_fails_and_changes_nothing(ptime):
    """jwst test_persistence_time_0_sec / _neg_sec / _none: FAILED, GROUPDQ unchanged."""
    step, gdq = _run(_meta(), persistence_time=ptime)
    assert step.skipped and step.failed
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 2, 2])
    assert not gdq[1].any()


def _entry(value, pers_time=70):
    arr = np.array([[0.0, 0.0, value]])
    rows, cols = np.nonzero(arr)
    return {"filename": "dummy.fits", "rows": rows, "cols": cols, "vals": arr[rows, cols], "pers_time": pers_time}


def test_carried_array_continues_a_window(tmp_path):
    """jwst test_persistence_time_with_array: pixel (0, 2) arrives with a window ending at
    1648999345.9470801 (epoch s), which covers the first two groups of integration 0."""
    path = tmp_path / "persistence_array.asdf"
    asdf.AsdfFile({"NRCA1": _entry(1648999345.9470801)}).write_to(str(path))
    meta = _meta(nx=3, start=59672.64004629629)
    entry = read_array_input(path, meta)
    _, gdq = _run(meta, {"persistence_array": entry}, persistence_time=70)
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 34, 34])
    np.testing.assert_array_equal(gdq[1, :, 0, 1], [32, 32, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(gdq[0, :, 0, 2], [32, 32, 0, 0, 0, 0, 0])
    assert not gdq[1, :, 0, 2].any() and not gdq[:, :, 0, 0].any()


def test_carried_array_with_another_persistence_time_is_not_used(caplog):
    """jwst test_persistence_mismatch_persistence_time_guard."""
    meta = _meta(nx=3, start=59672.64004629629)
    with caplog.at_level(logging.INFO):
        _, gdq = _run(meta, {"persistence_array": _entry(1648999345.9470801, 70)}, persistence_time=80)
    assert "does not equal persistence_time" in caplog.text
    assert not gdq[:, :, 0, 2].any()


def test_window_from_the_future_is_reset():
    """jwst test_persistence_backwards_flagging_guard: an end time far beyond now + window."""
    meta = _meta(nx=3, start=59672.64004629629)
    _, gdq = _run(meta, {"persistence_array": _entry(1748994345.9470801)}, persistence_time=70)
    assert not gdq[:, :, 0, 2].any()
    np.testing.assert_array_equal(gdq[0, :, 0, 1], [0, 0, 0, 0, 0, 34, 34])


def test_window_reopens_until_a_second_saturated_group():
    """jwst re-opens the window while exactly one SATURATED group has been seen: a lone
    SATURATED group (not at the end) keeps the window going to the end of the integration."""
    meta = _meta(nints=1, ngroups=7, nx=1)
    gdq = np.zeros((1, 7, 1, 1), np.uint8)
    gdq[0, 1, 0, 0] = SAT
    step = get_step_class("persistence")(meta, {}, {"persistence_array": None}, persistence_time=30)
    step.process(np.ones(gdq.shape, np.float32), gdq, np.zeros((1, 1), np.uint32), slice(0, 1), slice(0, 1))
    np.testing.assert_array_equal(gdq[0, :, 0, 0], [0, 34, 32, 32, 32, 32, 32])


def test_chunks_in_order_equal_whole_and_array_written(tmp_path):
    """Two chunks of one integration each give the whole run's flags; the array written at the
    end is jwst's layout and holds the open window."""
    meta = _meta()
    _, whole = _run(meta, persistence_time=700)
    cls = get_step_class("persistence")
    step = cls(meta, {}, {"persistence_array": None}, persistence_time=700)
    gdq = np.zeros((2, 7, 1, 2), np.uint8)
    gdq[0, 5:, 0, 1] |= SAT
    for i in (0, 1):
        part = gdq[i:i + 1].copy()
        step.process(np.ones(part.shape, np.float32), part, np.zeros((1, 2), np.uint32), slice(i, i + 1),
                     slice(0, 1))
        gdq[i] = part[0]
    np.testing.assert_array_equal(gdq, whole)
    with pytest.raises(RuntimeError, match="in order"):
        step.process(np.ones((1, 7, 1, 2), np.float32), gdq[:1].copy(), np.zeros((1, 2), np.uint32), slice(0, 1),
                     slice(0, 1))
    out = tmp_path / "x_persistence_array.asdf"
    step.finish({"persistence_array": str(out)})
    tree = asdf.load(str(out))
    t5 = mjd_to_epoch(START) + 6 * GROUP_TIME
    assert list(tree["NRCA1"]["cols"]) == [1] and tree["NRCA1"]["pers_time"] == 700
    assert tree["NRCA1"]["vals"][0] == pytest.approx(t5 + 700, abs=1e-6)
    assert tree["NRCA1"]["filename"] == "dummy_uncal.fits"


def test_group_times_and_entries():
    t = group_times(2, 3, START, 3 * GROUP_TIME, GROUP_TIME)
    e = mjd_to_epoch(START)
    np.testing.assert_allclose(t, [[e + GROUP_TIME, e + 2 * GROUP_TIME, e + 3 * GROUP_TIME],
                                   [e + 4 * GROUP_TIME, e + 5 * GROUP_TIME, e + 6 * GROUP_TIME]], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="frame is"):
        array_from_entry(_entry(5.0), (1, 2), 70, "f.asdf")


def test_step_registration():
    cls = get_step_class("persistence")
    assert cls.keyword == "S_PERSIS" and cls.reftypes == () and cls.skip_default
    assert cls.defaults == {"save_persistence": None, "persistence_time": None, "dn_threshold": None,
                            "persistence_array_file": None, "persistence_dnu": False}
    assert cls.carried == {"persistence_array": "persistence_array"}
    with pytest.raises(KeyError, match="EXPSTART"):
        cls(ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", **_timing(3)}, {}, "t",
                                      shape=(1, 3, 1, 1)),
            {}, {"persistence_array": None}, persistence_time=10)
