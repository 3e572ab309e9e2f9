# calwebb_detector1: one rule per step job of rampflow.wiring (a step, or with compute.fuse a
# group of steps streamed through in memory; ramp_fit, with jump inside it when fused;
# gain_scale), all run by run_steps.py through rampflow.runner.run. Step order comes from
# config["steps"], in each exposure's instrument order (per-family rules in a program mixing
# MIRI and near-infrared exposures, rampflow.wiring.families); each rule's params hold its
# steps' parameters, so changing them re-runs those steps and everything after them. A step's carried input (persistence's array) is the
# previous exposure's product, same detector, in time order (wiring.carried_path): a
# dependency between the exposures' jobs.
# mem_mb (for schedulers that reserve memory, e.g. SLURM) follows the chunk budget
# compute.chunk_mb, not the size of the exposure (rampflow.wiring.mem_mb).


for _job in [j for j in JOBS.values() if j.kind == "steps"]:

    rule:
        name:
            _job.name
        input:
            **_job.inputs,
            **_job.needs,
            **carried_inputs(_job),
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
            steps=list(_job.steps),
            inputs=list(_job.inputs) + list(_job.carried),
            step_params=_job.params,
            overrides=_job.per_exposure("overrides"),
            env=CRDS_ENV,
        script:
            "../scripts/run_steps.py"
