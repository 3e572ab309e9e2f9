# Per-step diagnostics (rampflow.wiring.diagnostic_jobs): report()-wrapped PNG plots
# (captions in workflow/report/, categories the QA page's sections) and a DQ table under
# {OUT}/diagnostics/. A diagnostic is planned only when the products it reads are written.
#
# config (optional): qa: {diagnostics: {enabled: true, sample_points: 200000, jump_examples: 9}}
# (or qa: {diagnostics: false}). The target-acquisition quicklook is made for local inputs and
# for MAST downloads with inputs.mast.include_ta.


for _job in wiring.jobs(config, "diagnostic"):

    rule:
        name:
            _job.name
        input:
            **_job.inputs,
            uncal=all_uncal if _job.all_uncal else [],
        output:
            **reported(_job.outputs, _job.files.values(), _job.subcategory),
        log:
            _job.log,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
            overrides=_job.overrides,
            env=CRDS_ENV if _job.crds else {},
        script:
            f"../scripts/{_job.script}"
