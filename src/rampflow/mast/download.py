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
    _expected_checksum,
    _int_or_none,
    _repoint,
    _Retryable,
    _str,
    log,
    login,
    observations_client,
)
from .manifest import _file_digest, manifest_entry, write_manifest


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


def _progress_step(total: int | None) -> int:
    """Bytes between two progress lines: a tenth of the file, between 1 MB and 256 MB."""
    return min(max((total or 0) // 10, 1 << 20), 256 << 20)


def _progress(done: int, total: int | None) -> str:
    """``12.6 of 125.8 MB (10%)``."""
    if not total:
        return f"{done / 1e6:.1f} MB of ?"
    return f"{done / 1e6:.1f} of {total / 1e6:.1f} MB ({100 * done / total:.0f}%)"


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
                step = _progress_step(total or size)
                done, next_report = have, have + step
                with open(part, mode) as f:
                    for block in _blocks(r, chunk_size):
                        f.write(block)
                        done += len(block)
                        if done >= next_report:
                            log.info("%s: %s", dest.name, _progress(done, total))
                            next_report += step
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


def download_file(session: requests.Session, url: str, dest: str | os.PathLike, *,
                  size: int | None = None, checksum: tuple[str, str] | None = None,
                  retries: int = 4, backoff: float = 1.0, timeout: float = 120.0,
                  verify_size: bool = True) -> tuple[str, bool]:
    """Fetch one file from ``url`` to ``dest`` unless a verified copy is already there.

    Returns (MD5 of the file, whether it was fetched). A file already at ``dest`` with the
    reported ``size`` (and ``checksum``, an (algorithm, hex digest) pair, when given) is
    kept and nothing is requested. Otherwise the file is streamed to ``<dest>.part``, which
    a ``Range`` request continues (also a ``.part`` left by an interrupted run), retried
    and verified as :func:`download` describes, then moved onto ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and _complete(dest, size, checksum, verify_size):
        log.info("%s: already here and verified (%d bytes); nothing fetched", dest.name, dest.stat().st_size)
        return _file_digest(dest), False
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    log.info("%s: downloading %s bytes from %s%s", dest.name, size or "?", url,
             f" (resuming a {have}-byte partial file)" if have else "")
    md5 = _download_one(session, url, dest, size=size, checksum=checksum, retries=retries,
                        backoff=backoff, timeout=timeout, verify_size=verify_size)
    log.info("%s: complete and verified (%d bytes, md5 %s)", dest.name, dest.stat().st_size, md5)
    return md5, True


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
    into ``dest_dir``, one after the other; return the local paths in the order given.
    (The workflow fetches each file in its own job with :func:`download_file`.)

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
    rows = list(products)
    paths: list[Path] = []
    entries: list[dict] = []
    for k, row in enumerate(rows, 1):
        name = os.path.basename(_str(row["productFilename"]) or _str(row["dataURI"]))
        dest = dest_dir / name
        size = _int_or_none(row["size"]) if "size" in _colnames(row) else None
        log.info("[%d/%d] %s", k, len(rows), name)
        md5, _ = download_file(obs._session, download_url(_str(row["dataURI"]), observations=obs), dest,
                               size=size, checksum=_expected_checksum(row), retries=retries,
                               backoff=backoff, timeout=timeout, verify_size=verify_size)
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
