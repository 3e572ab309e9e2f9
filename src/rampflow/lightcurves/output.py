"""The files of one detector's light curves: tables (ECSV / CSV) and plots (PNG), each written atomically."""

from __future__ import annotations

from pathlib import Path

from .driver import LightCurves
from .plots import plot_metrics, plot_spectroscopic, plot_whitelight
from .tables import write_table
from .trace_plot import plot_trace

__all__ = ["write_lightcurves"]


def write_lightcurves(lc: LightCurves, *, white_ecsv, white_csv=None, white_png=None, spec_ecsv=None,
                      spec_png=None, metrics_csv=None, metrics_png=None, trace_png=None, plot_bin=None) -> list[Path]:
    """Write the tables (ECSV / CSV) and plots (PNG) of ``lc``; every file atomically.

    ``trace_png``: the median frame with the fitted trace and box (or aperture and annulus).
    """
    out = [write_table(lc.white, white_ecsv, "ecsv")]
    if white_csv:
        out.append(write_table(lc.white, white_csv, "csv"))
    if white_png:
        out.append(plot_whitelight(lc.white, white_png, plot_bin=plot_bin))
    if spec_ecsv:
        out.append(write_table(lc.spectroscopic, spec_ecsv, "ecsv"))
    if spec_png:
        out.append(plot_spectroscopic(lc.spectroscopic, spec_png, plot_bin=plot_bin))
    if metrics_csv:
        out.append(write_table(lc.metrics, metrics_csv, "csv"))
    if metrics_png:
        out.append(plot_metrics(lc.metrics, metrics_png))
    if trace_png:
        out.append(plot_trace(lc.median, lc.info, trace_png))
    return out
