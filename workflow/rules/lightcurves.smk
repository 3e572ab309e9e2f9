# Light curves: per detector, the per-integration products (rateints, or gain_scaleints with
# gain_scale) of every segment, stitched in time -> white-light and spectroscopic light curves
# (ECSV + CSV), per-integration metrics and plots under {OUT}/lightcurves/; a trapezoid transit
# check where lightcurves.transit is set. Planned by rampflow.wiring (active with ramp_fit).

from rampflow import lightcurves as rflc  # noqa: E402

try:
    rflc.check_config(dict(config.get("lightcurves") or {}))
except rflc.LightCurveError as exc:
    raise WorkflowError(f"config error: {exc}")


if wiring.lightcurves_enabled(config):

    rule lightcurves:
        """White-light and spectroscopic light curves of one detector, all segments stitched."""
        input:
            unpack(lambda wc: wiring.lightcurve_inputs(config, exposure_stems(), wc.detector)),
        output:
            **reported(
                wiring.lightcurve_outputs(config),
                wiring.LIGHTCURVE_FILES,
                "{detector}",
                detector="{detector}",
            ),
        log:
            f"{OUT}/logs/lightcurves_{{detector}}.log",
        benchmark:
            f"{OUT}/benchmarks/lightcurves_{{detector}}.tsv"
        wildcard_constraints:
            detector="[A-Za-z0-9]+",
        conda:
            CONDA_ENV
        params:
            lc=config["lightcurves"],
            chunk_mb=config["compute"]["chunk_mb"],
        script:
            "../scripts/lightcurves.py"


if wiring.lightcurves_enabled(config) and wiring.transit_enabled(config):

    rule lightcurve_transit:
        """Trapezoid depth of the configured transit in the white light (and each bin)."""
        input:
            white=wiring.lightcurve_outputs(config)["white_ecsv"],
            spec=wiring.lightcurve_outputs(config)["spec_ecsv"],
        output:
            **reported(
                wiring.transit_outputs(config),
                wiring.TRANSIT_FILES,
                "{detector}",
                detector="{detector}",
            ),
        log:
            f"{OUT}/logs/lightcurve_transit_{{detector}}.log",
        wildcard_constraints:
            detector="[A-Za-z0-9]+",
        conda:
            CONDA_ENV
        params:
            transit=config["lightcurves"]["transit"],
            plot_bin=config["lightcurves"]["plot_bin"],
        script:
            "../scripts/lightcurves_transit.py"
