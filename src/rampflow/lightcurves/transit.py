"""The transit check: trapezoid shape, the configured window in the data's time system, a linear depth fit.

:func:`transit_check` fits the configured transit to a white light curve (and each
spectroscopic bin). When no integration falls inside the window it does not fail: it logs a
WARNING naming the window and the times covered and returns ``{"fitted": False, "warning": ...}``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from astropy.table import Table

from .config import LightCurveError, check_transit
from .tables import jsonable

log = logging.getLogger(__name__)

__all__ = ["trapezoid", "transit_parameters", "fit_transit", "transit_check", "window_warning"]


def trapezoid(t, t0: float, duration: float, ingress: float) -> np.ndarray:
    """Trapezoid transit shape in [0, 1]: 1 in full transit, 0 outside, linear in between.

    ``duration`` is the total (first to fourth contact) duration T14 and ``ingress`` the
    ingress (= egress) duration, in the units of ``t``; ingress 0 gives a box.
    """
    t = np.asarray(t, dtype=np.float64)
    half = 0.5 * float(duration)
    tau = float(ingress)
    if duration <= 0:
        raise ValueError(f"transit duration must be > 0, got {duration}")
    if not 0 <= tau <= half:
        raise ValueError(f"transit ingress must be within 0..duration/2, got {ingress} for duration {duration}")
    d = np.abs(t - float(t0))
    if tau == 0:
        return (d < half).astype(np.float64) + 0.5 * (d == half)
    return np.clip((half - d) / tau, 0.0, 1.0)


def transit_parameters(transit: dict, times: np.ndarray) -> dict:
    """Transit window in the time system of ``times`` (days, MJD-like): t0, duration, ingress.

    ``transit``: ``t0`` (BJD_TDB; full JD values > 2400000 are converted to JD - 2400000.5),
    ``duration`` and ``ingress`` in hours, optional ``period`` in days (the epoch nearest the
    middle of ``times`` is used).
    """
    check_transit(transit)
    t0 = float(transit["t0"])
    if t0 > 2_400_000.0:
        t0 -= 2_400_000.5
    period = transit.get("period")
    epoch = 0
    if period:
        period = float(period)
        tm = 0.5 * (np.nanmin(times) + np.nanmax(times))
        epoch = int(round((tm - t0) / period))
        t0 += epoch * period
    dur = float(transit["duration"]) / 24.0
    ing = float(transit.get("ingress") or 0.0) / 24.0
    return {"t0": t0, "duration": dur, "ingress": ing, "period": period, "epoch": epoch,
            "baseline_order": int(transit.get("baseline_order", 1))}


def _usable(t, f, e) -> np.ndarray:
    """The points a fit can use: finite time, flux and error, error > 0."""
    return np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0)


def fit_transit(time, flux, err, *, t0: float, duration: float, ingress: float = 0.0,
                baseline_order: int = 1) -> dict:
    """Trapezoid depth and polynomial baseline by weighted linear least squares.

    Model: ``flux = B(t) - c * s(t)`` with ``s`` = :func:`trapezoid` (t0, duration, ingress in
    the units of ``time``), ``B`` a polynomial of ``baseline_order`` in ``(t - t0)``; depth
    ``= c / B(t0)`` (the fractional drop relative to the baseline at mid-transit), its error
    from the parameter covariance (first-order propagation), multiplied by
    ``sqrt(chi2 / dof)`` when that is > 1. Non-finite points are ignored.
    """
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    e = np.asarray(err, dtype=np.float64)
    ok = _usable(t, f, e)
    t, f, e = t[ok], f[ok], e[ok]
    s = trapezoid(t, t0, duration, ingress)
    nb = int(baseline_order) + 1
    npar = nb + 1
    if t.size <= npar:
        raise LightCurveError(f"transit fit: {t.size} points for {npar} parameters")
    if not np.any(s > 0):
        raise LightCurveError("transit fit: no integration falls inside the transit window")
    if not np.any(s == 0):
        log.warning("transit fit: no integration is out of transit; depth and baseline are degenerate")
    scale_t = max(float(np.ptp(t)), 1e-12)
    tt = (t - t0) / scale_t
    A = np.column_stack([tt ** k for k in range(nb)] + [-s])
    Aw = A / e[:, None]
    fw = f / e
    p, *_ = np.linalg.lstsq(Aw, fw, rcond=None)
    cov = np.linalg.inv(Aw.T @ Aw)
    resid = f - A @ p
    chi2 = float(np.sum((resid / e) ** 2))
    dof = t.size - npar
    red = chi2 / dof
    base0 = p[0]                                   # baseline at t0 (tt = 0)
    c = p[-1]
    depth = c / base0
    # d(depth)/d(p0) = -c/base0^2, d/dc = 1/base0
    g = np.zeros(npar)
    g[0] = -c / base0 ** 2
    g[-1] = 1.0 / base0
    derr = float(math.sqrt(max(g @ cov @ g, 0.0)))
    scaled = red > 1.0
    if scaled:
        derr *= math.sqrt(red)
    return {"depth": float(depth), "depth_err": derr, "chi2": chi2, "dof": int(dof),
            "reduced_chi2": float(red), "error_scaled": bool(scaled),
            "baseline": [float(v) for v in p[:nb]], "baseline_time_scale": scale_t,
            "n_points": int(t.size), "n_in_transit": int(np.sum(s > 0)),
            "residual_rms": float(np.std(resid))}


def _span(days: float) -> str:
    """A time span in hours, or in days beyond two days."""
    return f"{days * 24.0:.2f} h" if days < 2.0 else f"{days:.2f} d"


def window_warning(detector, p: dict, times: np.ndarray, scale: str) -> str:
    """The message for a transit window (:func:`transit_parameters` ``p``) that holds no
    integration of ``times``: the window, the times covered and how far apart they are."""
    start, end = p["t0"] - 0.5 * p["duration"], p["t0"] + 0.5 * p["duration"]
    first, last = float(np.nanmin(times)), float(np.nanmax(times))
    if end <= first:
        where = f"the window ends {_span(first - end)} before the first integration"
    elif start >= last:
        where = f"the window starts {_span(start - last)} after the last integration"
    else:
        where = "the window falls between two integrations"
    ephem = f", epoch {p['epoch']} of period {p['period']} d" if p.get("period") else ""
    unit = "BJD_TDB - 2400000.5" if scale == "BJD_TDB" else f"{scale}, JD - 2400000.5"
    return (f"{detector or 'light curve'}: transit not fitted: no integration falls inside the transit window "
            f"(t0 {p['t0']:.5f}{ephem}, duration {p['duration'] * 24.0:.4g} h: {start:.5f} to {end:.5f}, {unit}); "
            f"the light curve covers {first:.5f} to {last:.5f} ({(last - first) * 24.0:.2f} h): {where}. "
            "Check lightcurves.transit (t0, duration, period) in the config.")


def _bin_depths(spectroscopic: Table, p: dict) -> list[dict]:
    """Depth, error and reduced chi2 of each spectroscopic bin (None where its fit fails)."""
    rows = []
    for j, (a, b) in enumerate(spectroscopic.meta["bins"]):
        try:
            r = fit_transit(spectroscopic["time"], spectroscopic[f"flux_{j:03d}"],
                            spectroscopic[f"err_{j:03d}"], t0=p["t0"], duration=p["duration"],
                            ingress=p["ingress"], baseline_order=p["baseline_order"])
            rows.append({"x_start": int(a), "x_stop": int(b), "depth": r["depth"],
                         "depth_err": r["depth_err"], "reduced_chi2": r["reduced_chi2"]})
        except (LightCurveError, np.linalg.LinAlgError) as exc:
            log.warning("transit fit of bin %d (columns %d..%d) failed: %s", j, a, b - 1, exc)
            rows.append({"x_start": int(a), "x_stop": int(b), "depth": None, "depth_err": None,
                         "reduced_chi2": None})
    return rows


def transit_check(white: Table, transit: dict, spectroscopic: Table | None = None) -> dict:
    """Fit the configured transit to a white light curve (and each spectroscopic bin).

    ``transit``: the ``lightcurves.transit`` mapping (see :func:`transit_parameters`).
    Returns a JSON-ready dict with the window used, the white-light fit (:func:`fit_transit`)
    and, per bin, depth and error. When no usable integration falls inside the window, the
    dict holds the window, ``"fitted": False``, the ``"warning"`` (also logged as a WARNING)
    and the times covered (``data_start``, ``data_end``), and no ``depth``.
    """
    times = np.asarray(white["time"], dtype=np.float64)
    p = transit_parameters(transit, times)
    scale = white.meta.get("time_scale", "BJD_TDB")
    if scale != "BJD_TDB":
        log.warning("transit check: light-curve times are %s, the ephemeris is BJD_TDB; "
                    "the window may be off by minutes", scale)
    det = white.meta.get("detector")
    out = {"detector": det, "time_scale": scale,
           "t0": p["t0"], "t0_note": "JD - 2400000.5", "epoch": p["epoch"], "period_days": p["period"],
           "duration_hours": p["duration"] * 24.0, "ingress_hours": p["ingress"] * 24.0,
           "baseline_order": p["baseline_order"]}
    ok = _usable(times, np.asarray(white["flux"], np.float64), np.asarray(white["flux_err"], np.float64))
    if not np.any(trapezoid(times[ok], p["t0"], p["duration"], p["ingress"]) > 0):
        msg = window_warning(det, p, times[ok] if ok.any() else times, scale)
        log.warning("%s", msg)
        with np.errstate(all="ignore"):
            out.update(fitted=False, warning=msg, window_start=p["t0"] - 0.5 * p["duration"],
                       window_end=p["t0"] + 0.5 * p["duration"], data_start=float(np.nanmin(times)),
                       data_end=float(np.nanmax(times)), n_points=int(ok.sum()), n_in_transit=0)
        return jsonable(out)
    fit = fit_transit(times, white["flux"], white["flux_err"], t0=p["t0"], duration=p["duration"],
                      ingress=p["ingress"], baseline_order=p["baseline_order"])
    out.update(fit, depth_ppm=fit["depth"] * 1e6, depth_err_ppm=fit["depth_err"] * 1e6)
    if spectroscopic is not None and spectroscopic.meta.get("bins"):
        out["bins"] = _bin_depths(spectroscopic, p)
        out["bin_axis"] = spectroscopic.meta.get("bin_axis", "x")   # y: bins are detector rows (MIRI LRS)
    return jsonable(out)
