# Jobs the custom steps add (rampflow.wiring.custom_jobs): a SATURATION reference with custom
# thresholds per exposure (custom.saturation), and destripe's background mask, made from the
# ramp destripe reads. The step jobs take them as reference overrides and inputs (detector1.smk).


for _job in wiring.variants(JOBS, "custom_saturation_reference"):

    rule:
        """SATURATION reference with scaled / fixed / mapped thresholds for one exposure."""
        name:
            _job.name
        input:
            **_job.inputs,
            **_job.needs,
        output:
            **_job.outputs,
        log:
            _job.log,
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
            overrides=_job.overrides,
            env=CRDS_ENV,
        script:
            "../scripts/custom_saturation_reference.py"


for _job in wiring.variants(JOBS, "destripe_mask"):

    rule:
        """Background mask for 1/f destriping, from the ramp the destripe step reads."""
        name:
            _job.name
        input:
            **_job.inputs,
        output:
            **_job.outputs,
        log:
            _job.log,
        benchmark:
            _job.benchmark
        wildcard_constraints:
            **_job.constraints,
        conda:
            CONDA_ENV
        threads: _job.threads
        resources:
            mem_mb=wiring.mem_mb(_job, config),
        params:
            **_job.settings,
            step_params=_job.params["destripe"],
        script:
            "../scripts/custom_destripe_mask.py"
