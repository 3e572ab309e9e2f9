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
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fnmatch
import hashlib
import http.client
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import requests
import urllib3
from astropy.table import Column, Table

__all__ = [
    "DEFAULT_SERVER",
    "OPTION_KEYS",
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
    "fetch",
    "manifest_entry",
    "write_manifest",
    "read_manifest",
    "manifest_stems",
]

log = logging.getLogger("rampflow.mast")

#: the real MAST portal (astroquery's default ``astroquery.mast.conf.server``)
DEFAULT_SERVER = "https://mast.stsci.edu"

#: keys of ``inputs.mast`` that are options of ours; every other key is a CAOM criterion
#: handed to ``Observations.query_criteria`` (proposal_id, instrument_name, filters, ...)
OPTION_KEYS = frozenset(
    {"server", "include_ta", "exposure_filter", "detectors", "segments",
     "retries", "backoff", "timeout", "verify_size", "data_dir"}
)

#: product-table columns that, where present, carry a checksum of the file
CHECKSUM_COLUMNS = ("md5", "md5sum", "checksum", "sha256")

#: observations per product-list request (MAST advises small batches for JWST)
PRODUCT_BATCH = 5

#: HTTP statuses worth retrying (server busy or failing, not the request's fault)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: JWST EXP_TYPEs of target acquisition and TA confirmation exposures
TA_EXP_TYPE = re.compile(r"(TACQ|TACONFIRM|WATA|MSATA|_CONFIRM)$", re.IGNORECASE)

#: JWST exposure file name: jw<program 5><observation 3><visit 3>_<visit group 2><parallel
#: sequence 1><activity 2>_<exposure 5>[-seg<segment 3>]_<detector>_<suffix>.fits
_FILENAME = re.compile(
    r"^(?P<visit>jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit_number>\d{3}))"
    r"_(?P<visit_group>\d{2})(?P<parallel>\d)(?P<activity>\d{2})"
    r"_(?P<exposure>\d{5})(?:-seg(?P<segment>\d{3}))?"
    r"_(?P<detector>[a-z0-9]+?)(?:_(?P<suffix>[a-z0-9_]+))?\.fits$",
    re.IGNORECASE,
)

_MANIFEST_VERSION = 1


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


# --------------------------------------------------------------------------- client


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


# --------------------------------------------------------------------------- config


def split_config(mast_cfg: Mapping[str, Any]) -> tuple[dict, dict]:
    """Split ``inputs.mast`` into (CAOM criteria, our options).

    Every key in :data:`OPTION_KEYS` is an option; all others are criteria passed to
    ``Observations.query_criteria`` unchanged (so a misspelled criterion is reported by
    astroquery with the closest valid column name).
    """
    criteria = {k: v for k, v in mast_cfg.items() if k not in OPTION_KEYS and v is not None}
    options = {k: v for k, v in mast_cfg.items() if k in OPTION_KEYS}
    return criteria, options


def _describe(criteria: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in criteria.items()) or "(no criteria)"


# --------------------------------------------------------------------------- names


def parse_filename(filename: str) -> dict | None:
    """Fields of a JWST exposure file name, or ``None`` if it is not one.

    >>> parse_filename("jw01366003001_04101_00001-seg002_nrs1_uncal.fits")["segment"]
    2

    Keys: stem (name without ``_<suffix>.fits``), visit (``jw01366003001``), program,
    observation, visit_number, visit_group, parallel, activity, exposure (ints),
    segment (int, 0 when unsegmented), detector (lower case), suffix.
    """
    m = _FILENAME.match(os.path.basename(str(filename)))
    if not m:
        return None
    d = m.groupdict()
    out: dict[str, Any] = {"visit": d["visit"].lower(), "detector": d["detector"].lower(),
                           "suffix": (d["suffix"] or "").lower()}
    for key in ("program", "observation", "visit_number", "visit_group", "parallel",
                "activity", "exposure"):
        out[key] = int(d[key])
    out["segment"] = int(d["segment"]) if d["segment"] else 0
    name = os.path.basename(str(filename))
    out["stem"] = name[: -len(f"_{d['suffix']}.fits")] if d["suffix"] else name[: -len(".fits")]
    return out


def _str(value) -> str:
    if value is None or value is np.ma.masked:
        return ""
    return str(value)


# --------------------------------------------------------------------------- TA


def target_acquisition_mask(products: Table, *, extra_candidates: Iterable[str] = ()) -> np.ndarray:
    """Which products look like target-acquisition (TA / TA-confirmation) exposures.

    This is a heuristic, because MAST's CAOM product table has no EXP_TYPE column. A
    product is taken as TA when the first of these that applies says so:

    1. the table has an ``exp_type`` column (not the case for CAOM in astroquery 0.4.11)
       and its value ends in TACQ, TACONFIRM, WATA, MSATA or _CONFIRM;
    2. its ``description`` mentions "target acq" (should MAST's description say so);
    3. its file name says so by JWST naming: within one visit (``jwPPPPPOOOVVV``) a
       time-series observation's science exposures are segmented (``-segNNN``), while
       its TA exposures are short and never segmented, so an unsegmented exposure in a
       visit that has segmented ones is TA;
    4. its file name is in ``extra_candidates`` (exposures from the science visits that
       did not match the science criteria and are taken before the first science
       exposure of the visit; see :func:`query_products`).

    Rules 3-4 cannot tell a TA in a visit of unsegmented (non-TSO) exposures that also
    matches the science criteria; the authoritative check is EXP_TYPE in the file's
    primary header once downloaded.
    """
    n = len(products)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    names = [_str(x) for x in products["productFilename"]]
    parsed = [parse_filename(x) for x in names]
    segmented_visits = {p["visit"] for p in parsed if p and p["segment"]}
    extra = set(extra_candidates)
    exp_col = next((c for c in products.colnames if c.lower() == "exp_type"), None)
    for i in range(n):
        if exp_col is not None and _str(products[exp_col][i]):
            mask[i] = bool(TA_EXP_TYPE.search(_str(products[exp_col][i]).strip()))
            continue
        if "description" in products.colnames and re.search(
                r"target\s*acq", _str(products["description"][i]), re.IGNORECASE):
            mask[i] = True
            continue
        p = parsed[i]
        if p and not p["segment"] and p["visit"] in segmented_visits:
            mask[i] = True
        elif names[i] in extra:
            mask[i] = True
    return mask


# --------------------------------------------------------------------------- query


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


def _uncal_products(obs, observations: Table, retries: int, backoff: float,
                    product_types: Sequence[str] | None = ("SCIENCE",)) -> Table:
    """UNCAL products of ``observations`` of the given ``productType`` (None: any), one
    row per dataURI."""
    from astroquery.exceptions import NoResultsWarning

    from astropy.table import vstack

    # MAST's advice: ask for the products of a few observations at a time (one request for
    # many JWST observations is slow and may time out)
    tables = []
    for start in range(0, len(observations), PRODUCT_BATCH):
        batch = observations[start:start + PRODUCT_BATCH]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoResultsWarning)
            got = _with_retries("MAST product list", lambda b=batch: obs.get_product_list(b),
                                retries, backoff)
        if len(got):
            tables.append(got)
    if not tables:
        return Table()
    products = tables[0] if len(tables) == 1 else vstack(tables, join_type="outer")
    filters = {"productSubGroupDescription": "UNCAL"}
    if product_types:
        filters["productType"] = list(product_types)
    products = obs.filter_products(products, **filters)
    if len(products) == 0:
        return products
    # the same file is listed once per observation it belongs to (exposure and combined)
    _, first = np.unique(np.asarray([_str(u) for u in products["dataURI"]]), return_index=True)
    return products[np.sort(first)]


def _query(obs, criteria: dict, retries: int, backoff: float) -> Table:
    from astroquery.exceptions import NoResultsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        return _with_retries("MAST query", lambda: obs.query_criteria(**dict(criteria)),
                             retries, backoff)


def _make_filter(exposure_filter) -> Callable[[Any], bool]:
    if exposure_filter is None:
        return lambda row: True
    if callable(exposure_filter):
        return exposure_filter
    patterns = [exposure_filter] if isinstance(exposure_filter, str) else list(exposure_filter)

    def by_name(row) -> bool:
        name = _str(row["productFilename"])
        return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)

    return by_name


def query_products(
    criteria: Mapping[str, Any],
    *,
    include_ta: bool = False,
    exposure_filter: str | Sequence[str] | Callable[[Any], bool] | None = None,
    detectors: Sequence[str] | None = None,
    segments: Sequence[int] | None = None,
    server: str | None = None,
    token: str | None = None,
    observations=None,
    retries: int = 4,
    backoff: float = 1.0,
) -> Table:
    """The ``*_uncal.fits`` products of the MAST observations matching ``criteria``.

    Parameters
    ----------
    criteria : mapping
        CAOM criteria for ``Observations.query_criteria``, e.g. ``{"proposal_id":
        "1366", "instrument_name": "NIRSPEC/SLIT", "filters": "F290LP;G395H",
        "target_name": "WASP-39"}``; one value may hold a ``*`` wildcard (e.g.
        ``obs_id="jw01366003001*"``). Columns are those of
        ``Observations.get_metadata("observations")``; there is no EXP_TYPE there.
    include_ta : bool
        Keep target-acquisition exposures (default: drop them). A TA exposure is taken in
        its own mode (a NIRSpec WATA image is not a G395H spectrum), so MAST may catalogue
        it under another ``instrument_name``/``filters`` than the science, and criteria
        that select the science can miss it. With True, the visits of the science
        exposures are therefore also searched by ``obs_id`` pattern (``jwPPPPPOOOVVV_*``,
        keeping only ``obs_collection``/``proposal_id`` of the criteria), and exposures of
        those visits taken before the first science exposure that did not match the
        criteria are added as TA (whatever their ``productType``: how MAST types a TA
        file is not documented). Which products are TA is a heuristic; see
        :func:`target_acquisition_mask`.
    exposure_filter : str, list of str or callable, optional
        Glob pattern(s) on ``productFilename`` (e.g. ``"*_nrs1_uncal.fits"``), or a
        callable taking a product row and returning whether to keep it.
    detectors : list of str, optional
        Keep only these detectors (file-name detector, e.g. ``["nrs1", "nrs2"]``).
    segments : list of int, optional
        Keep only these segments of segmented (TSO) exposures; TA is never filtered by
        segment.
    server, token, observations
        Server and token for :func:`observations_client`, or a ready client (which is
        then logged in with ``token`` if one is given).
    retries, backoff
        Retries (exponential backoff from ``backoff`` seconds) on connection errors and
        5xx answers.

    Returns
    -------
    astropy.table.Table
        astroquery's product rows (``dataURI``, ``productFilename``, ``size``,
        ``obs_id``, ...) sorted by file name, plus ``stem``, ``detector``, ``segment``
        (0 if unsegmented) and ``is_ta`` columns.

    Raises
    ------
    NoProductsFound
        Nothing matched (the message names the criteria and the server).
    """
    criteria = {k: v for k, v in dict(criteria).items() if v is not None}
    if not criteria:
        raise MastQueryError("MAST query needs at least one criterion (e.g. proposal_id)")
    obs = observations if observations is not None else observations_client(server, token)
    if observations is not None and token:
        login(obs, token)
    where = getattr(obs, "_rampflow_server", server or DEFAULT_SERVER)

    found = _query(obs, criteria, retries, backoff)
    if len(found) == 0:
        raise NoProductsFound(f"MAST query found no observations for {_describe(criteria)} "
                              f"on {where}")
    products = _uncal_products(obs, found, retries, backoff)
    if len(products) == 0:
        raise NoProductsFound(
            f"MAST query found {len(found)} observation(s) for {_describe(criteria)} on "
            f"{where}, but no SCIENCE products with productSubGroupDescription 'UNCAL' "
            "(exclusive-access data needs a MAST token)")

    extra_ta: list[str] = []
    if include_ta:
        products, extra_ta = _add_visit_mates(obs, criteria, products, retries, backoff)

    products = Table(products, masked=True)
    names = [_str(x) for x in products["productFilename"]]
    parsed = [parse_filename(x) or {} for x in names]
    products["stem"] = Column([p.get("stem", n.rsplit(".", 1)[0]) for p, n in zip(parsed, names)],
                              dtype=str)
    products["detector"] = Column([p.get("detector", "") for p in parsed], dtype=str)
    products["segment"] = Column([p.get("segment", 0) for p in parsed], dtype=int)
    products["is_ta"] = Column(target_acquisition_mask(products, extra_candidates=extra_ta),
                               dtype=bool)

    keep = _make_filter(exposure_filter)
    dets = {d.lower() for d in detectors} if detectors else None
    segs = {int(s) for s in segments} if segments else None
    mask = np.zeros(len(products), dtype=bool)
    for i, row in enumerate(products):
        if row["is_ta"] and not include_ta:
            continue
        if dets is not None and row["detector"] not in dets:
            continue
        if segs is not None and not row["is_ta"] and row["segment"] and row["segment"] not in segs:
            continue
        mask[i] = bool(keep(row))
    products = products[mask]
    if len(products) == 0:
        raise NoProductsFound(
            f"MAST query for {_describe(criteria)} on {where} found UNCAL products, but none "
            f"passed the selection (include_ta={include_ta}, exposure_filter={exposure_filter!r}, "
            f"detectors={detectors!r}, segments={segments!r})")
    products.sort("productFilename")
    log.info("MAST: %d uncal product(s) for %s (%d TA)", len(products), _describe(criteria),
             int(np.sum(products["is_ta"])))
    return products


def _add_visit_mates(obs, criteria, products, retries, backoff):
    """Add exposures of the science visits that precede the science and match nothing else."""
    from astropy.table import vstack

    science = [parse_filename(_str(x)) for x in products["productFilename"]]
    first: dict[str, tuple] = {}
    for p in science:
        if p:
            key = (p["visit_group"], p["parallel"], p["activity"], p["exposure"])
            first[p["visit"]] = min(first.get(p["visit"], key), key)
    have = {_str(u) for u in products["dataURI"]}
    base = {k: criteria[k] for k in ("obs_collection", "proposal_id") if k in criteria}
    extra: list[Table] = []
    extra_names: list[str] = []
    for visit in sorted(first):
        try:
            found = _query(obs, {**base, "obs_id": f"{visit}_*"}, retries, backoff)
        except MastQueryError as exc:
            log.warning("MAST: TA search of visit %s failed: %s", visit, exc)
            continue
        if len(found) == 0:
            continue
        # any productType: how MAST types a TA exposure's uncal file is not documented
        mates = _uncal_products(obs, found, retries, backoff, product_types=None)
        take = []
        for i, row in enumerate(mates):
            p = parse_filename(_str(row["productFilename"]))
            if _str(row["dataURI"]) in have or not p or p["visit"] != visit:
                continue
            if (p["visit_group"], p["parallel"], p["activity"], p["exposure"]) < first[visit]:
                take.append(i)
                extra_names.append(_str(row["productFilename"]))
                have.add(_str(row["dataURI"]))
        if take:
            extra.append(Table(mates[take], masked=True))
    if extra:
        products = vstack([Table(products, masked=True), *extra], join_type="outer")
    return products, extra_names


# --------------------------------------------------------------------------- download


def download_url(uri: str, server: str | None = None, *, observations=None) -> str:
    """The URL astroquery's ``Observations.download_file`` fetches for ``uri``.

    ``<PortalAPI.MAST_DOWNLOAD_URL>?uri=<uri quoted with safe=":/">``, i.e. for the real
    MAST ``https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:JWST/product/<file>``.
    """
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


def _file_digest(path: Path, algo: str = "md5", chunk: int = 1 << 22) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _int_or_none(value) -> int | None:
    try:
        v = int(_str(value))
    except ValueError:
        return None
    return v if v > 0 else None


def _content_range_total(header: str | None) -> int | None:
    if not header:
        return None
    m = re.match(r"bytes\s+(?:\d+-\d+|\*)/(\d+)", header.strip())
    return int(m.group(1)) if m else None


def _content_range_start(header: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+)-\d+/", (header or "").strip())
    return int(m.group(1)) if m else None


def _fail(part: Path, message: str, exc_type=ChecksumMismatch):
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


def _colnames(row) -> list[str]:
    return list(getattr(row, "colnames", None) or row.keys())


def _complete(path: Path, size, checksum, verify_size: bool) -> bool:
    if verify_size and size and path.stat().st_size != size:
        return False
    if checksum is not None:
        algo, want = checksum
        return _file_digest(path, algo) == want
    return bool(size) or not verify_size


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


# --------------------------------------------------------------------------- manifest


def manifest_entry(row, path: str | os.PathLike, *, md5: str | None = None) -> dict:
    """One manifest record for a downloaded product ``row`` stored at ``path``."""
    path = Path(path)
    names = _colnames(row)
    p = parse_filename(path.name) or {}
    get = (lambda c, default="": _str(row[c]) if c in names else default)
    is_ta = bool(row["is_ta"]) if "is_ta" in names else False
    return {
        "filename": path.name,
        "stem": p.get("stem", path.name.rsplit(".", 1)[0]),
        "size": path.stat().st_size,
        "md5": md5 if md5 is not None else _file_digest(path),
        "obs_id": get("obs_id"),
        "detector": p.get("detector", ""),
        "segment": int(p.get("segment", 0)),
        "is_ta": is_ta,
        "dataURI": get("dataURI"),
    }


def write_manifest(path: str | os.PathLike, entries: Sequence[Mapping[str, Any]],
                   **meta: Any) -> Path:
    """Write the download manifest (JSON) atomically; extra ``meta`` goes in its header.

    Layout: ``{"version": 1, "created": <UTC ISO time>, **meta, "files": [entry, ...]}``
    with entries as made by :func:`manifest_entry` (filename, stem, size, md5, obs_id,
    detector, segment, is_ta, dataURI), sorted by file name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": _MANIFEST_VERSION,
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           **{k: v for k, v in meta.items() if v is not None},
           "files": sorted((dict(e) for e in entries), key=lambda e: e["filename"])}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest written by :func:`write_manifest` (checks its version and fields)."""
    doc = json.loads(Path(path).read_text())
    if doc.get("version") != _MANIFEST_VERSION:
        raise ValueError(f"{path}: unsupported manifest version {doc.get('version')!r}")
    for i, e in enumerate(doc.get("files", [])):
        missing = {"filename", "stem", "size", "md5", "detector", "segment"} - set(e)
        if missing:
            raise ValueError(f"{path}: files[{i}] lacks {sorted(missing)}")
    return doc


def manifest_stems(path: str | os.PathLike, *, include_ta: bool = False) -> list[str]:
    """Exposure stems listed in the manifest (e.g. for a Snakemake checkpoint to expand).

    TA exposures are left out unless ``include_ta``: they are downloaded for reference
    but are not ramps to run through the TSO chain.
    """
    files = read_manifest(path)["files"]
    return [e["stem"] for e in files if include_ta or not e.get("is_ta", False)]
