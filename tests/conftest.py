"""Shared test helpers: tiny genuine-layout uncal files written with stdatamodels; scratch
directories of a test module removed when the module ends."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

# --- scratch space -------------------------------------------------------------------------
# The suite simulates exposures and runs workflows that write tens of GB in total. pytest keeps
# every temporary directory until the session ends; on a disk with little room that fails the
# late tests with "No space left". Per-test directories (tmp_path) of passing tests are removed
# by pytest itself (tmp_path_retention_policy = "failed" in pyproject.toml); the directories
# that module-scoped fixtures make with tmp_path_factory are removed here when their module
# ends, unless a test of the module failed (then they stay for inspection). Directories made by
# session-scoped fixtures (shared simulated cases, the SLURM cluster) live until the session
# ends, as before.

class _ScratchTracker:
    """The scopes of the fixtures being set up (innermost last), the directories made by the
    current module's fixtures and tests, and whether one of its tests failed. Registered as a
    plugin (below): a conftest's own hooks are not called for session-scoped fixtures, whose
    node is the session, outside this folder."""

    def __init__(self):
        self.scopes: list[str] = []
        self.dirs: list = []
        self.failed = False

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        self.scopes.append(fixturedef.scope)
        try:
            return (yield)
        finally:
            self.scopes.pop()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.failed:
            self.failed = True
        return report


_scratch = _ScratchTracker()


def pytest_configure(config):
    config.pluginmanager.register(_scratch, "rampflow-scratch-tracker")


@pytest.fixture(scope="module", autouse=True)
def _module_scratch(tmp_path_factory):
    """Record the directories made while this module runs (outside session-scoped fixtures)
    and remove them at its end if all its tests passed."""
    mktemp = tmp_path_factory.mktemp

    def recording_mktemp(basename, numbered=True):
        path = mktemp(basename, numbered=numbered)
        if "session" not in _scratch.scopes:
            _scratch.dirs.append(path)
        return path

    _scratch.dirs.clear()
    _scratch.failed = False
    tmp_path_factory.mktemp = recording_mktemp
    yield
    del tmp_path_factory.mktemp   # back to the class's method
    if not _scratch.failed:
        for path in _scratch.dirs:
            shutil.rmtree(path, ignore_errors=True)
    _scratch.dirs.clear()


def make_uncal(path, data: np.ndarray, *, instrument="NIRSPEC", detector="NRS1", exp_type="NRS_BRIGHTOBJ",
               subarray="SUB2048", substrt=(1, 1), int_times=True, **meta):
    """Write ``data`` (uint16, nints x ngroups x ny x nx) as a Level1bModel uncal file."""
    from stdatamodels.jwst import datamodels as dm

    data = np.asarray(data, dtype=np.uint16)
    nints, ngroups, ny, nx = data.shape
    m = dm.Level1bModel(data=data)
    m.meta.telescope = "JWST"
    m.meta.instrument.name = instrument
    m.meta.instrument.detector = detector
    m.meta.exposure.type = exp_type
    m.meta.exposure.readpatt = meta.pop("readpatt", "NRSRAPID")
    m.meta.subarray.name = subarray
    m.meta.subarray.xstart, m.meta.subarray.ystart = substrt
    m.meta.subarray.xsize, m.meta.subarray.ysize = nx, ny
    m.meta.subarray.fastaxis = meta.pop("fastaxis", 2)
    m.meta.subarray.slowaxis = meta.pop("slowaxis", 1)
    m.meta.exposure.nints = nints
    m.meta.exposure.ngroups = ngroups
    m.meta.exposure.nframes = meta.pop("nframes", 1)
    m.meta.exposure.groupgap = meta.pop("groupgap", 0)
    m.meta.exposure.frame_divisor = meta.pop("frmdivsr", 1)
    m.meta.exposure.frame_time = meta.pop("tframe", 0.90156)
    m.meta.exposure.group_time = meta.pop("tgroup", 0.90156)
    m.meta.observation.date = "2022-07-10"
    m.meta.observation.time = "10:00:00.000"
    if int_times:
        it = np.zeros(nints, dtype=[("integration_number", "i4"), ("int_start_MJD_UTC", "f8"),
                                    ("int_mid_MJD_UTC", "f8"), ("int_end_MJD_UTC", "f8"),
                                    ("int_start_BJD_TDB", "f8"), ("int_mid_BJD_TDB", "f8"),
                                    ("int_end_BJD_TDB", "f8")])
        it["integration_number"] = np.arange(1, nints + 1)
        it["int_mid_BJD_TDB"] = 59770.5 + np.arange(nints) * 1e-3
        m.int_times = it
    m.save(str(path))
    return path


@pytest.fixture
def uncal_factory(tmp_path):
    def _make(name="jw01366003001_04101_00001-seg001_nrs1_uncal.fits", shape=(2, 3, 4, 5), seed=0, **kw):
        rng = np.random.default_rng(seed)
        data = rng.integers(10000, 60000, size=shape, dtype=np.uint16)
        make_uncal(tmp_path / name, data, **kw)
        return tmp_path / name, data

    return _make
