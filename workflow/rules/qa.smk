# The program's QA page, {OUT}/qa/index.html: one self-contained HTML file (images embedded)
# with the exposures, steps, reference files, CRDS context, parameters, DQ / saturation /
# jump statistics, 1/f before/after, light curves and the warnings of the logs.
# Takes the light-curve files (lightcurve_targets(), lightcurves.smk) and the diagnostics
# (diagnostic_targets(), diagnostics.smk) when those rule files are included, and never needs
# them (without diagnostic_targets() it picks up whatever {OUT}/diagnostics holds).
# Active only when ramp_fit is in config["steps"]. qa_targets() is for rule all.

from functools import partial  # noqa: E402

from rampflow.qa import report as rfreport  # noqa: E402

QA_DIR = f"{OUT}/qa"
QA_PRODUCT = "gain_scaleints" if "gain_scale" in STEPS else "rateints"
qa_targets = partial(rfreport.qa_targets, QA_DIR, STEPS)


if "ramp_fit" in STEPS:

    rule qa_report:
        """Self-contained HTML QA page of the program."""
        input:
            products=lambda wc: [f"{OUT}/stage1/{s}_{QA_PRODUCT}.fits" for s in exposure_stems()],
            lightcurves=lambda wc: (globals()["lightcurve_targets"]()
                                    if callable(globals().get("lightcurve_targets")) else []),
            diagnostics=lambda wc: (globals()["diagnostic_targets"]()
                                    if callable(globals().get("diagnostic_targets")) else []),
        output:
            html=report(f"{QA_DIR}/index.html", caption="../report/lc_qa_page.rst", category="QA page"),
        params:
            config=config,
            logdir=f"{OUT}/logs",
            # folders whose plots and tables are added when no diagnostics rules declare them
            glob_dirs=lambda wc: ([] if callable(globals().get("diagnostic_targets"))
                                  else [f"{OUT}/diagnostics", QA_DIR]),
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/qa_report.log",
        script:
            "../scripts/qa_report.py"
