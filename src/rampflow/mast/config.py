"""The ``inputs.mast`` config: which keys are options of ours and which are CAOM criteria
(:func:`split_config`), and :func:`fetch`, which queries, downloads and writes the manifest
from that mapping (what the workflow's download rule runs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .client import observations_client
from .download import download
from .manifest import read_manifest
from .query import query_products

#: keys of ``inputs.mast`` that are options of ours; every other key is a CAOM criterion
#: handed to ``Observations.query_criteria`` (proposal_id, instrument_name, filters, ...)
OPTION_KEYS = frozenset(
    {"server", "include_ta", "exposure_filter", "detectors", "segments",
     "retries", "backoff", "timeout", "verify_size", "data_dir"}
)


def split_config(mast_cfg: Mapping[str, Any]) -> tuple[dict, dict]:
    """Split ``inputs.mast`` into (CAOM criteria, our options).

    Every key in :data:`OPTION_KEYS` is an option; all others are criteria passed to
    ``Observations.query_criteria`` unchanged (so a misspelled criterion is reported by
    astroquery with the closest valid column name).
    """
    criteria = {k: v for k, v in mast_cfg.items() if k not in OPTION_KEYS and v is not None}
    options = {k: v for k, v in mast_cfg.items() if k in OPTION_KEYS}
    return criteria, options


def fetch(
    mast_cfg: Mapping[str, Any],
    dest_dir: str | os.PathLike,
    manifest_path: str | os.PathLike,
    *,
    token: str | None = None,
) -> list[dict]:
    """Query, download and write the manifest, from the ``inputs.mast`` config mapping.

    Returns the manifest entries. Options (:data:`OPTION_KEYS`) are taken from the
    mapping; every other key is a query criterion.
    """
    criteria, opts = split_config(mast_cfg)
    retries = int(opts.get("retries", 4))
    backoff = float(opts.get("backoff", 1.0))
    obs = observations_client(opts.get("server"), token)
    products = query_products(
        criteria, include_ta=bool(opts.get("include_ta", False)),
        exposure_filter=opts.get("exposure_filter"), detectors=opts.get("detectors"),
        segments=opts.get("segments"), observations=obs, retries=retries, backoff=backoff)
    download(products, dest_dir, observations=obs, retries=retries, backoff=backoff,
             timeout=float(opts.get("timeout", 120.0)),
             verify_size=bool(opts.get("verify_size", True)), manifest_path=manifest_path)
    return read_manifest(manifest_path)["files"]
