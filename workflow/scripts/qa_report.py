"""Snakemake adapter: the program's self-contained QA page (results/<program>/qa/index.html)."""
from pathlib import Path

from rampflow import logutil
from rampflow.qa import report

log = logutil.setup(snakemake.log[0])
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
TABLES = (".csv", ".ecsv", ".tsv", ".json")
given = [str(p) for p in snakemake.input.lightcurves] + [str(p) for p in snakemake.input.diagnostics]
# diagnostics not declared as inputs (no diagnostic_targets() in this workflow): whatever exists
for folder in snakemake.params.glob_dirs:
    for p in sorted(Path(folder).glob("*")):
        if p.suffix.lower() in IMAGES + TABLES and str(p) not in given:
            given.append(str(p))
own_log = Path(snakemake.log[0]).resolve()
logs = [str(p) for p in sorted(Path(snakemake.params.logdir).glob("*.log")) if p.resolve() != own_log]
report.build_report(
    snakemake.output.html,
    config=dict(snakemake.params.config),
    products=list(snakemake.input.products),
    plots=[p for p in given if p.lower().endswith(IMAGES)],
    tables=[p for p in given if p.lower().endswith(TABLES)],
    logs=logs,
)
