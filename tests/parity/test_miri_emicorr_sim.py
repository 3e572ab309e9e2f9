"""jwst 3.0's EmiCorrStep (default 'joint' algorithm) with the simulated EMICORR reference
removes the EMI the simulator injects: the simulated pixel clock is jwst's."""

from __future__ import annotations

import numpy as np

from rampflow.simulate import simulate_exposure

QUIET = {"poisson": False, "read_noise_scale": 0.0, "amp_offset_rms": 0.0, "odd_even_rms": 0.0,
         "cr_rate": 0.0, "one_over_f_rms": 0.0}


def test_jwst_emicorr_removes_simulated_emi(jwst_offline, tmp_path):
    from jwst.dq_init import DQInitStep
    from jwst.emicorr import EmiCorrStep

    kw = dict(kind="miri_lrs_tso", detector="MIRIMAGE", nints=3, ngroups=8, seed=5, **QUIET)
    base = simulate_exposure(tmp_path / "base", **kw)
    emi = simulate_exposure(tmp_path / "emi", emi_amplitude=5.0, **kw)
    without = DQInitStep.call(str(base.uncal), override_mask=str(base.refs["mask"]))
    with_emi = DQInitStep.call(str(emi.uncal), override_mask=str(emi.refs["mask"]))
    corrected = EmiCorrStep.call(with_emi, skip=False, override_emicorr=str(emi.refs["emicorr"]))
    assert corrected.meta.cal_step.emicorr == "COMPLETE"
    before = np.std(with_emi.data - without.data)
    resid = corrected.data - without.data
    after = np.std(resid - np.median(resid))
    assert 4.5 < before < 5.5          # two 5 DN sines (390.625 Hz and 10.04 Hz), rounded
    assert after < 0.15 * before, (before, after)
