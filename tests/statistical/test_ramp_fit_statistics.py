"""Ramp fitting against the simulator's truth (seeded NIRSpec TSO exposure).

Configuration: 12 integrations x 10 groups of the 32 x 2048 NIRSpec subarray, with the
simulator's non-linearity turned OFF (physics override ``nonlinearity=0``, so no linearity
step is needed and the measured signal is the linear one), no cosmic rays (every ramp is
jump-free) and no 1/f or odd/even read-out patterns (not in the ramp model's noise budget).
Bias offsets (constant within an integration) stay in: a slope does not see them. The fit
runs on the raw DN with no group flagged. The expected slope of a pixel is the truth
RATEINTS (source x light curve + background) plus its DARKRATE, in DN/s.

* Bias: bright pixels (> 100 DN/s, ~10^4 of them; 0.6 % noise per integration) have
  median(fitted / true) within 0.2 % of 1.
* Scatter: the normalised residuals (fit - truth) / predicted sigma have a standard
  deviation within 5 % of 1, with the sigma the ramp model predicts:
  - bright, Poisson-dominated pixels (S/N > 100, Fixsen power 10): ERR of rateints;
  - dark pixels (< 0.05 DN/s, read-noise dominated, power 0 = plain least squares):
    sqrt(VAR_RNOISE). (Their ERR also holds a Poisson term computed from the noisy median
    rate of a dark ramp, so ERR over-predicts there -- a property of stcal's algorithm.)
  With ~10^5 samples per group the standard deviation is known to ~0.3 %, so a wrong gain,
  group time or read-noise scaling (all >= 40 % effects) fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import io
from rampflow.references import load_reference
from rampflow.simulate import read_truth, simulate_exposure
from rampflow.steps import ramp_fit as rf

NINTS, NGROUPS = 12, 10


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("rampfit_stats")
    case = simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=NINTS, ngroups=NGROUPS, seed=2024,
                             nonlinearity=0.0, cr_rate=0.0, one_over_f_rms=0.0, odd_even_rms=0.0)
    truth = read_truth(case.truth)
    with io.open_ramp(case.uncal) as f:
        sci, gdq = f.read()
        meta = f.meta
    rn = load_reference("readnoise", case.refs["readnoise"], meta)
    gain = load_reference("gain", case.refs["gain"], meta)
    setup = rf.prepare_ramp_fit(meta, rn, gain)
    res = rf.fit_ramps(sci, gdq, np.zeros(sci.shape[2:], np.uint32), setup, slice(0, sci.shape[2]))
    expected = truth["rateints"].astype(np.float64) + truth["darkrate"][None]
    usable = np.ones(sci.shape[2:], bool)
    usable[np.asarray(truth["dead"]["y"], int), np.asarray(truth["dead"]["x"], int)] = False
    usable &= np.isfinite(res.rateints["SCI"]).all(axis=0)
    mean_rate = expected.mean(axis=0)
    return res, expected, usable, mean_rate


def test_bright_pixels_unbiased(fitted):
    res, expected, usable, mean_rate = fitted
    bright = usable & (mean_rate > 100.0)
    assert bright.sum() > 5000
    ratio = res.rateints["SCI"][:, bright] / expected[:, bright]
    assert abs(np.median(ratio) - 1.0) < 0.002
    assert abs(np.median(res.rate["SCI"][bright] / mean_rate[bright]) - 1.0) < 0.002


def test_bright_pixel_scatter_matches_err(fitted):
    res, expected, usable, mean_rate = fitted
    bright = usable & (mean_rate > 100.0)
    z = (res.rateints["SCI"][:, bright] - expected[:, bright]) / res.rateints["ERR"][:, bright]
    assert z.size > 50000
    assert abs(np.std(z) - 1.0) < 0.05
    assert abs(np.mean(z)) < 0.05


def test_dark_pixel_scatter_matches_read_noise(fitted):
    res, expected, usable, mean_rate = fitted
    dark = usable & (mean_rate < 0.05)
    z = (res.rateints["SCI"][:, dark] - expected[:, dark]) / np.sqrt(res.rateints["VAR_RNOISE"][:, dark])
    assert z.size > 100000
    assert abs(np.std(z) - 1.0) < 0.05
    assert abs(np.mean(z)) < 0.05
