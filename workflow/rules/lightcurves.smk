# Light curves: per detector, the rateints (gain_scaleints with gain_scale) of every segment,
# stitched in time -> white-light and spectroscopic light curves (ECSV + CSV), per-integration
# metrics and plots under {OUT}/lightcurves/; a trapezoid transit check where
# config["lightcurves"]["transit"] is set. Active only when ramp_fit is in config["steps"].
# lightcurve_targets() lists every file to build (for rule all).

from functools import partial  # noqa: E402

from rampflow import lightcurves as rflc  # noqa: E402

LC_DIR = f"{OUT}/lightcurves"
LC_CONFIG = dict(config.get("lightcurves") or {})
try:
    rflc.check_config(LC_CONFIG)
except rflc.LightCurveError as exc:
    raise WorkflowError(f"config error: {exc}")
LC_PRODUCT = "gain_scaleints" if "gain_scale" in STEPS else "rateints"
LC_TRANSIT = bool(LC_CONFIG.get("transit"))
lightcurve_targets = partial(rflc.workflow_targets, LC_DIR, STEPS, exposure_stems, LC_TRANSIT)


if "ramp_fit" in STEPS:

    rule lightcurves:
        """White-light and spectroscopic light curves of one detector, all segments stitched."""
        input:
            products=lambda wc: [f"{OUT}/stage1/{s}_{LC_PRODUCT}.fits"
                                 for s in rflc.stems_of_detector(exposure_stems(), wc.detector)],
            jumps=lambda wc: ([f"{OUT}/stage1/{s}_jump.fits"
                               for s in rflc.stems_of_detector(exposure_stems(), wc.detector)]
                              if "jump" in PRODUCED else []),
        output:
            white_ecsv=f"{LC_DIR}/{{detector}}_whitelight.ecsv",
            white_csv=f"{LC_DIR}/{{detector}}_whitelight.csv",
            white_png=report(f"{LC_DIR}/{{detector}}_whitelight.png", caption="../report/lc_whitelight.rst",
                             category="Light curves", subcategory="{detector}",
                             labels={"detector": "{detector}", "figure": "white light"}),
            spec_ecsv=f"{LC_DIR}/{{detector}}_spectroscopic.ecsv",
            spec_png=report(f"{LC_DIR}/{{detector}}_spectroscopic.png", caption="../report/lc_spectroscopic.rst",
                            category="Light curves", subcategory="{detector}",
                            labels={"detector": "{detector}", "figure": "spectroscopic"}),
            metrics_csv=report(f"{LC_DIR}/{{detector}}_metrics.csv", caption="../report/lc_metrics_table.rst",
                               category="Light curves", subcategory="{detector}",
                               labels={"detector": "{detector}", "figure": "metrics table"}),
            metrics_png=report(f"{LC_DIR}/{{detector}}_metrics.png", caption="../report/lc_metrics.rst",
                               category="Light curves", subcategory="{detector}",
                               labels={"detector": "{detector}", "figure": "metrics"}),
        params:
            lc=LC_CONFIG,
            chunk_mb=CHUNK_MB,
        wildcard_constraints:
            detector="[A-Za-z0-9]+",
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/lightcurves_{{detector}}.log",
        benchmark:
            f"{OUT}/benchmarks/lightcurves_{{detector}}.tsv"
        script:
            "../scripts/lightcurves.py"


if "ramp_fit" in STEPS and LC_TRANSIT:

    rule lightcurve_transit:
        """Trapezoid depth of the configured transit in the white light (and each bin)."""
        input:
            white=f"{LC_DIR}/{{detector}}_whitelight.ecsv",
            spec=f"{LC_DIR}/{{detector}}_spectroscopic.ecsv",
        output:
            json=f"{LC_DIR}/{{detector}}_transit.json",
            png=report(f"{LC_DIR}/{{detector}}_transit.png", caption="../report/lc_transit.rst",
                       category="Light curves", subcategory="{detector}",
                       labels={"detector": "{detector}", "figure": "transit check"}),
        params:
            transit=LC_CONFIG.get("transit"),
            plot_bin=LC_CONFIG.get("plot_bin"),
        wildcard_constraints:
            detector="[A-Za-z0-9]+",
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/lightcurve_transit_{{detector}}.log",
        script:
            "../scripts/lightcurves_transit.py"
