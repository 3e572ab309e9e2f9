# The program's QA page, {OUT}/qa/index.html: one self-contained HTML file (images embedded)
# with the exposures, steps, reference files, CRDS context, parameters (and which settings
# came from the schema's defaults: config["_defaults_applied"]), DQ / saturation / jump statistics, 1/f before/after, light
# curves and the warnings of the logs. It lists exactly the entries of rampflow.wiring's
# manifest (params.manifest), by section. Active only when ramp_fit is in config["steps"].


if wiring.qa_targets(config):

    rule qa_report:
        """Self-contained HTML QA page of the program."""
        input:
            products=lambda wc: wiring.qa_products(config, exposure_stems()),
            lightcurves=lambda wc: wiring.lightcurve_targets(config, exposure_stems()),
            diagnostics=lambda wc: wiring.diagnostic_targets(config, exposure_stems()),
        output:
            html=report(
                wiring.qa_page(config),
                caption="../report/lc_qa_page.rst",
                category="QA page",
            ),
        log:
            f"{OUT}/logs/qa_report.log",
        conda:
            CONDA_ENV
        params:
            config=config,
            manifest=lambda wc: wiring.manifest(config, exposure_stems()),
            logdir=f"{OUT}/logs",
            glob_dirs=[],
        script:
            "../scripts/qa_report.py"
