"""ipc: hand-computed convolutions (2-D and per-pixel 4-D kernels), reference pixels neither
changed nor used, the reference-pixel counts of jwst's get_num_ref_pixels, the step wrapper
(N/A reference -> SKIPPED, shape errors). jwst ships no unit tests for ipc; tests/parity
compares with jwst's IPCStep."""

import numpy as np
import pytest

from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.ipc import RefPixels, check_kernel, ipc_correct, num_ref_pixels

CROSS = np.array([[0.0, -0.25, 0.0], [-0.25, 2.0, -0.25], [0.0, -0.25, 0.0]], np.float32)



def _timing(ngroups: int) -> dict:
    """The readout timing keywords every header must carry (NIRCam RAPID frame time)."""
    return {"NGROUPS": ngroups, "NFRAMES": 1, "TFRAME": 10.73676, "TGROUP": 10.73676}

def _hand(img, kernel, y0, x0, ny, nx):
    """Direct sum (float64) of kernel[j, i] * img[y + 1 - j, x + 1 - i] over the science region."""
    out = img.astype(np.float64).copy()
    for y in range(y0, y0 + ny):
        for x in range(x0, x0 + nx):
            s = 0.0
            for j in range(3):
                for i in range(3):
                    yy, xx = y + 1 - j, x + 1 - i
                    if y0 <= yy < y0 + ny and x0 <= xx < x0 + nx:
                        s += float(kernel[j, i]) * float(img[yy, xx])
            out[y, x] = s
    return out


def test_cross_kernel_by_hand():
    """3 x 3 science region, no reference pixels: centre 2*5 - 0.25*(2+4+6+8) = 5; corners
    (0,0): 2*1 - 0.25*(2+4) = 0.5, (2,0): 2*7 - 0.25*(4+8) = 11; edge (1,2): 2*6 - 0.25*(3+9+5)
    = 7.75; pixels outside the frame count as 0."""
    img = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    sci = img[None, None].copy()
    ipc_correct(sci, CROSS, RefPixels(0, 0, 0, 0))
    np.testing.assert_array_equal(sci[0, 0], [[0.5, 1.75, 4.0], [4.75, 5.0, 7.75], [11.0, 10.75, 14.5]])


def test_asymmetric_kernel_orientation():
    """kernel[j, i] weights the pixel at offset (1 - j, 1 - i): a convolution, not a correlation."""
    k = np.zeros((3, 3), np.float32)
    k[1, 1] = 1.0
    k[0, 1] = 0.5          # takes from the row above (y + 1)
    img = np.zeros((3, 3), np.float32)
    img[2, 1] = 4.0
    sci = img[None, None].copy()
    ipc_correct(sci, k, RefPixels(0, 0, 0, 0))
    expect = np.zeros((3, 3))
    expect[2, 1] = 4.0
    expect[1, 1] = 2.0
    np.testing.assert_array_equal(sci[0, 0], expect)


def test_reference_pixels_untouched_and_unused():
    """A full-frame corner (SUBSTRT 1,1, 8 x 8): 4 reference rows below, 4 columns left; their
    large values neither change nor leak into the science pixels."""
    nref = num_ref_pixels("NIRCAM", 1, 1, 8, 8)
    assert nref == RefPixels(4, 0, 4, 0)
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 100, (8, 8)).astype(np.float32)
    img[:4] = 1e6
    img[:, :4] = 1e6
    sci = np.stack([img, 2 * img])[None].copy()
    ipc_correct(sci, CROSS, nref)
    for g, scale in enumerate((1, 2)):
        ref = (scale * img).astype(np.float32)
        np.testing.assert_array_equal(sci[0, g, :4], ref[:4])
        np.testing.assert_array_equal(sci[0, g, :, :4], ref[:, :4])
        np.testing.assert_allclose(sci[0, g], _hand(ref, CROSS, 4, 4, 4, 4), rtol=1e-6)


def test_num_ref_pixels_like_jwst():
    assert num_ref_pixels("NIRSPEC", 1, 1, 2048, 2048) == RefPixels(4, 4, 4, 4)
    assert num_ref_pixels("NIRSPEC", 1, 1, 2048, 32) == RefPixels(4, 0, 4, 4)     # SUB2048 at the bottom
    assert num_ref_pixels("NIRCAM", 1025, 1025, 64, 64) == RefPixels(0, 0, 0, 0)
    assert num_ref_pixels("NIRCAM", 1, 2017, 2048, 32) == RefPixels(0, 4, 4, 4)
    assert num_ref_pixels("MIRI", 1, 1, 1032, 1024) == RefPixels(0, 0, 4, 4)


def test_per_pixel_kernel_by_hand():
    """4-D kernel: each science pixel uses its own 3 x 3 weights."""
    img = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    k = np.zeros((3, 3, 3, 3), np.float32)
    k[1, 1] = 1.0                       # identity everywhere ...
    k[1, 1, 1, 1] = 3.0                 # ... but the centre pixel is tripled
    k[1, 0, 0, 2] = 1.0                 # pixel (0, 2): weight of its neighbour at offset (0, +1)
    sci = img[None, None].copy()
    ipc_correct(sci, k, RefPixels(0, 0, 0, 0))
    # k[1, 0] weights the pixel at offset (0, +1): for (0, 2) that is outside the frame -> 0
    expect = img.copy()
    expect[1, 1] = 15.0
    np.testing.assert_array_equal(sci[0, 0], expect)
    k[1, 0, 0, 2] = 0.0
    k[1, 2, 0, 2] = 1.0                 # offset (0, -1): pixel (0, 1) = 2
    sci = img[None, None].copy()
    ipc_correct(sci, k, RefPixels(0, 0, 0, 0))
    expect[0, 2] = 3.0 + 2.0
    np.testing.assert_array_equal(sci[0, 0], expect)


def test_kernel_shape_errors():
    with pytest.raises(ValueError, match="got shape"):
        check_kernel(np.zeros((3, 3, 4, 4)), (5, 5), "ref.fits [SCI]")
    with pytest.raises(ValueError, match="got shape"):
        check_kernel(np.zeros(3), (5, 5))
    with pytest.raises(ValueError, match="sci must be float32"):
        ipc_correct(np.zeros((1, 1, 3, 3)), CROSS, RefPixels(0, 0, 0, 0))


def _meta(**kw):
    hdr = {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "SUBSTRT1": 1025, "SUBSTRT2": 1025, **_timing(2), **kw}
    return ExposureMeta.from_headers(hdr, {}, "t", shape=(1, 2, 3, 3))


def test_step_skips_without_reference_and_applies_with_one():
    cls = get_step_class("ipc")
    assert cls.keyword == "S_IPC" and cls.reftypes == ("ipc",) and cls.defaults == {} and not cls.skip_default
    assert "N/A" in cls(_meta(), {}).skipped
    ref = Reference(reftype="ipc", path="hand", header={}, arrays={"SCI": CROSS.astype(np.float64)}, tables={})
    step = cls(_meta(), {"ipc": ref})
    sci = np.stack([np.arange(1, 10, dtype=np.float32).reshape(3, 3)] * 2)[None].copy()
    step.process(sci, np.zeros(sci.shape, np.uint8), np.zeros((3, 3), np.uint32), slice(0, 1), slice(0, 3))
    np.testing.assert_array_equal(sci[0, 1], [[0.5, 1.75, 4.0], [4.75, 5.0, 7.75], [11.0, 10.75, 14.5]])
    with pytest.raises(NotImplementedError, match="IRS2"):
        cls(_meta(READPATT="NRSIRS2"), {"ipc": ref})


def test_runner_applies_the_reference_or_skips_with_na(tmp_path):
    """Through runner.run on a simulated exposure: with the simulator's IPC file the product is
    the saturation product convolved (S_IPC COMPLETE, R_IPC recorded); with IPC 'N/A' (as CRDS
    marks it) the step is SKIPPED and the data pass through unchanged."""
    from rampflow import io, runner
    from rampflow.simulate import simulate_exposure
    from rampflow.simulate.references import ipc_kernel

    case = simulate_exposure(tmp_path / "sim", kind="nirspec_tso", detector="NRS1", nints=2, ngroups=3,
                             size=[16, 64], seed=8)
    refs = {k: str(v) for k, v in case.refs.items()}
    sat = tmp_path / "sat.fits"
    runner.run(["group_scale", "dq_init", "saturation"], {"ramp": case.uncal}, {"saturation": sat}, overrides=refs)
    done, skipped = tmp_path / "ipc.fits", tmp_path / "ipc_na.fits"
    runner.run(["ipc"], {"ramp": sat}, {"ipc": done}, overrides=refs, chunk_mb=0.01)
    runner.run(["ipc"], {"ramp": sat}, {"ipc": skipped}, overrides={**refs, "ipc": "N/A"})
    with io.open_ramp(sat) as rf:
        sci0, gdq0 = rf.read()
        meta = rf.meta
    expect = sci0.copy()
    ipc_correct(expect, ipc_kernel(), num_ref_pixels("NIRSPEC", meta.substrt1, meta.substrt2, meta.subsize1,
                                                     meta.subsize2))
    with io.open_ramp(done) as rf:
        sci, gdq = rf.read()
        hdr = rf.primary_header
    np.testing.assert_array_equal(sci, expect)
    np.testing.assert_array_equal(gdq, gdq0)
    assert hdr["S_IPC"] == "COMPLETE" and hdr["R_IPC"].endswith("ipc_nrs1.fits")
    with io.open_ramp(skipped) as rf:
        sci, _ = rf.read()
        hdr = rf.primary_header
    np.testing.assert_array_equal(sci, sci0)
    assert hdr["S_IPC"] == "SKIPPED" and hdr["R_IPC"] == "N/A"
