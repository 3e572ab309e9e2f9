"""Snakemake adapter: one detector's rateints (all segments) -> light curves, metrics, plots."""
from rampflow import lightcurves, logutil

log = logutil.setup(snakemake.log[0])
cfg = dict(snakemake.params.lc or {})
products = list(snakemake.input.products)
log.info("light curves of %s from %d products", snakemake.wildcards.detector, len(products))
lc = lightcurves.extract_lightcurves(products, config=cfg, jump_files=list(snakemake.input.jumps),
                                     chunk_mb=float(snakemake.params.chunk_mb))
out = snakemake.output
lightcurves.write_lightcurves(
    lc, white_ecsv=out.white_ecsv, white_csv=out.white_csv, white_png=out.white_png,
    spec_ecsv=out.spec_ecsv, spec_png=out.spec_png, metrics_csv=out.metrics_csv,
    metrics_png=out.metrics_png, trace_png=out.trace_png, plot_bin=cfg.get("plot_bin"),
)
log.info("%s: %d integrations, normalisation %.6g DN/s (%s)", lc.detector, len(lc.white),
         lc.info["normalisation"], lc.info["time_scale"])
