# calwebb_detector1 as one rule per step: {stem}_{previous}.fits -> {stem}_{step}.fits.
# Step order comes from config["steps"]; each rule's params hold that step's parameters, so
# changing them re-runs the step and everything after it.

for _step in RAMP_CHAIN:

    rule:
        name:
            f"step_{_step}"
        input:
            ramp=step_input(_step),
            refs=references_ready(),
        output:
            f"{OUT}/stage1/{{stem}}_{_step}.fits",
        params:
            step=_step,
            step_params=step_params(_step),
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
            chunk_mb=CHUNK_MB,
        log:
            f"{OUT}/logs/{{stem}}_{_step}.log",
        benchmark:
            f"{OUT}/benchmarks/{{stem}}_{_step}.tsv"
        threads: THREADS
        script:
            "../scripts/run_step.py"
