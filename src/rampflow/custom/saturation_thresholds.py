"""Custom saturation thresholds: a modified CRDS-format SATURATION reference file.

Config (``custom.saturation``), exactly one of ``scale`` / ``level`` / ``map``:

* ``scale: 0.5``   -- every threshold x 0.5 (flag earlier, e.g. to stay in the linear regime);
* ``level: 50000`` -- every threshold set to 50000 DN;
* ``map: my_thresholds.fits`` -- a 2-D image (DN) of the reference file's shape; NaN
  pixels keep the reference threshold;
* ``n_pix_grow_sat`` (optional) -- passed to the saturation step (jwst's parameter).

The new file keeps the reference's layout (SCI, DQ, DQ_DEF, every header card) so the
saturation step -- ours or jwst's -- reads it as any SATURATION reference; only SCI changes.
NaN thresholds (unknown: the step sets NO_SAT_CHECK) stay NaN, and DQ is unchanged, so
NO_SAT_CHECK pixels are still never flagged. Thresholds above the reference's own are
allowed (for instance a map from your own calibration) but logged as a warning with the
pixel count: above the reference threshold the detector may be non-linear beyond what the
linearity reference corrects.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

OPERATIONS = ("scale", "level", "map")


def threshold_options(cfg: dict | None) -> dict:
    """Validate a ``custom.saturation`` block; returns the make_threshold_reference kwargs
    (``scale`` / ``level`` / ``map_path``). Raises ValueError naming the key."""
    cfg = dict(cfg or {})
    unknown = set(cfg) - set(OPERATIONS) - {"n_pix_grow_sat"}
    if unknown:
        raise ValueError(f"custom.saturation: unknown key(s) {sorted(unknown)}; "
                         "known: scale, level, map, n_pix_grow_sat")
    given = [k for k in OPERATIONS if cfg.get(k) is not None]
    if len(given) != 1:
        raise ValueError(f"custom.saturation: give exactly one of scale, level, map (got {given or 'none'})")
    op = given[0]
    if op == "scale":
        v = float(cfg["scale"])
        if not v > 0:
            raise ValueError(f"custom.saturation.scale must be > 0; got {cfg['scale']}")
        return {"scale": v}
    if op == "level":
        v = float(cfg["level"])
        if not v > 0:
            raise ValueError(f"custom.saturation.level must be > 0 DN; got {cfg['level']}")
        return {"level": v}
    return {"map_path": str(cfg["map"])}


def modified_thresholds(thresh: np.ndarray, *, scale: float | None = None, level: float | None = None,
                        new_map: np.ndarray | None = None) -> np.ndarray:
    """New thresholds from reference thresholds ``thresh`` (float (ny, nx), DN, NaN = unknown).

    Exactly one of: ``scale`` (thresh x scale), ``level`` (a constant), ``new_map`` (float
    (ny, nx); NaN keeps the reference value). NaN reference thresholds stay NaN.
    Returns float32 (ny, nx).
    """
    given = [n for n, v in (("scale", scale), ("level", level), ("map", new_map)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of scale, level, map; got {given or 'none'}")
    t = np.asarray(thresh, dtype=np.float64)
    if scale is not None:
        out = t * float(scale)
    elif level is not None:
        out = np.where(np.isnan(t), np.nan, float(level))
    else:
        m = np.asarray(new_map, dtype=np.float64)
        if m.shape != t.shape:
            raise ValueError(f"threshold map shape {m.shape} != reference SCI shape {t.shape}")
        out = np.where(np.isnan(m) | np.isnan(t), t, m)
    return out.astype(np.float32)


def make_threshold_reference(source_ref_path, out_path, *, scale: float | None = None, level: float | None = None,
                             map_path=None) -> Path:
    """Write a SATURATION reference like ``source_ref_path`` with modified thresholds.

    Exactly one of ``scale`` / ``level`` / ``map_path`` (see :func:`modified_thresholds`).
    Provenance goes in the primary header: CSATSRC (source file), CSATOP (operation),
    CSATVAL (value or map file) and HISTORY lines. Logs a warning naming the number of
    pixels whose new threshold exceeds the reference's own.
    """
    from .. import io
    from ..io.custom import read_image, write_modified_reference

    given = [n for n, v in (("scale", scale), ("level", level), ("map", map_path)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"custom saturation: give exactly one of scale, level, map; got {given or 'none'}")
    primary, images, _, _ = io.read_reference_hdus(source_ref_path)
    reftype = str(primary.get("REFTYPE", "SATURATION")).strip().upper()
    if reftype != "SATURATION":
        raise ValueError(f"{source_ref_path}: is a {reftype} reference, not SATURATION")
    if "SCI" not in images:
        raise ValueError(f"{source_ref_path}: SATURATION reference has no SCI extension")
    thresh = images["SCI"]
    new_map = None
    if map_path is not None:
        new_map, _ = read_image(map_path, "SCI" if _has_ext(map_path, "SCI") else None)
    new = modified_thresholds(thresh, scale=scale, level=level, new_map=new_map)
    finite = np.isfinite(new) & np.isfinite(thresh)
    above = finite & (new > thresh)
    n_above = int(above.sum())
    if n_above:
        log.warning("custom saturation: %d of %d pixels get a threshold above the reference file's own "
                    "(%s; largest excess %.1f DN)", n_above, thresh.size, Path(source_ref_path).name,
                    float(np.max((new - thresh)[above])))
    op = given[0]
    value = {"scale": scale, "level": level, "map": None if map_path is None else Path(map_path).name}[op]
    updates = {
        "CSATSRC": (Path(source_ref_path).name[:67], "custom sat: source"),
        "CSATOP": (op, "custom sat: scale, level or map"),
        "CSATVAL": (value if op != "map" else str(value)[:67], "custom sat: value or map file"),
        "CSATNABV": (n_above, "custom sat: pixels above the source reference"),
    }
    history = [f"rampflow custom saturation thresholds: {op} = {value!r}",
               f"source SATURATION reference: {source_ref_path}"]
    if map_path is not None:
        history.append(f"threshold map: {map_path}")
    write_modified_reference(source_ref_path, out_path, {"SCI": new}, updates=updates, history=history)
    log.info("custom saturation: wrote %s (%s = %r, from %s)", out_path, op, value, Path(source_ref_path).name)
    return Path(out_path)


def _has_ext(path, name: str) -> bool:
    from ..io.custom import read_image

    try:
        read_image(path, name)
        return True
    except ValueError:
        return False
