"""Snakemake adapter: fit the configured transit to a detector's light curves -> JSON + plot.

A window that holds no integration is not an error: the JSON says ``"fitted": false`` with the
warning (also in this rule's log, which the QA page lists), and the plot shows the light curve
and the reason.
"""
from rampflow import lightcurves, logutil

log = logutil.setup(snakemake.log[0])
white = lightcurves.read_table(snakemake.input.white)
spec = lightcurves.read_table(snakemake.input.spec)
result = lightcurves.transit_check(white, dict(snakemake.params.transit), spec)
lightcurves.write_json(result, snakemake.output.json)
lightcurves.plot_transit(white, result, snakemake.output.png, plot_bin=snakemake.params.plot_bin)
if result.get("fitted") is False:
    log.info("%s: transit not fitted; wrote the light curve and the reason", result["detector"])
else:
    log.info("%s: transit depth %.1f +- %.1f ppm (reduced chi2 %.2f%s)", result["detector"], result["depth_ppm"],
             result["depth_err_ppm"], result["reduced_chi2"], ", error scaled" if result["error_scaled"] else "")
