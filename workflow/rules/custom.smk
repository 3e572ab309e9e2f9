# Jobs the custom steps add (rampflow.wiring.custom_jobs): a SATURATION reference with custom
# thresholds per exposure (custom.saturation), and the files a step reads besides its ramp
# (destripe's background mask, made from the ramp destripe reads). The step jobs take them as
# inputs and reference overrides (detector1.smk).


for _job in wiring.jobs(config, "saturation_reference"):

    rule:
        name:
            _job.name
        input:
            **_job.inputs,
            **_job.needs,
        output:
            **_job.outputs,
        log:
            _job.log,
        conda:
            CONDA_ENV
        params:
            **_job.settings,
            overrides=_job.overrides,
            env=CRDS_ENV,
        script:
            f"../scripts/{_job.script}"


for _job in wiring.jobs(config, "step_input"):

    rule:
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
        conda:
            CONDA_ENV
        threads: _job.threads
        params:
            **_job.settings,
            step_params=_job.params[_job.steps[0]],
        script:
            f"../scripts/{_job.script}"
