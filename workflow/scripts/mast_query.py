"""Snakemake adapter: query MAST for the program's uncal products and write the manifest of the
files to download (each is fetched by its own mast_download job)."""
import os
from pathlib import Path

from rampflow import logutil, mast

log = logutil.setup(snakemake.log[0])
manifest = Path(snakemake.output.manifest)
entries = mast.plan(dict(snakemake.params.mast), manifest, token=os.environ.get("MAST_API_TOKEN"))
log.info("%d files to download, %.1f MB in all (manifest %s)", len(entries),
         sum(e["size"] or 0 for e in entries) / 1e6, manifest)
