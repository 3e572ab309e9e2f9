"""Snakemake adapter: download one uncal file of the MAST manifest (resumable and verified).
The options (server, retries, backoff, timeout, verify_size) come from the config, not from
params, so that changing them does not make Snakemake download verified files again."""
import os

from rampflow import logutil, mast

log = logutil.setup(snakemake.log[0])
try:
    fetched = mast.fetch_one(dict(snakemake.config["inputs"]["mast"]), snakemake.input.manifest,
                             snakemake.wildcards.stem, snakemake.output.uncal, token=os.environ.get("MAST_API_TOKEN"))
except mast.DownloadError as exc:
    log.error("%s", exc)  # in this file's own log too, not only in Snakemake's
    raise
log.info("%s: %s", snakemake.output.uncal, "downloaded" if fetched else "already here and verified")
