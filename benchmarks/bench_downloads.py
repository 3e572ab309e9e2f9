#!/usr/bin/env python
"""Wall time of the workflow's MAST downloads (one mast_download job per file) as a function of
``inputs.mast.connections``, against the loopback fake MAST of the tests (no internet).

The fake server holds each file's answer for ``--latency`` seconds (as a busy server or a long
transfer does) and serves ``--size-mb`` of data per file; the run downloads ``--files`` files
and nothing else (the targets are the uncal files), so the figures are the query plus the
downloads, Snakemake's job start-up included. It also prints the most downloads the server saw
at once.

    python benchmarks/bench_downloads.py                          # 8 files, connections 1, 2, 4
    python benchmarks/bench_downloads.py --files 16 --connections 1 8 --latency 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fakemast import FakeMast  # noqa: E402

FIELDS = {"proposal_id": "9999", "instrument_name": "NIRSPEC/SLIT", "filters": "F290LP;G395H",
          "target_name": "SIM-1", "obs_collection": "JWST"}


def run(nfiles: int, size_mb: float, latency: float, connections: int, cores: int) -> tuple[float, int]:
    names = [f"jw09999001001_04101_00001-seg{s:03d}_nrs1_uncal.fits" for s in range(1, nfiles + 1)]
    block = bytes(range(256)) * 4096
    data = (block * (int(size_mb * 1e6) // len(block) + 1))[: int(size_mb * 1e6)]
    with FakeMast() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.add_jwst_exposures({n: data for n in names}, level3_obs_id="jw09999-o001_t001_nirspec",
                                dataproduct_type="timeseries", **FIELDS)
        fake.slow(latency)
        cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        cfg["program"] = "bench"
        cfg["inputs"] = {"source": "mast", "mast": {**FIELDS, "server": fake.url, "connections": connections}}
        cfg["references"] = {"overrides": {}}
        (Path(tmp) / "config").mkdir()
        (Path(tmp) / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", tmp,
               "--cores", str(cores), *[f"results/bench/uncal/{n}" for n in names]]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0, fake.max_active_downloads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--latency", type=float, default=3.0, help="seconds the server holds each answer")
    ap.add_argument("--connections", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--cores", type=int, default=8, help="snakemake --cores (downloads are local jobs)")
    args = ap.parse_args()
    print(f"{args.files} files of {args.size_mb} MB, {args.latency} s latency each")
    print(f"{'connections':>11} {'wall s':>8} {'at once':>8}")
    for n in args.connections:
        wall, peak = run(args.files, args.size_mb, args.latency, n, args.cores)
        print(f"{n:>11} {wall:8.1f} {peak:>8}")


if __name__ == "__main__":
    main()
