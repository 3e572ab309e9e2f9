# Per-step diagnostics: report()-wrapped PNG plots (captions in workflow/report/) and a DQ
# table, under {OUT}/diagnostics/. A diagnostic is only in the DAG when the steps it needs
# are in config["steps"]; diagnostic_targets() lists every file to build (for rule all).
# Include after custom.smk (the saturation plot uses the custom SATURATION reference).
#
# config (optional): qa: {diagnostics: {enabled: true, sample_points: 200000, jump_examples: 9}}
# (or qa: {diagnostics: false}). The target-acquisition quicklook is made for local inputs and
# for MAST downloads with inputs.mast.include_ta.

from functools import partial  # noqa: E402

from rampflow.qa import diagnostics as rfdiag  # noqa: E402

try:
    DIAG_SETTINGS = rfdiag.diagnostic_settings(config)
except ValueError as exc:
    raise WorkflowError(f"config error: {exc}")
DIAG = f"{OUT}/diagnostics"
DIAG_NAMES = rfdiag.diagnostic_names(RAMP_CHAIN, PRODUCED) if DIAG_SETTINGS["enabled"] else []
diagnostic_targets = partial(rfdiag.diagnostic_targets, DIAG_SETTINGS, RAMP_CHAIN, exposure_stems, DIAG,
                             PRODUCED)


if "linearity_ratio.png" in DIAG_NAMES:

    rule diag_linearity_ratio:
        input:
            before=step_input("linearity"),
            after=f"{OUT}/stage1/{{stem}}_linearity.fits",
        output:
            report(f"{DIAG}/{{stem}}_linearity_ratio.png", caption="../report/linearity_ratio.rst",
                   category="Step diagnostics", subcategory="{stem}"),
        params:
            max_points=DIAG_SETTINGS["sample_points"],
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_diag_linearity_ratio.log",
        script:
            "../scripts/diag_linearity.py"


if "dq_tally.csv" in DIAG_NAMES:

    rule diag_dq_tally:
        input:
            [f"{OUT}/stage1/{{stem}}_{s}.fits" for s in RAMP_CHAIN],
        output:
            csv=f"{DIAG}/{{stem}}_dq_tally.csv",
            png=report(f"{DIAG}/{{stem}}_dq_tally.png", caption="../report/dq_tally.rst",
                       category="Step diagnostics", subcategory="{stem}"),
        params:
            steps=RAMP_CHAIN,
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_diag_dq_tally.log",
        script:
            "../scripts/diag_dq_tally.py"


if "saturation.png" in DIAG_NAMES:

    rule diag_saturation:
        input:
            ramp=f"{OUT}/stage1/{{stem}}_saturation.fits",
            refs=references_ready(),
            custom=custom_step_inputs("saturation"),
        output:
            report(f"{DIAG}/{{stem}}_saturation.png", caption="../report/saturation.rst",
                   category="Step diagnostics", subcategory="{stem}"),
        params:
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_diag_saturation.log",
        script:
            "../scripts/diag_saturation.py"


if "jump_counts.png" in DIAG_NAMES:

    rule diag_jump:
        input:
            ramp=f"{OUT}/stage1/{{stem}}_jump.fits",
            rateints=[f"{OUT}/stage1/{{stem}}_rateints.fits"] if "ramp_fit" in STEPS else [],
        output:
            counts=report(f"{DIAG}/{{stem}}_jump_counts.png", caption="../report/jump_counts.rst",
                          category="Step diagnostics", subcategory="{stem}"),
            ramps=report(f"{DIAG}/{{stem}}_jump_ramps.png", caption="../report/jump_ramps.rst",
                         category="Step diagnostics", subcategory="{stem}"),
        params:
            n_examples=DIAG_SETTINGS["jump_examples"],
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_diag_jump.log",
        script:
            "../scripts/diag_jump.py"


if "destripe.png" in DIAG_NAMES:

    rule diag_destripe:
        input:
            before=step_input("destripe"),
            after=f"{OUT}/stage1/{{stem}}_destripe.fits",
            mask=CUSTOM.destripe_mask(),
        output:
            report(f"{DIAG}/{{stem}}_destripe.png", caption="../report/destripe.rst",
                   category="Step diagnostics", subcategory="{stem}"),
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_diag_destripe.log",
        script:
            "../scripts/diag_destripe.py"


if "refpix.png" in DIAG_NAMES:

    rule diag_refpix:
        input:
            before=step_input("refpix"),
            after=f"{OUT}/stage1/{{stem}}_refpix.fits",
        output:
            report(f"{DIAG}/{{stem}}_refpix.png", caption="../report/refpix.rst",
                   category="Step diagnostics", subcategory="{stem}"),
        params:
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_diag_refpix.log",
        script:
            "../scripts/diag_refpix.py"


if DIAG_SETTINGS["enabled"] and DIAG_SETTINGS["ta"]:

    rule diag_ta_quicklook:
        input:
            lambda wc: [uncal_path(s) for s in exposure_stems()],
        output:
            report(f"{DIAG}/ta_quicklook.png", caption="../report/ta_quicklook.rst",
                   category="Step diagnostics", subcategory="target acquisition"),
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/diag_ta_quicklook.log",
        script:
            "../scripts/diag_ta.py"
