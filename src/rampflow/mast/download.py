"""Per-file download from MAST, resumable and verified.

Files are fetched from the URL astroquery builds for ``Observations.download_file``
(:func:`download_url`) through the client's :class:`requests.Session` (so the ``mast_token``
cookie and astroquery's User-Agent go along), streamed to ``<name>.part``, continued with an
HTTP ``Range`` request after a dropped connection, retried with exponential backoff on
connection errors and 5xx answers, verified (size, and a checksum where the product table
carries one), then moved onto the final name with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from astropy.table import Table

from .client import (
    DEFAULT_SERVER,
    RETRY_STATUSES,
    ChecksumMismatch,
    DownloadError,
    _colnames,
    _repoint,
    _Retryable,
    _str,
    log,
    login,
    observations_client,
)
from .manifest import _file_digest, manifest_entry, write_manifest

#: product-table columns that, where present, carry a checksum of the file
CHECKSUM_COLUMNS = ("md5", "md5sum", "checksum", "sha256")


def download_url(uri: str, server: str | None = None, *, observations=None) -> str:
    """The URL astroquery's ``Observations.download_file`` fetches for ``uri``.

    ``<PortalAPI.MAST_DOWNLOAD_URL>?uri=<uri quoted with safe=":/">``, i.e. for the real
    MAST ``https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:JWST/product/<file>``.
    """
    # imported here: astroquery takes seconds to import, and only queries need it
    from astroquery.mast.discovery_portal import PortalAPI

    if observations is not None:
        base = observations._portal_api_connection.MAST_DOWNLOAD_URL
    else:
        base = _repoint(PortalAPI.MAST_DOWNLOAD_URL, server or DEFAULT_SERVER)
    return base + "?uri=" + quote(uri, safe=":/")


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


def _content_range_total(header: str | None) -> int | None:
    """The total size of a ``Content-Range`` header (``bytes a-b/total``), or None."""
    if not header:
        return None
    m = re.match(r"bytes\s+(?:\d+-\d+|\*)/(\d+)", header.strip())
    return int(m.group(1)) if m else None


def _content_range_start(header: str | None) -> int | None:
    """The first byte of a ``Content-Range`` header, or None."""
    m = re.match(r"bytes\s+(\d+)-\d+/", (header or "").strip())
    return int(m.group(1)) if m else None


def _fail(part: Path, message: str, exc_type=ChecksumMismatch):
    """Delete the partial file ``part`` and raise ``exc_type(message)``."""
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    raise exc_type(message)


def _blocks(response: requests.Response, chunk_size: int):
    """The body in blocks, each written out before the next read.

    ``iter_content`` reads whole ``chunk_size`` blocks, so a connection dropped mid-block
    loses what had arrived of it; urllib3's ``read1`` hands over whatever arrived, so the
    ``.part`` file keeps every byte received before the drop.
    """
    raw = response.raw
    if not hasattr(raw, "read1"):  # urllib3 < 2
        yield from response.iter_content(chunk_size)
        return
    while True:
        block = raw.read1(chunk_size, decode_content=True)
        if not block:
            return
        yield block


def _download_one(session: requests.Session, url: str, dest: Path, *, size: int | None,
                  checksum: tuple[str, str] | None, retries: int, backoff: float,
                  timeout: float, verify_size: bool, chunk_size: int = 1 << 20) -> str:
    """Stream ``url`` to ``dest`` through ``dest.part``; return the file's MD5."""
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size and have > size:
            part.unlink()
            have = 0
        # identity encoding: sizes and byte ranges then refer to the file itself
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout) as r:
                if r.status_code == 416 and have:
                    total = _content_range_total(r.headers.get("Content-Range"))
                    if total == have:
                        break  # the .part already holds the whole file
                    part.unlink()
                    raise _Retryable(f"HTTP 416 for a {have}-byte partial file")
                if r.status_code in RETRY_STATUSES:
                    raise _Retryable(f"HTTP {r.status_code} {r.reason}")
                if r.status_code in (401, 403):
                    raise DownloadError(
                        f"{dest.name}: HTTP {r.status_code} {r.reason} from {url}; exclusive-access "
                        "data needs a MAST token ($MAST_API_TOKEN or token=)")
                if r.status_code >= 400:
                    raise DownloadError(f"{dest.name}: HTTP {r.status_code} {r.reason} from {url}")
                if r.status_code == 206:
                    if _content_range_start(r.headers.get("Content-Range")) != have:
                        part.unlink(missing_ok=True)
                        raise _Retryable(f"HTTP 206 for another range than bytes={have}-")
                    mode = "ab"
                    total = _content_range_total(r.headers.get("Content-Range"))
                    if have:
                        log.info("%s: resuming at byte %d", dest.name, have)
                else:
                    mode, have = "wb", 0
                    total = _int_or_none(r.headers.get("Content-Length"))
                if verify_size and size and total and total != size:
                    _fail(part, f"{dest.name}: server offers {total} bytes but MAST reports "
                                f"size={size}; nothing kept")
                done, next_report = have, have + (256 << 20)
                with open(part, mode) as f:
                    for block in _blocks(r, chunk_size):
                        f.write(block)
                        done += len(block)
                        if done >= next_report:
                            log.info("%s: %.0f of %s MB", dest.name, done / 1e6,
                                     f"{total / 1e6:.0f}" if total else "?")
                            next_report += 256 << 20
            got = part.stat().st_size
            expected = total or size
            if expected and got < expected:
                raise _Retryable(f"stream ended at byte {got} of {expected}")
            break
        except (_Retryable, requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError,
                http.client.HTTPException, ConnectionError) as exc:
            if attempt >= retries:
                kept = (f" (partial data kept in {part.name} for a later resume)"
                        if part.exists() else "")
                raise DownloadError(f"{dest.name}: giving up after {retries} retries: "
                                    f"{exc}{kept}") from exc
            delay = backoff * 2**attempt
            attempt += 1
            log.warning("%s: %s; retry %d/%d in %.1f s", dest.name, exc, attempt, retries, delay)
            time.sleep(delay)

    got = part.stat().st_size
    if verify_size and size and got != size:
        _fail(part, f"{dest.name}: downloaded {got} bytes but MAST reports size={size}; "
                    "nothing kept")
    md5 = _file_digest(part, "md5")
    if checksum is not None:
        algo, want = checksum
        have_digest = md5 if algo == "md5" else _file_digest(part, algo)
        if have_digest != want:
            _fail(part, f"{dest.name}: {algo} checksum {have_digest} does not match the "
                        f"{want} MAST reports; nothing kept")
    os.replace(part, dest)
    return md5


def download(
    products: Table | Iterable[Mapping[str, Any]],
    dest_dir: str | os.PathLike,
    *,
    token: str | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    server: str | None = None,
    observations=None,
    timeout: float = 120.0,
    verify_size: bool = True,
    manifest_path: str | os.PathLike | None = None,
) -> list[Path]:
    """Download ``products`` (rows with ``dataURI``, ``productFilename``, ``size``) flat
    into ``dest_dir``; return the local paths in the order given.

    Each file is streamed to ``<name>.part``, continued with an HTTP ``Range`` request
    after a dropped connection (also across runs: a ``.part`` left by an interrupted run
    is resumed), retried ``retries`` times with exponential backoff (``backoff``,
    ``2*backoff``, ...) on connection errors, timeouts and 429/5xx answers, verified,
    and moved onto its final name with ``os.replace`` (so a file under its final name is
    always complete). A file already present with the reported size (and checksum, if
    one is reported) is not fetched again.

    Verification: the size reported in the product table (``size``; skip with
    ``verify_size=False`` should MAST report a stale size) and, where the table has one,
    a checksum column (see :data:`CHECKSUM_COLUMNS`; the CAOM product table of
    astroquery 0.4.11 has none). On a mismatch the partial file is deleted and
    :class:`ChecksumMismatch` is raised naming the file; 401/403/404 raise
    :class:`DownloadError` at once.

    ``token`` (or ``$MAST_API_TOKEN``) logs the session in for exclusive-access data.
    With ``manifest_path`` a manifest of the files (see :func:`write_manifest`) is
    written once every file is in place.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    obs = observations if observations is not None else observations_client(server, token)
    if observations is not None and token:
        login(obs, token)
    session = obs._session
    rows = list(products)
    paths: list[Path] = []
    entries: list[dict] = []
    for k, row in enumerate(rows, 1):
        name = os.path.basename(_str(row["productFilename"]) or _str(row["dataURI"]))
        dest = dest_dir / name
        size = _int_or_none(row["size"]) if "size" in _colnames(row) else None
        checksum = _expected_checksum(row)
        url = download_url(_str(row["dataURI"]), observations=obs)
        if dest.exists() and _complete(dest, size, checksum, verify_size):
            log.info("[%d/%d] %s: already here", k, len(rows), name)
            md5 = _file_digest(dest)
        else:
            log.info("[%d/%d] %s: downloading %s bytes", k, len(rows), name, size or "?")
            md5 = _download_one(session, url, dest, size=size, checksum=checksum,
                                retries=retries, backoff=backoff, timeout=timeout,
                                verify_size=verify_size)
        paths.append(dest)
        entries.append(manifest_entry(row, dest, md5=md5))
    if manifest_path is not None:
        write_manifest(manifest_path, entries, server=getattr(obs, "_rampflow_server", server))
    return paths


def _complete(path: Path, size, checksum, verify_size: bool) -> bool:
    """Whether a file already at ``path`` has the reported size (and checksum, if one is given)."""
    if verify_size and size and path.stat().st_size != size:
        return False
    if checksum is not None:
        algo, want = checksum
        return _file_digest(path, algo) == want
    return bool(size) or not verify_size
