# Custom steps for time-series observers: custom saturation thresholds and 1/f destriping.
# Include this file AFTER common.smk and BEFORE detector1.smk: the generic step rules there
# take their extra inputs, parameters and reference overrides from custom_step_inputs(step),
# custom_step_params(step) and custom_step_overrides(step) (rampflow.custom.CustomWiring).
#
# config:
#   custom:
#     saturation: {scale: 0.5}          # or {level: 50000} or {map: my_thresholds.fits};
#                                       # optional n_pix_grow_sat for the saturation step
#   steps: [..., refpix, ..., destripe, ...]
#   step_params:
#     destripe: {trace_radius: 8, per_amplifier: false, mask_path: null, ...}

from rampflow.custom import CustomWiring  # noqa: E402

try:
    CUSTOM = CustomWiring(config, OUT, RAMP_CHAIN)
except ValueError as exc:
    raise WorkflowError(f"config error: {exc}")

custom_step_inputs = CUSTOM.step_inputs
custom_step_params = CUSTOM.step_params
custom_step_overrides = CUSTOM.step_overrides


if CUSTOM.saturation:

    rule custom_saturation_reference:
        """SATURATION reference with scaled / fixed / mapped thresholds for one exposure."""
        input:
            uncal=lambda wc: uncal_path(wc.stem),
            refs=references_ready(),
            threshold_map=CUSTOM.threshold_map(),
        output:
            CUSTOM.saturation_reference(),
        params:
            options=CUSTOM.saturation_options,
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_saturation_custom.log",
        script:
            "../scripts/custom_saturation_reference.py"


if CUSTOM.destripe:

    rule destripe_mask:
        """Background mask for 1/f destriping, from the ramp the destripe step reads."""
        input:
            ramp=step_input("destripe"),
            user_mask=[CUSTOM.user_destripe_mask] if CUSTOM.user_destripe_mask else [],
        output:
            CUSTOM.destripe_mask(),
        params:
            step_params=step_params("destripe"),
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_destripe_mask.log",
        benchmark:
            f"{OUT}/benchmarks/{{stem}}_destripe_mask.tsv"
        threads: 1
        script:
            "../scripts/custom_destripe_mask.py"
