"""jump parity with jwst's JumpStep (stcal two-point difference), on jwst's own output of the
steps before it (group_scale .. dark_current):

* NIRSpec TSO subarray and NIRCam full frame, default parameters (iterative search), and a
  frame-averaged NIRCam subarray (NFRAMES=4, saturating stars);
* the same, processed in row chunks with the 1-row halo as the runner does;
* a 30-integration NIRSpec subarray with sigma clipping across integrations switched on
  (minimum_sigclip_groups <= 30), and with clipping over all differences (only_use_ints=False);
* non-default parameters (rejection_threshold=6 with after_jump_flag_dn1/time1, neighbour
  limits, no neighbour flagging, the single-pass branch).

The requirement is >= 99.9 % of groups agreeing; the number of differing groups is reported
(``record_property``) and is expected to be 0. SCI must come back unchanged, PIXELDQ equal,
and PRIMECRS equal to jwst's primary_cosmic_rays.
"""

import numpy as np
import pytest
from parity_helpers import jwst_stage, run_jwst_step, run_our_step

from rampflow import dq

PREV = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]


def _chunked(model, meta, refs, nrow, **params):
    """Our step the way the runner calls it: all integrations, ``nrow`` interior rows plus
    the halo, interior kept."""
    from rampflow.references import load_reference
    from rampflow.steps import get_step_class

    cls = get_step_class("jump")
    step = cls(meta, {rt: load_reference(rt, refs[rt], meta) for rt in cls.reftypes}, **params)
    sci_all = np.asarray(model.data, dtype=np.float32)
    gdq_all = np.array(model.groupdq, dtype=np.uint8, copy=True)
    pdq_all = np.array(model.pixeldq, dtype=np.uint32, copy=True)
    nints, _, ny, _ = sci_all.shape
    out_g, out_p = gdq_all.copy(), pdq_all.copy()
    for start in range(0, ny, nrow):
        stop = min(ny, start + nrow)
        lo, hi = max(0, start - cls.halo), min(ny, stop + cls.halo)
        sci = sci_all[:, :, lo:hi].copy()
        g = gdq_all[:, :, lo:hi].copy()
        p = pdq_all[lo:hi].copy()
        step.process(sci, g, p, slice(0, nints), slice(lo, hi))
        out_g[:, :, start:stop] = g[:, :, start - lo:stop - lo]
        out_p[start:stop] = p[start - lo:stop - lo]
    return out_g, out_p, step


def _agreement(ours_gdq, theirs_gdq, record_property, tag):
    theirs_gdq = np.asarray(theirs_gdq, dtype=np.uint8)
    differ = int(np.count_nonzero(ours_gdq != theirs_gdq))
    frac = 1.0 - differ / ours_gdq.size
    record_property(f"{tag}_differing_groups", differ)
    record_property(f"{tag}_agreement", frac)
    print(f"[jump parity] {tag}: {differ} of {ours_gdq.size} groups differ (agreement {frac:.7f}); "
          f"jumps: ours {np.count_nonzero(ours_gdq & dq.JUMP_DET)}, "
          f"jwst {np.count_nonzero(theirs_gdq & dq.JUMP_DET)}")
    assert frac >= 0.999, f"{tag}: only {frac:.6f} of groups agree with jwst ({differ} differ)"
    return differ


def _check(case, record_property, tag, model=None, **params):
    cached = model is None and not params
    model = jwst_stage(case, PREV) if model is None else model
    sci, gdq, pdq, step = run_our_step("jump", model, case.meta, case.refs, **params)
    theirs = (jwst_stage(case, PREV + ["jump"]) if cached
              else run_jwst_step("jump", model, case.refs, **params))
    assert theirs.meta.cal_step.jump == "COMPLETE" and step.skipped is None
    np.testing.assert_array_equal(sci, np.asarray(model.data, dtype=np.float32))   # SCI untouched
    np.testing.assert_array_equal(sci, np.asarray(theirs.data, dtype=np.float32))
    np.testing.assert_array_equal(pdq, np.asarray(theirs.pixeldq, dtype=np.uint32), err_msg="PIXELDQ")
    differ = _agreement(gdq, theirs.groupdq, record_property, tag)
    ours_crs = step.header_updates()["PRIMECRS"][0]
    assert ours_crs == pytest.approx(theirs.meta.exposure.primary_cosmic_rays, rel=1e-9)
    return model, theirs, gdq, differ


def test_default(jwst_offline, sim_case, record_property):
    model, theirs, gdq, differ = _check(sim_case, record_property, f"default-{sim_case.meta.instrument}")
    new = (np.asarray(theirs.groupdq) & ~np.asarray(model.groupdq) & dq.JUMP_DET) != 0
    assert new.sum() > 20                      # jwst found jumps: the comparison has teeth
    assert differ == 0


def test_frame_averaged(jwst_offline, nircam_averaged_case, record_property):
    # NFRAMES = 4: the read-noise variance of a difference is rn**2 / NFRAMES
    assert nircam_averaged_case.meta.nframes == 4
    _, _, _, differ = _check(nircam_averaged_case, record_property, "nframes4")
    assert differ == 0


def test_row_chunks_with_halo(jwst_offline, nirspec_case, record_property):
    model = jwst_stage(nirspec_case, PREV)
    theirs = jwst_stage(nirspec_case, PREV + ["jump"])
    for nrow in (3, 8):
        g, p, step = _chunked(model, nirspec_case.meta, nirspec_case.refs, nrow)
        assert _agreement(g, theirs.groupdq, record_property, f"chunks{nrow}") == 0
        np.testing.assert_array_equal(p, np.asarray(theirs.pixeldq, dtype=np.uint32))
        assert step._cache.reused_rows > 0


@pytest.fixture(scope="module")
def sigclip_case(tmp_path_factory):
    """NIRSpec TSO, 30 integrations x 5 groups of a 16 x 256 piece of SUB2048, with a cosmic
    ray rate high enough for a few hundred jumps."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrs_sigclip")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=30, ngroups=5,
                             size=[16, 256], seed=31, cr_rate=2e-3)


@pytest.mark.parametrize("params", [
    {"minimum_sigclip_groups": 20},
    {"minimum_sigclip_groups": 100, "only_use_ints": False},
], ids=["per-group", "all-diffs"])
def test_sigma_clipping(jwst_offline, sigclip_case, params, record_property):
    model = jwst_stage(sigclip_case, PREV)
    tag = "sigclip-" + "-".join(map(str, params.values()))
    _, theirs, gdq, differ = _check(sigclip_case, record_property, tag, model=model, **params)
    # the clipping branch really ran: the result differs from the default (iterative) one
    default = run_jwst_step("jump", model, sigclip_case.refs)
    assert not np.array_equal(np.asarray(default.groupdq), np.asarray(theirs.groupdq))
    assert differ == 0


@pytest.mark.parametrize("params", [
    {"rejection_threshold": 6.0, "after_jump_flag_dn1": 1000.0, "after_jump_flag_time1": 10.0},
    {"rejection_threshold": 3.0, "min_jump_to_flag_neighbors": 5.0, "max_jump_to_flag_neighbors": 40.0,
     "after_jump_flag_dn2": 100.0, "after_jump_flag_time2": 3.0},
    {"flag_4_neighbors": False, "three_group_rejection_threshold": 4.5,
     "four_group_rejection_threshold": 4.5},
    {"min_diffs_single_pass": 4},
], ids=["rej6-after1", "rej3-nblimits-after2", "no-neighbours", "single-pass"])
def test_parameters(jwst_offline, nirspec_case, params, record_property):
    model = jwst_stage(nirspec_case, PREV)
    tag = "params-" + "-".join(map(str, params.values()))
    _, theirs, gdq, differ = _check(nirspec_case, record_property, tag, model=model, **params)
    default = jwst_stage(nirspec_case, PREV + ["jump"])
    assert not np.array_equal(np.asarray(default.groupdq), np.asarray(theirs.groupdq))
    assert differ == 0


def test_defaults_match_jwst_spec(jwst_offline):
    from jwst.jump import JumpStep as JwstJumpStep

    from rampflow.steps.jump import JumpStep

    spec = JwstJumpStep().get_pars()
    spec = {k: v for k, v in spec.items() if k not in ("input_dir", "output_dir", "output_file", "output_ext",
                                                        "output_use_model", "output_use_index", "pre_hooks",
                                                        "post_hooks", "save_results", "search_output_file",
                                                        "skip", "suffix", "class", "name")}
    assert set(spec) == set(JumpStep.defaults)
    for k, v in spec.items():
        assert JumpStep.defaults[k] == v, k
