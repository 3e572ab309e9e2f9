# Per-step diagnostics (rampflow.wiring.diagnostic_jobs): report()-wrapped PNG plots
# (captions in workflow/report/, categories the QA page's sections) and a DQ table under
# {OUT}/diagnostics/. A diagnostic is planned only when the products it reads are written.
#
# config (optional): qa: {diagnostics: {enabled: true, sample_points: 200000, jump_examples: 9}}
# (or qa: {diagnostics: false}). The target-acquisition quicklook is made for local inputs and
# for MAST downloads with inputs.mast.include_ta.


if "diag_linearity_ratio" in JOBS:

    rule diag_linearity_ratio:
        """Linearity ratio density, before / after the linearity step."""
        input:
            **JOBS["diag_linearity_ratio"].inputs,
        output:
            **reported(
                JOBS["diag_linearity_ratio"].outputs,
                JOBS["diag_linearity_ratio"].files.values(),
                JOBS["diag_linearity_ratio"].subcategory,
            ),
        log:
            JOBS["diag_linearity_ratio"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_linearity_ratio"].settings,
        script:
            "../scripts/diag_linearity.py"


if "diag_dq_tally" in JOBS:

    rule diag_dq_tally:
        """DQ flag tally over the chain of ramp products (CSV + bar chart)."""
        input:
            **JOBS["diag_dq_tally"].inputs,
        output:
            **reported(
                JOBS["diag_dq_tally"].outputs, JOBS["diag_dq_tally"].files.values(), JOBS["diag_dq_tally"].subcategory
            ),
        log:
            JOBS["diag_dq_tally"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_dq_tally"].settings,
        script:
            "../scripts/diag_dq_tally.py"


if "diag_saturation" in JOBS:

    rule diag_saturation:
        """Saturated fraction per integration and an example saturated ramp."""
        input:
            **JOBS["diag_saturation"].inputs,
        output:
            **reported(
                JOBS["diag_saturation"].outputs,
                JOBS["diag_saturation"].files.values(),
                JOBS["diag_saturation"].subcategory,
            ),
        log:
            JOBS["diag_saturation"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_saturation"].settings,
            env=CRDS_ENV,
            overrides=JOBS["diag_saturation"].overrides,
        script:
            "../scripts/diag_saturation.py"


if "diag_jump" in JOBS:

    rule diag_jump:
        """Jumps per integration and example ramps with jumps."""
        input:
            **JOBS["diag_jump"].inputs,
        output:
            **reported(JOBS["diag_jump"].outputs, JOBS["diag_jump"].files.values(), JOBS["diag_jump"].subcategory),
        log:
            JOBS["diag_jump"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_jump"].settings,
        script:
            "../scripts/diag_jump.py"


if "diag_destripe" in JOBS:

    rule diag_destripe:
        """Group differences and line medians before / after destriping."""
        input:
            **JOBS["diag_destripe"].inputs,
        output:
            **reported(
                JOBS["diag_destripe"].outputs, JOBS["diag_destripe"].files.values(), JOBS["diag_destripe"].subcategory
            ),
        log:
            JOBS["diag_destripe"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_destripe"].settings,
        script:
            "../scripts/diag_destripe.py"


if "diag_refpix" in JOBS:

    rule diag_refpix:
        """Odd / even column means of the reference pixels before / after refpix."""
        input:
            **JOBS["diag_refpix"].inputs,
        output:
            **reported(JOBS["diag_refpix"].outputs, JOBS["diag_refpix"].files.values(), JOBS["diag_refpix"].subcategory),
        log:
            JOBS["diag_refpix"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_refpix"].settings,
        script:
            "../scripts/diag_refpix.py"


if "diag_ta_quicklook" in JOBS:

    rule diag_ta_quicklook:
        """Quicklook of the target-acquisition exposures among the inputs."""
        input:
            **JOBS["diag_ta_quicklook"].inputs,
            uncal=all_uncal,
        output:
            **reported(
                JOBS["diag_ta_quicklook"].outputs,
                JOBS["diag_ta_quicklook"].files.values(),
                JOBS["diag_ta_quicklook"].subcategory,
            ),
        log:
            JOBS["diag_ta_quicklook"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["diag_ta_quicklook"].settings,
        script:
            "../scripts/diag_ta.py"
