"""The QA page and the light-curve / QA rules.

* build_report on hand-made products, plots, tables and logs: every plot is embedded and
  named, provenance / DQ / warnings are shown, nothing external is referenced;
* the page renders in headless Chromium with every image loaded (skipped without chromium);
* lightcurves.smk + qa.smk run under Snakemake on pre-made rateints (a local program whose
  Stage 1 products already exist), and ``snakemake --report`` builds the report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rampflow import io
from rampflow.qa import report

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "statistical"))
from test_lightcurve_transit import make_tso_rateints  # noqa: E402

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)


def _png(path, title):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2), dpi=60)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title(title)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("flux")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


LONG_HISTORY = ("rampflow refpix: gaussmooth=1.0, halfwidth=30, irs2_mean_subtraction=False, "
                "odd_even_columns=True, use_side_ref_pixels=True, side_smoothing_length=11")


def _products(tmp_path):
    """Two rateints of one detector with provenance keywords and known DQ flags."""
    paths, truth = make_tso_rateints(tmp_path / "stage1", nints=12, nseg=2, nx=32, seed=2,
                                     static_bad=((16, 5),), transient_bad=(), saturated=((1, 15, 3), (2, 15, 4)))
    for p in paths:
        prod = io.read_image_product(p)
        upd = {"S_DQINIT": "COMPLETE", "S_SATURA": "COMPLETE", "S_REFPIX": "SKIPPED", "S_RAMP": "COMPLETE",
               "R_MASK": "crds://jwst_nirspec_mask_0001.fits", "R_SATURA": "crds://jwst_nirspec_saturation_0007.fits",
               "CRDS_CTX": "jwst_1322.pmap"}
        hist = ["rampflow saturation: n_pix_grow_sat=1, use_readpatt=True", "rampflow ramp_fit: weighting=optimal",
                "unrelated history line", LONG_HISTORY]
        io.write_image_product(p, {k: prod[k] for k in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE")},
                               prod["primary"], None, upd, hist, datamodel="CubeModel",
                               tables={"INT_TIMES": prod["INT_TIMES"]})
    return paths


def _inputs(tmp_path):
    products = _products(tmp_path)
    plots = [_png(tmp_path / "lightcurves" / "nrs1_whitelight.png", "white"),
             _png(tmp_path / "diagnostics" / "jw09999001001_04101_00001-seg001_nrs1_destripe.png", "1/f"),
             _png(tmp_path / "diagnostics" / "jw09999001001_04101_00001-seg001_nrs1_saturation.png", "sat"),
             _png(tmp_path / "diagnostics" / "jw09999001001_04101_00001-seg001_nrs1_jump_counts.png", "jumps"),
             _png(tmp_path / "diagnostics" / "odd_thing.png", "other")]
    metrics = tmp_path / "lightcurves" / "nrs1_metrics.csv"
    metrics.write_text("integration,time_hours,jump_groups,jump_pixels,saturated_frac,background\n"
                       "0,0.0,10,8,0.0,1.5\n1,0.1,12,9,0.001,1.6\n")
    transit = tmp_path / "lightcurves" / "nrs1_transit.json"
    transit.write_text(json.dumps({"detector": "nrs1", "depth": 0.0101, "depth_err": 0.0002, "depth_ppm": 10100.0,
                                   "depth_err_ppm": 200.0, "reduced_chi2": 1.1, "error_scaled": True,
                                   "t0": 60400.3, "duration_hours": 1.0, "ingress_hours": 0.15, "n_points": 12,
                                   "n_in_transit": 5, "time_scale": "BJD_TDB",
                                   "bins": [{"x_start": 0, "x_stop": 16, "depth": 0.01, "depth_err": 0.0003,
                                             "reduced_chi2": 0.9}]}))
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "step_a.log").write_text("2026-01-01 INFO rampflow: fine\n"
                                       "2026-01-01 WARNING rampflow.x: first <warning> & co\n")
    (logdir / "step_b.log").write_text("2026-01-01 WARNING py.warnings: second warning\n")
    return products, plots, [metrics, transit], sorted(logdir.glob("*.log"))


def test_build_report_references_every_plot(tmp_path):
    products, plots, tables, logs = _inputs(tmp_path)
    cfg = {"program": "demo-qa", "steps": ["dq_init", "saturation", "ramp_fit"], "inputs": {"source": "local"},
           "qa": {"title": "QA of demo"}}
    out = report.build_report(tmp_path / "qa" / "index.html", config=cfg, products=products, plots=plots,
                              tables=tables, logs=logs)
    page = out.read_text()
    # every plot embedded once, named, as a data URI
    imgs = re.findall(r"<img [^>]*>", page)
    assert len(imgs) == len(plots)
    for p in plots:
        assert f"data-file='{p.name}'" in page
    assert all("src='data:image/png;base64," in i for i in imgs)
    # nothing external: no links, scripts, remote URLs
    assert not re.search(r"<(link|script)\b", page)
    assert "http://" not in page and "https://" not in page
    # sections: plots sorted by kind
    for anchor in ("onef", "lightcurves", "satjump", "other", "warnings", "dq-tallies", "provenance", "exposures"):
        assert f"id='{anchor}'" in page
    onef = page[page.index("id='onef'"):]
    assert "destripe.png" in onef[: onef.index("</section>")]
    # exposures and provenance
    for p in products:
        assert report._stem(p) in page
    assert "S_SATURA" in page and "saturation" in page and "SKIPPED" in page
    assert "crds://jwst_nirspec_saturation_0007.fits" in page and "jwst_1322.pmap" in page
    assert "rampflow saturation: n_pix_grow_sat=1, use_readpatt=True" in page
    assert "unrelated history line" not in page
    assert LONG_HISTORY in page                       # split over 3 FITS cards, joined again
    # DQ tallies by hand: static DO_NOT_USE pixel in 12 integrations + 2 saturated ones
    # (DO_NOT_USE | SATURATED) -> DO_NOT_USE 14, SATURATED 2 of 12 * 32 * 32 pixel-integrations
    row = re.search(r"<tr><td>SATURATED</td><td class='num'>2</td><td class='num'>([\d,]+)</td>", page)
    assert row and row.group(1) == "2"
    row = re.search(r"<tr><td>DO_NOT_USE</td><td class='num'>1</td><td class='num'>([\d,]+)</td>", page)
    assert row and row.group(1) == "14"
    # warnings from the logs, escaped
    assert "first &lt;warning&gt; &amp; co" in page and "second warning" in page
    assert "Warnings (2)" in page
    # transit results and metrics summary
    assert "10100" in page and "QA of demo" in page
    assert "jump groups (total)" in page


def test_report_without_products_or_plots(tmp_path):
    out = report.build_report(tmp_path / "index.html", config={"program": "empty"})
    page = out.read_text()
    assert "No Stage 1 products given" in page and "<img" not in page


def test_classify_plot():
    assert report.classify_plot("results/x/lightcurves/nrs1_metrics.png") == "lightcurves"
    assert report.classify_plot("results/x/diagnostics/jw1_2_3_nrs1_destripe.png") == "onef"
    assert report.classify_plot("results/x/diagnostics/jw1_2_3_nrs1_jump_ramps.png") == "jumps"
    assert report.classify_plot("results/x/diagnostics/jw1_2_3_nrs1_dq_tally.png") == "dq"
    assert report.classify_plot("results/x/diagnostics/whatever.png") == "other"


_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_report_renders_in_headless_chromium(tmp_path):
    products, plots, tables, logs = _inputs(tmp_path)
    out = report.build_report(tmp_path / "qa" / "index.html", config={"program": "demo"}, products=products,
                              plots=plots, tables=tables, logs=logs)
    # a copy of the page with a probe that records how many images decoded
    probe = tmp_path / "qa" / "probe.html"
    probe.write_text(out.read_text().replace("</body>", _CHECK_SCRIPT, 1))
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
           "--dump-dom", probe.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'data-images="(\d+)/(\d+)"', proc.stdout)
    assert m, f"no probe result in the DOM (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert int(m.group(2)) == len(plots)
    assert m.group(1) == m.group(2), f"only {m.group(1)} of {m.group(2)} images loaded"


# --------------------------------------------------------------------------- the rules

SNAKEFILE = """
from snakemake.utils import validate

configfile: "config.yaml"
validate(config, "{root}/workflow/schemas/config.schema.yaml")

include: "{root}/workflow/rules/common.smk"
include: "{root}/workflow/rules/lightcurves.smk"
include: "{root}/workflow/rules/qa.smk"

report: "{root}/workflow/report/workflow.rst"

rule all:
    input:
        lambda wc: lightcurve_targets() + qa_targets(),
    default_target: True
"""


def _snakemake(workdir, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"), "--directory",
           str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.mark.skipif(subprocess.run([sys.executable, "-m", "snakemake", "--version"],
                                   capture_output=True).returncode != 0, reason="snakemake is not installed")
def test_lightcurve_and_qa_rules_and_snakemake_report(tmp_path):
    wd = tmp_path / "wd"
    out = wd / "results" / "lcqa"
    stage1 = out / "stage1"
    # a local program whose Stage 1 products exist already: 2 detectors x 2 segments
    truths = {}
    for det, seed in (("nrs1", 5), ("nrs2", 6)):
        paths, truths[det] = make_tso_rateints(stage1, detector=det, nints=60, nseg=2, nx=48, seed=seed,
                                              transient_bad=((3, 15, 20),))
    (wd / "uncal").mkdir(parents=True)
    for p in sorted(stage1.glob("*_rateints.fits")):
        (wd / "uncal" / p.name.replace("_rateints.fits", "_uncal.fits")).write_bytes(b"")
    tr = truths["nrs1"]
    cfg = {"program": "lcqa", "inputs": {"source": "local", "uncal_dir": "uncal"},
           "steps": ["dq_init", "saturation", "ramp_fit"],
           "lightcurves": {"box_halfwidth": 4, "bkg_gap": 2, "bin_width": 16,
                           "transit": {"t0": float(tr["t0"]) + 2400000.5, "duration": float(tr["duration_h"]),
                                       "ingress": float(tr["ingress_h"])}},
           "qa": {"title": "rules test"}}
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "Snakefile").write_text(SNAKEFILE.format(root=ROOT))
    # a stale diagnostics plot: picked up by the page (no diagnostics rules in this workflow)
    _png(out / "diagnostics" / "jw09999001001_04101_00001-seg001_nrs1_destripe.png", "1/f")
    _snakemake(wd, "--cores", "2")
    lc = out / "lightcurves"
    for det in ("nrs1", "nrs2"):
        for name in ("whitelight.ecsv", "whitelight.csv", "whitelight.png", "spectroscopic.ecsv",
                     "spectroscopic.png", "metrics.csv", "metrics.png", "transit.json", "transit.png"):
            assert (lc / f"{det}_{name}").stat().st_size > 0, f"{det}_{name}"
        res = json.loads((lc / f"{det}_transit.json").read_text())
        assert abs(res["depth"] - 0.01) < 3 * res["depth_err"], res
        log = (out / "logs" / f"lightcurves_{det}.log").read_text()
        assert "pass 2 (extraction): segment 2/2" in log
    page = (out / "qa" / "index.html").read_text()
    assert page.count("<img ") == 2 * 4 + 1     # white, spectroscopic, metrics, transit per detector + stale one
    assert "nrs2_transit.png" in page and "destripe.png" in page and "rules test" in page
    # snakemake --report
    _snakemake(wd, "--report", "report.html")
    rep = (wd / "report.html").read_text(errors="replace")
    assert len(rep) > 10000
    assert "White-light curve of detector nrs1" in rep and "Transit check of detector nrs2" in rep
    assert "rampflow reduced program" in rep and "lcqa" in rep
