"""clean_flicker_noise's median-image background on the TSO types whose jwst scaling needs a WCS
(NIRSpec BOTS, NIRCam grism and imaging time series), where rampflow takes the per-integration
scale from its own trace / aperture: against the simulation's truth.

On each mode's seeded simulation with a deep transit, taken through rampflow's steps up to
dark_current (no cosmic rays; jump left out because the simulated ingress, inside an
integration of this short series, brightens bright ramps enough to be flagged): the scale
follows the injected white-light curve, the median image's slopes are the injected scene
(source + background) of each integration, and cleaning with it removes most of the 1/f
noise (the scatter of the readout-line medians of the rate residuals drops).
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import io, modes
from rampflow.references import load_reference
from rampflow.steps import get_step_class

simulate = pytest.importorskip("rampflow.simulate", reason="rampflow.simulate is not available")

COMMON = dict(nints=8, ngroups=4, seed=9, cr_rate=0.0, one_over_f_rms=12.0, transit_depth=0.05)
CASES = {
    "bots": dict(kind="nirspec_tso", detector="NRS1", size=[32, 512]),
    "grism": dict(kind="nircam_grism_tso", detector="NRCALONG", size=[64, 2048]),
    "imaging": dict(kind="nircam_imaging_tso", detector="NRCA3", size=[64, 64]),
}
PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]


@pytest.fixture(scope="module", params=sorted(CASES))
def cleaned(request, tmp_path_factory):
    from rampflow.runner import run

    out = tmp_path_factory.mktemp(f"cfn_mi_{request.param}")
    sim = simulate.simulate_exposure(out, **COMMON, **CASES[request.param])
    jump = out / "dark_current.fits"
    run(PREV, {"ramp": sim.uncal}, {"dark_current": jump}, overrides={k: str(v) for k, v in sim.refs.items()},
        use_crds_pars=False)
    cls = get_step_class("clean_flicker_noise")
    with io.open_ramp(jump) as rf:
        step = cls(rf.meta, {rt: load_reference(rt, sim.refs[rt], rf.meta) for rt in cls.reftypes},
                   background_method="median_image")
        step.prepare(rf, chunk_mb=1)
        sci, gdq = (np.array(a) for a in rf.read())
        before = sci.copy()
        step.process(sci, gdq, rf.pixeldq(), slice(0, sci.shape[0]), slice(0, sci.shape[2]))
        meta = rf.meta
    truth = simulate.read_truth(sim.truth)
    return request.param, step, before, sci, meta, truth


def test_scale_follows_the_injected_transit(cleaned):
    name, step, _, _, _, truth = cleaned
    assert not step.skipped and step.median is not None
    white = np.asarray(truth["lightcurve"]["white_flux"], dtype=np.float64)
    expect = white / np.median(white)
    assert expect.min() < 0.97  # the transit is in the exposure
    # per integration to 1 % (BOTS: the 1/f noise the box sums along its columns, ~0.5 %)
    np.testing.assert_allclose(step.median.norm, expect, atol=0.01, err_msg=name)
    intransit = expect < 0.97
    depth = 1 - step.median.norm[intransit].mean() / step.median.norm[~intransit].mean()
    true_depth = 1 - expect[intransit].mean() / expect[~intransit].mean()
    assert abs(depth - true_depth) < 0.005, (name, depth, true_depth)


def test_median_image_slopes_are_the_injected_scene(cleaned):
    name, step, _, _, meta, truth = cleaned
    rates = np.asarray(truth["rateints"], dtype=np.float64)
    src = np.asarray(truth["source"], dtype=np.float64)
    bright = src > 0.2 * src.max()
    dt = (meta.ngroups - 1) * meta.tgroup
    for i in range(meta.nints):
        med = step.median.integration(i)
        slope = (med[-1] - med[0]) / dt
        rel = np.median(slope[bright] / rates[i][bright]) - 1.0
        assert abs(rel) < 0.02, (name, i, rel)


def test_cleaning_lowers_the_1f_scatter(cleaned):
    name, step, before, after, meta, truth = cleaned
    rates = np.asarray(truth["rateints"], dtype=np.float64)
    fast = modes.from_meta(meta).fast_index
    dt = (meta.ngroups - 1) * meta.tgroup

    def scatter(ramp):
        resid = (ramp[:, -1].astype(np.float64) - ramp[:, 0]) / dt - rates
        return float(np.std(np.median(resid, axis=1 + fast)))

    s0, s1 = scatter(before), scatter(after)
    assert s1 < 0.5 * s0, (name, s0, s1)
