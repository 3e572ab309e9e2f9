"""The ``lightcurves`` config section: its keys and defaults, and the checks that name a bad key."""

from __future__ import annotations

import numpy as np

from .. import dq as dqflags

__all__ = ["DEFAULTS", "IMAGING_EXP_TYPES", "LightCurveError", "check_config", "check_transit", "dq_mask",
           "is_imaging"]

#: the ``lightcurves`` config keys and their defaults
DEFAULTS: dict = {
    "mode": "auto",             # auto | spectroscopy | imaging
    "dispersion_axis": "auto",  # auto | x | y   (auto: y for MIRI LRS, x otherwise)
    "box_halfwidth": 4,         # rows each side of the trace centre row
    "bkg_gap": 2,               # rows between the box and the background region
    "bkg_width": None,          # rows of background beyond the gap (None: all the rest)
    "background": True,         # subtract the per-column background
    "trace_order": None,        # polynomial order of the trace centre (None: the mode's, 4 SOSS, else 2)
    "orders": None,             # spectral orders to extract (None: the mode's: SOSS SUBSTRIP256 [1, 2], else [1])
    "background_template": None,  # FITS background template scaled per integration (SOSS BKG reference)
    "line_background": "auto",  # per-row term where readout lines run along the dispersion: auto | true | false
    "trace_window": None,       # rows each side of the peak for the centroid (None: box_halfwidth)
    "columns": None,            # [x0, x1): columns of the white light curve (None: all)
    "bin_width": 64,            # columns per spectroscopic bin
    "bins": None,               # explicit [[x0, x1), ...] bins (beat bin_width)
    "dq_flags": ["DO_NOT_USE"],  # DQ mnemonics (or an int mask) of pixels to replace
    "max_bad_fraction": 0.5,    # leave out columns with more of the profile flagged
    "oot": None,                # [[start, stop), ...] out-of-transit integration ranges
    "oot_first": None,          # or: the first N integrations are out of transit
    "plot_bin": None,           # integrations per bin in the plots (None: ~40 bins)
    "transit": None,            # {t0 [BJD_TDB], duration [h], ingress [h], period [d], baseline_order}
    "aperture_radius": 6.0,     # imaging: aperture radius [pixels]
    "annulus": [12.0, 20.0],    # imaging: background annulus radii [pixels]
    "source_position": None,    # imaging: [x, y] 0-based, None: brightest source
    "median_max_mb": 256,       # memory for the frames of the median frame
}

#: EXP_TYPEs that are imaging (aperture photometry) rather than spectroscopy
IMAGING_EXP_TYPES = frozenset({
    "NRC_IMAGE", "NRC_TSIMAGE", "NRC_TACQ", "NRC_TACONFIRM", "NRC_FOCUS", "NRC_CORON",
    "NIS_IMAGE", "NIS_TACQ", "NIS_TACONFIRM", "NIS_AMI", "NIS_FOCUS",
    "MIR_IMAGE", "MIR_TACQ", "MIR_CORONCAL", "MIR_4QPM", "MIR_LYOT",
    "NRS_TACQ", "NRS_TACONFIRM", "NRS_CONFIRM", "NRS_FOCUS", "NRS_IMAGE", "NRS_WATA", "NRS_MSATA",
    "FGS_IMAGE", "FGS_FOCUS",
})


class LightCurveError(ValueError):
    """Light curves cannot be made from these inputs; the message names the file or key."""


def is_imaging(exp_type: str) -> bool:
    """True for EXP_TYPEs measured by aperture photometry (imaging, TA, coronagraphy)."""
    e = str(exp_type or "").upper()
    return e in IMAGING_EXP_TYPES or e.endswith("_IMAGE") or e.endswith("TACQ")


def dq_mask(flags) -> int:
    """The DQ bit mask of ``dq_flags``: None, an int, a mnemonic string or a list of either."""
    if flags is None:
        return 0
    if isinstance(flags, (int, np.integer)):
        return int(flags)
    if isinstance(flags, str):
        return dqflags.encode(flags)
    value = 0
    for f in flags:
        value |= int(f) if isinstance(f, (int, np.integer)) else dqflags.encode(f)
    return value


def check_transit(transit) -> None:
    """Check the ``lightcurves.transit`` mapping; LightCurveError names the bad key."""
    if not isinstance(transit, dict):
        raise LightCurveError(f"lightcurves.transit: need a mapping, got {transit!r}")
    for key in ("t0", "duration"):
        if transit.get(key) is None:
            raise LightCurveError(f"lightcurves.transit.{key}: required")
    unknown = set(transit) - {"t0", "duration", "ingress", "period", "baseline_order"}
    if unknown:
        raise LightCurveError(f"lightcurves.transit: unknown keys {sorted(unknown)}; "
                              "known: t0, duration, ingress, period, baseline_order")
    try:
        dur, ing = float(transit["duration"]), float(transit.get("ingress") or 0.0)
        float(transit["t0"])
        int(transit.get("baseline_order", 1))
    except (TypeError, ValueError) as exc:
        raise LightCurveError(f"lightcurves.transit: {exc}") from None
    if dur <= 0 or not 0 <= ing <= dur / 2:
        raise LightCurveError(f"lightcurves.transit: need duration > 0 and 0 <= ingress <= duration/2 "
                              f"(hours), got duration={transit['duration']}, ingress={transit.get('ingress')}")


def check_config(config: dict | None) -> dict:
    """The ``lightcurves`` config section with defaults filled; LightCurveError names a bad key."""
    cfg = dict(DEFAULTS)
    for key, value in (config or {}).items():
        if key not in DEFAULTS:
            raise LightCurveError(f"lightcurves.{key}: unknown key; known keys: {', '.join(DEFAULTS)}")
        cfg[key] = value
    if int(cfg["box_halfwidth"]) < 0:
        raise LightCurveError(f"lightcurves.box_halfwidth: must be >= 0, got {cfg['box_halfwidth']}")
    if int(cfg["bkg_gap"]) < 0:
        raise LightCurveError(f"lightcurves.bkg_gap: must be >= 0, got {cfg['bkg_gap']}")
    if cfg["mode"] not in ("auto", "spectroscopy", "imaging"):
        raise LightCurveError(f"lightcurves.mode: {cfg['mode']!r} is not auto, spectroscopy or imaging")
    if cfg["dispersion_axis"] not in ("auto", "x", "y"):
        raise LightCurveError(f"lightcurves.dispersion_axis: {cfg['dispersion_axis']!r} is not auto, x or y")
    try:
        dq_mask(cfg["dq_flags"])
    except ValueError as exc:
        raise LightCurveError(f"lightcurves.dq_flags: {exc}") from None
    ann = cfg["annulus"]
    if ann is None or len(ann) != 2 or not 0 <= float(ann[0]) < float(ann[1]):
        raise LightCurveError(f"lightcurves.annulus: need [r_in, r_out] with 0 <= r_in < r_out, got {ann}")
    if float(cfg["aperture_radius"]) <= 0:
        raise LightCurveError(f"lightcurves.aperture_radius: must be > 0, got {cfg['aperture_radius']}")
    if cfg["transit"]:
        check_transit(cfg["transit"])
    if cfg["oot"] is not None and cfg["oot_first"] is not None:
        raise LightCurveError("lightcurves.oot and lightcurves.oot_first: give one of them, not both")
    if cfg["line_background"] not in ("auto", True, False):
        raise LightCurveError(f"lightcurves.line_background: {cfg['line_background']!r} is not auto, true or false")
    if cfg["orders"] is not None and (not list(cfg["orders"]) or list(cfg["orders"])[0] != 1
                                      or not set(cfg["orders"]) <= {1, 2}):
        raise LightCurveError(f"lightcurves.orders: {cfg['orders']} must be [1] or [1, 2]")
    if cfg["trace_order"] is not None and int(cfg["trace_order"]) < 0:
        raise LightCurveError(f"lightcurves.trace_order: must be >= 0, got {cfg['trace_order']}")
    if cfg["bins"] is None and int(cfg["bin_width"]) < 1:
        raise LightCurveError(f"lightcurves.bin_width: must be >= 1, got {cfg['bin_width']}")
    return cfg
