# rampflow: JWST Stage 1 (ramps -> slopes), light curves and QA as a Snakemake workflow.
# Wiring only: the science lives in src/rampflow.
from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/custom.smk"
include: "workflow/rules/detector1.smk"
include: "workflow/rules/diagnostics.smk"
include: "workflow/rules/lightcurves.smk"
include: "workflow/rules/qa.smk"


rule all:
    input:
        lambda wc: final_products(),
        lambda wc: diagnostic_targets(),
        lambda wc: lightcurve_targets(),
        lambda wc: qa_targets(),
    default_target: True
