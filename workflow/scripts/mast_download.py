"""Snakemake adapter: find the program's uncal products in MAST and download them."""
import os
from pathlib import Path

from rampflow import logutil, mast

log = logutil.setup(snakemake.log[0])
manifest = Path(snakemake.output.manifest)
entries = mast.fetch(dict(snakemake.params.mast), manifest.parent, manifest,
                     token=os.environ.get("MAST_API_TOKEN"))
log.info("downloaded %d products into %s", len(entries), manifest.parent)
