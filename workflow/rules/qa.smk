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


# A --keep-going run in which some exposures failed: Snakemake runs no job whose inputs failed,
# so the light curves of their detectors and the QA page are made here, from the other
# exposures, with the failures named (rampflow.recovery; a normal run's DAG is unchanged).
onerror:
    if wiring.qa_targets(config) and workflow.execution_settings.keep_going:
        try:
            _done = recovery.finish_partial(config, exposure_stems())
        except Exception as exc:
            logger.error(f"rampflow: light curves and QA page without the failed exposures not made: {exc}")
        else:
            for _f in _done["failed"]:
                logger.warning(
                    f"rampflow: exposure {_f['stem']} ({_f['file']}) failed: {_f['error'] or _f['missing']}"
                )
            if _done["qa"]:
                logger.warning(
                    f"rampflow: light curves ({', '.join(_done['lightcurves']) or 'none'}) and the QA page "
                    f"{_done['qa']} were made without the {len(_done['failed'])} failed exposure(s)"
                )
