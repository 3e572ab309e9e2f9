"""LIKELY's exposure combination median and the fit without chi square.

* The median over integrations of :mod:`rampflow.kernels.likely_combine` (a selection, since
  the insertion sort it replaced was slow on 155 integrations) against numpy's median in
  float32 (``np.median`` of the non-NaN values, the two middle values averaged in float32 as
  stcal's ``np.nanmedian`` on float32 rates does), for odd and even counts, ties and signed
  zeros; and against the sorted values for the sign of a zero median.
* ``fit_ramps(..., chisq=False)`` (what the step does without save_opt) gives the same arrays,
  bit for bit, as the fit with chi square, and no chi square.
"""

import numpy as np
import pytest

from rampflow.kernels.likely_combine import _median32
from rampflow.meta import ExposureMeta
from rampflow.steps import ramp_fit as rf


def _median(values):
    v = np.asarray(values, np.float32)
    return _median32(v.copy(), len(v), np.empty_like(v), np.empty_like(v), np.empty_like(v))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 15, 16, 17, 40, 155, 156])
def test_median_is_numpys_float32_median(n):
    rng = np.random.default_rng(n)
    for trial in range(30):
        x = rng.normal(3.0, 2.0, n).astype(np.float32)
        if trial % 3 == 1:  # ties
            x = np.round(x).astype(np.float32)
        if trial % 3 == 2:  # wide range (the float32 sum of the middle values rounds)
            x = (x * np.float32(10.0) ** rng.integers(-6, 7, n)).astype(np.float32)
        s = np.sort(x)
        h = n // 2
        want = s[h] if n % 2 else np.float32((s[h - 1] + s[h]) / np.float32(2))
        got = _median(x)
        assert np.float32(got).tobytes() == want.tobytes(), (n, trial, x)
        assert np.float32(got) == np.float32(np.median(x))


def test_zero_median_keeps_the_sorted_values_sign():
    """-0.0 and 0.0 compare equal: a stable sort keeps their order, which decides the sign of a
    zero median (it feeds a division); the selection must give the same bits."""
    for vals in ([-0.0, 0.0, 1.0], [0.0, -0.0, 1.0], [-0.0, -0.0, 0.0, 2.0], [0.0, -0.0, -1.0, 2.0],
                 [-0.0, 0.0, -0.0, 0.0, 5.0], [-1.0, -0.0, 0.0, 1.0]):
        x = np.array(vals, np.float32)
        buf = []  # insertion sort, as the combination did before
        for v in x:
            j = len(buf)
            while j > 0 and buf[j - 1] > v:
                j -= 1
            buf.insert(j, v)
        h = len(x) // 2
        want = buf[h] if len(x) % 2 else np.float32((buf[h - 1] + buf[h]) / np.float32(2))
        assert np.float32(_median(x)).tobytes() == np.float32(want).tobytes(), vals


def test_fit_without_chisq_gives_the_same_arrays():
    rng = np.random.default_rng(11)
    nints, ngroups, ny, nx = 3, 12, 2, 70
    meta = ExposureMeta.from_headers(
        {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1, "GROUPGAP": 0, "TFRAME": 0.9,
         "TGROUP": 0.9, "NINTS": nints, "NGROUPS": ngroups, "SUBSIZE1": nx, "SUBSIZE2": ny},
        {}, filename="test", shape=(nints, ngroups, ny, nx))
    rate = rng.uniform(1, 500, (ny, nx))
    sci = (np.cumsum(rng.poisson(rate * 0.9, (nints, ngroups, ny, nx)), axis=1)
           + rng.normal(0, 8, (nints, ngroups, ny, nx))).astype(np.float32)
    sci[1, 6:, 0, 5] += 800.0  # a jump
    gdq = np.zeros(sci.shape, np.uint8)
    gdq[0, 9:, 1, 7] = 2  # saturated
    setup = rf.prepare_ramp_fit(meta, np.full((ny, nx), 12.0, np.float32), np.full((ny, nx), 1.5, np.float32),
                                algorithm="LIKELY")
    pdq = np.zeros((ny, nx), np.uint32)
    full = rf.fit_ramps(sci, gdq, pdq, setup, slice(0, ny))
    lean = rf.fit_ramps(sci, gdq, pdq, setup, slice(0, ny), chisq=False)
    assert lean.chisq is None and lean.chisq_ints is None
    assert full.chisq is not None and np.isfinite(full.chisq_ints).all()
    assert full.rateints["DQ"][1, 0, 5] & 4  # the jump is found
    for key in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
        for a, b in ((full.rate[key], lean.rate[key]), (full.rateints[key], lean.rateints[key])):
            assert a.tobytes() == b.tobytes(), key
