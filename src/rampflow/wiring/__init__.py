"""Workflow planning: pure functions of the validated config (and the exposure names).

The Snakemake rule files only declare rules; what each rule does comes from here, so the plan
is unit-tested without Snakemake:

* :mod:`rampflow.wiring.jobs` -- the jobs of one exposure (:class:`Job`): step jobs, one per
  step or per fused group (``compute.fuse``, ``compute.keep``, jump -- or the whole chain in
  one pass over the uncal file -- inside the ramp_fit job),
  ramp_fit and gain_scale, and the custom-step jobs (custom SATURATION reference, destripe's
  background mask); paths, parameters and reference overrides; the final products;
* :mod:`rampflow.wiring.families` -- each exposure in its own instrument's calwebb_detector1
  order: the plan of the config as each instrument family sees it, per-family jobs in a
  program mixing MIRI and near-infrared exposures;
* :mod:`rampflow.wiring.resources` -- the memory a job needs (``mem_mb`` for a scheduler), from
  its steps, the exposure's shape and ``compute.chunk_mb``;
* :mod:`rampflow.wiring.targets` -- diagnostics, light curves, the QA page, every target of
  ``rule all``, and :func:`manifest`: every product and plot of the QA page by section.

The config is the one ``snakemake.utils.validate`` filled with the schema's defaults.
"""

from .families import (  # noqa: F401
    exposure_chain,
    family_config,
    plan_by_family,
    program_families,
    stem_config,
    stem_family,
    stem_regex,
    variants,
)
from .jobs import (  # noqa: F401
    CAPTIONS,
    SECTIONS,
    Job,
    Output,
    carried_inputs,
    carried_path,
    custom_jobs,
    custom_saturation,
    final_products,
    final_suffixes,
    fused_groups,
    in_ramp_fit_job,
    ints_product,
    jump_in_ramp_fit,
    kept_products,
    last_ramp,
    made_in_job,
    one_pass,
    out_dir,
    previous_exposure,
    produced_ramps,
    product,
    ramp_chain,
    ramp_jobs,
    rate_jobs,
    references_ready,
    saturation_reference,
    step_input,
    step_inputs,
    step_needs,
    step_overrides,
    step_params,
    time_order,
    uncal_path,
)
from .resources import job_mem_mb, mem_mb  # noqa: F401
from .targets import (  # noqa: F401
    LIGHTCURVE_FILES,
    PRODUCT_CAPTION,
    TRANSIT_FILES,
    diagnostic_jobs,
    diagnostic_names,
    diagnostic_settings,
    diagnostic_targets,
    exposure_jobs,
    jobs,
    lightcurve_inputs,
    lightcurve_outputs,
    lightcurve_targets,
    lightcurves_enabled,
    manifest,
    qa_page,
    qa_products,
    qa_targets,
    targets,
    transit_enabled,
    transit_outputs,
)
