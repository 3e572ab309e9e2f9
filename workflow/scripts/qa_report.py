"""Snakemake adapter: the program's self-contained QA page (results/<program>/qa/index.html),
built from the manifest the rule passes as ``params.manifest`` (rampflow.wiring.manifest)."""
from pathlib import Path

from rampflow import logutil
from rampflow.qa import report

log = logutil.setup(snakemake.log[0])
if not hasattr(snakemake.params, "manifest"):
    raise RuntimeError("qa_report: the rule passes no params.manifest. The QA page is built only from the "
                       "workflow's manifest (rampflow.wiring.manifest: a list of entries with section, title, "
                       "path, kind, stem, detector, caption); pass it as params.manifest in the qa_report rule.")
own_log = Path(snakemake.log[0]).resolve()
logs = [str(p) for p in sorted(Path(snakemake.params.logdir).glob("*.log")) if p.resolve() != own_log]
report.build_report(
    snakemake.output.html,
    config=dict(snakemake.params.config),
    manifest=[dict(e) for e in snakemake.params.manifest],
    products=list(snakemake.input.products) if hasattr(snakemake.input, "products") else None,
    logs=logs,
)
