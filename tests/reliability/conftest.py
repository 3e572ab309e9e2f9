"""Fixtures of the bad-input tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sim_exposure(tmp_path_factory):
    """One small simulated NIRSpec TSO segment with its seven reference files."""
    from rampflow.simulate import simulate_exposure

    return simulate_exposure(tmp_path_factory.mktemp("reliability_sim"), kind="nirspec_tso", detector="NRS1",
                             nints=2, ngroups=4, size=[16, 64], seed=11)
