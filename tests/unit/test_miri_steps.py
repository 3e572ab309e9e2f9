"""The MIRI-only steps (lastframe, firstframe, reset, rscd, emicorr) on hand-built pixels, with
the cases of jwst 3.0's own tests (jwst/{lastframe,firstframe,reset,rscd,emicorr}/tests) in
our words."""

import numpy as np
import pytest
from astropy.table import Table

from rampflow.dq import DO_NOT_USE, FLUX_ESTIMATED, JUMP_DET, SATURATED
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.emicorr import best_phase, correct_frequency, frequency_info, subarray_case
from rampflow.steps.firstframe import flag_first_group
from rampflow.steps.lastframe import flag_last_group
from rampflow.steps.reset import subtract_reset
from rampflow.steps.rscd import flag_rscd, guarded_skips, rscd_skip_counts


def _meta(nints=2, ngroups=10, ny=10, nx=12, detector="MIRIMAGE", instrument="MIRI", subarray="SUB128",
          readpatt="FASTR1", **extra):
    primary = {"INSTRUME": instrument, "DETECTOR": detector, "SUBARRAY": subarray, "READPATT": readpatt,
               "NINTS": nints, "NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 2.775, "TGROUP": 2.775,
               "SUBSIZE1": nx, "SUBSIZE2": ny, **extra}
    return ExposureMeta.from_headers(primary, filename="test_uncal.fits")


def _cube(nints=2, ngroups=10, ny=10, nx=12):
    shape = (nints, ngroups, ny, nx)
    return (np.ones(shape, np.float32), np.zeros(shape, np.uint8), np.zeros((ny, nx), np.uint32))


def _run(name, meta, refs=None, arrays=None, **params):
    step = get_step_class(name)(meta, refs or {}, **params)
    sci, gdq, pdq = arrays if arrays is not None else _cube(meta.nints, meta.ngroups, meta.subsize2, meta.subsize1)
    if step.skipped is None:
        step.process(sci, gdq, pdq, slice(0, sci.shape[0]), slice(0, sci.shape[2]))
    return step, sci, gdq, pdq


# ------------------------------------------------------------------ lastframe (jwst test_lastframe)

def test_lastframe_flags_only_the_last_group_and_adds_to_existing_flags():
    meta = _meta(nints=1, ngroups=5)
    sci, gdq, pdq = _cube(1, 5)
    gdq[0, -1, 2, 3] = JUMP_DET
    step, sci, gdq, pdq = _run("lastframe", meta, arrays=(sci, gdq, pdq))
    assert step.skipped is None
    assert np.all(gdq[0, -1] & DO_NOT_USE)
    assert gdq[0, -1, 2, 3] == JUMP_DET | DO_NOT_USE  # added, not overwritten
    assert not gdq[0, :-1].any() and not pdq.any()
    flag_last_group(gdq)  # idempotent
    assert gdq[0, -1, 2, 3] == JUMP_DET | DO_NOT_USE


@pytest.mark.parametrize("ngroups", [1, 2])
def test_lastframe_skipped_with_two_groups_or_fewer(ngroups):
    step, _, gdq, _ = _run("lastframe", _meta(ngroups=ngroups))
    assert step.skipped and not gdq.any()


def test_lastframe_and_firstframe_skip_a_nircam_exposure():
    for name in ("lastframe", "firstframe", "reset", "rscd", "emicorr"):
        step = get_step_class(name)(_meta(detector="NRCA1", instrument="NIRCAM"), {})
        assert "only for MIRI" in step.skipped


# ------------------------------------------------------------------ firstframe (jwst test_firstframe)

def test_firstframe_flags_the_first_group_without_bright_use_group1():
    step, _, gdq, pdq = _run("firstframe", _meta(nints=1, ngroups=5), bright_use_group1=False)
    assert np.all(gdq[0, 0] == DO_NOT_USE) and not gdq[0, 1:].any() and not pdq.any()


@pytest.mark.parametrize("ngroups", [1, 3])
def test_firstframe_skipped_with_three_groups_or_fewer(ngroups):
    step, _, gdq, _ = _run("firstframe", _meta(ngroups=ngroups))
    assert step.skipped and not gdq.any()


def test_firstframe_bright_use_group1_keeps_group1_where_group3_saturates():
    sci, gdq, pdq = _cube(2, 6, 4, 4)
    gdq[0, 2:, 1, 1] = SATURATED      # saturates at group 3 in integration 1 only
    gdq[1, 2:, 2, 2] = SATURATED      # in integration 2 only
    gdq[:, 1:, 3, 3] = SATURATED      # at group 2: group 3 saturated too -> kept as well
    kept = flag_first_group(gdq, pdq, True)
    assert kept.sum() == 3 and kept[1, 1] and kept[2, 2] and kept[3, 3]
    assert gdq[0, 0, 1, 1] == 0 and gdq[1, 0, 1, 1] == DO_NOT_USE
    assert gdq[1, 0, 2, 2] == 0 and gdq[0, 0, 2, 2] == DO_NOT_USE
    assert gdq[0, 0, 3, 3] == 0 and gdq[1, 0, 3, 3] == 0
    assert gdq[0, 0, 0, 0] == DO_NOT_USE
    expected = np.zeros((4, 4), np.uint32)
    expected[1, 1] = expected[2, 2] = expected[3, 3] = FLUX_ESTIMATED
    np.testing.assert_array_equal(pdq, expected)


def test_firstframe_is_skipped_by_default_as_in_jwst():
    assert get_step_class("firstframe").skip_default and get_step_class("firstframe").defaults == {
        "bright_use_group1": True}


# ------------------------------------------------------------------ reset (jwst test_reset_sub)

def _reset_ref(reset, dq=None, nints=None, ngroups=None):
    header = {"NINTS": nints or reset.shape[0], "NGROUPS": ngroups or reset.shape[1]}
    arrays = {"SCI": reset.astype(np.float32)}
    if dq is not None:
        arrays["DQ"] = dq.astype(np.uint32)
    return Reference("reset", "reset.fits", header, arrays)


def test_reset_subtracts_the_covered_groups_and_reuses_the_last_integration():
    nints, ngroups, ny, nx = 4, 6, 3, 4
    meta = _meta(nints=nints, ngroups=ngroups, ny=ny, nx=nx)
    rng = np.random.default_rng(1)
    data = rng.normal(100, 5, (nints, ngroups, ny, nx)).astype(np.float32)
    reset = rng.normal(0, 2, (2, 3, ny, nx)).astype(np.float32)
    reset[0, 1, 0, 0] = np.nan  # taken as 0
    dq = np.zeros((ny, nx), np.uint32)
    dq[1, 2] = 1
    sci, gdq, pdq = data.copy(), np.zeros(data.shape, np.uint8), np.zeros((ny, nx), np.uint32)
    step, sci, gdq, pdq = _run("reset", meta, {"reset": _reset_ref(reset, dq)}, arrays=(sci, gdq, pdq))
    expected = data.copy()
    clean = np.nan_to_num(reset)
    for i in range(nints):
        expected[i, :3] -= clean[min(i, 1)]
    np.testing.assert_array_equal(sci, expected)
    assert sci[0, 1, 0, 0] == data[0, 1, 0, 0]
    np.testing.assert_array_equal(sci[:, 3:], data[:, 3:])   # groups beyond the reference: untouched
    assert pdq[1, 2] == 1 and pdq.sum() == 1
    # the same by chunks of integrations (chunk 2 starts at integration 2 of the exposure)
    sci2 = data.copy()
    step.process(sci2[:2], gdq[:2], pdq, slice(0, 2), slice(0, ny))
    step.process(sci2[2:], gdq[2:], pdq, slice(2, 4), slice(0, ny))
    np.testing.assert_array_equal(sci2, expected)


def test_reset_of_a_segment_counts_integrations_from_intstart():
    ny, nx = 2, 4
    meta = _meta(nints=2, ngroups=3, ny=ny, nx=nx, INTSTART=2)
    reset = np.stack([np.full((3, ny, nx), 10.0), np.full((3, ny, nx), 20.0), np.full((3, ny, nx), 30.0)])
    step, sci, _, _ = _run("reset", meta, {"reset": _reset_ref(reset)})
    np.testing.assert_array_equal(sci[0], 1 - 20.0)   # the file's first integration is the exposure's second
    np.testing.assert_array_equal(sci[1], 1 - 30.0)


def test_reset_without_reference_is_skipped_and_bad_shapes_are_named():
    assert "RESET" in get_step_class("reset")(_meta(), {}).skipped
    with pytest.raises(ValueError, match="reset.fits: RESET SCI must be 4-D"):
        get_step_class("reset")(_meta(), {"reset": Reference("reset", "reset.fits", {}, {"SCI": np.zeros((10, 12))})})
    sci, _, pdq = _cube()
    with pytest.raises(ValueError, match="reset must be float32"):
        subtract_reset(sci, pdq, np.zeros((1, 2, 3, 3), np.float32), np.zeros((10, 12), np.uint32), 0)


# ------------------------------------------------------------------ rscd (jwst test_rscd)

def _rscd_ref(rows):
    table = Table(rows=rows, names=("subarray", "readpatt", "group_skip", "group_skip1"))
    return Reference("rscd", "rscd.fits", {}, {}, {"RSCD_GROUP_SKIP": table})


def test_rscd_flags_n_groups_per_integration_from_the_table_row():
    ref = _rscd_ref([("FULL", "FASTR1", 5, 9), ("SUB128", "FASTR1", 3, 1), ("SUB128", "SLOWR1", 7, 7)])
    step, _, gdq, pdq = _run("rscd", _meta(nints=2, ngroups=10), {"rscd": ref})
    assert (step.skip1, step.skip2p) == (1, 3)
    assert np.all(gdq[0, :1] == DO_NOT_USE) and not gdq[0, 1:].any()
    assert np.all(gdq[1, :3] == DO_NOT_USE) and not gdq[1, 3:].any()
    assert not pdq.any()
    assert step.header_updates()["INT2SKIP"][0] == 3 and step.header_updates()["INT1BORS"][0] == 0


def test_rscd_adds_to_existing_flags():
    sci, gdq, pdq = _cube(1, 10)
    gdq[0, 0, 5, 5] = JUMP_DET
    flag_rscd(gdq, pdq, 1)
    assert gdq[0, 0, 5, 5] == JUMP_DET | DO_NOT_USE


def test_rscd_lookup_and_guards():
    table = Table(rows=[("SLITLESSPRISM", "FASTR1", 4, -1)], names=("subarray", "readpatt", "group_skip",
                                                                   "group_skip1"))
    assert rscd_skip_counts(table, "SUBPRISM", "FASTR1") == (1, 4)  # old name; deprecated int-1 value -> 1
    assert rscd_skip_counts(table, "FULL", "FASTR1") is None
    assert guarded_skips(5, 2, 2, 3) == (1, 1)      # 5 groups or fewer: 1 and 1
    assert guarded_skips(8, 2, 6, 6) == (5, 5)      # N + 3 guard: at least 3 groups left
    assert guarded_skips(8, 1, 6, 6) == (5, 6)      # a single integration: no int-2 guard
    assert guarded_skips(10, 2, 1, 3) == (1, 3)


def test_rscd_segment_flags_every_integration_with_the_int2_value():
    ref = _rscd_ref([("SUB128", "FASTR1", 4, 1)])
    step, _, gdq, _ = _run("rscd", _meta(nints=26, ngroups=8, INTSTART=25), {"rscd": ref},
                           arrays=_cube(26, 8))
    assert np.all(gdq[:, :4] == DO_NOT_USE) and not gdq[:, 4:].any()


def test_rscd_backs_off_for_saturation():
    """jwst's bright case: 2 groups to skip; rows 0..9 saturate at group 3 (int 1) and group 2 (int 2)."""
    sci, gdq, pdq = _cube(2, 6, 15, 15)
    gdq[0, 2:, 0:10] = SATURATED
    gdq[1, 1:, 0:10] = SATURATED
    b1, one1 = flag_rscd(gdq[:1], pdq, 2)
    b2, one2 = flag_rscd(gdq[1:], pdq, 2)
    assert one1.sum() == 10 * 15 and one2.sum() == 10 * 15
    assert np.all(gdq[0, 0, 0:10] == SATURATED * 0) and np.all(gdq[0, 0, 10:] == DO_NOT_USE)
    assert np.all(gdq[1, 1, 10:] == DO_NOT_USE) and np.all(gdq[1, 1, 0:10] == SATURATED)
    expected = np.zeros((15, 15), np.uint32)
    expected[0:10] = FLUX_ESTIMATED
    np.testing.assert_array_equal(pdq, expected)
    assert b1.sum() == b2.sum() == 150


def test_rscd_skipped_cases():
    ref = _rscd_ref([("FULL", "FASTR1", 3, 1)])
    assert "not found" in get_step_class("rscd")(_meta(), {"rscd": ref}).skipped
    ref = _rscd_ref([("SUB128", "FASTR1", 3, 1)])
    assert "too few groups" in get_step_class("rscd")(_meta(ngroups=2), {"rscd": ref}).skipped
    assert "RSCD" in get_step_class("rscd")(_meta(), {}).skipped


# ------------------------------------------------------------------ emicorr (jwst test_emicorr)

CASES = {
    "MASK1550": {"frameclocks": 23968, "rowclocks": 82,
                 "freqs": {"FAST": ["Hz390", "Hz10"], "SLOW": {"MIRIMAGE": ["Hz390", "Hz10_slow_MIRIMAGE"]}}},
    "FULL_FAST": {"frameclocks": 277504, "rowclocks": 271, "freqs": {"FAST": ["Hz10"],
                                                                      "SLOW": {"MIRIMAGE": ["Hz10_slow_MIRIMAGE"]}}},
    "FULL_SLOW": {"frameclocks": 2388992, "rowclocks": 2333, "freqs": {"SLOW": {"MIRIMAGE": ["Hz10_slow_MIRIMAGE"]}}},
}


@pytest.mark.parametrize("subarray, readpatt, expected", [
    ("MASK1550", "FAST", (82, 23968, ["Hz390", "Hz10"])),
    ("MASK1550", "SLOWR1", (82, 23968, ["Hz390", "Hz10_slow_MIRIMAGE"])),
    ("FULL", "FASTR1", (271, 277504, ["Hz10"])),
    ("FULL", "SLOW", (2333, 2388992, ["Hz10_slow_MIRIMAGE"])),
    ("SUB64", "FAST", None),
    ("MASK1550", "ANY", None),
])
def test_emicorr_subarray_case(subarray, readpatt, expected):
    assert subarray_case({"subarray_cases": CASES}, subarray, readpatt, "MIRIMAGE") == expected


def test_best_phase_parabola_vertex_and_fallbacks():
    phases = np.arange(10) / 10
    chisq = (phases - 0.43) ** 2
    assert best_phase(phases, chisq) == pytest.approx(0.43)
    assert best_phase(phases, np.full(10, np.nan)) == 0.0
    assert best_phase(phases, np.ones(10)) == phases[0]


def _add_emi(data, amp, freq, rowclocks, phase0):
    """jwst's test signal: a sine at each pixel's read time (the 4 amplifiers read at once)."""
    ni, ng, ny, nx = data.shape
    period = (1.0 / freq) / 10.0e-6
    extra = (1024.0 - ny) * 7.0
    frametime = ny * rowclocks + extra
    t = (np.arange(ng)[:, None, None] * frametime + np.arange(ny)[None, :, None] * rowclocks
         + (np.arange(nx) // 4)[None, None, :])
    return data + amp * np.sin(2 * np.pi * t / period + phase0)[None]


def test_emicorr_joint_removes_a_sine_it_is_given_the_shape_of():
    """A linear ramp plus a 390.625 Hz sine of 3 DN: the joint fit, given the sine as reference
    waveform, removes it to well below its amplitude (jwst's test_apply_emicorr in spirit)."""
    ny, nx, ng = 64, 72, 8
    clean = np.broadcast_to(np.arange(1, ng + 1, dtype=np.float64)[None, :, None, None] * 10, (1, ng, ny, nx))
    data = _add_emi(clean, 3.0, 390.625, 28, 1.0).astype(np.float32)
    period = (1.0 / 390.625) / 10.0e-6   # 256 pixel clocks
    wave = np.sin(2 * np.pi * np.arange(256) / 256 + 0.5 / 256 * 2 * np.pi)
    pdq = np.zeros((ny, nx), np.uint32)
    _, amps = correct_frequency(data, pdq, wave, 1, 28, 0, period)
    assert abs(abs(amps[0]) - 3.0) < 0.3
    resid = data - clean
    assert np.std(resid) < 0.1 * 3.0 / np.sqrt(2)


def test_emicorr_defaults_and_skips():
    cls = get_step_class("emicorr")
    assert cls.skip_default and cls.defaults["algorithm"] == "joint" and cls.defaults["use_n_cycles"] == 3
    with pytest.raises(ValueError, match="user_supplied_reffile .* references.overrides.emicorr"):
        cls(_meta(), {}, user_supplied_reffile="my.asdf")
    step = cls(_meta(readpatt="SLOWGRPAVG"), {})
    assert "read pattern" in step.skipped
    assert "EMICORR" in cls(_meta(ngroups=2), {}).skipped
    assert "ngroups=2" in cls(_meta(ngroups=2), {}, onthefly_corr_freq=[390.625]).skipped
    ref = Reference("emicorr", "emi.asdf", {}, tree={"subarray_cases": CASES, "frequencies": {}})
    assert "no correction" in cls(_meta(subarray="SUB64"), {"emicorr": ref}).skipped
    assert "no correction match" in cls(_meta(subarray="SUB999"), {}, onthefly_corr_freq=[10.0]).skipped
    # on-the-fly frequencies: the sequential algorithm with jwst's clock table, the reference ignored
    step = cls(_meta(subarray="FULL", readpatt="FASTR1"), {"emicorr": ref}, onthefly_corr_freq=[390.625])
    assert step.algorithm == "sequential" and (step.rowclocks, step.frameclocks) == (271, 277504)
    assert step.waves == [("390.625", 390.625, None)]


# jwst's test_apply_emicorr: 1 (or 3) integrations of 10 groups of 400 x 200 linear ramps, plus a
# 10 Hz sine of 0.1 DN read every pixel clock (rowclocks 2000), and a reference waveform of that sine
JWST_CASE = {"FULL_FAST": {"frameclocks": 200000, "rowclocks": 2000, "freqs": {"FAST": ["test"]}}}


def _jwst_emi_case(nints=1):
    data = np.broadcast_to(np.arange(1, 11, dtype=float)[None, :, None, None], (nints, 10, 400, 200)).copy()
    period = (1.0 / 10.0) / 10.0e-6
    ng, ny, nx = 10, 400, 200
    extra = (1024.0 - ny) * 7.0
    t = (np.arange(ng)[:, None, None] * extra + np.arange(ny)[None, :, None] * 2000
         + (np.arange(nx) // 4)[None, None, :])
    noisy = data + 0.1 * np.sin(2 * np.pi * t / period + 1 / 3)[None]
    ref = Reference("emicorr", "emi.asdf", {}, tree={
        "subarray_cases": JWST_CASE,
        "frequencies": {"test": {"frequency": 10.0, "phase_amplitudes": np.sin(2 * np.pi * np.arange(500) / 500)}}})
    meta = _meta(nints=nints, ngroups=10, ny=400, nx=200, subarray="FULL", readpatt="FAST")
    return data.astype(np.float32), noisy.astype(np.float32), ref, meta


@pytest.mark.parametrize("algorithm, rtol", [("joint", 1e-4), ("sequential", 0.1)])
def test_emicorr_removes_jwsts_test_signal(algorithm, rtol):
    clean, noisy, ref, meta = _jwst_emi_case()
    step, sci, _, _ = _run("emicorr", meta, {"emicorr": ref}, (noisy.copy(), np.zeros(noisy.shape, np.uint8),
                                                               np.zeros((400, 200), np.uint32)), algorithm=algorithm)
    assert step.skipped is None and len(step.corrections) == 1
    assert np.allclose(sci, clean, rtol=rtol)
    assert not np.allclose(noisy, clean, rtol=rtol / 10)


def test_emicorr_joint_fits_integrations_separately():
    clean, noisy, ref, meta = _jwst_emi_case(nints=3)
    _, sci, _, _ = _run("emicorr", meta, {"emicorr": ref}, (noisy.copy(), np.zeros(noisy.shape, np.uint8),
                                                           np.zeros((400, 200), np.uint32)), fit_ints_separately=True)
    assert np.allclose(sci, clean, rtol=1e-2)   # jwst's tolerance for this case
    assert np.abs(sci - clean).max() < 0.2 * np.abs(noisy - clean).max()


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("algorithm", ["sequential", "joint"])
def test_emicorr_noiseless_ramps_are_left_alone(linear, algorithm):
    """jwst's test_apply_emicorr_noiseless: flat or linear ramps (5 groups) get no correction."""
    ref = Reference("emicorr", "emi.asdf", {}, tree={
        "subarray_cases": CASES, "frequencies": {"Hz390": {"frequency": 390.625, "phase_amplitudes": np.ones(20) + 0.1},
                                                 "Hz10": {"frequency": 10.039216,
                                                          "phase_amplitudes": np.ones(20) + 0.5}}})
    data = np.ones((1, 5, 20, 20), np.float32)
    if linear:
        data[0] = np.arange(1, 6, dtype=np.float32)[:, None, None]
    meta = _meta(nints=1, ngroups=5, ny=20, nx=20, subarray="MASK1550", readpatt="FAST")
    with np.testing.suppress_warnings() as sup:
        sup.filter(np.exceptions.RankWarning)
        _, sci, _, _ = _run("emicorr", meta, {"emicorr": ref}, (data.copy(), np.zeros(data.shape, np.uint8),
                                                               np.zeros((20, 20), np.uint32)), algorithm=algorithm)
    assert np.allclose(sci, data)


def test_sequential_helpers_carry_jwsts_cases():
    from rampflow.steps.emicorr_sequential import minmed, rebin, sloper

    slope, intercept = sloper(np.ones((5, 5, 5)))
    assert np.all(slope == 0) and np.all(intercept == 1)
    assert np.all(minmed(np.ones((5, 5, 5))) == 1)
    assert np.all(minmed(np.array([np.full((5, 5), 0.5), np.full((5, 5), 0.2)])) == 0.2)
    three = np.array([np.full((5, 5), 0.5), np.full((5, 5), 0.3), np.full((5, 5), 0.2)])
    assert np.all(minmed(three) == 0.3)
    three[0, 0, 0] = three[1, 0, 1] = three[2, 0, 2] = np.nan
    med = minmed(three)
    assert (med[0, 0], med[0, 1], med[0, 2]) == (0.25, 0.35, 0.4) and np.all(med.flat[3:] == 0.3)
    data = np.ones(10)
    data[1], data[5], data[9] = 0.55, 1.55, 2.0
    assert list(rebin(data, 7)) == [1.0, 0.55, 1.0, 1.0, 1.55, 1.0, 1.0]
    assert list(rebin(data, 15)) == [1.0, 1.0, 0.55, 1.0, 1.0, 1.0, 1.0, 1.0, 1.55, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0]
    assert np.all(rebin(data, 10) == data)
    assert len(rebin(np.arange(256.0), 457.62287)) == 458


# ------------------------------------------------------------------ bad MIRI references

def _reset_model(instrument="MIRI", ystart=1, ny=10, nx=12):
    from stdatamodels.jwst import datamodels

    m = datamodels.ResetModel(data=np.zeros((1, 2, ny, nx), np.float32), dq=np.zeros((ny, nx), np.uint32))
    m.meta.reftype, m.meta.author, m.meta.description, m.meta.pedigree = "RESET", "t", "t", "DUMMY"
    m.meta.useafter = "2020-01-01T00:00:00"
    m.meta.instrument.name = instrument
    m.meta.instrument.detector = "MIRIMAGE" if instrument == "MIRI" else "NRS1"
    m.meta.subarray.name, m.meta.subarray.xstart, m.meta.subarray.ystart = "SUB128", 1, ystart
    m.meta.subarray.xsize, m.meta.subarray.ysize = nx, ny
    m.meta.exposure.nints, m.meta.exposure.ngroups = 1, 2
    return m


def test_bad_miri_references_are_named(tmp_path):
    from rampflow.references import ReferenceError, load_reference

    meta = _meta()
    good = tmp_path / "reset.fits"
    _reset_model().save(good)
    ref = load_reference("reset", good, meta)
    assert ref["SCI"].shape == (1, 2, 10, 12) and ref.header["NGROUPS"] == 2
    nir = tmp_path / "nirspec_reset.fits"
    _reset_model("NIRSPEC").save(nir)
    with pytest.raises(ReferenceError, match="nirspec_reset.fits: reset reference is for instrument NIRSPEC"):
        load_reference("reset", nir, meta)
    off = tmp_path / "other_subarray.fits"
    _reset_model(ystart=500).save(off)
    with pytest.raises(ReferenceError, match="other_subarray.fits.*does not contain the exposure's subarray"):
        load_reference("reset", off, meta)
    with pytest.raises(ReferenceError, match="file is a RESET reference, expected RSCD"):
        load_reference("rscd", good, meta)
    bad = tmp_path / "emicorr.asdf"
    bad.write_text("not asdf")
    with pytest.raises(ReferenceError, match="emicorr.asdf: cannot read the emicorr reference as ASDF"):
        load_reference("emicorr", bad, meta)


def test_emicorr_reference_read_from_asdf(tmp_path):
    from stdatamodels.jwst import datamodels

    from rampflow.references import ReferenceError, load_reference

    m = datamodels.EmiModel()
    m.frequencies = {"Hz390": {"frequency": 390.625, "phase_amplitudes": np.linspace(-1, 1, 16)}}
    m.subarray_cases = CASES
    m.meta.reftype, m.meta.author, m.meta.description, m.meta.pedigree = "EMICORR", "t", "t", "DUMMY"
    m.meta.useafter = "2020-01-01T00:00:00"
    m.meta.instrument.name = "MIRI"
    path = tmp_path / "emi.asdf"
    m.save(path)
    ref = load_reference("emicorr", path, _meta(subarray="MASK1550"))
    assert ref.tree["subarray_cases"]["MASK1550"]["rowclocks"] == 82
    # MASK1550 FAST corrects Hz390 and Hz10; the file defines only Hz390
    with pytest.raises(ValueError, match="emi.asdf: EMICORR reference has no frequency 'Hz10'"):
        get_step_class("emicorr")(_meta(subarray="MASK1550"), {"emicorr": ref})
    ref.tree["frequencies"]["Hz10"] = {"frequency": 10.039216, "phase_amplitudes": np.ones(8)}
    step = get_step_class("emicorr")(_meta(subarray="MASK1550"), {"emicorr": ref})
    assert step.skipped is None and (step.rowclocks, step.frameclocks) == (82, 23968)
    assert [w[0] for w in step.waves] == ["Hz390", "Hz10"] and step.nsamples == 1
    assert frequency_info(ref.tree, "Hz10", ref.path)[0] == 10.039216
    with pytest.raises(ReferenceError, match="instrument MIRI, exposure is NIRSPEC"):
        load_reference("emicorr", path, _meta(detector="NRS1", instrument="NIRSPEC"))
