# calwebb_detector1 as one rule per step: {stem}_{previous}.fits -> {stem}_{step}.fits.
# Step order comes from config["steps"]; each rule's params hold that step's parameters, so
# changing them re-runs the step and everything after it.

if not FUSE:

    for _step in RAMP_CHAIN:

        rule:
            name:
                f"step_{_step}"
            input:
                ramp=step_input(_step),
                refs=references_ready(),
                custom=custom_step_inputs(_step),
            output:
                f"{OUT}/stage1/{{stem}}_{_step}.fits",
            params:
                step=_step,
                step_params=custom_step_params(_step),
                overrides=custom_step_overrides(_step),
                context=config["references"]["crds_context"],
                env=CRDS_ENV,
                chunk_mb=CHUNK_MB,
            conda:
                CONDA_ENV
            log:
                f"{OUT}/logs/{{stem}}_{_step}.log",
            benchmark:
                f"{OUT}/benchmarks/{{stem}}_{_step}.tsv"
            threads: THREADS
            script:
                "../scripts/run_step.py"

else:

    # compute.fuse: consecutive steps that work on integration chunks run as one job that
    # streams chunks through them in memory, writing only the products in compute.keep
    # (the group's last product always). A final jump runs inside the ramp_fit job.
    for _group in fused_groups():
        if _group == ["jump"] and jump_in_ramp_fit():
            continue

        rule:
            name:
                f"fused_{_group[0]}_to_{_group[-1]}" if len(_group) > 1 else f"step_{_group[0]}"
            input:
                ramp=step_input(_group[0]),
                refs=references_ready(),
                custom=[f for s in _group for f in custom_step_inputs(s)],
            output:
                **{s: f"{OUT}/stage1/{{stem}}_{s}.fits" for s in _group if s in kept_products(_group)},
            params:
                steps=_group,
                step_params=group_params(_group),
                overrides=group_overrides(_group),
                context=config["references"]["crds_context"],
                env=CRDS_ENV,
                chunk_mb=CHUNK_MB,
            conda:
                CONDA_ENV
            log:
                f"{OUT}/logs/{{stem}}_{_group[0]}_to_{_group[-1]}.log",
            benchmark:
                f"{OUT}/benchmarks/{{stem}}_{_group[0]}_to_{_group[-1]}.tsv"
            threads: THREADS
            script:
                "../scripts/run_chain.py"


if "ramp_fit" in STEPS:

    rule ramp_fit:
        input:
            ramp=last_ramp(),
            refs=references_ready(),
        output:
            rate=f"{OUT}/stage1/{{stem}}_rate.fits",
            rateints=f"{OUT}/stage1/{{stem}}_rateints.fits",
            fitopt=(
                [f"{OUT}/stage1/{{stem}}_fitopt.fits"]
                if step_params("ramp_fit").get("save_opt")
                else []
            ),
            jump=(
                [f"{OUT}/stage1/{{stem}}_jump.fits"]
                if jump_in_ramp_fit() and "jump" in PRODUCED
                else []
            ),
        params:
            step_params=step_params("ramp_fit"),
            jump_params=custom_step_params("jump") if jump_in_ramp_fit() else None,
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
            chunk_mb=CHUNK_MB,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_ramp_fit.log",
        benchmark:
            f"{OUT}/benchmarks/{{stem}}_ramp_fit.tsv"
        threads: THREADS
        script:
            "../scripts/ramp_fit.py"


if "gain_scale" in STEPS:

    rule gain_scale:
        input:
            rate=f"{OUT}/stage1/{{stem}}_rate.fits",
            rateints=f"{OUT}/stage1/{{stem}}_rateints.fits",
            refs=references_ready(),
        output:
            rate=f"{OUT}/stage1/{{stem}}_gain_scale.fits",
            rateints=f"{OUT}/stage1/{{stem}}_gain_scaleints.fits",
        params:
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/{{stem}}_gain_scale.log",
        script:
            "../scripts/gain_scale.py"
