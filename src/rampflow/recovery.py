"""After a run in which some exposures failed (``--keep-going``): the light curves and the QA
page from the exposures that have their products, the failed ones named.

Why not in the DAG: Snakemake never runs a job one of whose inputs failed, and the light-curve
and QA jobs read every exposure's products. An in-DAG way round would change every normal run:
a per-exposure "status" file cannot be written by the job that fails (Snakemake deletes a failed
job's outputs) nor by a job after it (which would not run either), so it would need a
checkpoint per exposure and light curves built from whatever the checkpoints found. Instead the
DAG stays as it is, and the workflow's ``onerror`` hook calls :func:`finish_partial`, which runs
only after a ``--keep-going`` run (so every job that could run has run) and only when some
exposure lacks its final product:

* :func:`failed_exposures`: the exposures whose per-integration product (the light curves' and
  QA page's input) is missing, each with its uncal file and the ERROR line of its job logs;
* the light curves of each detector with a failed exposure, from its other exposures (the
  light-curve log and the white-light table's ``left_out`` metadata name the exposures left
  out, with a WARNING);
* the QA page of the program's other exposures, with a "Failed exposures" section.

These run in the Snakemake process (on the submit host under a cluster profile); they read
only the small per-integration products. A later run redoes them as ordinary jobs: once the
failed exposure is fixed its new products are newer than these files.
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

from . import names, wiring

log = logging.getLogger("rampflow.recovery")

_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b")


def _error_line(stem: str, logdir: Path) -> tuple[str, str]:
    """(the last ERROR line of the exposure's job logs, that log's name); ("", "") if none."""
    found = ("", "")
    logs = sorted(logdir.glob(f"{stem}_*.log")) + sorted(logdir.glob(f"*_{stem}.log"))
    for p in sorted(logs, key=lambda q: q.stat().st_mtime):
        for line in p.read_text(errors="replace").splitlines():
            if _ERROR.search(line):
                found = (line.split(": ", 1)[-1].strip() if ": " in line else line.strip(), p.name)
    return found


def failed_exposures(config: dict, stems) -> list[dict]:
    """The exposures whose per-integration product is missing (they failed, or a job before
    them did): dicts {stem, detector, file (the uncal file's name), missing (the product's
    name), error (the last ERROR line of their logs, or ""), log (that log's name)}."""
    logdir = Path(wiring.out_dir(config)) / "logs"
    out = []
    for stem, product in zip(stems, wiring.qa_products(config, stems)):
        if Path(product).is_file():
            continue
        error, logname = _error_line(stem, logdir) if logdir.is_dir() else ("", "")
        out.append({"stem": stem, "detector": names.stem_detector(stem),
                    "file": Path(wiring.uncal_path(config, stem)).name, "missing": Path(product).name,
                    "error": error, "log": logname})
    return out


@contextlib.contextmanager
def _logging_to(path):
    """Also send rampflow's log records to ``path`` (a job log written outside a job)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(str(path), mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def _lightcurves(config: dict, detector: str, good: list[str], failed: list[dict]) -> bool:
    """The light curves of ``detector`` from the exposures in ``good``; whether they were made."""
    from . import lightcurves  # matplotlib and astropy: only when there is something to redo

    logfile = Path(wiring.out_dir(config)) / "logs" / f"lightcurves_{detector}.log"
    with _logging_to(logfile):
        for f in failed:
            log.warning("%s: exposure %s (%s) left out of the light curves: its %s is missing (%s)",
                        detector, f["stem"], f["file"], f["missing"], f["error"] or "its job failed")
        if not good:
            log.warning("%s: no exposure has its products; no light curves", detector)
            return False
        inputs = wiring.lightcurve_inputs(config, good, detector)
        jumps = [p for p in inputs["jumps"] if Path(p).is_file()]
        cfg = dict(config.get("lightcurves") or {})
        lc = lightcurves.extract_lightcurves(inputs["products"], config=cfg, jump_files=jumps,
                                             chunk_mb=float(config["compute"]["chunk_mb"]))
        lc.white.meta["left_out"] = [f["file"] for f in failed]
        out = wiring.lightcurve_outputs(config, detector)
        lightcurves.write_lightcurves(
            lc, white_ecsv=out["white_ecsv"], white_csv=out["white_csv"], white_png=out["white_png"],
            spec_ecsv=out["spec_ecsv"], spec_png=out["spec_png"], metrics_csv=out["metrics_csv"],
            metrics_png=out["metrics_png"], trace_png=out["trace_png"], plot_bin=cfg.get("plot_bin"))
        log.info("%s: light curves from %d of %d exposures (%d left out)", detector, len(good),
                 len(good) + len(failed), len(failed))
    if wiring.transit_enabled(config):
        with _logging_to(Path(wiring.out_dir(config)) / "logs" / f"lightcurve_transit_{detector}.log"):
            white = lightcurves.read_table(out["white_ecsv"])
            spec = lightcurves.read_table(out["spec_ecsv"])
            result = lightcurves.transit_check(white, dict(config["lightcurves"]["transit"]), spec)
            tout = wiring.transit_outputs(config, detector)
            lightcurves.write_json(result, tout["json"])
            lightcurves.plot_transit(white, result, tout["png"], plot_bin=cfg.get("plot_bin"))
    return True


def finish_partial(config: dict, stems) -> dict:
    """Light curves (detectors with a failed exposure) and the QA page without the failed
    exposures; returns {"failed": [...], "lightcurves": [detectors redone], "qa": path or None}.
    Does nothing (and returns no failures) when every exposure has its products."""
    from .qa import report  # matplotlib: only when there is something to redo

    stems = list(stems)
    failed = failed_exposures(config, stems)
    done = {"failed": failed, "lightcurves": [], "qa": None}
    if not failed or not wiring.lightcurves_enabled(config):
        return done
    bad = {f["stem"] for f in failed}
    good = [s for s in stems if s not in bad]
    for det in names.detectors_of(stems):
        mine = [f for f in failed if f["detector"] == det]
        if mine and _lightcurves(config, det, names.stems_of_detector(good, det), mine):
            done["lightcurves"].append(det)
    logdir = Path(wiring.out_dir(config)) / "logs"
    with _logging_to(logdir / "qa_report.log"):
        for f in failed:
            log.warning("exposure %s (%s) failed: %s is missing (%s)", f["stem"], f["file"], f["missing"],
                        f["error"] or "see its job log")
        entries = [e for e in wiring.manifest(config, good) if Path(e["path"]).is_file()]
        logs = [str(p) for p in sorted(logdir.glob("*.log")) if p.name != "qa_report.log"]
        done["qa"] = str(report.build_report(wiring.qa_page(config), config=config, manifest=entries, logs=logs,
                                             failures=failed))
    return done
