"""Jump detection against the simulator's truth (seeded NIRSpec TSO exposure).

Configuration: 8 integrations x 10 groups of a 32 x 512 piece of the NIRSpec subarray,
NRSRAPID, with the simulator's non-linearity, 1/f and odd/even patterns off (so the raw
ramps need no other calibration: bias and amplifier offsets are constant within an
integration and cancel in the group differences) and a cosmic-ray rate of 2e-3 per pixel
per second (~600 injected jumps, amplitudes log-uniform 30..3000 DN).

* Completeness: of the injected jumps in groups >= 1 on live pixels whose amplitude is above
  10 sigma of a group difference -- sigma = sqrt(rate x TGROUP x gain + (rn x gain)**2) / gain
  DN with the truth rate, the READNOISE (CDS) and GAIN references -- at least 95 % get
  JUMP_DET in the group the truth names.
* False flags: groups with no injected jump in the pixel or its 4 neighbours at that group
  are flagged at a rate below 1e-3 and no more often than jwst's JumpStep flags them on the
  same input (jwst dq_init output), where jwst is installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rampflow import dq, io
from rampflow.references import load_reference
from rampflow.simulate import read_truth, simulate_exposure
from rampflow.steps.jump import detect_jumps

NINTS, NGROUPS, SIZE = 8, 10, [32, 512]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("jump_stats")
    case = simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=NINTS, ngroups=NGROUPS,
                             size=SIZE, seed=777, nonlinearity=0.0, one_over_f_rms=0.0,
                             odd_even_rms=0.0, cr_rate=2e-3)
    truth = read_truth(case.truth)
    with io.open_ramp(case.uncal) as f:
        sci, gdq = f.read()
        meta = f.meta
    rn = np.asarray(load_reference("readnoise", case.refs["readnoise"], meta)["SCI"], np.float32)
    gain = np.asarray(load_reference("gain", case.refs["gain"], meta)["SCI"], np.float32)
    live = np.ones(sci.shape[2:], bool)
    live[np.asarray(truth["dead"]["y"], int), np.asarray(truth["dead"]["x"], int)] = False
    jumps = truth["jumps"]
    ji, jg = np.asarray(jumps["integration"], int), np.asarray(jumps["group"], int)
    jy, jx = np.asarray(jumps["y"], int), np.asarray(jumps["x"], int)
    amp = np.asarray(jumps["amplitude"], float)
    # sigma of one group difference, DN
    rate = (truth["rate"] + truth["darkrate"]).astype(np.float64)
    g64 = gain.astype(np.float64)
    sigma = np.sqrt(np.maximum(rate, 0) * meta.tgroup * g64 + (rn * g64) ** 2) / g64
    # groups with no injected jump in the pixel or its 4 neighbours
    near = np.zeros(sci.shape, bool)
    for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        yy, xx = jy + dy, jx + dx
        ok = (yy >= 0) & (yy < sci.shape[2]) & (xx >= 0) & (xx < sci.shape[3])
        near[ji[ok], jg[ok], yy[ok], xx[ok]] = True
    clean = ~near
    clean[:, 0] = False
    clean &= live[None, None]
    return dict(case=case, meta=meta, sci=sci, gdq=gdq, rn=rn, gain=gain, live=live,
                ji=ji, jg=jg, jy=jy, jx=jx, amp=amp, sigma=sigma, clean=clean)


def _ours(sim, sci=None, gdq=None, pdq=None):
    sci = sim["sci"] if sci is None else sci
    gdq = (sim["gdq"] if gdq is None else gdq).copy()
    pdq = np.zeros(sci.shape[2:], np.uint32) if pdq is None else pdq.copy()
    m = sim["meta"]
    detect_jumps(sci, gdq, pdq, sim["rn"], sim["gain"], frame_time=m.tframe, group_time=m.tgroup,
                 nframes=m.nframes)
    return gdq


@pytest.fixture(scope="module")
def ours(sim):
    return _ours(sim)


def _significant(sim):
    s = sim
    snr = s["amp"] / s["sigma"][s["jy"], s["jx"]]
    return (s["jg"] >= 1) & s["live"][s["jy"], s["jx"]] & (snr > 10.0)


def test_strong_jumps_are_flagged(sim, ours):
    sel = _significant(sim)
    assert sel.sum() > 200, "too few > 10 sigma jumps for the statistics"
    hit = (ours[sim["ji"][sel], sim["jg"][sel], sim["jy"][sel], sim["jx"][sel]] & dq.JUMP_DET) != 0
    assert hit.mean() >= 0.95, f"only {hit.mean():.3f} of {sel.sum()} jumps above 10 sigma flagged"


def test_weak_jumps_are_mostly_missed(sim, ours):
    # the other side of the threshold: below 3 sigma a 4-sigma detector rarely fires
    snr = sim["amp"] / sim["sigma"][sim["jy"], sim["jx"]]
    weak = (sim["jg"] >= 1) & (snr < 3.0) & sim["live"][sim["jy"], sim["jx"]]
    assert weak.sum() >= 20
    hit = (ours[sim["ji"][weak], sim["jg"][weak], sim["jy"][weak], sim["jx"][weak]] & dq.JUMP_DET) != 0
    assert hit.mean() < 0.3


def test_false_flag_rate_is_small(sim, ours):
    clean = sim["clean"]
    flagged = np.count_nonzero(((ours & dq.JUMP_DET) != 0) & clean)
    rate = flagged / clean.sum()
    assert clean.sum() > 1_000_000
    assert rate < 1e-3, f"false-flag rate {rate:.2e}"


# --- comparison with jwst's JumpStep on the same input ----------------------------------

def _parity_helpers():
    path = Path(__file__).resolve().parents[1] / "parity" / "parity_helpers.py"
    spec = importlib.util.spec_from_file_location("_rampflow_parity_helpers", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def jwst_offline(tmp_path_factory):
    """jwst steps with no network (the parity suite's environment), restored afterwards."""
    pytest.importorskip("jwst", reason="the official jwst pipeline is not installed")
    conf = _parity_helpers()
    with conf.offline_env(tmp_path_factory.mktemp("crds_offline_jump_stats")):
        yield conf


def test_false_flags_no_more_than_jwst(jwst_offline, sim):
    conf = jwst_offline
    model = conf.run_jwst_step("dq_init", str(sim["case"].uncal), sim["case"].refs)
    theirs = conf.run_jwst_step("jump", model, sim["case"].refs)
    sci = np.asarray(model.data, dtype=np.float32)
    ours = _ours(sim, sci=sci, gdq=np.asarray(model.groupdq, dtype=np.uint8),
                 pdq=np.asarray(model.pixeldq, dtype=np.uint32))
    tj = (np.asarray(theirs.groupdq) & dq.JUMP_DET) != 0
    oj = (ours & dq.JUMP_DET) != 0
    clean = sim["clean"]
    ours_rate = np.count_nonzero(oj & clean) / clean.sum()
    jwst_rate = np.count_nonzero(tj & clean) / clean.sum()
    print(f"[jump stats] false-flag rate: ours {ours_rate:.3e}, jwst {jwst_rate:.3e}; "
          f"groups differing {np.count_nonzero(oj != tj)}")
    assert ours_rate <= jwst_rate
    # and completeness is the same as jwst's
    sel = _significant(sim)
    idx = (sim["ji"][sel], sim["jg"][sel], sim["jy"][sel], sim["jx"][sel])
    assert oj[idx].mean() >= tj[idx].mean()
