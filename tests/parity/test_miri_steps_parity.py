"""Parity of the MIRI-only steps (emicorr, firstframe, lastframe, reset, rscd) with the official
jwst 3.0 steps, on small MIRI exposures built here with stdatamodels (MIRIMAGE, FASTR1, FULL
and SLITLESSPRISM) and reference files written with stdatamodels' ResetModel, RSCDModel and
EmiModel, given to jwst as override_<reftype>: SCI to float32 rounding, GROUPDQ and PIXELDQ
exactly."""

import numpy as np
import pytest

pytest.importorskip("jwst", reason="the official jwst pipeline is not installed")

from stdatamodels.jwst import datamodels  # noqa: E402

from rampflow.meta import ExposureMeta  # noqa: E402
from rampflow.references import load_reference  # noqa: E402
from rampflow.steps import get_step_class  # noqa: E402

GEOMETRY = {"FULL": (1, 1, 1032, 1024), "SLITLESSPRISM": (1, 529, 72, 416)}


def _ramp(subarray, nints, ngroups, seed, emi=0.0):
    """A MIRI RampModel: ramps with noise, a few saturating pixels, flagged pixels."""
    x0, y0, nx, ny = GEOMETRY[subarray]
    rng = np.random.default_rng(seed)
    rate = rng.uniform(5, 50, (ny, nx))
    t = np.arange(1, ngroups + 1)[None, :, None, None]
    data = 10000 + rate[None, None] * t + rng.normal(0, 3, (nints, ngroups, ny, nx))
    if emi:
        rowclocks = 28 if subarray == "SLITLESSPRISM" else 271
        period = (1.0 / 390.625) / 10.0e-6
        frametime = ny * rowclocks + (1024.0 - ny) * 7.0
        tt = (np.arange(ngroups)[:, None, None] * frametime + np.arange(ny)[None, :, None] * rowclocks
              + (np.arange(nx) // 4)[None, None, :])
        data = data + emi * np.sin(2 * np.pi * tt / period + 0.7)[None]
    gdq = np.zeros(data.shape, np.uint8)
    sat = rng.random((ny, nx)) < 0.02
    first = rng.integers(1, ngroups, (ny, nx))
    for g in range(ngroups):
        gdq[:, g][:, sat & (first <= g)] = 2  # SATURATED from group ``first`` on (as the saturation step flags)
    pdq = np.zeros((ny, nx), np.uint32)
    pdq[rng.random((ny, nx)) < 0.01] = 1
    m = datamodels.RampModel(data=data.astype(np.float32), groupdq=gdq, pixeldq=pdq)
    meta = m.meta
    meta.instrument.name, meta.instrument.detector = "MIRI", "MIRIMAGE"
    meta.instrument.filter = "P750L" if subarray == "SLITLESSPRISM" else "F770W"
    meta.exposure.type = "MIR_LRS-SLITLESS" if subarray == "SLITLESSPRISM" else "MIR_IMAGE"
    meta.exposure.readpatt, meta.exposure.nsamples = "FASTR1", 1
    meta.exposure.nints, meta.exposure.ngroups, meta.exposure.nframes = nints, ngroups, 1
    meta.exposure.frame_time = meta.exposure.group_time = 2.775
    meta.observation.date, meta.observation.time = "2024-01-01", "00:00:00"
    meta.subarray.name = subarray
    meta.subarray.xstart, meta.subarray.ystart, meta.subarray.xsize, meta.subarray.ysize = x0, y0, nx, ny
    primary = {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "SUBARRAY": subarray, "READPATT": "FASTR1",
               "NINTS": nints, "NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 2.775, "TGROUP": 2.775,
               "SUBSTRT1": x0, "SUBSTRT2": y0, "SUBSIZE1": nx, "SUBSIZE2": ny, "NSAMPLES": 1}
    return m, ExposureMeta.from_headers(primary, filename=f"miri_{subarray}_uncal.fits")


def _ref_meta(model, reftype, subarray):
    x0, y0, nx, ny = GEOMETRY[subarray]
    model.meta.reftype = reftype
    model.meta.author, model.meta.description, model.meta.pedigree = "rampflow tests", "test", "DUMMY"
    model.meta.useafter = "2020-01-01T00:00:00"
    model.meta.instrument.name, model.meta.instrument.detector = "MIRI", "MIRIMAGE"
    if hasattr(model.meta, "subarray"):
        model.meta.subarray.name = subarray
        model.meta.subarray.xstart, model.meta.subarray.ystart = x0, y0
        model.meta.subarray.xsize, model.meta.subarray.ysize = nx, ny


def _reset_file(tmp_path, subarray, seed):
    x0, y0, nx, ny = GEOMETRY[subarray]
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 20, (2, 3, ny, nx)).astype(np.float32)
    data[0, 0, 3, 3] = np.nan
    dq = np.zeros((ny, nx), np.uint32)
    dq[5, 7] = 1
    m = datamodels.ResetModel(data=data, dq=dq, err=np.zeros_like(data))
    _ref_meta(m, "RESET", subarray)
    m.meta.exposure.nints, m.meta.exposure.ngroups = 2, 3
    path = tmp_path / f"reset_{subarray}.fits"
    m.save(path)
    return path


def _rscd_file(tmp_path, rows):
    table = np.array(rows, dtype=[("subarray", "S17"), ("readpatt", "S12"), ("group_skip", "<i4"),
                                  ("group_skip1", "<i4")])
    m = datamodels.RSCDModel(rscd_group_skip_table=table)
    _ref_meta(m, "RSCD", "FULL")
    path = tmp_path / "rscd.fits"
    m.save(path)
    return path


def _emi_file(tmp_path):
    m = datamodels.EmiModel()
    m.frequencies = {"Hz390": {"frequency": 390.625,
                               "phase_amplitudes": np.sin(2 * np.pi * (np.arange(256) + 0.5) / 256)}}
    m.subarray_cases = {"SLITLESSPRISM": {"rowclocks": 28, "frameclocks": 15904,
                                          "freqs": {"FAST": ["Hz390"], "SLOW": {"MIRIMAGE": ["Hz390"]}}}}
    m.meta.reftype = "EMICORR"
    m.meta.author, m.meta.description, m.meta.pedigree = "rampflow tests", "test", "DUMMY"
    m.meta.useafter = "2020-01-01T00:00:00"
    m.meta.instrument.name = "MIRI"
    path = tmp_path / "emicorr.asdf"
    m.save(path)
    return path


def _ours(name, model, meta, refs, **params):
    cls = get_step_class(name)
    loaded = {rt: load_reference(rt, refs[rt], meta) for rt in cls.reftypes if rt in refs}
    step = cls(meta, loaded, **params)
    sci = np.array(model.data, np.float32)
    gdq = np.array(model.groupdq, np.uint8)
    pdq = np.array(model.pixeldq, np.uint32)
    if step.skipped is None:
        step.process(sci, gdq, pdq, slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return sci, gdq, pdq, step


def _theirs(cls_path, model, **kw):
    import importlib

    mod, name = cls_path.rsplit(".", 1)
    return getattr(importlib.import_module(mod), name).call(model.copy(), **kw)


def _assert_parity(ours, theirs, status_key, step):
    sci, gdq, pdq = ours[:3]
    np.testing.assert_array_equal(pdq, np.asarray(theirs.pixeldq, np.uint32), err_msg="PIXELDQ differs")
    np.testing.assert_array_equal(gdq, np.asarray(theirs.groupdq, np.uint8), err_msg="GROUPDQ differs")
    np.testing.assert_allclose(sci, np.asarray(theirs.data, np.float32), rtol=1e-6, atol=1e-3,
                               err_msg="SCI differs")
    status = getattr(theirs.meta.cal_step, status_key)
    assert status == ("SKIPPED" if step.skipped else "COMPLETE")


@pytest.mark.parametrize("subarray", ["FULL", "SLITLESSPRISM"])
def test_lastframe_parity(jwst_offline, subarray):
    model, meta = _ramp(subarray, 2, 5, seed=1)
    ours = _ours("lastframe", model, meta, {})
    _assert_parity(ours, _theirs("jwst.lastframe.LastFrameStep", model), "lastframe", ours[3])


@pytest.mark.parametrize("bright", [True, False])
def test_firstframe_parity(jwst_offline, bright):
    model, meta = _ramp("SLITLESSPRISM", 3, 6, seed=2)
    ours = _ours("firstframe", model, meta, {}, bright_use_group1=bright)
    assert ours[2].any()
    theirs = _theirs("jwst.firstframe.FirstFrameStep", model, skip=False, bright_use_group1=bright)
    _assert_parity(ours, theirs, "firstframe", ours[3])


@pytest.mark.parametrize("subarray", ["FULL", "SLITLESSPRISM"])
def test_reset_parity(jwst_offline, tmp_path, subarray):
    model, meta = _ramp(subarray, 3, 5, seed=3)
    refs = {"reset": _reset_file(tmp_path, subarray, seed=4)}
    ours = _ours("reset", model, meta, refs)
    theirs = _theirs("jwst.reset.ResetStep", model, override_reset=str(refs["reset"]))
    assert not np.allclose(np.asarray(theirs.data), np.asarray(model.data))
    _assert_parity(ours, theirs, "reset", ours[3])


@pytest.mark.parametrize("subarray, ngroups, rows", [
    ("FULL", 10, [("FULL", "FASTR1", 4, 2), ("SLITLESSPRISM", "FASTR1", 3, 1)]),
    ("SLITLESSPRISM", 10, [("FULL", "FASTR1", 4, 2), ("SLITLESSPRISM", "FASTR1", 6, 5)]),
    ("SLITLESSPRISM", 7, [("SLITLESSPRISM", "FASTR1", 6, 5)]),      # the N+3 guard
    ("SLITLESSPRISM", 5, [("SLITLESSPRISM", "FASTR1", 6, 5)]),      # 5 groups: 1 and 1
    ("SLITLESSPRISM", 8, [("FULL", "FASTR1", 6, 5)]),               # no row: SKIPPED
])
def test_rscd_parity(jwst_offline, tmp_path, subarray, ngroups, rows):
    model, meta = _ramp(subarray, 3, ngroups, seed=5)
    refs = {"rscd": _rscd_file(tmp_path, rows)}
    ours = _ours("rscd", model, meta, refs)
    theirs = _theirs("jwst.rscd.RscdStep", model, override_rscd=str(refs["rscd"]))
    _assert_parity(ours, theirs, "rscd", ours[3])
    if not ours[3].skipped:
        head = ours[3].header_updates()
        assert head["INT2SKIP"][0] == theirs.meta.rscd.ngroups_skip_int2p
        assert head["INT1BORS"][0] == theirs.meta.rscd.keep_groups_saturation_int1
        assert head["INT2UGP1"][0] == theirs.meta.rscd.keep_bright_firstgroup_int2p


@pytest.mark.parametrize("separately", [False, True])
def test_emicorr_parity(jwst_offline, tmp_path, separately):
    model, meta = _ramp("SLITLESSPRISM", 2, 6, seed=6, emi=4.0)
    refs = {"emicorr": _emi_file(tmp_path)}
    ours = _ours("emicorr", model, meta, refs, fit_ints_separately=separately)
    assert ours[3].skipped is None
    theirs = _theirs("jwst.emicorr.EmiCorrStep", model, skip=False, override_emicorr=str(refs["emicorr"]),
                     fit_ints_separately=separately)
    assert not np.allclose(np.asarray(theirs.data), np.asarray(model.data))
    _assert_parity(ours, theirs, "emicorr", ours[3])


def test_miri_steps_through_the_runner_match_jwst(jwst_offline, tmp_path):
    """The MIRI-only steps run by rampflow.runner.run from a file (fused, small chunks of one
    integration for the chunked ones), against jwst's steps run one after another: products
    open as RampModels with jwst's arrays, S_ and R_ keywords."""
    from rampflow import runner

    model, _ = _ramp("SLITLESSPRISM", 3, 8, seed=7, emi=3.0)
    src = tmp_path / "jw01366002001_04103_00001-seg001_mirimage_ramp.fits"
    model.save(src)
    refs = {"reset": _reset_file(tmp_path, "SLITLESSPRISM", seed=8),
            "rscd": _rscd_file(tmp_path, [("SLITLESSPRISM", "FASTR1", 4, 2)]),
            "emicorr": _emi_file(tmp_path)}
    chain = ["emicorr", "firstframe", "lastframe", "reset", "rscd"]
    outs = {s: tmp_path / f"ours_{s}.fits" for s in chain}
    runner.run(chain, {"ramp": src}, outs, overrides={k: str(v) for k, v in refs.items()}, chunk_mb=0.05,
               use_crds_pars=False)
    theirs = model.copy()
    kw = {"emicorr": {"skip": False, "override_emicorr": str(refs["emicorr"])}, "firstframe": {"skip": False},
          "lastframe": {}, "reset": {"override_reset": str(refs["reset"])},
          "rscd": {"override_rscd": str(refs["rscd"])}}
    paths = {"emicorr": "jwst.emicorr.EmiCorrStep", "firstframe": "jwst.firstframe.FirstFrameStep",
             "lastframe": "jwst.lastframe.LastFrameStep", "reset": "jwst.reset.ResetStep",
             "rscd": "jwst.rscd.RscdStep"}
    for s in chain:
        theirs = _theirs(paths[s], theirs, **kw[s])
        with datamodels.RampModel(str(outs[s])) as ours:
            np.testing.assert_array_equal(ours.groupdq, theirs.groupdq, err_msg=f"{s}: GROUPDQ differs")
            np.testing.assert_array_equal(ours.pixeldq, theirs.pixeldq, err_msg=f"{s}: PIXELDQ differs")
            np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-6, atol=1e-3, err_msg=f"{s}: SCI differs")
            assert getattr(ours.meta.cal_step, s) == getattr(theirs.meta.cal_step, s) == "COMPLETE"
    with datamodels.RampModel(str(outs["rscd"])) as ours:
        assert ours.meta.ref_file.emicorr.name.endswith("emicorr.asdf")
        assert ours.meta.ref_file.rscd.name.endswith("rscd.fits")
        assert ours.meta.rscd.ngroups_skip_int2p == theirs.meta.rscd.ngroups_skip_int2p == 4


@pytest.mark.parametrize("kw", [{"algorithm": "sequential"},
                                {"algorithm": "sequential", "scale_reference": False, "nbins": 64},
                                {"onthefly_corr_freq": [390.625], "use_n_cycles": 5}],
                         ids=["sequential", "unscaled-64-bins", "on-the-fly"])
def test_emicorr_sequential_parity(jwst_offline, tmp_path, kw):
    model, meta = _ramp("SLITLESSPRISM", 2, 10, seed=9, emi=4.0)
    refs = {"emicorr": _emi_file(tmp_path)}
    ours = _ours("emicorr", model, meta, refs, **kw)
    assert ours[3].skipped is None and ours[3].algorithm == "sequential"
    theirs = _theirs("jwst.emicorr.EmiCorrStep", model, skip=False, override_emicorr=str(refs["emicorr"]), **kw)
    assert not np.allclose(np.asarray(theirs.data), np.asarray(model.data))
    _assert_parity(ours, theirs, "emicorr", ours[3])
