"""The QA page and the light-curve / QA rules.

* build_report on hand-made products, a manifest of plots, tables and results, and logs: the
  page lists exactly the manifest's entries, each in its section, sections in a fixed order;
  every plot is embedded and named, provenance / DQ / warnings / settings filled from defaults
  are shown, nothing external is referenced;
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
from astropy.table import Table

from rampflow import io, names
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


STEM = "jw09999001001_04101_00001-seg001_nrs1"


def _entry(section, path, kind, stem=None, detector=None):
    """A manifest entry as rampflow.wiring.manifest writes it (title: the section's title)."""
    return {"section": section, "title": dict(report.SECTIONS).get(section, section), "path": str(path),
            "kind": kind, "stem": stem, "detector": detector, "caption": f"workflow/report/{Path(path).stem}.rst"}


def _inputs(tmp_path):
    """Products, a manifest of them and of plots and tables in every kind, and logs; plus two
    PNGs in the diagnostics folder that the manifest does not list."""
    products = _products(tmp_path)
    lc, diag = tmp_path / "lightcurves", tmp_path / "diagnostics"
    manifest = [_entry("exposures", p, "product", stem=names.product_stem(p), detector="nrs1") for p in products]
    manifest.append(_entry("lightcurves", _png(lc / "nrs1_whitelight.png", "white"), "plot", detector="nrs1"))
    metrics = lc / "nrs1_metrics.csv"
    metrics.write_text("integration,time_hours,jump_groups,jump_pixels,saturated_frac,background\n"
                       "0,0.0,10,8,0.0,1.5\n1,0.1,12,9,0.001,1.6\n")
    white = Table({"time_hours": [0.0, 0.1, 0.2], "flux": [1.0, 0.99, 1.0]})
    white.write(lc / "nrs1_whitelight.ecsv", format="ascii.ecsv")
    white.write(lc / "nrs1_whitelight.csv", format="ascii.csv")
    transit = lc / "nrs1_transit.json"
    transit.write_text(json.dumps({"detector": "nrs1", "depth": 0.0101, "depth_err": 0.0002, "depth_ppm": 10100.0,
                                   "depth_err_ppm": 200.0, "reduced_chi2": 1.1, "error_scaled": True,
                                   "t0": 60400.3, "duration_hours": 1.0, "ingress_hours": 0.15, "n_points": 12,
                                   "n_in_transit": 5, "time_scale": "BJD_TDB",
                                   "bins": [{"x_start": 0, "x_stop": 16, "depth": 0.01, "depth_err": 0.0003,
                                             "reduced_chi2": 0.9}]}))
    manifest += [_entry("lightcurves", lc / "nrs1_whitelight.ecsv", "lightcurve", detector="nrs1"),
                 _entry("lightcurves", lc / "nrs1_whitelight.csv", "lightcurve", detector="nrs1"),
                 _entry("lightcurves", metrics, "table", detector="nrs1"),
                 _entry("lightcurves", transit, "json", detector="nrs1")]
    for section, name in (("onef", "destripe"), ("saturation", "saturation"), ("jumps", "jump_counts"),
                          ("dq", "dq_tally")):
        png = _png(diag / f"{STEM}_{name}.png", name)
        manifest.append(_entry(section, png, "plot", stem=STEM, detector="nrs1"))
    tally = diag / f"{STEM}_dq_tally.csv"
    tally.write_text("array,step,flag,bit,count,percent,added\nPIXELDQ,saturation,SATURATED,1,2,0.1,2\n")
    manifest.append(_entry("dq", tally, "table", stem=STEM, detector="nrs1"))
    # in the folder, not in the manifest: never on the page
    _png(diag / "odd_thing.png", "other")
    _png(diag / f"{STEM}_refpix.png", "refpix")
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "step_a.log").write_text("2026-01-01 INFO rampflow: fine\n"
                                       "2026-01-01 WARNING rampflow.x: first <warning> & co\n")
    (logdir / "step_b.log").write_text("2026-01-01 WARNING py.warnings: second warning\n")
    return products, manifest, sorted(logdir.glob("*.log"))


def _section(page, anchor):
    """The HTML of one section of the page."""
    start = page.index(f"<section id='{anchor}'>")
    return page[start: page.index("</section>", start)]


CFG = {"program": "demo-qa", "steps": ["dq_init", "saturation", "ramp_fit"], "inputs": {"source": "local"},
       "qa": {"title": "QA of demo"}}


def test_build_report_references_every_plot(tmp_path):
    products, manifest, logs = _inputs(tmp_path)
    out = report.build_report(tmp_path / "qa" / "index.html", config=CFG, manifest=manifest, logs=logs)
    page = out.read_text()
    plots = [Path(e["path"]) for e in manifest if e["kind"] == "plot"]
    # every plot of the manifest embedded once, named, as a data URI; nothing else
    imgs = re.findall(r"<img [^>]*>", page)
    assert len(imgs) == len(plots)
    for p in plots:
        assert f"data-file='{p.name}'" in page
    assert all("src='data:image/png;base64," in i for i in imgs)
    assert "odd_thing.png" not in page and f"{STEM}_refpix.png" not in page
    # nothing external: no links, scripts, remote URLs
    assert not re.search(r"<(link|script)\b", page)
    assert "http://" not in page and "https://" not in page
    # sections: the fixed ones and the manifest's, each listing exactly its entries
    for anchor in ("onef", "lightcurves", "satjump", "warnings", "dq-tallies", "provenance", "exposures"):
        assert f"id='{anchor}'" in page
    assert "id='other'" not in page and "id='tables'" not in page
    assert "destripe.png" in _section(page, "onef")
    for e in manifest:
        name = Path(e["path"]).name
        assert name in _section(page, e["section"]), (e["section"], name)
        for other in {x["section"] for x in manifest} - {e["section"]}:
            assert name not in _section(page, other), (other, name)
    # exposures and provenance
    for p in products:
        assert names.product_stem(p) in page
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
    # the ECSV twin of a CSV light curve is named, its table shown once
    assert "nrs1_whitelight.ecsv</a>: the same table as nrs1_whitelight.csv" in page
    assert page.count("<th>flux</th>") == 1
    # no defaults list from the workflow: no defaults table
    assert "Settings filled from defaults" not in page


def test_sections_in_fixed_order_and_only_with_entries(tmp_path):
    products, manifest, logs = _inputs(tmp_path)
    assert [sid for sid, _ in report.SECTIONS] == ["exposures", "lightcurves", "onef", "saturation", "jumps",
                                                   "dq", "linearity", "refpix", "ta"]
    # the manifest in reverse order: the page keeps its own section order
    page = report.build_report(tmp_path / "index.html", config=CFG, manifest=manifest[::-1], logs=logs).read_text()
    anchors = re.findall(r"<section id='([^']+)'>", page)
    assert anchors == ["summary", "exposures", "provenance", "dq-tallies", "satjump", "lightcurves", "onef",
                       "saturation", "jumps", "dq", "warnings", "config"]
    nav = re.findall(r"<a href='#([^']+)'>", page)
    assert nav == anchors
    assert "<h2>1/f noise: before / after</h2>" in page and "<h2>Linearity</h2>" not in page
    # a plot of the manifest whose file is missing is still listed, as not found
    gone = _entry("refpix", tmp_path / "diagnostics" / "gone_refpix.png", "plot", stem=STEM)
    page = report.build_report(tmp_path / "index.html", config=CFG, manifest=manifest + [gone]).read_text()
    assert "Not found: gone_refpix.png" in _section(page, "refpix")
    with pytest.raises(ValueError, match="unknown section 'other'"):
        report.build_report(tmp_path / "index.html", config=CFG, manifest=[_entry("other", "x.png", "plot")])
    with pytest.raises(ValueError, match="unknown kind 'image'"):
        report.build_report(tmp_path / "index.html", config=CFG, manifest=[_entry("dq", "x.png", "image")])


def test_settings_filled_from_defaults(tmp_path):
    cfg = dict(CFG, references={"crds_context": None, "overrides": {}}, compute={"chunk_mb": 256},
               _defaults_applied=["references.crds_context", "compute.chunk_mb", "qa.max_warnings"])
    page = report.build_report(tmp_path / "index.html", config=cfg).read_text()
    table = _section(page, "provenance")
    table = table[table.index("Settings filled from defaults"):]
    assert "<tr><td>compute.chunk_mb</td><td class='num'>256</td></tr>" in table
    assert "<tr><td>references.crds_context</td><td>null</td></tr>" in table
    assert "<tr><td>qa.max_warnings</td><td>(not in the configuration)</td></tr>" in table
    assert "_defaults_applied" not in _section(page, "config")
    page = report.build_report(tmp_path / "index.html", config=dict(cfg, _defaults_applied=[])).read_text()
    assert "every setting was given by the configuration" in page


def test_transit_not_fitted_shows_its_warning(tmp_path):
    warning = "nrs1: transit not fitted: no integration falls inside the transit window (t0 60000.00000, ...)"
    result = tmp_path / "nrs1_transit.json"
    result.write_text(json.dumps({"detector": "nrs1", "fitted": False, "warning": warning, "t0": 60000.0,
                                  "n_points": 12, "n_in_transit": 0, "time_scale": "BJD_TDB"}))
    page = report.build_report(tmp_path / "index.html", config=CFG,
                               manifest=[_entry("lightcurves", result, "json", detector="nrs1")]).read_text()
    assert f"<p class='warn'>{warning}</p>" in _section(page, "lightcurves")
    assert "nrs1_transit.json" in _section(page, "lightcurves") and "<pre>" not in _section(page, "lightcurves")
    assert "not fitted</b>nrs1 depth" in _section(page, "summary")


def test_many_plots_grouped_by_exposure(tmp_path):
    stems = [STEM, STEM.replace("seg001", "seg002")]
    manifest = [_entry("jumps", _png(tmp_path / f"{s}_jump_{k}.png", f"{k}"), "plot", stem=s, detector="nrs1")
                for s in stems for k in range(4)]
    page = report.build_report(tmp_path / "index.html", config=CFG, manifest=manifest).read_text()
    jumps = _section(page, "jumps")
    assert jumps.count("<img ") == 8
    blocks = re.findall(r"<details( open)?><summary>([^<]+)</summary>", jumps)
    assert blocks == [(" open", f"{stems[0]} (4)"), ("", f"{stems[1]} (4)")]
    # manifest order kept inside a block
    assert [jumps.index(f"{STEM}_jump_{k}.png") for k in range(4)] == sorted(
        jumps.index(f"{STEM}_jump_{k}.png") for k in range(4))


def test_report_without_products_or_plots(tmp_path):
    out = report.build_report(tmp_path / "index.html", config={"program": "empty"})
    page = out.read_text()
    assert "No Stage 1 products given" in page and "<img" not in page


_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_report_renders_in_headless_chromium(tmp_path):
    products, manifest, logs = _inputs(tmp_path)
    out = report.build_report(tmp_path / "qa" / "index.html", config={"program": "demo"}, manifest=manifest,
                              logs=logs)
    plots = [e for e in manifest if e["kind"] == "plot"]
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
           "qa": {"title": "rules test", "diagnostics": False}}     # no ramp products to diagnose here
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "Snakefile").write_text(SNAKEFILE.format(root=ROOT))
    # a stale diagnostics plot, not in the manifest: never on the page
    _png(out / "diagnostics" / "jw09999001001_04101_00001-seg001_nrs1_destripe.png", "1/f")
    _snakemake(wd, "--cores", "2")
    lc = out / "lightcurves"
    for det in ("nrs1", "nrs2"):
        for name in ("whitelight.ecsv", "whitelight.csv", "whitelight.png", "spectroscopic.ecsv",
                     "spectroscopic.png", "metrics.csv", "metrics.png", "trace.png", "transit.json",
                     "transit.png"):
            assert (lc / f"{det}_{name}").stat().st_size > 0, f"{det}_{name}"
        res = json.loads((lc / f"{det}_transit.json").read_text())
        assert abs(res["depth"] - 0.01) < 3 * res["depth_err"], res
        log = (out / "logs" / f"lightcurves_{det}.log").read_text()
        assert "pass 2 (extraction): segment 2/2" in log
    page = (out / "qa" / "index.html").read_text()
    assert page.count("<img ") == 2 * 5         # trace, white, spectroscopic, metrics, transit per detector
    assert "nrs2_transit.png" in page and "rules test" in page
    assert "destripe.png" not in page           # the stale plot is not in the manifest
    # snakemake --report
    _snakemake(wd, "--report", "report.html")
    rep = (wd / "report.html").read_text(errors="replace")
    assert len(rep) > 10000
    assert "White-light curve of detector nrs1" in rep and "Transit check of detector nrs2" in rep
    assert "rampflow reduced program" in rep and "lcqa" in rep
