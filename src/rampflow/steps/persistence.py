"""Persistence flagging: jwst 3.0's ``persistence`` step (``jwst.persistence``).

jwst 3.0 no longer models trapped charge (no TRAPDENSITY / TRAPPARS / PERSAT references, no
subtraction): it flags groups that fall inside a persistence window. A window of
``persistence_time`` seconds opens at a group's time (the integration's start from INT_TIMES
``int_start_MJD_UTC``, else EXPSTART + i * EFFINTTM, plus (g + 1) * TGROUP, in Unix epoch
seconds) where

* the pixel's first SATURATED group of the integration is (jwst reopens it while exactly one
  SATURATED group has been seen), or
* with ``dn_threshold`` set, the value exceeds it (float32 compare) and no window is open;

a window that ended before a group's time closes; a window ending later than one opened now
would (impossible going forward: a bad carried array) is reset. Every group inside an open
window gets PERSISTENCE (| DO_NOT_USE with ``persistence_dnu``). SCI is not changed.

The per-pixel array of window end times is carried from one exposure to the next of the same
detector, in time order: the step reads the previous exposure's array (its input
``persistence_array``; in the workflow the product ``{previous stem}_persistence_array.asdf``,
an explicit dependency; none for a detector's first exposure), and writes its own after the
last integration (product ``persistence_array``). The file is jwst's ASDF layout
(:mod:`rampflow.io.persistence_array`), so it can be handed to jwst's
``persistence_array_file`` and back. An array saved with another ``persistence_time`` is not
used (jwst logs it and starts from zeros).

Parameters as jwst's spec: ``save_persistence`` (None; jwst's ASDF output name, used when no
``persistence_array`` product path is given; the workflow always writes that product), ``persistence_time`` (None, s;
None or <= 0: the step is FAILED and changes nothing, as jwst's), ``dn_threshold`` (None),
``persistence_array_file`` (None: an ASDF array to start from when no ``persistence_array``
input is given), ``persistence_dnu`` (False). jwst skips the step by default (``skip = True``):
rampflow runs it only when listed in ``steps``. Integrations are processed in order (the
array evolves through them), in chunks of integrations.

Difference: jwst's ``save_persistence`` merges into an existing ASDF file holding other
detectors; the product here holds the one detector of its exposure.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..dq import DO_NOT_USE, PERSISTENCE, SATURATED
from ..io.persistence_array import read_persistence_entry, write_persistence_array
from .base import Step, register_input

log = logging.getLogger(__name__)

#: MJD of the Unix epoch (1970-01-01T00:00:00 UTC)
MJD_UNIX_EPOCH = 40587.0


def mjd_to_epoch(mjd: float) -> float:
    """Unix epoch seconds of an MJD, as jwst computes them: ``(mjd - 40587) * 86400``."""
    return (mjd - MJD_UNIX_EPOCH) * 86400.0


def group_times(nints: int, ngroups: int, expstart: float, integration_time: float, group_time: float,
                int_starts=None) -> np.ndarray:
    """float64 (nints, ngroups) epoch time of every group, summed as jwst sums them: the
    integration's start (``int_starts[i]`` MJD if there is one, else epoch(EXPSTART) +
    i * integration_time) plus group_time, added once per group."""
    out = np.empty((nints, ngroups), dtype=np.float64)
    epoch = mjd_to_epoch(float(expstart))
    for i in range(nints):
        if int_starts is not None and len(int_starts) > i:
            t = mjd_to_epoch(float(int_starts[i]))
        else:
            t = epoch + i * integration_time
        for g in range(ngroups):
            t = t + group_time
            out[i, g] = t
    return out


def array_from_entry(entry: dict | None, shape, persistence_time, source: str = "") -> np.ndarray:
    """float64 ``shape`` array of window end times from a persistence-file entry (zeros when
    there is none, or when it was saved with another persistence_time, as jwst does)."""
    array = np.zeros(shape, dtype=np.float64)
    if entry is None:
        return array
    if entry["pers_time"] != persistence_time:
        log.info("persistence: %s: %s does not equal persistence_time :%s; starting from zeros",
                 source, entry["pers_time"], persistence_time)
        return array
    rows, cols = np.asarray(entry["rows"]), np.asarray(entry["cols"])
    if rows.size and (rows.max() >= shape[0] or cols.max() >= shape[1]):
        raise ValueError(f"persistence: {source}: entries reach row {rows.max()}, column {cols.max()}; "
                         f"the exposure's frame is {shape}")
    array[rows, cols] = entry["vals"]
    return array


def flag_persistence(sci, gdq, window, times, persistence_time, dn_threshold=None, persistence_dnu=False) -> None:
    """Flag PERSISTENCE in place for a chunk of consecutive integrations.

    sci float32, gdq uint8 (nints, ngroups, ny, nx); window float64 (ny, nx) window end times,
    updated (carry it to the next chunk); times float64 (nints, ngroups) from :func:`group_times`.
    """
    if sci.ndim != 4 or sci.dtype != np.float32 or gdq.shape != sci.shape or gdq.dtype != np.uint8:
        raise ValueError(f"sci must be float32 and gdq uint8, same 4-D shape; got {sci.dtype} {sci.shape}, "
                         f"{gdq.dtype} {gdq.shape}")
    if window.shape != sci.shape[2:] or window.dtype != np.float64:
        raise ValueError(f"window must be float64 {sci.shape[2:]}; got {window.dtype} {window.shape}")
    if np.shape(times) != sci.shape[:2]:
        raise ValueError(f"times must be {sci.shape[:2]}; got {np.shape(times)}")
    ends = np.asarray(times, dtype=np.float64) + persistence_time
    flag = PERSISTENCE | (DO_NOT_USE if persistence_dnu else 0)
    from ..kernels.persistence import flag_chunk

    flag_chunk(sci, gdq, window, times, ends, SATURATED, flag, dn_threshold)


class Persistence(Step):
    """jwst ``PersistenceStep`` (class_alias "persistence"); no reference file (see the module
    docstring for the parameters, the carried array and the differences)."""

    name = "persistence"
    keyword = "S_PERSIS"
    reftypes = ()
    spec = """
        save_persistence = string(default=None)  # name of the ASDF output file of the persistence array
        persistence_time = integer(default=None)  # time, in seconds, of the persistence window
        dn_threshold = float(default=None)  # a threshold above which to flag persistence
        persistence_array_file = string(default=None)  # an ASDF file with a 2-D array of persistence times
        persistence_dnu = boolean(default=False)  # if True, set DO_NOT_USE with PERSISTENCE
    """
    skip_default = True
    modifies_sci = False
    products = ("persistence", "persistence_array")
    optional_products = {"persistence_array": "save_persistence"}
    inputs = ("persistence_array",)
    #: input -> product of the previous exposure of the same detector (time order) it comes from
    carried = {"persistence_array": "persistence_array"}
    input_keywords = {"persistence_array": ("PERSARR", "persistence array carried in")}

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        p = self.params
        ptime = p["persistence_time"]
        self.next_int = 0
        self.window = None
        if ptime is None or ptime <= 0.0:
            self.skipped = f"invalid persistence_time {ptime!r} (jwst: FAILED)"
            self.failed = True
            log.warning("persistence: persistence_time %r: the step FAILED, as jwst's does", ptime)
            return
        shape = (meta.subsize2, meta.subsize1)
        entry = self.extra_inputs.get("persistence_array")
        self.window = array_from_entry(entry, shape, ptime, (entry or {}).get("source", "persistence array"))
        expstart = meta.extra.get("EXPSTART")
        if expstart is None:
            raise KeyError(f"{meta.filename}: persistence needs the EXPSTART keyword (exposure start, MJD)")
        inttm = meta.extra.get("EFFINTTM")
        self.times = group_times(meta.nints, meta.ngroups, float(expstart), float(inttm or 0.0), meta.tgroup,
                                 meta.extra.get("INT_START_MJD_UTC"))
        log.info("persistence: persistence_time %s s, dn_threshold %s, %d pixels in a window carried in",
                 ptime, p["dn_threshold"], int(np.count_nonzero(self.window)))

    def process(self, sci, gdq, pdq, ints, rows):
        if ints.start != self.next_int:
            raise RuntimeError(f"persistence: integrations must come in order; got {ints.start}, "
                               f"expected {self.next_int}")
        p = self.params
        window = self.window[rows]
        flag_persistence(sci, gdq, window, self.times[ints], p["persistence_time"], p["dn_threshold"],
                         bool(p["persistence_dnu"]))
        self.window[rows] = window
        self.next_int = ints.stop

    def finish(self, outputs: dict) -> None:
        """Write the ``persistence_array`` product (the window end times after the last
        integration) when asked for; with an invalid persistence_time nothing is written
        (the file is still made, empty, so the next exposure's job finds it)."""
        path = outputs.get("persistence_array")
        save = self.params["save_persistence"]
        if path is None and isinstance(save, str) and save:  # jwst's own use: a file name (.asdf)
            path = str(Path(save).with_suffix(".asdf"))
        if path is None:
            return
        ptime = self.params["persistence_time"]
        array = self.window if self.window is not None else np.zeros((self.meta.subsize2, self.meta.subsize1))
        write_persistence_array(path, array, self.meta.detector, Path(self.meta.filename).name, ptime)

    def header_updates(self):
        if self.window is None:
            return {}
        return {"PERSNWIN": (int(np.count_nonzero(self.window)), "pixels in a persistence window at the end")}


def read_array_input(path, meta) -> dict | None:
    """The ``persistence_array`` input: the entry of the exposure's detector in an ASDF
    persistence file (None when the detector is absent). Raises ValueError naming a missing file."""
    if not Path(path).is_file():
        raise ValueError(f"persistence: persistence array file {path} does not exist")
    entry = read_persistence_entry(path, meta.detector)
    if entry is not None:
        entry["source"] = str(path)
    return entry


def array_from_params(meta, params: dict | None = None) -> dict | None:
    """The ``persistence_array`` input when no file is given: jwst's ``persistence_array_file``
    parameter if set (a missing file: zeros, as jwst), else None (no previous exposure)."""
    path = (params or {}).get("persistence_array_file")
    if not path or not Path(path).is_file():
        return None
    entry = read_persistence_entry(path, meta.detector)
    if entry is not None:
        entry["source"] = str(path)
    return entry


register_input("persistence_array", read=read_array_input, build=array_from_params,
               built_name="none (first exposure of the detector)", needs_ramp=False)
