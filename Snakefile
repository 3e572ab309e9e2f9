# rampflow: JWST Stage 1 (ramps -> slopes), light curves and QA as a Snakemake workflow.
# Wiring only: the science lives in src/rampflow, the plan in rampflow.wiring.
import copy
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version, validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from rampflow import config as rfconfig  # noqa: E402

min_version("8.0")


# The demo program's config only when no --configfile is given: a program config given with
# --configfile inherits nothing from the demo (Snakemake would merge the two).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# the keys the schema's defaults fill are logged and listed on the QA page (config["_defaults_applied"])
_steps_listed = "steps" in config
rfconfig.prepare(config)
_given = copy.deepcopy(config)
validate(config, "workflow/schemas/config.schema.yaml")
config["_defaults_applied"] = rfconfig.defaults_applied(_given, config)
logger.info(f"rampflow: settings from the schema defaults: {', '.join(config['_defaults_applied']) or 'none'}")
if not _steps_listed:
    # jwst's default list for the program's instrument, plus rampflow's additions for its
    # exposure types when the config tells them (destripe for NIRCam grism time series)
    _note = rfconfig.mode_steps_note(config)
    logger.info(f"rampflow: steps not listed, the default: {', '.join(config['steps'])}{_note}")


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/custom.smk"
include: "workflow/rules/detector1.smk"
include: "workflow/rules/diagnostics.smk"
include: "workflow/rules/lightcurves.smk"
include: "workflow/rules/qa.smk"


rule all:
    default_target: True
    input:
        lambda wc: wiring.targets(config, exposure_stems()),
