"""refpix's pre-pass on its reference pixels alone (one pass): the runner reads from the file
only the pixels the statistics use (Step.prepass_pixels), the steps before refpix restricted to
them, and the corrections equal those measured on whole planes, bit for bit."""

from __future__ import annotations

import logging
import shutil
import types

import numpy as np
import pytest
from astropy.io import fits

from rampflow import io, runner
from rampflow.dq import DO_NOT_USE, REFERENCE_PIXEL
from rampflow.io.blocks import DiskCube, pixel_blocks
from rampflow.io.fitsfile import ProductError, _scaled
from rampflow.meta import ExposureMeta
from rampflow.runner.prepass import _pixel_prepass
from rampflow.simulate import simulate_exposure
from rampflow.steps.refpix import RefPixStep, plan_pixels


def _meta(**kw):
    prim = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "SUBARRAY": "SUB2048", "SUBSTRT1": 1,
            "SUBSTRT2": 963, "SUBSIZE1": 2048, "SUBSIZE2": 32, "FASTAXIS": 2, "SLOWAXIS": 1,
            "NOUTPUTS": 1, "READPATT": "NRSRAPID", "NGROUPS": 3, "NFRAMES": 1, "TFRAME": 10.73677,
            "TGROUP": 10.73677, "ZEROFRAM": True}
    prim.update(kw)
    return ExposureMeta.from_headers(prim, {}, filename="test", shape=(3, 3, prim["SUBSIZE2"], prim["SUBSIZE1"]))


# --- reading some pixels of every plane ------------------------------------------------------

def test_pixel_blocks_join_the_end_of_a_row_and_the_start_of_the_next():
    """2 + 2 side columns of a 3 x 10 plane of 2-byte values: the last two pixels of a row and
    the first two of the next are one block of 8 bytes (hand-computed)."""
    pix = np.array([0, 1, 8, 9, 10, 11, 18, 19, 20, 21, 28, 29])
    b = pixel_blocks(pix, 2)
    assert b.offset.tolist() == [0, 16, 36, 56] and b.length.tolist() == [4, 8, 8, 4]
    assert b.src.tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]
    one = pixel_blocks(pix, 2, gap=12)  # gaps of 12 bytes read and dropped: one block
    assert one.offset.tolist() == [0] and one.length.tolist() == [60]
    assert one.src.tolist() == (pix * 2).tolist()
    odd = pixel_blocks(np.array([3, 5, 6, 9]), 4)  # odd and even columns, 4-byte values
    assert odd.offset.tolist() == [12, 20, 36] and odd.length.tolist() == [4, 8, 4]
    assert odd.src.tolist() == [0, 4, 8, 12]
    with pytest.raises(ValueError, match="sorted distinct"):
        pixel_blocks(np.array([4, 2]), 2)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_read_pixels_equals_indexing_the_cube(tmp_path, dtype):
    """uint16 stored with BZERO (an uncal's counts) and big-endian float32: the pixels read
    equal the cube's values at those pixels, odd and even columns, any integrations; a file cut
    short is an error naming it."""
    rng = np.random.default_rng(3)
    cube = rng.integers(0, 65535, size=(4, 3, 6, 20)).astype(dtype)
    path = tmp_path / "cube.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="SCI")]).writeto(path)
    with fits.open(path, do_not_scale_image_data=True) as h:
        loc, disk, header = h["SCI"].fileinfo()["datLoc"], h["SCI"].data.dtype, h["SCI"].header.copy()
    assert disk == (np.dtype(">i2") if dtype == np.uint16 else np.dtype(">f4"))
    pix = np.array([0, 1, 2, 3, 17, 18, 19, 20, 21, 23, 37, 38, 39, 101, 119])
    dc = DiskCube(str(path), loc, disk, cube.shape)
    out = np.empty((2, 3, pix.size), disk.newbyteorder("="))
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        dc.read_pixels(fd, slice(1, 3), pixel_blocks(pix, disk.itemsize), out)
    finally:
        os.close(fd)
    expect = cube[1:3].reshape(2, 3, -1)[:, :, pix]
    np.testing.assert_array_equal(_scaled(out, header, np.float64), expect)
    short = tmp_path / "short.fits"
    shutil.copy(path, short)
    os.truncate(short, loc + cube.nbytes // 2)
    fd = os.open(short, os.O_RDONLY)
    try:
        with pytest.raises(ProductError, match="short.fits: file ends at byte"):
            DiskCube(str(short), loc, disk, cube.shape).read_pixels(fd, slice(0, 4), pixel_blocks(pix, disk.itemsize),
                                                                 np.empty((4, 3, pix.size), out.dtype))
    finally:
        os.close(fd)


# --- the statistics from the reference pixels alone ------------------------------------------

CASES = {
    # NIRCam full frame: 4 top/bottom reference rows, 4 + 4 side columns
    "full": dict(INSTRUME="NIRCAM", DETECTOR="NRCA1", FASTAXIS=-1, SLOWAXIS=2, SUBARRAY="FULL", SUBSTRT1=1,
                 SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048, NOUTPUTS=4, READPATT="RAPID"),
    # 4-output subarray holding the bottom reference rows
    "rows": dict(INSTRUME="NIRCAM", DETECTOR="NRCA1", FASTAXIS=-1, SLOWAXIS=2, SUBARRAY="SUB64FULLW",
                 SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=64, NOUTPUTS=4, READPATT="RAPID"),
    # 4-output subarray without reference rows: side columns only
    "norows": dict(INSTRUME="NIRCAM", DETECTOR="NRCA1", FASTAXIS=-1, SLOWAXIS=2, SUBARRAY="SUB64FULLW",
                   SUBSTRT1=1, SUBSTRT2=801, SUBSIZE1=2048, SUBSIZE2=64, NOUTPUTS=4, READPATT="RAPID"),
    # NIRSpec SUB2048 (one output, transposed): its 4 + 4 edge columns of every row
    "sub2048": {},
}


def _planes(meta, seed):
    rng = np.random.default_rng(seed)
    ny, nx = meta.subsize2, meta.subsize1
    sci = (rng.normal(1000, 30, size=(3, 3, ny, nx)) + rng.normal(0, 5, size=(3, 3, ny, 1))
           + rng.normal(0, 4, size=(3, 3, 1, nx))).astype(np.float32)
    sci[0, 1, 2, 5] = np.nan
    sci[1, 2, 10, 2045] = 5e4  # an outlier the clipping drops
    pdq = np.zeros((ny, nx), np.uint32)
    if meta.noutputs == 1:  # a one-output subarray's reference pixels come from PIXELDQ
        pdq[:, :4] = pdq[:, -4:] = REFERENCE_PIXEL
    pdq[12, 1] |= DO_NOT_USE
    zf = sci[:, 0] - 7
    return sci, pdq, zf


@pytest.mark.parametrize("odd_even", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_corrections_from_reference_pixels_alone_equal_whole_planes(case, odd_even):
    """Every (integration, group) plane's reference levels, precision flags and side signal,
    and ZEROFRAME's, measured from the pixels of Step.prepass_pixels alone (in the order and
    shape the runner hands to collect_pixels) equal those measured on whole planes, in chunks
    of integrations (the first group of the exposure worked in float32, the others in float64)."""
    meta = _meta(**CASES[case])
    sci, pdq, zf = _planes(meta, seed=len(case))
    whole = RefPixStep(meta, {}, odd_even_columns=odd_even)
    some = RefPixStep(meta, {}, odd_even_columns=odd_even)
    pix = some.prepass_pixels(pdq)
    assert pix is not None and 0 < pix.size < pdq.size // 4 and np.all(np.diff(pix) > 0)
    plan = some.plan(pdq)
    assert plan.path != "none"
    if case == "sub2048":
        ys, xs = np.divmod(pix, meta.subsize1)
        assert set(xs.tolist()) == {0, 1, 2, 3, 2044, 2045, 2046, 2047} and pix.size == 32 * 8 - 1  # one DO_NOT_USE
    if case == "norows":
        assert not np.any(np.isin(np.divmod(pix, 2048)[1], np.arange(4, 2044)))
    if case == "rows":  # the bottom reference rows are read
        assert np.isin(np.arange(4, 2044), pix).all()
    for ints in (slice(0, 1), slice(1, 3)):
        whole.collect(0, sci[ints], np.zeros(sci[ints].shape, np.uint8), pdq, ints, zf[ints])
        n = ints.stop - ints.start
        some.collect_pixels(0, np.ascontiguousarray(sci[ints].reshape(n, 3, -1)[:, :, pix].reshape(n, 3, 1, -1)),
                            pdq, ints, np.ascontiguousarray(zf[ints].reshape(n, -1)[:, pix].reshape(n, 1, -1)))
    for corr_a, corr_b in ((whole._corr, some._corr), (whole._zf_corr, some._zf_corr)):
        for k in ("f32", "ref", "r32", "rok", "sig"):
            a, b = getattr(corr_a, k), getattr(corr_b, k)
            assert np.array_equal(a, b, equal_nan=True), (case, k)
    assert whole._corr.rok.any() == (case != "norows")  # no reference rows: the side signal alone
    assert whole._corr.f32[0, 0] != whole._corr.f32[1, 0] or not plan.do_side
    if plan.do_side:
        assert np.abs(whole._corr.sig).max() > 0


def test_reference_pixel_set_follows_pixeldq():
    """A one-output subarray: reference pixels flagged DO_NOT_USE are not read; no reference
    pixel at all: nothing to read, and no correction."""
    meta = _meta()
    pdq = np.zeros((32, 2048), np.uint32)
    pdq[:, :4] = pdq[:, -4:] = REFERENCE_PIXEL
    pdq[5, 2] |= DO_NOT_USE
    pix = RefPixStep(meta, {}).prepass_pixels(pdq)
    assert pix.size == 32 * 8 - 1 and 5 * 2048 + 2 not in pix
    assert plan_pixels(RefPixStep(meta, {}).plan(np.zeros((32, 2048), np.uint32))).size == 0


def test_steps_before_that_are_not_elementwise_mean_whole_planes():
    """A step before the collector that changes SCI from neighbouring pixels (ipc) or needs
    GROUPDQ (linearity's polynomial) makes the pre-pass read whole planes; the reason names it."""
    step = types.SimpleNamespace(name="refpix", prepass_needs_gdq=False)
    ipc = types.SimpleNamespace(name="ipc", modifies_sci=True, row_halo=lambda: 0, elementwise=lambda rows: None)
    lin = types.SimpleNamespace(name="linearity", modifies_sci=True, row_halo=lambda: 0,
                                elementwise=lambda rows: ("poly", None, None))
    assert "ipc" in _pixel_prepass(None, step, [ipc], None)
    assert "linearity" in _pixel_prepass(None, step, [lin], None)
    assert "GROUPDQ" in _pixel_prepass(None, types.SimpleNamespace(name="x", prepass_needs_gdq=True), [], None)


# --- the one pass from an uncal file ---------------------------------------------------------

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump",
         "ramp_fit"]


@pytest.fixture(scope="module")
def zf_sim(tmp_path_factory):
    return simulate_exposure(tmp_path_factory.mktemp("refonly"), kind="nirspec_tso", detector="NRS1", nints=3,
                             ngroups=4, size=[16, 64], seed=8, zeroframe=True)


def test_one_pass_reads_reference_pixels_alone_with_the_same_products(zf_sim, tmp_path, monkeypatch, caplog):
    """The one pass from an uncal file with ZEROFRAME: refpix's pre-pass on its reference pixels
    alone (superbias restricted to them) makes rate / rateints / the refpix ramp equal to the
    pre-pass on whole planes, every extension."""
    refs = {k: str(v) for k, v in zf_sim.refs.items()}
    outs = {}
    for how in ("pixels", "planes"):
        if how == "planes":
            monkeypatch.setattr(RefPixStep, "prepass_pixels", lambda self, pdq: None)
        out = tmp_path / how
        outs[how] = {k: out / f"{k}.fits" for k in ("refpix", "rate", "rateints")}
        with caplog.at_level(logging.INFO, logger="rampflow"):
            caplog.clear()
            runner.run(CHAIN, {"ramp": zf_sim.uncal}, outs[how], overrides=refs, chunk_mb=0.05)
        assert ("refpix pre-pass 1/1 reads whole planes" in caplog.text) == (how == "planes")
    for k in ("refpix", "rate", "rateints"):
        with fits.open(outs["pixels"][k]) as a, fits.open(outs["planes"][k]) as b:
            exts = [h.name for h in a if h.is_image and h.data is not None and h.name != "ASDF"]
            assert len(exts) >= 3 and (k != "refpix" or "ZEROFRAME" in exts)
            for ext in exts:
                assert np.array_equal(a[ext].data, b[ext].data, equal_nan=True), (k, ext)


def test_uncal_cut_short_while_read_names_it(zf_sim, tmp_path):
    """The pre-pass's reading of an uncal file (RampFile.read_pixels: uint16 counts, BZERO
    applied) equals its whole planes at those pixels; cut short once opened (an interrupted
    copy), it raises an error naming the file."""
    import os

    short = tmp_path / "short_uncal.fits"
    shutil.copy(zf_sim.uncal, short)
    with io.open_ramp(short) as rf:
        nints, ngroups, ny, nx = rf.shape
        pix = np.array([0, 1, 2, 3, nx - 4, nx - 3, nx - 2, nx - 1, nx, nx + 1, 5 * nx + 7, ny * nx - 1])
        assert rf.sci_itemsize == 2
        sci, _ = rf.read(slice(1, 3))
        for gap in (0, 20, 4096):  # a block per run of pixels, some runs merged, one block a plane
            blocks = pixel_blocks(pix, rf.sci_itemsize, gap)
            got = rf.read_pixels(slice(1, 3), blocks)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, sci.reshape(2, ngroups, -1)[:, :, pix])
        start, end = rf.data_span
        os.truncate(short, start + (end - start) // 2)
        with pytest.raises(ProductError, match="short_uncal.fits: file ends at byte"):
            rf.read_pixels(slice(0, nints), blocks)


def _expected_apply(sci, corr, plan, first_row):
    """The corrections applied by numpy, by the rules of refpix_planes.apply_corrections: class
    k and detector row r of each pixel; float32 planes subtract float32(ref[k]) (r32) or the
    float64 level then round, then the side signal in float64 with do_side; float64 planes
    subtract both in float64 and round once."""
    nint, ngr, ny, nx = sci.shape
    ys = np.arange(first_row, first_row + ny)
    if plan.transposed:
        k = np.broadcast_to(plan.cls_axis[ys][:, None], (ny, nx))
        r = np.broadcast_to(plan.r_axis[None, :nx], (ny, nx))
    else:
        k = np.broadcast_to(plan.cls_axis[None, :nx], (ny, nx))
        r = np.broadcast_to(plan.r_axis[ys][:, None], (ny, nx))
    out = sci.copy()
    for i in range(nint):
        for g in range(ngr):
            d = sci[i, g]
            ref, r32, rok = corr.ref[i, g][k], corr.r32[i, g][k], corr.rok[i, g][k]
            sig = corr.sig[i, g][r] if plan.do_side else 0.0  # no side signal: float32 planes only
            if corr.f32[i, g]:
                t = np.where(rok & r32, d - ref.astype(np.float32),
                             np.where(rok, (d.astype(np.float64) - ref).astype(np.float32), d))
                if plan.do_side:
                    t = (t.astype(np.float64) - sig).astype(np.float32)
            else:
                t = (np.where(rok, d.astype(np.float64) - ref, d.astype(np.float64)) - sig).astype(np.float32)
            out[i, g] = t
    return out


@pytest.mark.parametrize("odd_even", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_corrections_applied_to_rows_of_a_window_follow_the_rules(case, odd_even):
    """apply_corrections on rows of a larger window (the row stream's view: the kernel takes the
    window whole) and on whole planes: numpy's application of the same measured corrections
    (float32 and float64 planes, classes per DMS row on NIRSpec and per column otherwise), bit
    for bit, NaN kept; the window's other rows untouched."""
    from rampflow.steps.refpix_planes import apply_corrections

    meta = _meta(**CASES[case])
    sci, pdq, zf = _planes(meta, seed=3 + len(case))
    step = RefPixStep(meta, {}, odd_even_columns=odd_even)
    plan = step.plan(pdq)
    step.collect(0, sci, np.zeros(sci.shape, np.uint8), pdq, slice(0, 3), zf)
    corr = step._corr
    assert corr.f32.any() and (not plan.do_side or not corr.f32.all())  # both precisions
    whole = sci.copy()
    apply_corrections(whole, plan, corr, slice(0, 3), 0)
    want = _expected_apply(sci, corr, plan, 0)
    np.testing.assert_array_equal(whole, want)
    a, b = 5, 9
    win = np.full((3, 3, b - a + 4, sci.shape[3]), -1.0, np.float32)
    win[:, :, 2:2 + b - a] = sci[:, :, a:b]
    apply_corrections(win[:, :, 2:2 + b - a], plan, corr, slice(0, 3), a)
    np.testing.assert_array_equal(win[:, :, 2:2 + b - a], want[:, :, a:b])
    assert (win[:, :, :2] == -1).all() and (win[:, :, 2 + b - a:] == -1).all()
    assert not np.array_equal(want, sci)
