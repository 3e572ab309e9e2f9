"""refpix with SIRS through the runner (files, chunks of integrations, provenance): the
SIRSKERNEL reference is resolved only when asked for (refpix_algorithm 'sirs' on a full
frame), recorded in R_SIRSKL, and the product equals the step applied to the whole cube."""

from __future__ import annotations

import numpy as np
import pytest

from rampflow import io, runner
from rampflow.references import load_reference
from rampflow.simulate import simulate_exposure
from rampflow.steps.refpix import RefPixStep

PREV = ["group_scale", "dq_init", "saturation", "superbias"]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    out = tmp_path_factory.mktemp("sirs_runner")
    sim = simulate_exposure(out, kind="nircam_image", detector="NRCB1", nints=2, ngroups=2, size=[2048, 2048],
                            seed=15)
    refs = {k: str(v) for k, v in sim.refs.items()}
    sb = out / "superbias.fits"
    runner.run(PREV, {"ramp": sim.uncal}, {"superbias": sb}, overrides=refs, use_crds_pars=False)
    return sim, refs, sb


def _read(path):
    with io.open_ramp(path) as rf:
        sci, gdq = rf.read()
        return sci, gdq, rf.pixeldq(), rf.primary_header


def test_sirs_product_in_integration_chunks(case, tmp_path):
    sim, refs, sb = case
    out = tmp_path / "refpix.fits"
    runner.run(["refpix"], {"ramp": sb}, {"refpix": out}, overrides=refs, use_crds_pars=False,
               params={"refpix": {"refpix_algorithm": "sirs"}}, chunk_mb=20)        # one integration a chunk
    sci, gdq, pdq, hdr = _read(out)
    assert hdr["S_REFPIX"] == "COMPLETE"
    assert hdr["R_SIRSKL"].endswith("jwst_nircam_sirskernel_0001.asdf")
    before, bgdq, bpdq, _ = _read(sb)
    step = RefPixStep(sim.meta, {"sirskernel": load_reference("sirskernel", refs["sirskernel"], sim.meta)},
                      refpix_algorithm="sirs")
    expected = before.copy()
    step.process(expected, bgdq, bpdq, slice(0, 2), slice(0, 2048))
    np.testing.assert_array_equal(sci, expected)
    np.testing.assert_array_equal(gdq, bgdq)
    np.testing.assert_array_equal(pdq, bpdq)


def test_without_the_kernel_file_the_running_median(case, tmp_path):
    sim, refs, sb = case
    a, b = tmp_path / "sirs_na.fits", tmp_path / "median.fits"
    runner.run(["refpix"], {"ramp": sb}, {"refpix": a}, overrides={**refs, "sirskernel": "N/A"},
               use_crds_pars=False, params={"refpix": {"refpix_algorithm": "sirs"}})
    runner.run(["refpix"], {"ramp": sb}, {"refpix": b}, overrides=refs, use_crds_pars=False)
    np.testing.assert_array_equal(_read(a)[0], _read(b)[0])
    assert "R_SIRSKL" not in _read(b)[3]
