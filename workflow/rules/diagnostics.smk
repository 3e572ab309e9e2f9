# Per-step diagnostics (rampflow.wiring.diagnostic_jobs): report()-wrapped PNG plots
# (captions in workflow/report/, categories the QA page's sections) and a DQ table under
# {OUT}/diagnostics/. A diagnostic is planned only when the products it reads are written.
#
# config (optional): qa: {diagnostics: {enabled: true, sample_points: 200000, jump_examples: 9}}
# (or qa: {diagnostics: false}). The target-acquisition quicklook is made for local inputs and
# for MAST downloads with inputs.mast.include_ta.


for _job in wiring.variants(JOBS, "diag_linearity_ratio"):

    rule:
        """Linearity ratio density, before / after the linearity step."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **reported(
                _job.outputs,
                _job.files.values(),
                _job.subcategory,
            ),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
        script:
            "../scripts/diag_linearity.py"


for _job in wiring.variants(JOBS, "diag_dq_tally"):

    rule:
        """DQ flag tally over the chain of ramp products (CSV + bar chart)."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **reported(_job.outputs, _job.files.values(), _job.subcategory),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
        script:
            "../scripts/diag_dq_tally.py"


for _job in wiring.variants(JOBS, "diag_saturation"):

    rule:
        """Saturated fraction per integration and an example saturated ramp."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **reported(
                _job.outputs,
                _job.files.values(),
                _job.subcategory,
            ),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
            env=CRDS_ENV,
            overrides=_job.overrides,
        script:
            "../scripts/diag_saturation.py"


for _job in wiring.variants(JOBS, "diag_jump"):

    rule:
        """Jumps per integration and example ramps with jumps."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **reported(_job.outputs, _job.files.values(), _job.subcategory),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
        script:
            "../scripts/diag_jump.py"


for _job in wiring.variants(JOBS, "diag_destripe"):

    rule:
        """Group differences and line medians before / after destriping."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **reported(_job.outputs, _job.files.values(), _job.subcategory),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
        script:
            "../scripts/diag_destripe.py"


for _job in wiring.variants(JOBS, "diag_refpix"):

    rule:
        """Odd / even column means of the reference pixels before / after refpix."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **reported(_job.outputs, _job.files.values(), _job.subcategory),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
        script:
            "../scripts/diag_refpix.py"


for _job in wiring.variants(JOBS, "diag_ta_quicklook"):

    rule:
        """Quicklook of the target-acquisition exposures among the inputs."""
        name:
            _job.name
        input:
            **_job.inputs,
            uncal=all_uncal,
        output:
            **reported(
                _job.outputs,
                _job.files.values(),
                _job.subcategory,
            ),
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
        script:
            "../scripts/diag_ta.py"
