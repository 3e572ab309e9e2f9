"""1/f destriping of the near-infrared time-series modes, along each detector's own readout.

NIRISS reads along DMS y (FASTAXIS = -2: 1/f stripes are columns, across SOSS's dispersion),
NIRCam along x (FASTAXIS = +-1: stripes are rows, along a grism time series' dispersion and
across SUBGRISM's 4 outputs). On each mode's seeded simulation (1/f well above the white-noise
floor of a line median) the scatter of the line medians of group differences over the
background pixels -- lines taken along the true readout direction -- must drop by at least 5x.
Destriping along the other axis must not (the check that fails if the direction were swapped),
and the SOSS mask must keep every order's light out of the medians (orders 2 and 3 included,
which a single-trace mask would leave in).
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import io, modes
from rampflow.custom import destripe as ds
from rampflow.references import load_reference

simulate = pytest.importorskip("rampflow.simulate", reason="rampflow.simulate is not available")

COMMON = dict(nints=3, ngroups=4, seed=5, cr_rate=0.0, one_over_f_rms=10.0, read_noise_scale=0.5)
CASES = {
    "soss": dict(kind="niriss_soss", detector="NIS", size=[256, 512]),
    "grism": dict(kind="nircam_grism_tso", detector="NRCALONG", size=[64, 2048]),
    "imaging": dict(kind="nircam_imaging_tso", detector="NRCA3", size=[64, 64]),
}
#: expected readout (fast) axis of each mode, in DMS orientation
FAST = {"soss": "y", "grism": "x", "imaging": "x"}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    name = request.param
    sim = simulate.simulate_exposure(tmp_path_factory.mktemp(f"ds_{name}"), **CASES[name], **COMMON)
    with io.open_ramp(sim.uncal) as rf:
        sci, gdq = rf.read()
        meta = rf.meta
    sci -= load_reference("superbias", sim.refs["superbias"], meta)["SCI"][None, None]
    pdq = load_reference("mask", sim.refs["mask"], meta).dq("DQ")
    image = np.median(sci[:, -1] - sci[:, 0], axis=0)
    method = ds.resolve_method("auto", meta.exp_type)
    use, info = ds.make_background_mask(image, pdq, method=method, trace_radius=8,
                                        multi_order=modes.from_meta(meta).multi_order)
    return name, sim, sci, gdq, use, meta, info


def _scatter(sci, use, fast_axis, edges):
    diffs = np.diff(sci, axis=1)
    meds = [ds.line_medians(diffs[i, g], use, fast_axis, edges) for i in range(diffs.shape[0])
            for g in range(diffs.shape[1])]
    return float(np.nanstd(np.array(meds)))


def _edges(meta, fast_axis, per_amplifier=True):
    start = meta.substrt2 if fast_axis == 0 else meta.substrt1
    n_fast = meta.subsize2 if fast_axis == 0 else meta.subsize1
    return ds.amplifier_edges(n_fast, start, meta.noutputs, per_amplifier)


def test_readout_direction_is_the_detector_s(case):
    name, _, _, _, _, meta, _ = case
    geom = modes.from_meta(meta)
    assert geom.fast_axis == FAST[name]
    assert ds.fast_axis_index(meta.fastaxis, meta.slowaxis) == geom.fast_index
    if name == "grism":
        assert meta.noutputs == 4 and _edges(meta, 1).tolist() == [0, 512, 1024, 1536, 2048]


def test_line_median_scatter_drops_5x_along_the_readout(case):
    name, _, sci, gdq, use, meta, _ = case
    fa = modes.from_meta(meta).fast_index
    edges = _edges(meta, fa)
    before = _scatter(sci, use, fa, edges)
    out = sci.copy()
    ds.destripe_groups(out, gdq, use, fa, edges)
    after = _scatter(out, use, fa, edges)
    assert before / after >= 5.0, (name, before, after)


def test_swapped_direction_does_not_destripe(case):
    """Destriping along the other axis leaves the true stripes: the 5x test would fail."""
    name, _, sci, gdq, use, meta, _ = case
    fa = modes.from_meta(meta).fast_index
    wrong = 1 - fa
    before = _scatter(sci, use, fa, _edges(meta, fa))
    out = sci.copy()
    ds.destripe_groups(out, gdq, use, wrong, _edges(meta, wrong, per_amplifier=False))
    after = _scatter(out, use, fa, _edges(meta, fa))
    assert before / after < 2.0, (name, before, after)


def test_soss_mask_excludes_every_order(case):
    name, sim, _, _, use, meta, info = case
    if name != "soss":
        pytest.skip("multi-order masking is a SOSS matter")
    src = simulate.read_truth(sim.truth)["source"]
    lit = src > 0.02 * float(src.max())
    assert info["method"] == "trace" and lit.sum() > 0
    assert not (use & lit).any(), int((use & lit).sum())
    # a single-trace mask (the NIRSpec assumption) would let orders 2 and 3 into the medians
    image = np.median(np.diff(case[2], axis=1).sum(axis=1), axis=0)
    single, _ = ds.make_background_mask(image, np.zeros(image.shape, np.uint32), method="trace", trace_radius=8)
    assert (single & lit).sum() > 1000
