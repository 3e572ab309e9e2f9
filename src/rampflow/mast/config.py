"""The ``inputs.mast`` config: which keys are options of ours and which are CAOM criteria
(:func:`split_config`); :func:`plan`, which queries and writes the manifest (the workflow's
``mast_query`` checkpoint), :func:`fetch_one`, which downloads one file the manifest lists (a
``mast_download`` job per file), and :func:`fetch`, which does all three in one call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .client import _int_or_none, observations_client
from .download import download, download_file, download_url
from .manifest import manifest_file, planned_entry, read_manifest, write_manifest
from .query import query_products

#: keys of ``inputs.mast`` that are options of ours; every other key is a CAOM criterion
#: handed to ``Observations.query_criteria`` (proposal_id, instrument_name, filters, ...)
OPTION_KEYS = frozenset(
    {"server", "include_ta", "exposure_filter", "detectors", "segments",
     "retries", "backoff", "timeout", "verify_size", "data_dir", "connections"}
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
    obs, products, opts = _query(mast_cfg, token)
    download(products, dest_dir, observations=obs, retries=int(opts.get("retries", 4)),
             backoff=float(opts.get("backoff", 1.0)), timeout=float(opts.get("timeout", 120.0)),
             verify_size=bool(opts.get("verify_size", True)), manifest_path=manifest_path)
    return read_manifest(manifest_path)["files"]


def _query(mast_cfg: Mapping[str, Any], token: str | None):
    """(client, products of the query, options) for the ``inputs.mast`` mapping."""
    criteria, opts = split_config(mast_cfg)
    obs = observations_client(opts.get("server"), token)
    products = query_products(
        criteria, include_ta=bool(opts.get("include_ta", False)),
        exposure_filter=opts.get("exposure_filter"), detectors=opts.get("detectors"),
        segments=opts.get("segments"), observations=obs, retries=int(opts.get("retries", 4)),
        backoff=float(opts.get("backoff", 1.0)))
    return obs, products, opts


def plan(mast_cfg: Mapping[str, Any], manifest_path: str | os.PathLike, *,
         token: str | None = None) -> list[dict]:
    """Query MAST and write the manifest of the files to download (nothing is downloaded).

    Each entry holds what one download needs: file name, dataURI, the size and checksum
    MAST reports (see :func:`planned_entry`). Returns the entries.
    """
    obs, products, _ = _query(mast_cfg, token)
    write_manifest(manifest_path, [planned_entry(row) for row in products],
                   server=getattr(obs, "_rampflow_server", None))
    return read_manifest(manifest_path)["files"]


def fetch_one(mast_cfg: Mapping[str, Any], manifest_path: str | os.PathLike, stem: str,
              dest: str | os.PathLike, *, token: str | None = None) -> bool:
    """Download the file of exposure ``stem`` listed in the manifest to ``dest``: resumed from
    a ``<dest>.part`` left by an earlier attempt, retried, verified against the manifest's size
    and checksum (:func:`download_file`). Returns whether anything was fetched (a verified
    file already at ``dest`` is kept as it is)."""
    _, opts = split_config(mast_cfg)
    doc = read_manifest(manifest_path)
    entry = manifest_file(manifest_path, stem)
    obs = observations_client(doc.get("server") or opts.get("server"), token)
    checksum = tuple(entry["checksum"].split(":", 1)) if entry.get("checksum") else None
    _, fetched = download_file(
        obs._session, download_url(entry["dataURI"], observations=obs), dest,
        size=_int_or_none(entry["size"]) if entry["size"] is not None else None, checksum=checksum,
        retries=int(opts.get("retries", 4)), backoff=float(opts.get("backoff", 1.0)),
        timeout=float(opts.get("timeout", 120.0)), verify_size=bool(opts.get("verify_size", True)))
    return fetched
