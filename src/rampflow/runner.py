"""Run ramp steps on files: read in chunks, apply a Step, write the product atomically.

This is the glue between files and the pure step functions; Snakemake scripts and the
``rampflow step`` command call it. Memory stays bounded: a step sees one chunk of
integrations (or of rows, for steps that need every integration of a pixel) at a time.

* :func:`run_step`: one ramp step, file to file.
* :func:`run_chain`: several integration-chunk steps on each chunk in memory (compute.fuse).
* :func:`run_ramp_fit`: rate / rateints / fitopt from a ramp.
* :func:`run_jump_ramp_fit`: jump and the fit on the same row chunks (compute.fuse).
* :func:`run_gain_scale`: gain_scale on rate products.
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


def _processed_row_chunks(rf, step, pdq, chunk_mb: float, label: str):
    """Run a row-chunked ``step`` over ``rf``: yield (rows, sci, gdq) of each chunk's interior
    rows after processing, with ``pdq[rows]`` updated. Each chunk is read with ``step.halo``
    rows of context on either side, all integrations; a skipped step is only read. The
    arrays are views into reused buffers, valid until the next chunk is read."""
    nints, _, ny, _ = rf.shape
    halo = 0 if step.skipped else step.halo
    nrow = _rows_per_chunk(rf.shape, chunk_mb, halo)
    chunks = list(chunk_ranges(ny, nrow))
    _prefetch(rf, label)
    rf.reserve(nints, min(ny, nrow + 2 * halo))
    for k, rows in enumerate(chunks):
        ext = slice(max(0, rows.start - halo), min(ny, rows.stop + halo))
        sci, gdq = rf.read(slice(None), ext, reuse=True)
        sub = pdq[ext].copy()
        if not step.skipped:
            step.process(sci, gdq, sub, slice(0, nints), ext)
        inner = slice(rows.start - ext.start, rows.stop - ext.start)
        pdq[rows] = sub[inner]
        yield rows, sci[:, :, inner], gdq[:, :, inner]
        log.info("%s: rows %d-%d done (%d/%d chunks)", label, rows.start, rows.stop - 1, k + 1, len(chunks))


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
            if (step.skipped or not step.modifies_sci) and w.can_copy_sci():
                w.copy_sci()  # SCI passes through unchanged: a kernel copy, then only DQ is written
            if step.chunking == "rows" and not step.skipped:
                for rows, sci, gdq in _processed_row_chunks(rf, step, pdq, chunk_mb, name):
                    w.write(slice(None), rows, sci, gdq)
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


class _RateProducts:
    """Ramp fitting of one exposure, a row chunk at a time, and its rate / rateints / fitopt.

    Shared by :func:`run_ramp_fit` and the fused :func:`run_jump_ramp_fit`, so both make the
    same products from the same chunks.
    """

    def __init__(self, rf, params: dict | None, overrides, crds_context, save_opt: bool):
        from .steps import ramp_fit

        self.rf = rf
        meta = rf.meta
        params = dict(params or {})
        if save_opt:
            params["save_opt"] = True
        paths, self.ctx = references.resolve(meta, ("readnoise", "gain"), overrides, crds_context)
        rn = references.load_reference("readnoise", paths["readnoise"], meta)
        gain = references.load_reference("gain", paths["gain"], meta)
        drop1 = rf.primary_header.get("DRPFRMS1")
        self.setup = ramp_fit.prepare_ramp_fit(meta, rn, gain, average_dark_current=rf.extra_image("AVDRKCUR"),
                                               drop_frames1=None if drop1 is None else int(drop1), **params)
        nints, _, ny, nx = rf.shape
        self.rate = {k: np.empty((ny, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_KEYS}
        self.ints = {k: np.empty((nints, ny, nx), np.uint32 if k == "DQ" else np.float32) for k in RATE_KEYS}
        self.opt_chunks: list = []
        self.save_opt = save_opt
        self.updates = {"S_RAMP": ("COMPLETE", "rampflow ramp_fit"),
                        "R_READNO": (ref_value(paths["readnoise"], overrides), "readnoise reference file"),
                        "R_GAIN": (ref_value(paths["gain"], overrides), "gain reference file")}
        if self.ctx:
            self.updates["CRDS_CTX"] = (self.ctx, "CRDS context used")
        self.updates.update(self.setup.header_updates())
        self.history = [f"rampflow ramp_fit: {_fmt_params(self.setup.params)}"]

    def fit(self, sci, gdq, pdq_rows, rows: slice) -> None:
        from .steps import ramp_fit

        res = ramp_fit.fit_ramps(sci, gdq, pdq_rows, self.setup, rows)
        for key in RATE_KEYS:
            self.rate[key][rows] = res.rate[key]
            self.ints[key][:, rows] = res.rateints[key]
        if self.save_opt and res.opt is not None:
            self.opt_chunks.append((rows, res.opt))

    def write(self, rate_path, rateints_path, fitopt_path=None, before: dict | None = None,
              before_history=()) -> None:
        """Write the products; ``before``/``before_history``: keywords and HISTORY of steps
        fused in front of the fit (they would otherwise come from the input's header)."""
        from .steps import ramp_fit

        rf = self.rf
        updates = {**(before or {}), **self.updates}
        history = list(before_history) + self.history
        tables = {"INT_TIMES": rf.tables["INT_TIMES"]} if "INT_TIMES" in rf.tables else None
        io.write_image_product(rate_path, self.rate, rf.primary_header, rf.sci_header, updates, history,
                               datamodel="ImageModel")
        io.write_image_product(rateints_path, self.ints, rf.primary_header, rf.sci_header, updates, history,
                               datamodel="CubeModel", tables=tables)
        if fitopt_path is not None:
            opt = ramp_fit.assemble_opt(self.opt_chunks, rf.shape[2:])
            io.write_image_product(fitopt_path, opt, rf.primary_header, None, updates, history,
                                   datamodel="RampFitOutputModel", order=list(opt))


def _rows_per_chunk(shape, chunk_mb: float, halo: int = 0) -> int:
    """Rows (all integrations) per chunk for a memory budget of ``chunk_mb`` (float32 SCI +
    uint8 GROUPDQ), halo rows included in the budget."""
    nints, ngroups, _, nx = shape
    bytes_per_row = nints * ngroups * nx * 5
    return max(1, int(chunk_mb * 2**20 // bytes_per_row) - 2 * halo)


def run_ramp_fit(in_path, rate_path, rateints_path, fitopt_path=None, *, params: dict | None = None,
                 overrides: dict | None = None, crds_context: str | None = None,
                 chunk_mb: float = DEFAULT_CHUNK_MB, threads: int | None = None) -> None:
    """Fit the ramps of ``in_path`` and write rate, rateints (and fitopt) atomically.

    Works on chunks of rows holding every integration (what a pixel's fit needs), so memory
    stays at about ``chunk_mb`` whatever the number of integrations.
    """
    set_threads(threads)
    t0 = time.perf_counter()
    with io.open_ramp(in_path) as rf:
        fit = _RateProducts(rf, params, overrides, crds_context, fitopt_path is not None)
        nints, ngroups, ny, nx = rf.shape
        pdq_all = rf.pixeldq()
        nrow = _rows_per_chunk(rf.shape, chunk_mb)
        chunks = list(chunk_ranges(ny, nrow))
        _prefetch(rf, "ramp_fit")
        rf.reserve(nints, min(ny, nrow))
        for k, rows in enumerate(chunks):
            sci, gdq = rf.read(slice(None), rows, reuse=True)
            fit.fit(sci, gdq, pdq_all[rows], rows)
            log.info("ramp_fit: rows %d-%d done (%d/%d chunks)", rows.start, rows.stop - 1, k + 1, len(chunks))
        fit.write(rate_path, rateints_path, fitopt_path)
    log.info("ramp_fit: wrote %s and %s in %.1f s", rate_path, rateints_path, time.perf_counter() - t0)


def run_jump_ramp_fit(in_path, rate_path, rateints_path, fitopt_path=None, jump_path=None, *,
                      params: dict | None = None, overrides: dict | None = None,
                      crds_context: str | None = None, chunk_mb: float = DEFAULT_CHUNK_MB,
                      threads: int | None = None) -> None:
    """jump then ramp_fit on each row chunk in memory: the ramp is read once.

    ``params`` maps "jump" and "ramp_fit" to their parameters. The jump product
    (``jump_path``) is written only if asked for. rate, rateints and fitopt are identical to
    running :func:`run_step` ("jump") and then :func:`run_ramp_fit` (a test checks it), and
    carry jump's keywords and HISTORY as they would from its product. What it saves: the
    3-4 GB write and re-read of the jump product of a TSO segment (or just the re-read, if
    the product is kept), and one process start.
    """
    params = params or {}
    unknown = set(params) - {"jump", "ramp_fit"}
    if unknown:
        raise ValueError(f"run_jump_ramp_fit: parameters for unknown steps {sorted(unknown)}")
    set_threads(threads)
    t0 = time.perf_counter()
    with io.open_ramp(in_path) as rf, contextlib.ExitStack() as stack:
        step, paths, ctx = load_step("jump", rf.meta, overrides, crds_context, params.get("jump"))
        updates, history = provenance(step, paths, ctx, overrides)
        fit = _RateProducts(rf, params.get("ramp_fit"), overrides, crds_context, fitopt_path is not None)
        writer = None
        if jump_path is not None:
            writer = stack.enter_context(io.RampWriter(jump_path, rf, updates=updates, history=history,
                                                       extra=step.extra_arrays()))
            if writer.can_copy_sci():
                writer.copy_sci()  # jump leaves SCI alone
        nints, ngroups, ny, nx = rf.shape
        pdq = rf.pixeldq()
        log.info("jump + ramp_fit on %s (%d ints x %d groups x %d x %d)%s", Path(in_path).name,
                 nints, ngroups, ny, nx, f" -- jump skipped: {step.skipped}" if step.skipped else "")
        for rows, sci, gdq in _processed_row_chunks(rf, step, pdq, chunk_mb, "jump + ramp_fit"):
            if writer is not None:
                writer.write(slice(None), rows, sci, gdq)
            fit.fit(sci, gdq, pdq[rows], rows)
        late = {k: v for k, v in step.header_updates().items() if updates.get(k) != v}
        if writer is not None:
            writer.write_pixeldq(pdq)
            if late:
                writer.update_primary(late)
        fit.write(rate_path, rateints_path, fitopt_path, before={**updates, **late}, before_history=history)
    log.info("jump + ramp_fit: wrote %s and %s in %.1f s", rate_path, rateints_path, time.perf_counter() - t0)


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


#: products of the rate-producing steps, by step
RATE_PRODUCTS = {"ramp_fit": ("rate", "rateints", "fitopt"), "gain_scale": ("gain_scale", "gain_scaleints")}


def run(steps: list[str], inputs: dict, outputs: dict, *, params: dict | None = None,
        overrides: dict | None = None, crds_context: str | None = None,
        chunk_mb: float = DEFAULT_CHUNK_MB, threads: int | None = None) -> None:
    """Run consecutive ``steps`` on one exposure and write the products asked for.

    inputs  : ``{"ramp": path}`` when the first step reads a ramp (a ramp step or ramp_fit),
              ``{"rate": path, "rateints": path}`` when it is gain_scale; plus the files a
              step reads besides its input (``"destripe_mask"``).
    outputs : product suffix -> path: a ramp step's name for its ramp product, ``rate``,
              ``rateints`` (and ``fitopt``) for ramp_fit, ``gain_scale`` and
              ``gain_scaleints`` for gain_scale. The last ramp product of a chain before
              ramp_fit may be left out (it is then never written).
    params  : step name -> that step's parameters (jwst names).
    """
    params = {k: dict(v or {}) for k, v in (params or {}).items()}
    if "destripe_mask" in inputs:
        params.setdefault("destripe", {})["mask_path"] = str(inputs["destripe_mask"])
    common = dict(overrides=overrides, crds_context=crds_context, chunk_mb=chunk_mb, threads=threads)
    ramp = [s for s in steps if s not in RATE_PRODUCTS]
    current = inputs.get("ramp")
    jump_last = bool(ramp) and ramp[-1] == "jump" and "ramp_fit" in steps
    if ramp:
        chain = ramp[:-1] if jump_last else ramp
        if chain:
            if all(get_step_class(s).chunking == "integrations" for s in chain) and len(chain) > 1:
                run_chain(chain, current, {s: outputs[s] for s in chain if s in outputs},
                          params=params, **common)
            elif len(chain) == 1:
                run_step(chain[0], current, outputs[chain[0]], params=params.get(chain[0]), **common)
            else:
                raise ValueError(f"runner.run: steps {chain} cannot be fused into one job")
            current = outputs[chain[-1]]
        if jump_last:
            run_jump_ramp_fit(current, outputs["rate"], outputs["rateints"], outputs.get("fitopt"),
                              outputs.get("jump"),
                              params={"jump": params.get("jump", {}), "ramp_fit": params.get("ramp_fit", {})},
                              **common)
    if "ramp_fit" in steps and not jump_last:
        run_ramp_fit(current, outputs["rate"], outputs["rateints"], outputs.get("fitopt"),
                     params=params.get("ramp_fit"), **common)
    if "gain_scale" in steps:
        src = [outputs.get("rate") or inputs["rate"], outputs.get("rateints") or inputs["rateints"]]
        run_gain_scale(src, [outputs["gain_scale"], outputs["gain_scaleints"]], overrides=overrides,
                       crds_context=crds_context)
