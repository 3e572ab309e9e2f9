"""Rate products: writing those a rate step made from a ramp (rate, rateints, fitopt), and the
pass of a step that acts on rate products (gain_scale: rate -> gain_scale, rateints ->
gain_scaleints)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from .. import io
from ..meta import ExposureMeta
from ..steps import get_step_class
from .loading import load_step
from .provenance import provenance

log = logging.getLogger("rampflow")

#: the arrays of a rate / rateints product
RATE_KEYS = ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE")


def scratch_array(folder):
    """An allocator ``(shape, dtype) -> array`` of arrays memory-mapped onto scratch files in
    ``folder`` (the products' folder): unnamed files (``O_TMPFILE`` where the file system has
    it) that vanish with the process, however it ends. A rate step's per-integration arrays
    (rateints: 200 MB for a 155-integration 32 x 2048 segment) then live in the page cache,
    written back to disk when memory is short, rather than in the job's private memory next
    to the row stream's window; the products written from them are the same."""

    folder = Path(folder)

    def new(shape, dtype):
        folder.mkdir(parents=True, exist_ok=True)  # the products' folder, made by their writers too
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if nbytes == 0:
            return np.empty(shape, dtype=dtype)
        with tempfile.TemporaryFile(dir=folder) as f:  # the map keeps the file open
            f.truncate(nbytes)
            return np.memmap(f, dtype=dtype, mode="r+", shape=tuple(shape))

    return new


def write(step, rf, outputs: dict, updates: dict, history: list) -> None:
    """Write the products of rate step ``step`` (after its last chunk) that ``outputs`` asks
    for; headers carried from the ramp ``rf``, plus ``updates`` / ``history``."""
    arrays = step.product_arrays()
    for suffix in step.products:
        if suffix not in outputs:
            continue
        if arrays.get(suffix) is None:
            raise ValueError(f"step {step.name!r}: product {suffix!r} was asked for but not made "
                             f"(parameters {step.params})")
        model = step.product_models[suffix]
        tables = None
        if model == "CubeModel" and "INT_TIMES" in rf.tables:
            tables = {"INT_TIMES": rf.tables["INT_TIMES"]}
        io.write_image_product(outputs[suffix], arrays[suffix], rf.primary_header, rf.sci_header, updates,
                               history, datamodel=model, tables=tables, order=list(arrays[suffix]))


def run_products_pass(name: str, sources: dict, outputs: dict, *, params: dict | None,
                      overrides: dict | None, crds_context: str | None, use_crds_pars: bool = True) -> None:
    """Apply the rate-product step ``name`` to each product of ``sources`` (``rate`` and
    ``rateints`` -> path) and write its products (its ``products``, in the same order)."""
    cls = get_step_class(name)
    for src_key, dst_key in zip(cls.reads, cls.products):
        src = sources[src_key]
        if dst_key not in outputs:
            continue
        prod = io.read_image_product(src)
        primary = prod["primary"]
        ny, nx = prod["SCI"].shape[-2:]
        meta = ExposureMeta.from_headers(primary, {}, str(src), (1, 1, ny, nx))
        step, paths, ctx, recorded = load_step(name, meta, params=params, overrides=overrides,
                                               crds_context=crds_context, use_crds_pars=use_crds_pars)
        arrays = {k: prod[k] for k in RATE_KEYS if k in prod}
        step.process_product(arrays)
        updates, history = provenance(step, paths, ctx, overrides, recorded)
        tables = {k: v for k, v in prod.items() if k == "INT_TIMES"}
        io.write_image_product(outputs[dst_key], arrays, primary, prod.get("SCI_header"), updates, history,
                               datamodel=primary.get("DATAMODL", "ImageModel"), tables=tables or None)
        log.info("%s: %s -> %s (%s)", name, Path(src).name, Path(outputs[dst_key]).name,
                 f"skipped: {step.skipped}" if step.skipped else "done")
