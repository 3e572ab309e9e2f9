"""A small stand-in for the MAST portal, served on 127.0.0.1, for driving astroquery offline.

It answers the requests astroquery 0.4.11's ``astroquery.mast.Observations`` makes, on the
same paths and with the same JSON shapes as the real service:

- ``POST /portal/Mashup/Mashup.asmx/columnsconfig`` (form ``colConfigId=<name>``): the
  column configuration astroquery fetches once per service before querying it
  (``Mast.Caom.Cone``, from which ``query_criteria`` builds its filter set and which it
  keeps for ``Mast.Caom.Filtered``; ``Mast.Caom.Products`` before the product list): a
  JSON object of column name -> properties (``vot.datatype``, ``separator``, ...).
- ``POST /api/v0/invoke`` (form ``request=<url-encoded JSON mashup request>``): services
  ``Mast.Caom.Filtered`` (filters: discrete ``values``, ``freeText`` with ``%``
  wildcards, continuous ``{"min", "max"}``, ``separator``-split columns) and
  ``Mast.Caom.Products`` (``params.obsid`` = comma-separated product group ids), answered
  as ``{"status": "COMPLETE", "msg": "", "data": [...], "fields": [{"name", "type"}],
  "paging": {...}}`` with real paging over ``pagesize``/``page``.
- ``GET /whoami``: the session info astroquery checks after ``login``: ``{"anon": false,
  "attrib": {...}}`` when the ``mast_token`` cookie holds a known token.
- ``GET``/``HEAD /api/v0.1/Download/file?uri=<dataURI>``: the file, with
  ``Content-Length``, ``Accept-Ranges: bytes`` and single-range ``Range`` support (206
  with ``Content-Range``; 416 past the end); 401 for exclusive-access files without a
  valid token.

Faults to inject: :meth:`FakeMast.fail` (answer e.g. 503 a few times), :meth:`drop_after`
(close the connection after N bytes of a file), :meth:`corrupt` (serve wrong bytes),
:meth:`slow` (hold a file's answer for a while, as a busy server does, so that concurrent
downloads overlap), and ``empty_results`` (every query finds nothing). The most downloads
served at once is kept in ``max_active_downloads``. Every request is logged in
``requests`` (method, path, query, headers, cookies, form).

The product table has the columns of the real ``Mast.Caom.Products`` service, which
carry a ``size`` but no checksum; ``FakeMast(report_md5=True)`` adds an ``md5`` column
(not something real MAST sends) to exercise checksum verification.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from netfence import NetworkBlocked, loopback_only  # noqa: F401  (the fence, re-exported for test modules)

# --------------------------------------------------------------------------- column configs


def _col(text, datatype, **extra):
    return {"text": text, "vot.datatype": datatype, "vot.arraysize": "*" if datatype == "char" else None,
            "vot.description": text, **{k: v for k, v in extra.items()}}


#: CAOM observation columns: (name, vot.datatype, JSON field type, extra properties)
CAOM_COLUMNS = [
    ("intentType", "char", "string", {}),
    ("obs_collection", "char", "string", {"separator": ";"}),
    ("provenance_name", "char", "string", {}),
    ("instrument_name", "char", "string", {}),
    ("project", "char", "string", {}),
    ("filters", "char", "string", {"separator": ";", "separatorType": "split"}),
    ("wavelength_region", "char", "string", {"separator": ";"}),
    ("target_name", "char", "string", {}),
    ("target_classification", "char", "string", {"separator": ";"}),
    ("obs_id", "char", "string", {}),
    ("s_ra", "double", "float", {}),
    ("s_dec", "double", "float", {}),
    ("dataproduct_type", "char", "string", {}),
    ("proposal_pi", "char", "string", {}),
    ("calib_level", "int", "int", {}),
    ("t_min", "double", "float", {"isMjd": True}),
    ("t_max", "double", "float", {"isMjd": True}),
    ("t_exptime", "double", "float", {}),
    ("em_min", "double", "float", {}),
    ("em_max", "double", "float", {}),
    ("obs_title", "char", "string", {}),
    ("t_obs_release", "double", "float", {"isMjd": True}),
    ("proposal_id", "char", "string", {}),
    ("proposal_type", "char", "string", {}),
    ("sequence_number", "int", "int", {}),
    ("s_region", "char", "string", {}),
    ("jpegURL", "char", "string", {}),
    ("dataURL", "char", "string", {}),
    ("dataRights", "char", "string", {}),
    ("mtFlag", "boolean", "boolean", {}),
    ("srcDen", "double", "float", {}),
    ("obsid", "long", "string", {}),
    ("objID", "long", "string", {}),
]

#: Mast.Caom.Products columns as the real service returns them (no checksum column)
PRODUCT_COLUMNS = [
    ("obsID", "string"), ("obs_collection", "string"), ("dataproduct_type", "string"),
    ("obs_id", "string"), ("description", "string"), ("type", "string"),
    ("dataURI", "string"), ("productType", "string"), ("productGroupDescription", "string"),
    ("productSubGroupDescription", "string"), ("productDocumentationURL", "string"),
    ("project", "string"), ("prvversion", "string"), ("proposal_id", "string"),
    ("productFilename", "string"), ("size", "int"), ("parent_obsid", "string"),
    ("dataRights", "string"), ("calib_level", "int"), ("filters", "string"),
]

_JSON_DEFAULT = {"string": "", "float": None, "int": None, "boolean": None}


def _caom_config():
    cfg = {"_selected_": {"text": "selected", "add": True, "type": "boolean", "hidden": True}}
    for name, dtype, _, extra in CAOM_COLUMNS:
        entry = _col(name, dtype, **extra)
        cfg[name] = {k: v for k, v in entry.items() if v is not None}
    return cfg


def _products_config():
    cfg = {}
    for name, jtype in PRODUCT_COLUMNS:
        cfg[name] = {"text": name, "vot.datatype": {"string": "char", "int": "long"}.get(jtype, jtype)}
    return cfg


# --------------------------------------------------------------------------- state


@dataclass
class _File:
    data: bytes
    exclusive: bool = False


@dataclass
class _Fault:
    kind: str  # "status", "drop", "corrupt"
    endpoint: str = "download"  # "download", "invoke", "columnsconfig", "any"
    filename: str | None = None
    times: int | None = 1  # None = forever
    status: int = 503
    nbytes: int = 0
    mode: str = "flip"
    seconds: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    cookies: dict
    form: dict = field(default_factory=dict)

    @property
    def service(self) -> str | None:
        req = self.form.get("request")
        return json.loads(req)["service"] if req else None


class FakeMast:
    """The fake MAST portal. ``start()`` binds 127.0.0.1 on a free port; ``url`` is the
    base URL to give astroquery (``rampflow.mast.observations_client(server=url)``)."""

    def __init__(self, *, report_md5: bool = False, tokens=("good-token",)):
        self.report_md5 = report_md5
        self.tokens = set(tokens)
        self.observations: list[dict] = []
        self.products: list[dict] = []
        self.files: dict[str, _File] = {}  # dataURI -> file
        self.faults: list[_Fault] = []
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []  # unexpected exceptions in request handlers
        self.empty_results = False
        self.active_downloads = 0
        self.max_active_downloads = 0
        self._lock = threading.Lock()
        self._next_obsid = 87600000
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- content

    def add_observation(self, obs_id: str, **fields) -> str:
        """Add a CAOM observation row; returns its product group id (``obsid``)."""
        with self._lock:
            self._next_obsid += 1
            obsid = str(self._next_obsid)
        row = {name: _JSON_DEFAULT[jtype] for name, _, jtype, _ in CAOM_COLUMNS}
        row.update({"intentType": "science", "obs_collection": "JWST", "provenance_name": "CALJWST",
                    "project": "JWST", "wavelength_region": "INFRARED", "dataRights": "PUBLIC",
                    "mtFlag": False, "calib_level": 3, "dataproduct_type": "image"})
        row.update(fields)
        row.update({"obs_id": obs_id, "obsid": obsid, "objID": str(int(obsid) + 1000000)})
        self.observations.append(row)
        return obsid

    def add_product(self, filename: str, data: bytes, *, parents, obs_id: str,
                    exclusive: bool = False, **fields) -> str:
        """Add a file as a product of each observation in ``parents`` (product group ids;
        the first is the file's own observation). Returns its dataURI."""
        uri = f"mast:JWST/product/{filename}"
        self.files[uri] = _File(bytes(data), exclusive)
        parents = [parents] if isinstance(parents, str) else list(parents)
        for parent in parents:
            row = {name: _JSON_DEFAULT[jtype] for name, jtype in PRODUCT_COLUMNS}
            row.update({"obsID": parents[0], "obs_collection": "JWST", "dataproduct_type": "image",
                        "obs_id": obs_id, "description": "exposure (L1b): Uncalibrated exposure data",
                        "type": "S", "dataURI": uri, "productType": "SCIENCE",
                        "productSubGroupDescription": "UNCAL", "project": "CALJWST",
                        "prvversion": "1.18.0", "productFilename": filename, "size": len(data),
                        "parent_obsid": parent, "dataRights": "EXCLUSIVE_ACCESS" if exclusive else "PUBLIC",
                        "calib_level": 1})
            row.update(fields)
            self.products.append(row)
        return uri

    def add_jwst_exposures(self, files: dict[str, bytes], *, level3_obs_id: str, ta_files=(),
                           ta_in_level3: bool = False, exclusive: bool = False,
                           ta_product_type: str = "SCIENCE", **obs_fields) -> dict:
        """Add a JWST observation as MAST catalogues it: one combined (calib_level 3)
        observation whose product list holds every member exposure, and one level-2
        observation per exposure holding its own file.

        ``ta_files`` (name -> bytes) are target-acquisition exposures: each gets its own
        level-2 observation in an imaging mode (``instrument_name`` with ``/IMAGE``, the
        filter ``F140X``), and is a member of the combined observation only with
        ``ta_in_level3``; its ``productType`` is ``ta_product_type``. Returns
        {filename: dataURI}.
        """
        l3 = self.add_observation(level3_obs_id, calib_level=3, **obs_fields)
        uris = {}
        for name, data in files.items():
            stem = name.rsplit("_", 1)[0]
            l2 = self.add_observation(stem, calib_level=2, **obs_fields)
            uris[name] = self.add_product(name, data, parents=[l2, l3], obs_id=stem,
                                          exclusive=exclusive, filters=obs_fields.get("filters"),
                                          proposal_id=obs_fields.get("proposal_id"))
        ta_fields = dict(obs_fields)
        ta_fields["instrument_name"] = obs_fields.get("instrument_name", "NIRSPEC").split("/")[0] + "/IMAGE"
        ta_fields["filters"] = "F140X"
        for name, data in dict(ta_files).items():
            stem = name.rsplit("_", 1)[0]
            l2 = self.add_observation(stem, calib_level=2, **ta_fields)
            parents = [l2, l3] if ta_in_level3 else [l2]
            uris[name] = self.add_product(name, data, parents=parents, obs_id=stem, exclusive=exclusive,
                                          filters="F140X", proposal_id=obs_fields.get("proposal_id"),
                                          productType=ta_product_type)
        return uris

    # ----------------------------------------------------------------- faults

    def fail(self, status: int = 503, times: int | None = 1, *, endpoint: str = "download",
             filename: str | None = None):
        """Answer the next ``times`` matching requests with ``status``."""
        self.faults.append(_Fault("status", endpoint, filename, times, status=status))

    def drop_after(self, filename: str, nbytes: int, times: int | None = 1):
        """Send only ``nbytes`` of the body of ``filename``, then close the connection."""
        self.faults.append(_Fault("drop", "download", filename, times, nbytes=nbytes))

    def corrupt(self, filename: str, mode: str = "flip", times: int | None = None):
        """Serve wrong bytes for ``filename``: ``flip`` (same length, one byte changed),
        ``truncate`` (half the file, consistent Content-Length) or ``extend``."""
        self.faults.append(_Fault("corrupt", "download", filename, times, mode=mode))

    def slow(self, seconds: float, filename: str | None = None, times: int | None = None):
        """Wait ``seconds`` before answering a GET of ``filename`` (any file if None)."""
        self.faults.append(_Fault("slow", "download", filename, times, seconds=seconds))

    def _take_fault(self, kind: str, endpoint: str, filename: str | None):
        with self._lock:
            for f in self.faults:
                if f.kind != kind or f.times == 0:
                    continue
                if f.endpoint not in (endpoint, "any"):
                    continue
                if f.filename is not None and f.filename != filename:
                    continue
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    # ----------------------------------------------------------------- queries

    def _match(self, row: dict, flt: dict, config: dict) -> bool:
        name = flt["paramName"]
        key = next((k for k in row if k.lower() == name.lower()), None)
        value = row.get(key) if key else None
        values = flt.get("values", [])
        if values and isinstance(values[0], dict):  # continuous
            if value is None:
                return False
            return any(v["min"] <= float(value) <= v["max"] for v in values)
        sep = flt.get("separator") or config.get(key or name, {}).get("separator")
        text = "" if value is None else str(value)
        tokens = {t.strip().lower() for t in text.split(sep)} if sep else {text.lower()}
        ok = False
        for v in values:
            want = {t.strip().lower() for t in str(v).split(sep)} if sep else {str(v).lower()}
            if text.lower() == str(v).lower() or want <= tokens:
                ok = True
        free = flt.get("freeText")
        if free:
            pattern = "^" + ".*".join(re.escape(p) for p in free.lower().split("%")) + "$"
            ok = ok or re.match(pattern, text.lower()) is not None
        return ok

    def _filtered(self, params: dict) -> list[dict]:
        if self.empty_results:
            return []
        config = _caom_config()
        return [row for row in self.observations
                if all(self._match(row, f, config) for f in params.get("filters", []))]

    def _products(self, params: dict) -> list[dict]:
        if self.empty_results:
            return []
        wanted = {x.strip() for x in str(params.get("obsid", "")).split(",") if x.strip()}
        rows = [r for r in self.products if r["parent_obsid"] in wanted]
        if self.report_md5:
            rows = [{**r, "md5": hashlib.md5(self.files[r["dataURI"]].data).hexdigest()} for r in rows]
        return rows

    def _invoke(self, request: dict) -> dict:
        service = request.get("service")
        params = request.get("params", {})
        if service == "Mast.Caom.Filtered":
            rows = self._filtered(params)
            fields = [{"name": n, "type": t} for n, _, t, _ in CAOM_COLUMNS]
        elif service == "Mast.Caom.Products":
            rows = self._products(params)
            fields = [{"name": n, "type": t} for n, t in PRODUCT_COLUMNS]
            if self.report_md5:
                fields.append({"name": "md5", "type": "string"})
        else:
            return {"status": "ERROR", "msg": f"fake MAST does not implement service {service!r}",
                    "data": [], "fields": []}
        fields.append({"name": "_selected_", "type": "boolean"})
        pagesize = int(request.get("pagesize") or 50000)
        page = int(request.get("page") or 1)
        pages = max(1, math.ceil(len(rows) / pagesize))
        chunk = rows[(page - 1) * pagesize: page * pagesize]
        return {"status": "COMPLETE", "msg": "",
                "data": [{**r, "_selected_": None} for r in chunk], "fields": fields,
                "paging": {"page": page, "pageSize": pagesize, "pagesFiltered": pages,
                           "rows": len(chunk), "rowsFiltered": len(rows), "rowsTotal": len(rows)}}

    # ----------------------------------------------------------------- server

    @property
    def url(self) -> str:
        assert self._httpd is not None, "FakeMast is not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeMast:
        handler = type("Handler", (_Handler,), {"mast": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd.mast = self
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fakemast", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> FakeMast:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def downloads(self, filename: str | None = None) -> list[Request]:
        """Logged GET requests of the download endpoint (for ``filename`` if given)."""
        out = []
        for r in list(self.requests):
            if r.method == "GET" and r.path == "/api/v0.1/Download/file":
                if filename is None or r.query.get("uri", [""])[0].endswith("/" + filename):
                    out.append(r)
        return out


class _Server(http.server.ThreadingHTTPServer):
    mast: FakeMast

    def handle_error(self, request, client_address):
        """Keep errors off the terminal: a client hanging up mid-body (as the downloader
        does when it rejects a file) is expected; anything else is kept in ``errors``."""
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            self.mast.errors.append(exc)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mast: FakeMast  # set on the subclass made by FakeMast.start

    def log_message(self, *args):  # keep pytest output clean
        pass

    # -- helpers
    def _record(self, form=None) -> Request:
        parts = urlsplit(self.path)
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()),
                      {k: m.value for k, m in cookie.items()}, form or {})
        with self.mast._lock:
            self.mast.requests.append(req)
        return req

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200):
        self._send(status, json.dumps(obj).encode())

    def _status_fault(self, endpoint: str, filename=None) -> bool:
        f = self.mast._take_fault("status", endpoint, filename)
        if f is None:
            return False
        self._send(f.status, f"fake fault: HTTP {f.status}".encode(), "text/plain")
        return True

    # -- verbs
    def do_POST(self):
        body = self._body()
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        req = self._record(form)
        if req.path == "/portal/Mashup/Mashup.asmx/columnsconfig":
            if self._status_fault("columnsconfig"):
                return
            name = form.get("colConfigId", "")
            if name in ("Mast.Caom.Cone", "Mast.Caom.Filtered", "Mast.Caom.Filtered.Position"):
                return self._json(_caom_config())
            if name == "Mast.Caom.Products":
                return self._json(_products_config())
            return self._json({})  # the real service answers an unknown id with nothing
        if req.path == "/api/v0/invoke":
            if self._status_fault("invoke"):
                return
            return self._json(self.mast._invoke(json.loads(form["request"])))
        self._send(404, b"not found", "text/plain")

    def do_GET(self):
        req = self._record()
        if req.path == "/whoami":
            token = req.cookies.get("mast_token")
            if token in self.mast.tokens:
                return self._json({"anon": False, "scopes": ["mast:exclusive_access"],
                                   "attrib": {"display_name": "Test User", "ezid": "tester"}})
            return self._json({"anon": True, "scopes": [], "attrib": {}})
        if req.path == "/api/v0.1/Download/file":
            return self._download(req)
        self._send(404, b"not found", "text/plain")

    def do_HEAD(self):
        req = self._record()
        if req.path == "/api/v0.1/Download/file":
            return self._download(req)
        self._send(404, b"", "text/plain")

    def _download(self, req: Request):
        if self.command != "GET":
            return self._serve(req)
        mast = self.mast
        with mast._lock:
            mast.active_downloads += 1
            mast.max_active_downloads = max(mast.max_active_downloads, mast.active_downloads)
        try:
            slow = mast._take_fault("slow", "download", unquote(req.query.get("uri", [""])[0]).rsplit("/", 1)[-1])
            if slow is not None:
                time.sleep(slow.seconds)
            return self._serve(req)
        finally:
            with mast._lock:
                mast.active_downloads -= 1

    def _serve(self, req: Request):
        uri = unquote(req.query.get("uri", [""])[0])
        entry = self.mast.files.get(uri)
        filename = uri.rsplit("/", 1)[-1]
        if entry is None:
            return self._send(404, f"no such product {uri}".encode(), "text/plain")
        if entry.exclusive and req.cookies.get("mast_token") not in self.mast.tokens:
            return self._send(401, b"exclusive access: log in with a MAST token", "text/plain")
        if self.command == "GET" and self._status_fault("download", filename):
            return
        data = entry.data
        if self.command == "GET":
            bad = self.mast._take_fault("corrupt", "download", filename)
            if bad is not None:
                if bad.mode == "flip":
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                elif bad.mode == "truncate":
                    data = data[: len(data) // 2]
                else:
                    data = data + b"\0" * 2880
        total = len(data)
        headers = {"Accept-Ranges": "bytes",
                   "Content-Disposition": f'attachment; filename="{filename}"'}
        status, start, end = 200, 0, total - 1
        rng = req.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not m or int(m.group(1)) >= total:
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{total}"})
            start = int(m.group(1))
            end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        body = data[start: end + 1]
        drop = self.mast._take_fault("drop", "download", filename) if self.command == "GET" else None
        if drop is None:
            return self._send(status, body, "application/octet-stream", headers)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body[: drop.nbytes])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake_mast(loopback_only):  # noqa: F811  (netfence's fixture, requested by name)
    """A started :class:`FakeMast` (stopped after the test), with the network fenced off."""
    server = FakeMast().start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, f"fake MAST handler errors: {server.errors!r}"
