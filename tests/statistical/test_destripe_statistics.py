"""1/f destriping on seeded simulations (``rampflow.simulate``), checked against truth.

* NIRSpec BOTS (fast axis y, stripes are columns, trace mask) and NIRCam imaging (fast axis
  x, stripes are rows, 4 amplifiers, source mask): the scatter of the line medians of group
  differences (over the background pixels) must drop by at least 5x. The simulated 1/f is set
  well above the white-noise floor of a line median (for NIRSpec only ~15 background pixels
  per column remain next to the trace, so the floor is ~1.25 x read noise / sqrt(15)).
* NIRSpec transit: box-sum light curves (last - first group, aperture +-3 pixels around the
  fitted trace) before and after destriping, depth fitted against the truth transit shape.
  With every white-noise source on, the destriped depth must match the injected one within
  3 sigma; with white noise off (only 1/f left), destriping must recover the injected depth
  to far better than the photon-noise uncertainty of the noisy case, i.e. it does not bias it.
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import io
from rampflow.custom import destripe as ds
from rampflow.references import load_reference

simulate = pytest.importorskip("rampflow.simulate", reason="rampflow.simulate is not available")

NIRSPEC = dict(kind="nirspec_tso", detector="NRS1", nints=16, ngroups=4, size=[32, 512], seed=7,
               cr_rate=0.0, nonlinearity=0.0)


def _load(sim):
    """Bias-subtracted ramp (float32), GROUPDQ, static bad-pixel DQ and meta of a simulation."""
    with io.open_ramp(sim.uncal) as rf:
        sci, gdq = rf.read()
        meta = rf.meta
    sci -= load_reference("superbias", sim.refs["superbias"], meta)["SCI"][None, None]
    pdq = load_reference("mask", sim.refs["mask"], meta).dq("DQ")
    return sci, gdq, pdq, meta


def _mask(sci, pdq, meta, **kw):
    image = np.median(sci[:, -1] - sci[:, 0], axis=0)
    method = ds.resolve_method("auto", meta.exp_type)
    return ds.make_background_mask(image, pdq, method=method, **kw)


def _line_median_scatter(sci, use, fast_axis, edges):
    diffs = np.diff(sci, axis=1)
    meds = [ds.line_medians(diffs[i, g], use, fast_axis, edges) for i in range(diffs.shape[0])
            for g in range(diffs.shape[1])]
    return float(np.nanstd(np.array(meds)))


def _destripe(sci, gdq, pdq, meta, per_amplifier=False, **mask_kw):
    use, info = _mask(sci, pdq, meta, **mask_kw)
    fa = ds.fast_axis_index(meta.fastaxis, meta.slowaxis)
    start = meta.substrt2 if fa == 0 else meta.substrt1
    n_fast = sci.shape[2] if fa == 0 else sci.shape[3]
    edges = ds.amplifier_edges(n_fast, start, meta.noutputs, per_amplifier)
    before = _line_median_scatter(sci, use, fa, edges)
    out = sci.copy()
    ds.destripe_groups(out, gdq, use, fa, edges)
    after = _line_median_scatter(out, use, fa, edges)
    return out, before, after, info


def _depth(sci, info, pdq, truth):
    """Transit depth and its 1-sigma error: least squares of the box-sum flux against the truth
    transit shape, F_i = F0 (1 - depth * s_i), error from the residual scatter."""
    nx = sci.shape[3]
    yfit = np.polyval(info["coeffs"], np.arange(nx))
    aperture = (np.abs(np.arange(sci.shape[2])[:, None] - yfit[None]) <= 3) & (pdq == 0)
    flux = ((sci[:, -1] - sci[:, 0]) * aperture).sum(axis=(1, 2), dtype=np.float64)
    shape = (1 - np.asarray(truth["lightcurve"]["white_flux"], float)) / truth["header"]["TDEPTH"]
    a = np.vstack([np.ones_like(shape), -shape]).T
    coef, *_ = np.linalg.lstsq(a, flux, rcond=None)
    resid = flux - a @ coef
    cov = resid @ resid / (flux.size - 2) * np.linalg.inv(a.T @ a)
    return coef[1] / coef[0], float(np.sqrt(cov[1, 1]) / coef[0])


@pytest.fixture(scope="module")
def nirspec_noisy(tmp_path_factory):
    sim = simulate.simulate_exposure(tmp_path_factory.mktemp("ds_nrs"), one_over_f_rms=10.0,
                                     read_noise_scale=0.5, **NIRSPEC)
    return sim, _load(sim)


def test_nirspec_line_median_scatter_drops_5x(nirspec_noisy):
    sim, (sci, gdq, pdq, meta) = nirspec_noisy
    assert ds.fast_axis_index(meta.fastaxis, meta.slowaxis) == 0         # columns
    _, before, after, info = _destripe(sci, gdq, pdq, meta, trace_radius=6)
    assert info["method"] == "trace"
    assert before / after >= 5.0, (before, after)


def test_nirspec_transit_depth_unchanged(nirspec_noisy, tmp_path_factory):
    sim, (sci, gdq, pdq, meta) = nirspec_noisy
    truth = simulate.read_truth(sim.truth)
    injected = truth["header"]["TDEPTH"]
    out, _, _, info = _destripe(sci, gdq, pdq, meta, trace_radius=6)
    d_before, s_before = _depth(sci, info, pdq, truth)
    d_after, s_after = _depth(out, info, pdq, truth)
    assert s_after < s_before                                            # 1/f noise removed
    assert abs(d_after - injected) < 3 * s_after, (d_after, s_after, injected)
    # white noise off: only 1/f is left and destriping removes it without touching the depth
    clean = simulate.simulate_exposure(tmp_path_factory.mktemp("ds_nrs_clean"), one_over_f_rms=10.0,
                                       read_noise_scale=0.0, poisson=False, **NIRSPEC)
    sci2, gdq2, pdq2, meta2 = _load(clean)
    out2, _, _, info2 = _destripe(sci2, gdq2, pdq2, meta2, trace_radius=6)
    d_raw, _ = _depth(sci2, info2, pdq2, simulate.read_truth(clean.truth))
    d_clean, _ = _depth(out2, info2, pdq2, simulate.read_truth(clean.truth))
    assert abs(d_raw - injected) > 0.1 * s_after                         # 1/f did bias it before
    assert abs(d_clean - injected) < 0.1 * s_after, (d_clean, injected, s_after)


def test_nircam_rows_per_amplifier(tmp_path_factory):
    sim = simulate.simulate_exposure(tmp_path_factory.mktemp("ds_nrc"), kind="nircam_image", detector="NRCA1",
                                     nints=3, ngroups=4, size=[64, 2048], seed=8, cr_rate=0.0)
    sci, gdq, pdq, meta = _load(sim)
    assert ds.fast_axis_index(meta.fastaxis, meta.slowaxis) == 1 and meta.noutputs == 4
    _, before, after, info = _destripe(sci, gdq, pdq, meta, per_amplifier=True)
    assert info["method"] == "sources" and info["n_source"] > 0
    assert before / after >= 5.0, (before, after)
