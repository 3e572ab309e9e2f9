"""The simulator's SIRSKERNEL references: CRDS's layout (one SIRSKernelModel file per
instrument, a node per detector with complex gamma / zeta (4 channels, 1025 frequencies)),
read by jwst's own kernel builder, with kernels that are not trivial."""

from __future__ import annotations

import numpy as np
import pytest

from rampflow.simulate.sirskernel import SIRS_DETECTORS, coefficients, write_sirskernel

datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")


@pytest.mark.parametrize("instrument", sorted(SIRS_DETECTORS))
def test_written_as_crds_lays_it_out(tmp_path, instrument):
    path = write_sirskernel(tmp_path, instrument)
    assert path.name == f"jwst_{instrument.lower()}_sirskernel_0001.asdf"
    with datamodels.SIRSKernelModel(str(path)) as m:
        assert m.meta.reftype == "sirskernel" and m.meta.instrument.name == instrument
        for det in SIRS_DETECTORS[instrument]:
            node = getattr(m, det.lower())
            assert node.gamma.shape == node.zeta.shape == (4, 1025)
            assert node.gamma.dtype == np.complex64
    assert write_sirskernel(tmp_path, instrument) == path       # kept, not rewritten


def test_no_file_where_crds_has_none(tmp_path):
    assert write_sirskernel(tmp_path, "FGS") is None
    assert write_sirskernel(tmp_path, "MIRI") is None
    assert not list(tmp_path.iterdir())


def test_kernels_are_smooth_weights_that_lean_on_the_nearer_side(tmp_path):
    """Through jwst's make_kernels: each channel's left + right taps sum to about 1 (the
    weight at low frequency), channel 1 takes most of it from the left columns and channel 4
    from the right, the kernels are a few tens of rows wide, and detectors differ."""
    from jwst.refpix.optimized_convolution import make_kernels

    path = write_sirskernel(tmp_path, "NIRCAM")
    with datamodels.SIRSKernelModel(str(path)) as m:
        left, right = make_kernels(m, "NRCA1", 1.0, 30)
        other = make_kernels(m, "NRCBLONG", 1.0, 30)
    sums_l = np.array([k.sum() for k in left])
    sums_r = np.array([k.sum() for k in right])
    assert np.all(np.abs(sums_l + sums_r - 1.0) < 0.1)
    assert np.all(np.diff(sums_l) < 0) and np.all(np.diff(sums_r) > 0)
    assert sums_l[0] > 0.7 and sums_r[3] > 0.7
    k = left[0] / left[0].sum()
    assert k.max() < 0.2                                       # not a single tap
    x = np.arange(-30, 31)
    assert 2.0 < np.sqrt(np.sum(k * x**2)) < 15.0              # rms width in rows
    assert not np.allclose(left[0], other[0][0])


def test_coefficients_are_reproducible_and_real_at_dc_and_nyquist():
    g1, z1 = coefficients("NRS1")
    g2, z2 = coefficients("NRS1")
    np.testing.assert_array_equal(g1, g2)
    assert np.all(g1[:, 0].imag == 0) and np.all(z1[:, -1].imag == 0)
    assert not np.array_equal(g1, coefficients("NRS2")[0])
