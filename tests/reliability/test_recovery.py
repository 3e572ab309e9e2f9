"""The pieces behind "one bad exposure fails alone", without Snakemake: an unreadable uncal file
does not stop the reference prefetch of the others, a failing job's log names its error, and
rampflow.recovery finds the failed exposures with their file and error."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from rampflow import prefetch, recovery, wiring
from tests.unit.test_wiring import _cfg

GOOD = "jw01366003001_04101_00001-seg001_nrs1_uncal.fits"
BAD = "jw01366003001_04101_00001-seg002_nrs1_uncal.fits"


def test_prefetch_skips_an_unreadable_uncal_and_names_it(uncal_factory, tmp_path, caplog):
    good, _ = uncal_factory(GOOD)
    bad = tmp_path / BAD
    bad.write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)  # not a FITS file
    mask = tmp_path / "mask.fits"
    mask.write_bytes(b"")
    with caplog.at_level(logging.ERROR):
        lines = prefetch.prefetch([good, bad], ["dq_init"], overrides={"mask": str(mask)})
    # its reference file, and that dq_init has no parameter file (no CRDS configured here)
    assert lines == [f"{GOOD} mask {mask}", f"{GOOD} pars-dq_init N/A"]
    assert any(BAD in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    # nothing readable at all: the error itself
    with pytest.raises(Exception, match=BAD):
        prefetch.prefetch([bad], ["dq_init"], overrides={"mask": str(mask)})


def test_a_job_log_records_the_uncaught_error(tmp_path):
    log = tmp_path / "job.log"
    code = (f"from rampflow import logutil\nlogutil.setup({str(log)!r})\n"
            "raise ValueError('jw01_uncal.fits: not a readable FITS file')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    assert "ERROR rampflow: ValueError: jw01_uncal.fits: not a readable FITS file" in log.read_text()


def test_failed_exposures_are_those_without_their_product(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _cfg(program="p", steps=["group_scale", "dq_init", "ramp_fit"],
               inputs={"source": "local", "uncal_dir": "data"})
    stems = [f"jw01366003001_04101_00001-seg00{i}_nrs1" for i in (1, 2, 3)]
    products = wiring.qa_products(cfg, stems)
    assert products[0].endswith(f"{stems[0]}_rateints.fits")
    for p in (products[0], products[2]):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"x")
    logs = tmp_path / wiring.out_dir(cfg) / "logs"
    logs.mkdir(parents=True)
    (logs / f"{stems[1]}_group_scale_to_dq_init.log").write_text(
        "2026-01-01 10:00:00 INFO rampflow: reading\n"
        f"2026-01-01 10:00:01 ERROR rampflow: ProductError: data/{stems[1]}_uncal.fits: truncated\n")
    (logs / f"{stems[0]}_ramp_fit.log").write_text("2026-01-01 10:00:00 INFO rampflow: fine\n")
    assert recovery.failed_exposures(cfg, stems) == [{
        "stem": stems[1], "detector": "nrs1", "file": f"{stems[1]}_uncal.fits",
        "missing": f"{stems[1]}_rateints.fits",
        "error": f"ProductError: data/{stems[1]}_uncal.fits: truncated",
        "log": f"{stems[1]}_group_scale_to_dq_init.log"}]
    # nothing failed: nothing to do
    (tmp_path / products[1]).write_bytes(b"x")
    assert recovery.finish_partial(cfg, stems) == {"failed": [], "lightcurves": [], "qa": None}
