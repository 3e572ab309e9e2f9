"""Run ramp steps on files: read in chunks, apply a Step, write the product atomically.

This is the glue between files and the pure step functions; Snakemake scripts and the
``rampflow step`` command call it. Memory stays bounded: a step sees one chunk of
integrations (or of rows, for steps that need every integration of a pixel) at a time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import numpy as np

from . import io, references
from .steps import get_step_class

log = logging.getLogger("rampflow")

DEFAULT_CHUNK_MB = 512


def set_threads(threads: int | None) -> None:
    """Let numba use ``threads`` threads (the Snakemake rule's ``threads:``)."""
    if not threads:
        return
    io.set_io_threads(threads)
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))


def ref_keyword(reftype: str) -> str:
    """jwst's R_ keyword for a reference type (R_ + first 6 letters, upper case)."""
    return "R_" + reftype.upper()[:6]


def chunk_ranges(n: int, size: int):
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def load_step(name: str, meta, overrides=None, crds_context=None, params=None):
    """Resolve and load the reference files of step ``name`` and build the Step."""
    cls = get_step_class(name)
    cls.check_params(params or {})
    paths, ctx = references.resolve(meta, cls.reftypes, overrides, crds_context)
    refs = {rt: references.load_reference(rt, p, meta) for rt, p in paths.items()}
    return cls(meta, refs, **(params or {})), paths, ctx


def ref_value(path, overrides: dict | None) -> str:
    """What jwst records in R_<TYPE>: the path as given for an override, else crds://<name>."""
    given = {str(v) for v in (overrides or {}).values()}
    return str(path) if str(path) in given else f"crds://{Path(path).name}"


def provenance(step, paths: dict, ctx: str | None, overrides: dict | None = None) -> tuple[dict, list[str]]:
    """Header keywords and HISTORY lines recording what ran."""
    updates = {step.keyword: ("SKIPPED" if step.skipped else "COMPLETE", f"rampflow {step.name}")}
    for rt, p in paths.items():
        updates[ref_keyword(rt)] = (ref_value(p, overrides), f"{rt} reference file")
    if ctx:
        updates["CRDS_CTX"] = (ctx, "CRDS context used")
    updates.update(step.header_updates())
    history = [f"rampflow {step.name}: {_fmt_params(step.params)}"]
    if step.skipped:
        history.append(f"rampflow {step.name} skipped: {step.skipped}")
    return updates, history


def _prefetch(rf, name: str) -> None:
    """Before row chunks: one sequential pass through the input (see RampFile.prefetch)."""
    t = time.perf_counter()
    if rf.prefetch():
        log.info("%s: read %s into the page cache in %.1f s", name, Path(rf.path).name, time.perf_counter() - t)


def run_step(name: str, in_path, out_path, *, params: dict | None = None, overrides: dict | None = None,
             crds_context: str | None = None, chunk_mb: float = DEFAULT_CHUNK_MB,
             threads: int | None = None) -> Path:
    """Apply ramp step ``name`` to ``in_path`` and write ``out_path`` (atomically).

    Raises with a message naming the file / key at fault; on any error no output exists.
    """
    set_threads(threads)
    t0 = time.perf_counter()
    with io.open_ramp(in_path) as rf:
        step, paths, ctx = load_step(name, rf.meta, overrides, crds_context, params)
        updates, history = provenance(step, paths, ctx, overrides)
        nints, ngroups, ny, nx = rf.shape
        pdq = rf.pixeldq()
        log.info("%s: %s on %s (%d ints x %d groups x %d x %d)%s", name, Path(in_path).name,
                 rf.meta.detector, nints, ngroups, ny, nx,
                 f" -- skipped: {step.skipped}" if step.skipped else "")
        with io.RampWriter(out_path, rf, updates=updates, history=history, extra=step.extra_arrays()) as w:
            if step.chunking == "rows" and not step.skipped:
                bytes_per_row = nints * ngroups * nx * 5
                nrow = max(1, int(chunk_mb * 2**20 // bytes_per_row) - 2 * step.halo)
                chunks = list(chunk_ranges(ny, nrow))
                _prefetch(rf, name)
                rf.reserve(nints, min(ny, nrow + 2 * step.halo))
                for k, rows in enumerate(chunks):
                    lo = max(0, rows.start - step.halo)
                    hi = min(ny, rows.stop + step.halo)
                    ext = slice(lo, hi)
                    sci, gdq = rf.read(slice(None), ext, reuse=True)
                    sub = pdq[ext].copy()
                    step.process(sci, gdq, sub, slice(0, nints), ext)
                    inner = slice(rows.start - lo, rows.stop - lo)
                    w.write(slice(None), rows, sci[:, :, inner], gdq[:, :, inner])
                    pdq[rows] = sub[inner]
                    log.info("%s: rows %d-%d done (%d/%d chunks)", name, rows.start, rows.stop - 1,
                             k + 1, len(chunks))
            else:
                if step.chunking == "whole":
                    nper = nints
                else:
                    nper = max(1, int(chunk_mb * 2**20 // rf.nbytes_per_int))
                chunks = list(chunk_ranges(nints, nper))
                for k, ints in enumerate(chunks):
                    sci, gdq = rf.read(ints, reuse=True)
                    if not step.skipped:
                        step.process(sci, gdq, pdq, ints, slice(0, ny))
                    w.write(ints, slice(None), sci, gdq)
                    log.info("%s: integrations %d-%d done (%d/%d chunks)", name, ints.start + 1,
                             ints.stop, k + 1, len(chunks))
            w.write_pixeldq(pdq)
            late = {k: v for k, v in step.header_updates().items() if updates.get(k) != v}
            if late:  # keywords the step computed while processing (e.g. jump's PRIMECRS)
                w.update_primary(late)
    log.info("%s: wrote %s in %.1f s", name, out_path, time.perf_counter() - t0)
    return Path(out_path)


RATE_KEYS = ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE")


def run_ramp_fit(in_path, rate_path, rateints_path, fitopt_path=None, *, params: dict | None = None,
                 overrides: dict | None = None, crds_context: str | None = None,
                 chunk_mb: float = DEFAULT_CHUNK_MB, threads: int | None = None) -> None:
    """Fit the ramps of ``in_path`` and write rate, rateints (and fitopt) atomically.

    Works on chunks of rows holding every integration (what a pixel's fit needs), so memory
    stays at about ``chunk_mb`` whatever the number of integrations.
    """
    from .steps import ramp_fit

    set_threads(threads)
    params = dict(params or {})
    t0 = time.perf_counter()
    with io.open_ramp(in_path) as rf:
        meta = rf.meta
        paths, ctx = references.resolve(meta, ("readnoise", "gain"), overrides, crds_context)
        rn = references.load_reference("readnoise", paths["readnoise"], meta)
        gain = references.load_reference("gain", paths["gain"], meta)
        if fitopt_path is not None:
            params["save_opt"] = True
        avdark = rf.extra_image("AVDRKCUR")
        drop1 = rf.primary_header.get("DRPFRMS1")
        setup = ramp_fit.prepare_ramp_fit(meta, rn, gain, average_dark_current=avdark,
                                          drop_frames1=None if drop1 is None else int(drop1), **params)
        nints, ngroups, ny, nx = rf.shape
        pdq_all = rf.pixeldq()
        rate = {k: np.empty((ny, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_KEYS}
        ints = {k: np.empty((nints, ny, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_KEYS}
        opt_chunks = []
        bytes_per_row = nints * ngroups * nx * 5
        nrow = max(1, int(chunk_mb * 2**20 // bytes_per_row))
        chunks = list(chunk_ranges(ny, nrow))
        _prefetch(rf, "ramp_fit")
        rf.reserve(nints, min(ny, nrow))
        for k, rows in enumerate(chunks):
            sci, gdq = rf.read(slice(None), rows, reuse=True)
            res = ramp_fit.fit_ramps(sci, gdq, pdq_all[rows], setup, rows)
            for key in RATE_KEYS:
                rate[key][rows] = res.rate[key]
                ints[key][:, rows] = res.rateints[key]
            if fitopt_path is not None and res.opt is not None:
                opt_chunks.append((rows, res.opt))
            log.info("ramp_fit: rows %d-%d done (%d/%d chunks)", rows.start, rows.stop - 1, k + 1, len(chunks))
        updates = {"S_RAMP": ("COMPLETE", "rampflow ramp_fit"),
                   "R_READNO": (ref_value(paths["readnoise"], overrides), "readnoise reference file"),
                   "R_GAIN": (ref_value(paths["gain"], overrides), "gain reference file")}
        if ctx:
            updates["CRDS_CTX"] = (ctx, "CRDS context used")
        updates.update(getattr(setup, "header_updates", lambda: {})())
        history = [f"rampflow ramp_fit: {_fmt_params(setup.params)}"]
        tables = {"INT_TIMES": rf.tables["INT_TIMES"]} if "INT_TIMES" in rf.tables else None
        io.write_image_product(rate_path, rate, rf.primary_header, rf.sci_header, updates, history,
                               datamodel="ImageModel")
        io.write_image_product(rateints_path, ints, rf.primary_header, rf.sci_header, updates, history,
                               datamodel="CubeModel", tables=tables)
        if fitopt_path is not None:
            opt = ramp_fit.assemble_opt(opt_chunks, (ny, nx))
            io.write_image_product(fitopt_path, opt, rf.primary_header, None, updates, history,
                                   datamodel="RampFitOutputModel", order=list(opt))
    log.info("ramp_fit: wrote %s and %s in %.1f s", rate_path, rateints_path, time.perf_counter() - t0)


def run_gain_scale(in_paths, out_paths, *, overrides: dict | None = None, crds_context: str | None = None) -> None:
    """jwst's gain_scale on rate and rateints products (SKIPPED unless the GAIN file has GAINFACT)."""
    from .steps import gain_scale as gs

    for src, dst in zip(in_paths, out_paths):
        prod = io.read_image_product(src)
        primary = prod["primary"]
        meta = _meta_from_primary(primary, src, prod["SCI"].shape)
        paths, ctx = references.resolve(meta, ("gain",), overrides, crds_context)
        gain = references.load_reference("gain", paths["gain"], meta)
        arrays = {k: prod[k] for k in RATE_KEYS if k in prod}
        arrays, factor = gs.gain_scale(arrays, gain.header)
        updates = {"S_GANSCL": ("SKIPPED" if factor is None else "COMPLETE", "rampflow gain_scale"),
                   "R_GAIN": (ref_value(paths["gain"], overrides), "gain reference file")}
        if factor is not None:
            updates["GAINFACT"] = (float(factor), "gain scale factor applied")
        tables = {k: v for k, v in prod.items() if k == "INT_TIMES"}
        io.write_image_product(dst, arrays, primary, prod.get("SCI_header"), updates,
                               [f"rampflow gain_scale: factor={factor}"],
                               datamodel=primary.get("DATAMODL", "ImageModel"), tables=tables or None)
        log.info("gain_scale: %s -> %s (%s)", Path(src).name, Path(dst).name,
                 "skipped: no GAINFACT in the gain reference" if factor is None else f"x{factor}")


def _meta_from_primary(primary, path, shape):
    from .meta import ExposureMeta

    ny, nx = shape[-2:]
    return ExposureMeta.from_headers(primary, {}, str(path), (1, 1, ny, nx))


def run_chain(steps: list[str], in_path, out_paths: dict, *, params: dict | None = None,
              overrides: dict | None = None, crds_context: str | None = None,
              chunk_mb: float = DEFAULT_CHUNK_MB, threads: int | None = None) -> list[Path]:
    """Stream chunks of integrations through several ramp steps in memory.

    ``steps`` are applied in order to each chunk; ``out_paths`` maps step name -> product
    path for the intermediates to write (the last step's is required). The products are
    identical to running the steps one by one with :func:`run_step` (a test checks it bit
    for bit), but the ramp is read once and nothing else is written.

    Every step must work on integration chunks (``chunking == "integrations"``). PIXELDQ is
    kept per step: each step's updates OR reference-file flags into it, the same for every
    chunk, so the state a step sees equals what it would see after its predecessor finished.
    """
    params = params or {}
    last = steps[-1]
    if last not in out_paths:
        raise ValueError(f"run_chain: the last step {last!r} needs an output path")
    unknown = set(out_paths) - set(steps)
    if unknown:
        raise ValueError(f"run_chain: outputs for steps not in the chain: {sorted(unknown)}")
    set_threads(threads)
    t0 = time.perf_counter()
    with io.open_ramp(in_path) as rf, contextlib.ExitStack() as stack:
        meta = rf.meta
        objs, updates, history, extra = [], {}, [], {}
        writers = {}
        for name in steps:
            step, paths, ctx = load_step(name, meta, overrides, crds_context, params.get(name))
            if step.chunking != "integrations":
                raise ValueError(f"run_chain: step {name!r} works on {step.chunking}, not integration "
                                 "chunks; run it on its own")
            objs.append(step)
            u, h = provenance(step, paths, ctx, overrides)
            updates.update(u)
            history += h
            extra.update(step.extra_arrays())
            if name in out_paths:
                writers[name] = stack.enter_context(io.RampWriter(out_paths[name], rf, updates=dict(updates),
                                                                  history=list(history), extra=dict(extra)))
        nints, ngroups, ny, nx = rf.shape
        base_pdq = rf.pixeldq()
        pdqs: list[np.ndarray | None] = [None] * len(objs)
        nper = max(1, int(chunk_mb * 2**20 // rf.nbytes_per_int))
        chunks = list(chunk_ranges(nints, nper))
        log.info("chain %s on %s: %d ints x %d groups x %d x %d in %d chunks", "+".join(steps),
                 Path(in_path).name, nints, ngroups, ny, nx, len(chunks))
        for k, ints in enumerate(chunks):
            sci, gdq = rf.read(ints, reuse=True)
            for i, step in enumerate(objs):
                if pdqs[i] is None:
                    pdqs[i] = (base_pdq if i == 0 else pdqs[i - 1]).copy()
                if not step.skipped:
                    step.process(sci, gdq, pdqs[i], ints, slice(0, ny))
                if step.name in writers:
                    writers[step.name].write(ints, slice(None), sci, gdq)
            log.info("chain: integrations %d-%d done (%d/%d chunks)", ints.start + 1, ints.stop, k + 1, len(chunks))
        late: dict = {}
        for i, step in enumerate(objs):
            late.update(step.header_updates())
            if step.name in writers:
                writers[step.name].write_pixeldq(pdqs[i])
                writers[step.name].update_primary(dict(late))
    log.info("chain: wrote %s in %.1f s", ", ".join(str(p) for p in out_paths.values()), time.perf_counter() - t0)
    return [Path(out_paths[s]) for s in steps if s in out_paths]
