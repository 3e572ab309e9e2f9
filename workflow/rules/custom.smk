# Jobs the custom steps add (rampflow.wiring.custom_jobs): a SATURATION reference with custom
# thresholds per exposure (custom.saturation), and destripe's background mask, made from the
# ramp destripe reads. The step jobs take them as reference overrides and inputs (detector1.smk).


if "custom_saturation_reference" in JOBS:

    rule custom_saturation_reference:
        """SATURATION reference with scaled / fixed / mapped thresholds for one exposure."""
        input:
            **JOBS["custom_saturation_reference"].inputs,
            **JOBS["custom_saturation_reference"].needs,
        output:
            **JOBS["custom_saturation_reference"].outputs,
        log:
            JOBS["custom_saturation_reference"].log,
        conda:
            CONDA_ENV
        params:
            **JOBS["custom_saturation_reference"].settings,
            overrides=JOBS["custom_saturation_reference"].overrides,
            env=CRDS_ENV,
        script:
            "../scripts/custom_saturation_reference.py"


if "destripe_mask" in JOBS:

    rule destripe_mask:
        """Background mask for 1/f destriping, from the ramp the destripe step reads."""
        input:
            **JOBS["destripe_mask"].inputs,
        output:
            **JOBS["destripe_mask"].outputs,
        log:
            JOBS["destripe_mask"].log,
        benchmark:
            JOBS["destripe_mask"].benchmark
        conda:
            CONDA_ENV
        threads: JOBS["destripe_mask"].threads
        resources:
            mem_mb=wiring.mem_mb(JOBS["destripe_mask"], config),
        params:
            **JOBS["destripe_mask"].settings,
            step_params=JOBS["destripe_mask"].params["destripe"],
        script:
            "../scripts/custom_destripe_mask.py"
