"""What the Stage 1 products and the logs tell the QA page: the exposures (primary headers),
what ran (``S_`` keywords, ``R_`` reference files, the CRDS context, rampflow HISTORY), DQ
tallies per flag, and the WARNING lines of the logs. Exposure names go through
:mod:`rampflow.names`; files are read through :mod:`rampflow.io`."""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, defaultdict
from pathlib import Path

import numpy as np

from .. import dq as dqflags
from .. import io, names

log = logging.getLogger(__name__)

#: jwst step-status keywords -> step names
STEP_KEYWORDS = OrderedDict([
    ("S_GRPSCL", "group_scale"), ("S_DQINIT", "dq_init"), ("S_EMICOR", "emicorr"),
    ("S_SATURA", "saturation"), ("S_IPC", "ipc"), ("S_SUPERB", "superbias"), ("S_REFPIX", "refpix"),
    ("S_RSCD", "rscd"), ("S_FRSTFR", "firstframe"), ("S_LASTFR", "lastframe"), ("S_RESET", "reset"),
    ("S_LINEAR", "linearity"), ("S_DARK", "dark_current"), ("S_PERSIS", "persistence"),
    ("S_CHGMIG", "charge_migration"), ("S_DESTRI", "destripe"), ("S_JUMP", "jump"),
    ("S_CLNFNS", "clean_flicker_noise"), ("S_RAMP", "ramp_fit"), ("S_GANSCL", "gain_scale"),
])


def detector_of(header: dict, path) -> str:
    """Detector (lower case) of a product: its DETECTOR keyword, else its file name's."""
    return str(header.get("DETECTOR") or names.stem_detector(names.product_stem(path))).lower()


def exposure_rows(headers: dict) -> list[list]:
    """Rows (stem, detector, segment, exp_type, nints, ngroups, subarray, readpatt, date-obs,
    integrations in file) from ``{path: primary header}`` (plus ``_shape``)."""
    rows = []
    for path, h in headers.items():
        stem = names.product_stem(path)
        shape = h.get("_shape") or ()
        seg = h.get("EXSEGNUM")
        if seg in (None, ""):
            seg = names.stem_segment(stem)
        ints = shape[0] if len(shape) == 3 else (1 if len(shape) == 2 else None)
        rows.append([stem, detector_of(h, path), seg, h.get("EXP_TYPE"), h.get("NINTS"), h.get("NGROUPS"),
                     h.get("SUBARRAY"), h.get("READPATT"), f"{h.get('DATE-OBS', '')} {h.get('TIME-OBS', '')}".strip(),
                     ints])
    rows.sort(key=lambda r: (str(r[1]), int(r[2] or 0), str(r[0])))
    return rows


def provenance(headers: dict) -> dict:
    """What ran, from primary headers: ``steps`` [(keyword, step, {status: n})], ``refs``
    {R_ key (reference files) and P_ key (CRDS parameter files): {value: n}}, ``crds``
    {CRDS_CTX / CRDS_VER: {value: n}}, ``history`` [lines] (the parameters and where each
    came from)."""
    steps: dict[str, Counter] = OrderedDict()
    refs: dict[str, Counter] = defaultdict(Counter)
    crds: dict[str, Counter] = defaultdict(Counter)
    history: list[str] = []
    for h in headers.values():
        for key in h.keys():
            if key.startswith("S_") and key not in ("S_REGION",):
                steps.setdefault(key, Counter())[str(h[key])] += 1
            elif key.startswith(("R_", "P_")):
                refs[key][str(h[key])] += 1
            elif key in ("CRDS_CTX", "CRDS_VER"):
                crds[key][str(h[key])] += 1
        for line in join_history(h.get("_history", [])):
            if line.lower().startswith("rampflow") and line not in history:
                history.append(line)
    order = list(STEP_KEYWORDS)
    ordered = sorted(steps.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))
    return {"steps": [(k, STEP_KEYWORDS.get(k, k), dict(c)) for k, c in ordered],
            "refs": {k: dict(v) for k, v in sorted(refs.items())},
            "crds": {k: dict(v) for k, v in sorted(crds.items())}, "history": history}


def join_history(cards, width: int = 72) -> list[str]:
    """HISTORY entries with long ones re-joined: FITS splits an entry into full ``width``-
    character cards, so a card following a full-width card continues it."""
    out: list[str] = []
    prev_full = False
    for card in cards:
        text = str(card)
        if prev_full and out:
            out[-1] += text
        else:
            out.append(text)
        prev_full = len(text) >= width
    return [t.strip() for t in out]


def dq_tallies(dq: np.ndarray) -> dict:
    """Pixel(-integration)s with each JWST DQ bit set: {mnemonic: count} (non-zero only)."""
    dq = np.asarray(dq, dtype=np.uint32)
    out = {}
    for name, bit in dqflags.FLAGS.items():
        if bit:
            n = int(np.count_nonzero(dq & np.uint32(bit)))
            if n:
                out[name] = n
    return out


def scan_products(products):
    """Primary headers (+ ``_shape``, ``_history``), DQ tallies and DQ sizes of every product
    (``{path: ...}`` each), reading one product at a time."""
    headers, tallies, sizes = OrderedDict(), OrderedDict(), {}
    for p in products:
        try:
            prod = io.read_image_product(p)
        except io.ProductError as exc:
            log.warning("QA: cannot read %s: %s", p, exc)
            continue
        h = prod["primary"]
        d = {k: h[k] for k in h.keys() if k not in ("HISTORY", "COMMENT", "")}
        d["_history"] = [str(v) for v in h.get("HISTORY", [])] if "HISTORY" in h else []
        d["_shape"] = tuple(np.shape(prod["SCI"])) if "SCI" in prod else ()
        headers[str(p)] = d
        if "DQ" in prod:
            tallies[str(p)] = dq_tallies(prod["DQ"])
            sizes[str(p)] = int(np.size(prod["DQ"]))
        del prod
    return headers, tallies, sizes


def collect_warnings(logs) -> tuple[list[tuple[str, str]], int]:
    """(log name, line) of every line containing ``WARNING`` in the logs; and the count."""
    found = []
    for p in logs:
        p = Path(p)
        try:
            text = p.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "WARNING" in line:
                found.append((p.name, line.strip()))
    return found, len(found)
