"""The astroquery client of MAST: a fresh ``ObservationsClass`` pointed at a configurable server,
login with an API token, retries with exponential backoff, and the errors of :mod:`rampflow.mast`.

astroquery computes its portal URLs as class attributes when it is imported, so setting
``astroquery.mast.conf.server`` afterwards is not enough; :func:`observations_client` builds a
fresh ``ObservationsClass`` whose connection URLs (and column-config cache) are re-pointed at the
given server, keeping astroquery's own endpoint paths.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np
import requests

log = logging.getLogger("rampflow.mast")

#: the real MAST portal (astroquery's default ``astroquery.mast.conf.server``)
DEFAULT_SERVER = "https://mast.stsci.edu"

#: HTTP statuses worth retrying (server busy or failing, not the request's fault)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


#: product-table columns that, where present, carry a checksum of the file
CHECKSUM_COLUMNS = ("md5", "md5sum", "checksum", "sha256")



class MastQueryError(RuntimeError):
    """A MAST query failed or could not be made."""


class NoProductsFound(MastQueryError, LookupError):
    """A MAST query matched nothing (the message names the criteria and the server)."""


class DownloadError(RuntimeError):
    """A file could not be downloaded (the message names the file)."""


class ChecksumMismatch(DownloadError):
    """A downloaded file's size or checksum disagrees with what MAST reported."""


class _Retryable(Exception):
    """Internal: an answer or error after which the request is tried again."""


def _repoint(url: str, server: str) -> str:
    """``url`` with its scheme and host replaced by ``server`` (path and query kept)."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return server.rstrip("/") + tail


def observations_client(server: str | None = None, token: str | None = None):
    """A fresh ``astroquery.mast.ObservationsClass`` talking to ``server``.

    Parameters
    ----------
    server : str, optional
        Base URL of the MAST portal, e.g. ``"https://mast.stsci.edu"`` (default) or
        ``"http://127.0.0.1:8765"``. astroquery's endpoint paths are kept.
    token : str, optional
        MAST API token for exclusive-access data; see :func:`login`. ``None`` reads
        ``$MAST_API_TOKEN`` and, if that is unset too, stays anonymous (never prompts).

    Notes
    -----
    astroquery builds ``PortalAPI.MAST_REQUEST_URL`` etc. from ``conf.server`` at import
    time and keeps column configs in a class-level dict; both are overridden on this
    instance only, so the global ``astroquery.mast.Observations`` is left untouched.
    """
    # imported here: astroquery.mast takes seconds to import, and only queries need it
    from astroquery.mast import ObservationsClass
    from astroquery.mast import conf as mast_conf

    server = (server or DEFAULT_SERVER).rstrip("/")
    with mast_conf.set_temp("server", server):
        obs = ObservationsClass()  # MastAuth reads conf.server when constructed
    portal = obs._portal_api_connection
    for name in ("MAST_REQUEST_URL", "COLUMNS_CONFIG_URL", "MAST_DOWNLOAD_URL", "MAST_BUNDLE_URL"):
        setattr(portal, name, _repoint(getattr(type(portal), name), server))
    portal._column_configs = {}  # the class-level cache would mix servers
    service = obs._service_api_connection
    for name in ("SERVICE_URL", "REQUEST_URL", "MISSIONS_DOWNLOAD_URL", "MAST_DOWNLOAD_URL"):
        if hasattr(type(service), name):
            setattr(service, name, _repoint(getattr(type(service), name), server))
    obs._auth_obj.SESSION_INFO_URL = _repoint(obs._auth_obj.SESSION_INFO_URL, server)
    obs._rampflow_server = server
    login(obs, token)
    return obs


def login(obs, token: str | None = None) -> bool:
    """Log ``obs`` in with ``token`` (or ``$MAST_API_TOKEN``); no-op without either.

    Uses ``Observations.login(token=...)``: astroquery sets the ``mast_token`` cookie on
    its session and checks it against ``<server>/whoami``; an invalid token raises
    astroquery's ``LoginError``. Returns whether the session is authenticated.
    """
    token = token if token is not None else os.environ.get("MAST_API_TOKEN") or None
    if not token:
        return False
    return bool(obs.login(token=token))


def _with_retries(what: str, func: Callable, retries: int, backoff: float):
    """Call ``func()``; retry on connection errors and 5xx answers from MAST."""
    attempt = 0
    while True:
        try:
            return func()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status not in RETRY_STATUSES or attempt >= retries:
                raise MastQueryError(f"{what} failed: {exc}") from exc
            err: Exception = exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            if attempt >= retries:
                raise MastQueryError(f"{what} failed after {retries} retries: {exc}") from exc
            err = exc
        delay = backoff * 2**attempt
        attempt += 1
        log.warning("%s: %s; retry %d/%d in %.1f s", what, err, attempt, retries, delay)
        time.sleep(delay)


def _str(value) -> str:
    """A value of an astroquery table row as a string ("" for None or a masked value)."""
    if value is None or value is np.ma.masked:
        return ""
    return str(value)


def _colnames(row) -> list[str]:
    """Column names of a table row, or keys of a mapping."""
    return list(getattr(row, "colnames", None) or row.keys())


def _expected_checksum(row) -> tuple[str, str] | None:
    """(algorithm, hex digest) reported for this product, if its table carries one."""
    names = getattr(row, "colnames", None) or list(row.keys())
    for col in CHECKSUM_COLUMNS:
        if col in names:
            value = _str(row[col]).strip().lower()
            if not value:
                continue
            if ":" in value:
                algo, digest = value.split(":", 1)
            else:
                algo = "sha256" if len(value) == 64 or col == "sha256" else "md5"
                digest = value
            return algo, digest
    return None


def _int_or_none(value) -> int | None:
    """A positive integer from a table value or header, else None."""
    try:
        v = int(_str(value))
    except ValueError:
        return None
    return v if v > 0 else None
