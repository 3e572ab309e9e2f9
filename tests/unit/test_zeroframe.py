"""ZEROFRAME: read from uncal files, carried through ramp products, and used as jwst uses it
(saturation, superbias, refpix, linearity when ZEROFRAM is true; ramp_fit for ramps saturated
from the first group). Cases carried from jwst's and stcal's own unit tests, and hand-computed."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from rampflow import dq, io, runner
from rampflow.meta import ExposureMeta
from rampflow.simulate import simulate_exposure
from rampflow.steps import ramp_fit as rf
from rampflow.steps.refpix import RefPixStep
from rampflow.steps.saturation import flag_zeroframe, prepare_thresholds


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    out = tmp_path_factory.mktemp("zf")
    one = simulate_exposure(out / "rapid", kind="nirspec_tso", detector="NRS1", nints=3, ngroups=4, size=[16, 64],
                            seed=5, zeroframe=True)
    four = simulate_exposure(out / "nrs", kind="nirspec_tso", detector="NRS1", nints=3, ngroups=4, size=[16, 64],
                             seed=5, zeroframe=True, readpatt="NRS")
    return one, four


def test_simulated_zeroframe_is_the_first_frame(sims):
    one, four = sims
    for sim in (one, four):
        with fits.open(sim.uncal) as h:
            assert h[0].header["ZEROFRAM"] is True
            assert h["ZEROFRAME"].data.dtype == np.uint16 and h["ZEROFRAME"].data.shape == (3, 16, 64)
    with io.open_ramp(one.uncal) as r:   # one frame per group: the zero frame is group 1
        assert r.meta.zeroframe and r.has_zeroframe
        np.testing.assert_array_equal(r.zeroframe(), r.read()[0][:, 0])
    with io.open_ramp(four.uncal) as r:  # NRS: group 1 averages frames 1-4, the zero frame is frame 1
        z, g0 = r.zeroframe(), r.read()[0][:, 0]
        g1 = r.read()[0][:, 1]
        # frame 1 lies 1.5 frames before group 1's mean, and a group is 4 frames: z ~ g0 - 1.5/4 (g1 - g0)
        resid = z - (g0 - 0.375 * (g1 - g0))
        assert abs(np.median(resid)) < 5 and np.std(resid) < 30
    with io.open_ramp(one.uncal) as r:
        np.testing.assert_array_equal(r.zeroframe(slice(1, 3), slice(4, 9)), r.zeroframe()[1:3, 4:9])


def test_products_carry_zeroframe(sims, tmp_path):
    one, _ = sims
    refs = {k: str(v) for k, v in one.refs.items()}
    outs = {"dq_init": tmp_path / "dq_init.fits", "dark_current": tmp_path / "dark_current.fits"}
    runner.run(["dq_init", "dark_current"], {"ramp": one.uncal}, outs, overrides=refs, chunk_mb=0.01)
    with io.open_ramp(one.uncal) as a, io.open_ramp(outs["dark_current"]) as b:
        np.testing.assert_array_equal(a.zeroframe(), b.zeroframe())   # neither step touches it
    from stdatamodels.jwst import datamodels as dm

    with dm.open(outs["dark_current"]) as m:
        assert m.zeroframe.dtype.newbyteorder("=") == np.float32 and m.meta.exposure.zero_frame


def test_bad_zeroframe_shape_is_named(tmp_path, sims):
    one, _ = sims
    with fits.open(one.uncal) as h:
        h["ZEROFRAME"].data = h["ZEROFRAME"].data[:2]
        h.writeto(tmp_path / "bad_uncal.fits")
    with pytest.raises(io.ProductError, match="ZEROFRAME shape"):
        io.open_ramp(tmp_path / "bad_uncal.fits")


def test_saturation_zeroes_saturated_and_low_zeroframe():
    # jwst's saturation tests: 1000 DN everywhere, one value above threshold, one negative
    thresh, _, _ = prepare_thresholds(np.full((6, 6), 60000.0), np.zeros((6, 6), np.uint32))
    z = np.full((2, 6, 6), 1000.0, np.float32)
    z[1, 2, 2] = 65000.0
    z[1, 4, 4] = -100.0
    flag_zeroframe(z, thresh, n_pix_grow_sat=0)
    check = np.full((2, 6, 6), 1000.0, np.float32)
    check[1, 2, 2] = check[1, 4, 4] = 0.0
    np.testing.assert_array_equal(z, check)
    # with n_pix_grow_sat=1 the saturated value's 3x3 neighbourhood goes (not the low one's)
    z = np.full((1, 6, 6), 1000.0, np.float32)
    z[0, 2, 2] = 60000.0
    z[0, 4, 5] = -1.0
    flag_zeroframe(z, thresh, n_pix_grow_sat=1)
    assert (z[0, 1:4, 1:4] == 0).all() and z[0, 4, 5] == 0 and z[0, 5, 5] == 1000.0 and z[0, 4, 4] == 1000.0
    assert (z == 0).sum() == 10


def _meta(**kw):
    base = dict(INSTRUME="NIRCAM", DETECTOR="NRCA1", NINTS=1, NGROUPS=2, SUBSIZE1=2048, SUBSIZE2=2048,
                SUBARRAY="FULL", FASTAXIS=-1, SLOWAXIS=2, ZEROFRAM=True, READPATT="RAPID", NFRAMES=1,
                TFRAME=10.73676, TGROUP=10.73676)
    base.update(kw)
    return ExposureMeta.from_headers(base)


def test_superbias_zeroframe_case_of_jwst():
    # jwst's superbias test_zeroframe: a zero (unusable) value stays zero, the others lose the bias
    from rampflow.steps.superbias import SuperBias

    class Ref(dict):
        path = "ref.fits"
        def __getitem__(self, k):
            return dict.__getitem__(self, k)

        def __contains__(self, k):
            return dict.__contains__(self, k)

    meta = _meta(SUBSIZE1=3, SUBSIZE2=1, SUBARRAY="SUB3")
    step = SuperBias(meta, {"superbias": Ref(SCI=np.full((1, 3), 5000.0, np.float32))})
    z = np.array([[[0.0, 10500.0, 10579.0]]], np.float32)
    step.process_zeroframe(z, slice(0, 1), slice(0, 1))
    np.testing.assert_array_equal(z, [[[0.0, 5500.0, 5579.0]]])
    step = SuperBias(_meta(SUBSIZE1=3, SUBSIZE2=1, SUBARRAY="SUB3", ZEROFRAM=False),
                     {"superbias": Ref(SCI=np.full((1, 3), 5000.0, np.float32))})
    z = np.array([[[0.0, 10500.0, 10579.0]]], np.float32)
    step.process_zeroframe(z, slice(0, 1), slice(0, 1))   # ZEROFRAM false: jwst leaves it
    np.testing.assert_array_equal(z, [[[0.0, 10500.0, 10579.0]]])


def test_refpix_zeroframe_case_of_jwst():
    # jwst's refpix test_zero_frame: full-frame NIRCam, reference pixels 7 (zero frame 3.5),
    # science 150 (75), one unusable zero-frame pixel; the zero frame is corrected as a
    # one-group ramp: 75 - 3.5 inside, 0 on the reference pixels, the bad pixel stays 0
    meta = _meta()
    step = RefPixStep(meta, {}, refpix_algorithm="median")
    sci = np.zeros((1, 2, 2048, 2048), np.float32)
    sci[0, 0] = 7.0
    sci[0, 0, 4:-4, 4:-4] = 150.0
    z = np.full((1, 2048, 2048), 3.5, np.float32)
    z[0, 4:-4, 4:-4] = 75.0
    z[0, 5, 5] = 0.0
    pdq = np.zeros((2048, 2048), np.uint32)
    pdq[:4] |= dq.REFERENCE_PIXEL
    pdq[-4:] |= dq.REFERENCE_PIXEL
    pdq[:, :4] |= dq.REFERENCE_PIXEL
    pdq[:, -4:] |= dq.REFERENCE_PIXEL
    gdq = np.zeros(sci.shape, np.uint8)
    step.process(sci, gdq, pdq, slice(0, 1), slice(0, 2048))
    step.process_zeroframe(z, slice(0, 1), slice(0, 2048))
    expect = np.zeros_like(sci)
    expect[0, 0, 4:-4, 4:-4] = 150.0 - 7.0
    np.testing.assert_allclose(sci, expect, atol=1e-5)
    ez = np.zeros_like(z)
    ez[0, 4:-4, 4:-4] = 75.0 - 3.5
    ez[0, 5, 5] = 0.0
    np.testing.assert_allclose(z, ez, atol=1e-5)


def test_linearity_zeroframe_by_hand():
    from rampflow.steps.linearity import Linearity

    class Ref(dict):
        path = "ref.fits"
        def dq(self):
            return np.zeros((1, 3), np.uint32)

    coeffs = np.zeros((3, 1, 3), np.float32)
    coeffs[1] = 1.0
    coeffs[2] = 1e-6
    step = Linearity(_meta(SUBSIZE1=3, SUBSIZE2=1, SUBARRAY="SUB3"), {"linearity": Ref(COEFFS=coeffs, DQ=None)})
    z = np.array([[[0.0, 1000.0, 2000.0]]], np.float32)
    step.process_zeroframe(z, slice(0, 1), slice(0, 1))
    np.testing.assert_allclose(z, [[[0.0, 1000.0 + 1.0, 2000.0 + 4.0]]], rtol=1e-6)


def _stcal_zeroframe_case():
    """stcal's test_zeroframe (ramp fitting): 2 integrations x 5 groups x 1 x 3 pixels, NFRAMES 4,
    GROUPGAP 1, TFRAME 10.736, read noise 10, gain 5. Integration 0: pixel 0 has only group 0
    good; pixels 1 and 2 are saturated from group 0, pixel 1's ZEROFRAME is 0 (saturated too),
    pixel 2's is usable. Integration 1: half the signal, all good."""
    tframe, nframes, gap = 10.736, 4, 1
    nints, ngroups = 2, 5
    data = np.zeros((nints, ngroups, 1, 3), np.float32)
    ramp = np.array([8000.0 + 2000.0 * k for k in range(ngroups)], np.float32)
    data[0, :, 0, :] = ramp[:, None]
    data[1] = data[0] / 2.0
    zf = np.ones((nints, 1, 3), np.float32)
    for i in range(nints):
        fdn = (data[i, 1, 0, 0] - data[i, 0, 0, 0]) / (nframes + gap)
        zf[i, 0, :] *= data[i, 0, 0, 2] - fdn * 2.5
    zf[0, 0, 1] = 0.0
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0] = dq.SATURATED
    gdq[0, 0, 0, 0] = 0
    meta = ExposureMeta.from_headers(dict(INSTRUME="NIRCAM", DETECTOR="NRCA1", NINTS=nints, NGROUPS=ngroups,
                                          NFRAMES=nframes, GROUPGAP=gap, TFRAME=tframe,
                                          TGROUP=(nframes + gap) * tframe, SUBSIZE1=3, SUBSIZE2=1))
    return meta, data, gdq, zf, np.full((1, 3), 10.0, np.float32), np.full((1, 3), 5.0, np.float32)


def test_ramp_fit_zeroframe_case_of_stcal():
    meta, data, gdq, zf, rn, gain = _stcal_zeroframe_case()
    setup = rf.prepare_ramp_fit(meta, rn, gain, suppress_one_group=False)
    res = rf.fit_ramps(data, gdq, np.zeros((1, 3), np.uint32), setup, slice(0, 1), zeroframe=zf)
    ints = res.rateints
    # by hand: group 0 alone over (NFRAMES + 1) TFRAME / 2; the ZEROFRAME value over TFRAME; the
    # all-good integration's slope 1000 DN per group of 5 frames
    np.testing.assert_allclose(ints["SCI"][0, 0, 0], 8000.0 / (2.5 * 10.736), rtol=1e-6)
    assert np.isnan(ints["SCI"][0, 0, 1])
    assert ints["DQ"][0, 0, 1] == dq.DO_NOT_USE | dq.SATURATED
    np.testing.assert_allclose(ints["SCI"][0, 0, 2], 7000.0 / 10.736, rtol=1e-6)
    np.testing.assert_allclose(ints["SCI"][1, 0], 1000.0 / (5 * 10.736), rtol=1e-6)
    assert not ints["DQ"][0, 0, 2] & dq.DO_NOT_USE and not ints["DQ"][1].any()
    # stcal's expected values (its test, unchanged in 1.20 for these arrays)
    np.testing.assert_allclose(ints["SCI"][:, 0], [[298.0626, np.nan, 652.01196], [18.62891] * 3], rtol=1e-5)
    np.testing.assert_allclose(ints["VAR_POISSON"][:, 0], [[1.1799237, 0.0, 6.246655],
                                                           [0.14749046, 0.00867591, 0.31233275]], rtol=1e-5)
    np.testing.assert_allclose(ints["VAR_RNOISE"][:, 0], [[0.03470363, 0.0, 0.21689774], [0.0004338] * 3],
                               rtol=1e-4)
    # suppression on (jwst's default): the ZEROFRAME is not used, the ramp is unusable
    setup = rf.prepare_ramp_fit(meta, rn, gain, suppress_one_group=True)
    res = rf.fit_ramps(data, gdq, np.zeros((1, 3), np.uint32), setup, slice(0, 1), zeroframe=zf)
    assert np.isnan(res.rateints["SCI"][0, 0, 2])


def test_ramp_fit_zeroframe_matches_stcal():
    stcal = pytest.importorskip("stcal.ramp_fitting.ramp_fit")
    from stcal.ramp_fitting.ramp_fit_class import RampData

    meta, data, gdq, zf, rn, gain = _stcal_zeroframe_case()
    rd = RampData()
    rd.set_arrays(data.copy(), gdq.copy(), np.zeros((1, 3), np.uint32), np.zeros((1, 3), np.float32), zeroframe=zf)
    rd.set_meta(name="NIRCam", frame_time=meta.tframe, group_time=meta.tgroup, groupgap=meta.groupgap,
                nframes=meta.nframes, drop_frames1=None)
    rd.set_dqflags({k: dq.FLAGS[k] for k in ("GOOD", "PERSISTENCE", "DO_NOT_USE", "SATURATED", "JUMP_DET",
                                             "NO_GAIN_VALUE", "UNRELIABLE_SLOPE", "CHARGELOSS")})
    rd.suppress_one_group_ramps = False
    image, cube, _ = stcal.ramp_fit_data(rd, False, rn.copy(), gain.copy(), "OLS_C", "optimal", "none")
    setup = rf.prepare_ramp_fit(meta, rn, gain, suppress_one_group=False)
    res = rf.fit_ramps(data, gdq, np.zeros((1, 3), np.uint32), setup, slice(0, 1), zeroframe=zf)
    for name, key in rf.RATE_NAMES.items():
        np.testing.assert_allclose(res.rate[name], image[key], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(res.rateints[name], cube[key], rtol=1e-6, err_msg=name)
