"""MAST product queries: the ``*_uncal.fits`` products of the observations matching CAOM
criteria (:func:`query_products`), filtered by detector, segment and file-name pattern, with
target-acquisition exposures detected (:func:`target_acquisition_mask`) and, on request, the
TA exposures of the science visits added. Exposure names are parsed by :mod:`rampflow.names`.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from astropy.table import Column, Table, vstack
from astroquery.exceptions import NoResultsWarning  # light: astroquery.mast itself is imported lazily

from .. import names
from .client import (
    DEFAULT_SERVER,
    MastQueryError,
    NoProductsFound,
    _str,
    _with_retries,
    log,
    login,
    observations_client,
)

#: observations per product-list request (MAST advises small batches for JWST)
PRODUCT_BATCH = 5

#: JWST EXP_TYPEs of target acquisition and TA confirmation exposures
TA_EXP_TYPE = re.compile(r"(TACQ|TACONFIRM|WATA|MSATA|_CONFIRM)$", re.IGNORECASE)


def parse_filename(filename: str) -> dict | None:
    """Fields of a JWST exposure file name, or ``None`` if it is not one
    (:func:`rampflow.names.parse` as a dict).

    >>> parse_filename("jw01366003001_04101_00001-seg002_nrs1_uncal.fits")["segment"]
    2

    Keys: stem (name without ``_<suffix>.fits``), visit (``jw01366003001``), program,
    observation, visit_number, visit_group, parallel, activity, exposure (ints),
    segment (int, 0 when unsegmented), detector (lower case), suffix.
    """
    parsed = names.parse(filename)
    return None if parsed is None else parsed.as_dict()


def _describe(criteria: Mapping[str, Any]) -> str:
    """The criteria as ``key=value, ...`` for messages."""
    return ", ".join(f"{k}={v!r}" for k, v in criteria.items()) or "(no criteria)"


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
    filenames = [_str(x) for x in products["productFilename"]]
    parsed = [names.parse(x) for x in filenames]
    segmented_visits = {p.visit for p in parsed if p and p.segment}
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
        if p and not p.segment and p.visit in segmented_visits:
            mask[i] = True
        elif filenames[i] in extra:
            mask[i] = True
    return mask


def _uncal_products(obs, observations: Table, retries: int, backoff: float,
                    product_types: Sequence[str] | None = ("SCIENCE",)) -> Table:
    """UNCAL products of ``observations`` of the given ``productType`` (None: any), one
    row per dataURI."""
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
    """``obs.query_criteria(**criteria)`` with retries, quiet when nothing matches."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        return _with_retries("MAST query", lambda: obs.query_criteria(**dict(criteria)),
                             retries, backoff)


def _make_filter(exposure_filter) -> Callable[[Any], bool]:
    """A predicate on product rows from glob pattern(s) on ``productFilename``, a callable or None."""
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

    products = _annotate(products, extra_ta)
    products = products[_selection(products, include_ta, exposure_filter, detectors, segments)]
    if len(products) == 0:
        raise NoProductsFound(
            f"MAST query for {_describe(criteria)} on {where} found UNCAL products, but none "
            f"passed the selection (include_ta={include_ta}, exposure_filter={exposure_filter!r}, "
            f"detectors={detectors!r}, segments={segments!r})")
    products.sort("productFilename")
    log.info("MAST: %d uncal product(s) for %s (%d TA)", len(products), _describe(criteria),
             int(np.sum(products["is_ta"])))
    return products


def _annotate(products: Table, extra_ta: Sequence[str]) -> Table:
    """``products`` (masked) with the ``stem``, ``detector``, ``segment`` and ``is_ta`` columns."""
    products = Table(products, masked=True)
    filenames = [_str(x) for x in products["productFilename"]]
    parsed = [names.parse(x) for x in filenames]
    products["stem"] = Column([p.stem if p else n.rsplit(".", 1)[0] for p, n in zip(parsed, filenames)],
                              dtype=str)
    products["detector"] = Column([p.detector if p else "" for p in parsed], dtype=str)
    products["segment"] = Column([p.segment if p else 0 for p in parsed], dtype=int)
    products["is_ta"] = Column(target_acquisition_mask(products, extra_candidates=extra_ta),
                               dtype=bool)
    return products


def _selection(products: Table, include_ta: bool, exposure_filter, detectors, segments) -> np.ndarray:
    """Which annotated products pass the TA, detector, segment and file-name selection."""
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
    return mask


def _add_visit_mates(obs, criteria, products, retries, backoff):
    """Add exposures of the science visits that precede the science and match nothing else."""
    science = [names.parse(_str(x)) for x in products["productFilename"]]
    first: dict[str, tuple] = {}
    for p in science:
        if p:
            key = (p.visit_group, p.parallel, p.activity, p.exposure)
            first[p.visit] = min(first.get(p.visit, key), key)
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
            p = names.parse(_str(row["productFilename"]))
            if _str(row["dataURI"]) in have or not p or p.visit != visit:
                continue
            if (p.visit_group, p.parallel, p.activity, p.exposure) < first[visit]:
                take.append(i)
                extra_names.append(_str(row["productFilename"]))
                have.add(_str(row["dataURI"]))
        if take:
            extra.append(Table(mates[take], masked=True))
    if extra:
        products = vstack([Table(products, masked=True), *extra], join_type="outer")
    return products, extra_names
