"""Parity with the official jwst pipeline, run offline.

jwst runs with every reference file given as an override, CRDS in local mode over a
minimal cache (a server_config and an empty pmap), and no step-parameter lookups.
Tests here are skipped, with the reason, where jwst is not installed.
"""

from __future__ import annotations

import pytest

jwst = pytest.importorskip("jwst", reason="the official jwst pipeline is not installed")

from parity_helpers import offline_env  # noqa: E402


@pytest.fixture(scope="session")
def jwst_offline(tmp_path_factory):
    """Environment under which jwst steps run with no network (restored afterwards)."""
    with offline_env(tmp_path_factory.mktemp("crds_offline")) as root:
        yield root


@pytest.fixture(scope="session")
def nirspec_case(tmp_path_factory):
    """A small NIRSpec BOTS SUB2048-like NRS1 exposure with its reference files."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrs")
    return simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=3, ngroups=6, seed=11)


@pytest.fixture(scope="session")
def nircam_case(tmp_path_factory):
    """A NIRCam full-frame (2048 x 2048, 4 amplifiers) exposure with its reference files."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrc")
    return simulate_exposure(out, kind="nircam_image", detector="NRCA1", nints=1, ngroups=4, seed=12)


@pytest.fixture(scope="session", params=["nirspec", "nircam"])
def sim_case(request):
    return request.getfixturevalue(f"{request.param}_case")


@pytest.fixture(scope="session")
def nircam_averaged_case(tmp_path_factory):
    """A NIRCam SUB160P exposure read out with SHALLOW4 (NFRAMES=4, GROUPGAP=1), bright enough
    that stars saturate mid-ramp: exercises frame-averaged saturation and dark averaging."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("sim_nrc_avg")
    return simulate_exposure(out, kind="nircam_image", detector="NRCA1", nints=2, ngroups=5,
                             size=[160, 160], seed=21, readpatt="SHALLOW4", peak_well_fraction=4.0,
                             n_stars=400)
