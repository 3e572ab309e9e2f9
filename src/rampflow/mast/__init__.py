"""Find and download JWST ``*_uncal.fits`` ramps from MAST, resumably and verified.

The query goes through astroquery's own code path (``astroquery.mast``), so the
requests made are exactly the ones astroquery makes:

1. ``Observations.query_criteria(**criteria)`` -- a POST of the column configuration
   request (``/portal/Mashup/Mashup.asmx/columnsconfig``, ``colConfigId=Mast.Caom.Cone``),
   which astroquery needs to build the filter set, then a POST to the portal service
   ``/api/v0/invoke`` running ``Mast.Caom.Filtered``;
2. ``Observations.get_product_list(observations)`` -- the columns config of
   ``Mast.Caom.Products`` then ``/api/v0/invoke`` running ``Mast.Caom.Products``;
3. ``Observations.filter_products(products, productType="SCIENCE",
   productSubGroupDescription="UNCAL")`` (local, no request);
4. with a token, ``Observations.login(token=...)``: astroquery stores the token as the
   ``mast_token`` session cookie and checks it with ``GET /whoami``.

Files are then fetched from the URL astroquery builds for ``Observations.download_file``:
``<server>/api/v0.1/Download/file?uri=<dataURI>`` (the URI quoted with ``safe=":/"``),
through the same :class:`requests.Session` (so the ``mast_token`` cookie and astroquery's
User-Agent go along). astroquery's own downloader neither resumes into a separate file
nor verifies anything, so the streaming here is our own: a ``.part`` file continued with
an HTTP ``Range`` request after a dropped connection, retries with exponential backoff on
connection errors and 5xx answers, verification, then ``os.replace`` onto the final name.

What is verified: astroquery 0.4.11's CAOM product table (``Mast.Caom.Products``) reports
each file's ``size`` in bytes but carries no checksum column, so for real MAST data the
check is the size (always) plus the HTTP ``Content-Length``/``Content-Range`` totals.
If a product table does carry a checksum (a column named ``md5``, ``md5sum``,
``checksum`` or ``sha256``; values either bare hex or ``"md5:<hex>"``/``"sha256:<hex>"``),
it is checked too. The MD5 of every downloaded file is computed and written to the
manifest either way, so later runs and users can check the files they have.

The MAST server is configurable (``server=``; config key ``inputs.mast.server``):
astroquery computes its portal URLs as class attributes when it is imported, so setting
``astroquery.mast.conf.server`` afterwards is not enough; :func:`observations_client`
builds a fresh ``ObservationsClass`` whose connection URLs (and column-config cache) are
re-pointed at the given server, keeping astroquery's own endpoint paths. Name resolution
(``objectname=``/``coordinates=`` criteria) goes to a resolver host astroquery hard-codes;
use ``target_name`` instead where the server is not the real MAST.

In the workflow the query and the downloads are separate jobs: the ``mast_query`` checkpoint
writes the manifest from the query alone (:func:`plan`), then one ``mast_download`` job per file
fetches it (:func:`fetch_one`), in parallel up to the ``mast_connections`` resource.

Modules: :mod:`.client` (astroquery client, login, retries, errors), :mod:`.query` (product
queries, filtering, TA detection), :mod:`.download` (per-file download with checks and atomic
renames), :mod:`.manifest` (the JSON manifest of the files), :mod:`.config` (the
``inputs.mast`` mapping, :func:`plan`, :func:`fetch_one` and :func:`fetch`). This module re-exports their public API.
"""

from __future__ import annotations

from .client import (
    CHECKSUM_COLUMNS,
    DEFAULT_SERVER,
    RETRY_STATUSES,
    ChecksumMismatch,
    DownloadError,
    MastQueryError,
    NoProductsFound,
    login,
    observations_client,
)
from .config import OPTION_KEYS, fetch, fetch_one, plan, split_config
from .download import download, download_file, download_url
from .manifest import (
    manifest_entry,
    manifest_file,
    manifest_stems,
    planned_entry,
    read_manifest,
    write_manifest,
)
from .query import PRODUCT_BATCH, TA_EXP_TYPE, parse_filename, query_products, target_acquisition_mask

__all__ = [
    "CHECKSUM_COLUMNS",
    "DEFAULT_SERVER",
    "OPTION_KEYS",
    "PRODUCT_BATCH",
    "RETRY_STATUSES",
    "TA_EXP_TYPE",
    "MastQueryError",
    "NoProductsFound",
    "DownloadError",
    "ChecksumMismatch",
    "observations_client",
    "login",
    "split_config",
    "parse_filename",
    "target_acquisition_mask",
    "query_products",
    "download_url",
    "download",
    "download_file",
    "fetch",
    "plan",
    "fetch_one",
    "manifest_entry",
    "planned_entry",
    "manifest_file",
    "write_manifest",
    "read_manifest",
    "manifest_stems",
]
