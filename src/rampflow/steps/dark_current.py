"""Dark current subtraction: jwst's ``dark_current`` step (``stcal.dark_current.dark_sub``).

Preparation, once per exposure (:func:`prepare_dark`), for NIR 3-D darks (ngroups, ny, nx)
whose NFRAMES / GROUPGAP header keywords describe their frames (usually 1 / 0):

1. If the science exposure spans more frames than the dark
   (``ng*nf + (ng-1)*gg`` compared), the dark is extrapolated with
   ``ceil((missing_frames + gg_dark) / (nf_dark + gg_dark))`` extra groups, each the last
   group plus k times (last - second to last). As in stcal this promotes the dark to float64.
2. If the dark's NFRAMES or GROUPGAP exceeds the science's, jwst returns the input unchanged
   (SKIPPED; no DQ propagation either).
3. NaN in the dark -> 0.
4. Same NFRAMES and GROUPGAP: the dark's first ``ngroups`` groups are used as they are.
   Otherwise frames are averaged to the science pattern: group g is the mean of dark frames
   ``start .. start+NFRAMES-1`` with ``start`` advancing by NFRAMES + GROUPGAP, stored as
   float32 (numpy's float32 ``mean``: sequential float32 sum, then the division).

Subtraction: ``SCI[i, g] -= dark[g]`` for every integration (numpy's promotion: float32 with a
float32 dark, float64-then-rounded with an extrapolated float64 dark); PIXELDQ |= dark DQ
(through DQ_DEF).

Average dark current (e-/s, used later by ramp fitting for the Poisson variance): the
``average_dark_current`` parameter if given, else the dark's AVDRKCUR image if present with a
non-zero sum, else the dark's AVDRKCUR header keyword (0 if absent), as a float32 (ny, nx)
array -- jwst writes it to the ramp's AVDRKCUR extension. The Step exposes it as
``self.average_dark_current`` and ``extra_arrays()``.

Non-finite values (a difference from jwst): a pixel with a NaN or inf in a dark group the
science pattern uses, or in the average dark current, gets DO_NOT_USE | UNRELIABLE_DARK in
PIXELDQ; NaN and inf are subtracted as 0 and the pixel's average dark current is 0. jwst
replaces NaN by 0 with no flag, lets inf through into SCI, and a NaN average dark current
makes ramp_fit's rateints ERR NaN on a pixel with DQ 0. Finite darks give jwst's result bit for
bit.

MIRI (jwst 3.0 with ``DarkMIRIModel``, stcal ``average_dark_frames_4d`` / ``subtract_dark``):
the dark is 4-D (dark_nints, ngroups, ny, nx), one dark ramp per integration. Each dark
integration is extrapolated, copied or frame-averaged as above (:func:`prepare_dark_4d`;
averaging fills only the first ``min(dark_nints, nints)`` integrations, the others stay 0 as
in stcal). Science integration i (0-based, in the whole file) subtracts dark integration i if
``i < dark_nints`` and the file's INTSTART is 1 (or absent), else the last dark integration
-- so every integration of a later segment gets the last one. PIXELDQ |= the OR over dark
integrations of each one's first-group DQ plane. A MIRI exposure with a 3-D dark, or a NIR
one with a 4-D dark, stops with an error naming the file and the shapes (jwst's datamodel
fails to open such a file).

Differences: jwst's dark step does not cut the dark to the subarray (a mismatched dark fails
there); here the reference is already cut, so a full-frame dark also works, and the AVDRKCUR
image, cut the same way, is used instead of being ignored with a warning. ``dark_output``
(saving the averaged dark) is accepted but not implemented: it only controls an extra output
file.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from .base import Step
from .nonfinite import inf_to_nan, nonfinite_flags

log = logging.getLogger(__name__)


def total_frames(ngroups: int, nframes: int, groupgap: int) -> int:
    """Frames spanned by a ramp: ``ngroups*nframes + (ngroups-1)*groupgap``."""
    return ngroups * nframes + (ngroups - 1) * groupgap


def extrapolate_dark(dark: np.ndarray, ngroups_more: int) -> np.ndarray:
    """Dark (ngroups, ny, nx) plus ``ngroups_more`` groups continued linearly from its last
    two groups (stcal ``extrapolate_dark``; float64 result, as numpy promotes it)."""
    rate = dark[-1] - dark[-2]
    new = (np.broadcast_to(np.arange(1, ngroups_more + 1).reshape(-1, 1, 1), (ngroups_more, *rate.shape))
           * rate + dark[-1])
    return np.concatenate((dark, new))


def average_frames(dark: np.ndarray, ngroups: int, nframes: int, groupgap: int) -> np.ndarray:
    """Frame-average a dark (nframes_total, ny, nx) to a science pattern (stcal
    ``average_dark_frames_3d``): float32 (ngroups, ny, nx); group g = mean of dark frames
    ``g*(nframes+groupgap) .. g*(nframes+groupgap)+nframes-1`` (copied when nframes == 1)."""
    out = np.zeros((ngroups,) + dark.shape[1:], dtype=np.float32)
    start = 0
    for g in range(ngroups):
        end = start + nframes
        if nframes == 1:
            out[g] = dark[start]
        else:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
                warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
                out[g] = dark[start:end].mean(axis=0)
        start = end + groupgap
    return out


def prepare_dark(dark: np.ndarray, dark_nframes: int, dark_groupgap: int, ngroups: int, nframes: int,
                 groupgap: int) -> np.ndarray | None:
    """The dark to subtract, (ngroups, ny, nx) float32 (float64 if extrapolated and not averaged),
    or None when jwst skips the step (the dark's NFRAMES or GROUPGAP exceeds the science's).

    dark : float (dark_ngroups, ny, nx), already cut to the subarray (not modified).
    """
    dark = np.asarray(dark)
    if dark.ndim != 3:
        raise ValueError(f"dark must be 3-D (ngroups, ny, nx); got shape {dark.shape}")
    sci_total = total_frames(ngroups, nframes, groupgap)
    drk_total = total_frames(dark.shape[0], dark_nframes, dark_groupgap)
    if sci_total > drk_total:
        more = int(np.ceil((sci_total - drk_total + dark_groupgap) / (dark_nframes + dark_groupgap)))
        log.warning("Not enough data in dark reference file to match to science data; "
                    "extrapolating %d groups", more)
        dark = extrapolate_dark(dark, more)
    if dark_nframes > nframes or dark_groupgap > groupgap:
        return None
    # only the groups the science pattern reaches are copied (a full-frame dark can be large)
    if nframes == dark_nframes and groupgap == dark_groupgap:
        dark = np.array(dark[:ngroups], copy=True)
        dark[np.isnan(dark)] = 0.0
        return dark
    dark = np.array(dark[:sci_total], copy=True)
    dark[np.isnan(dark)] = 0.0
    return average_frames(dark, ngroups, nframes, groupgap)


def prepare_dark_4d(dark: np.ndarray, dark_nframes: int, dark_groupgap: int, nints: int, ngroups: int,
                    nframes: int, groupgap: int) -> np.ndarray | None:
    """MIRI: the per-integration darks to subtract, (dark_nints, ngroups, ny, nx), as stcal makes
    them (see the module docstring), or None when jwst skips the step.

    dark : float (dark_nints, dark_ngroups, ny, nx), already cut to the subarray (not modified).
    nints : the science file's integrations (only that many dark integrations are averaged).
    """
    dark = np.asarray(dark)
    if dark.ndim != 4:
        raise ValueError(f"dark must be 4-D (nints, ngroups, ny, nx); got shape {dark.shape}")
    same = nframes == dark_nframes and groupgap == dark_groupgap
    planes = []
    for it in range(dark.shape[0]):
        if not same and it >= min(dark.shape[0], nints):  # stcal leaves these integrations at 0
            planes.append(None)
            continue
        d = prepare_dark(dark[it], dark_nframes, dark_groupgap, ngroups, nframes, groupgap)
        if d is None:
            return None
        planes.append(d)
    dtype = np.result_type(*[d.dtype for d in planes if d is not None])
    out = np.zeros((dark.shape[0], ngroups) + dark.shape[2:], dtype=dtype)
    for it, d in enumerate(planes):
        if d is not None:
            out[it] = d[:ngroups]
    return out


def dark_integration(i: int, dark_nints: int, int_start: int) -> int:
    """The dark integration stcal subtracts from science integration ``i`` (0-based in the file)."""
    return i if (i < dark_nints and int_start == 1) else dark_nints - 1


def dark_groups_used(dark_ngroups: int, dark_nframes: int, dark_groupgap: int, ngroups: int, nframes: int,
                     groupgap: int) -> np.ndarray:
    """Indices of the dark's groups that :func:`prepare_dark` reads for the science pattern
    (sorted, unique): those copied or averaged, and the last two when it extrapolates."""
    sci_total = total_frames(ngroups, nframes, groupgap)
    drk_total = total_frames(dark_ngroups, dark_nframes, dark_groupgap)
    if nframes == dark_nframes and groupgap == dark_groupgap:
        used = np.arange(ngroups)
    else:
        used = np.concatenate([np.arange(g * (nframes + groupgap), g * (nframes + groupgap) + nframes)
                               for g in range(ngroups)])
    if sci_total > drk_total:  # groups past the end are extrapolated from the last two
        past = used >= dark_ngroups
        used = np.concatenate([used[~past], [dark_ngroups - 2, dark_ngroups - 1] if past.any() else []])
    return np.unique(used.astype(np.int64))


def subtract_dark(sci: np.ndarray, pdq: np.ndarray, dark: np.ndarray, dark_dq: np.ndarray | None = None) -> None:
    """In place: ``sci[i, g] -= dark[g]`` for every integration; ``pdq |= dark_dq``.

    sci float32 (nints, ngroups, ny, nx); pdq uint32 (ny, nx); dark float32 or float64
    (>= ngroups, ny, nx); dark_dq uint32 (ny, nx) or None.
    """
    if sci.ndim != 4 or sci.dtype != np.float32:
        raise ValueError(f"sci must be float32 (nints, ngroups, ny, nx); got {sci.dtype} {sci.shape}")
    if dark.ndim != 3 or dark.shape[1:] != sci.shape[2:] or dark.shape[0] < sci.shape[1]:
        raise ValueError(f"dark must be (>={sci.shape[1]}, {sci.shape[2]}, {sci.shape[3]}); got {dark.shape}")
    if pdq.shape != sci.shape[2:] or pdq.dtype != np.uint32:
        raise ValueError(f"pdq must be uint32 {sci.shape[2:]}; got {pdq.dtype} {pdq.shape}")
    if dark_dq is not None:
        pdq |= dark_dq.astype(np.uint32, copy=False)
    ng = sci.shape[1]
    for i in range(sci.shape[0]):
        for g in range(ng):
            sci[i, g] -= dark[g]


def average_dark_current(shape, param: float | None, image: np.ndarray | None, keyword) -> np.ndarray:
    """float32 (ny, nx) average dark current (e-/s) as jwst's ``set_average_dark_current``:
    the parameter, else a non-zero-sum ``image`` of matching shape, else the ``keyword``
    value (None -> 0)."""
    if param is not None:
        return np.zeros(shape, dtype=np.float32) + param
    if image is None or np.sum(image) == 0.0:
        return np.zeros(shape, dtype=np.float32) + (0.0 if keyword is None else float(keyword))
    if np.shape(image) != tuple(shape):
        log.warning("Dark average_dark_current image %s does not match the data %s; not applied",
                    np.shape(image), tuple(shape))
        return np.zeros(shape, dtype=np.float32)
    return np.array(image, dtype=np.float32)


class DarkCurrent(Step):
    """jwst ``DarkCurrentStep`` (class_alias "dark_current"); reference DARK.

    Parameters as jwst's spec: ``dark_output`` (None; saving the averaged dark -- not
    implemented, only an extra output), ``average_dark_current`` (None; e-/s, overrides
    the dark's value for the AVDRKCUR array).
    """

    name = "dark_current"
    keyword = "S_DARK"
    reftypes = ("dark",)
    spec = """
        dark_output = output_file(default=None)  # dark model or averaged dark subtracted
        average_dark_current = float(default=None)  # the average dark current for this detector (e-/s)
    """

    rows_ok = True  # pixel by pixel: any chunk of rows

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        ref = refs["dark"]
        if self.params["dark_output"] is not None:
            log.warning("dark_current: dark_output=%r is not implemented; no averaged dark is saved",
                        self.params["dark_output"])
        data = np.asarray(ref["SCI"], dtype=np.float32)  # jwst's DarkModel holds float32
        miri = meta.instrument == "MIRI"
        if data.ndim != (4 if miri else 3):
            want = "4-D (nints, ngroups, ny, nx), one dark per integration" if miri else "3-D (ngroups, ny, nx)"
            raise ValueError(f"{ref.path}: a {meta.instrument} exposure needs a {want} DARK; "
                             f"this one's SCI has shape {data.shape}")
        hdr = ref.header
        d_nframes = int(hdr.get("NFRAMES", 1) or 1)
        d_groupgap = int(hdr.get("GROUPGAP", 0) or 0)
        shape = (meta.subsize2, meta.subsize1)
        self.average_dark_current = average_dark_current(
            shape, self.params["average_dark_current"],
            ref["AVDRKCUR"] if "AVDRKCUR" in ref else None, hdr.get("AVDRKCUR"))
        # +-inf take jwst's NaN path (0 subtracted); the groups used, if not finite, flag the pixel
        if miri:
            self.int_start = int(meta.extra.get("INTSTART", 1) or 1)
            self.dark = prepare_dark_4d(inf_to_nan(data), d_nframes, d_groupgap, meta.nints, meta.ngroups,
                                        meta.nframes, meta.groupgap)
        else:
            self.dark = prepare_dark(inf_to_nan(data), d_nframes, d_groupgap, meta.ngroups, meta.nframes,
                                     meta.groupgap)
        if self.dark is None:
            self.skipped = (f"dark NFRAMES/GROUPGAP ({d_nframes}/{d_groupgap}) exceed the science's "
                            f"({meta.nframes}/{meta.groupgap})")
            self.dark_dq = None
        else:
            self.dark_dq = np.zeros(shape, dtype=np.uint32)
            if "DQ" in ref:  # MIRI: the OR of each dark integration's first-group plane
                ddq = ref.dq()
                self.dark_dq = np.bitwise_or.reduce(ddq[:, 0], axis=0) if miri else ddq
            used = dark_groups_used(data.shape[-3], d_nframes, d_groupgap, meta.ngroups, meta.nframes,
                                    meta.groupgap)
            if miri:  # the dark integrations some science integration subtracts
                ints = sorted({dark_integration(i, data.shape[0], self.int_start) for i in range(meta.nints)})
                used_data = data[ints][:, used]
            else:
                used_data = data[used]
            self.dark_dq = self.dark_dq | nonfinite_flags(used_data, "UNRELIABLE_DARK", f"{ref.path} [SCI]")
        avg_bad = nonfinite_flags(self.average_dark_current, "UNRELIABLE_DARK", f"{ref.path} [AVDRKCUR]")
        if avg_bad.any():  # ramp_fit's Poisson variance adds it: 0 there, and the pixel flagged
            self.average_dark_current[avg_bad != 0] = 0.0
            self.dark_dq = avg_bad if self.dark_dq is None else self.dark_dq | avg_bad

    def process(self, sci, gdq, pdq, ints, rows):
        if self.dark.ndim == 3:
            subtract_dark(sci, pdq, self.dark[:, rows], self.dark_dq[rows])
            return
        pdq |= self.dark_dq[rows]
        first = ints.start or 0
        for k in range(sci.shape[0]):
            d = self.dark[dark_integration(first + k, self.dark.shape[0], self.int_start)]
            subtract_dark(sci[k:k + 1], pdq, d[:, rows])

    def elementwise(self, rows):
        """One dark for every integration (not MIRI's dark per integration)."""
        if self.dark is None or self.dark.ndim != 3:
            return None
        return "dark", self.dark[:, rows], None if self.dark_dq is None else self.dark_dq[rows]

    def extra_arrays(self) -> dict:
        """Image extensions jwst adds to the ramp product: AVDRKCUR (float32 (ny, nx), e-/s)."""
        return {"AVDRKCUR": self.average_dark_current}
