"""refpix on row chunks (the one pass): each plane's correction measured in a pre-pass
(:func:`measure_planes`, what :func:`rampflow.steps.refpix.apply_plan` would subtract, to the
bit) on whole planes, or on the reference pixels alone (:func:`plan_pixels`, :func:`pixel_plan`),
then subtracted from any chunk of rows (:func:`apply_corrections`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .refpix import RefpixPlan


@dataclass
class PlaneCorrections:
    """Each plane's correction, measured on whole planes (:func:`measure_planes`) and applied
    later to any rows (:func:`apply_corrections`): per (integration, group) the working
    precision, the reference level of each correction class and the side signal per row."""

    f32: np.ndarray   # bool (nint, ngroups)
    ref: np.ndarray   # float64 (nint, ngroups, nclass)
    r32: np.ndarray   # bool (nint, ngroups, nclass)
    rok: np.ndarray   # bool (nint, ngroups, nclass)
    sig: np.ndarray   # float64 (nint, ngroups, detector rows), or (nint, ngroups, 1) without side pixels

    @classmethod
    def empty(cls, plan: RefpixPlan, nint: int, ngroups: int) -> PlaneCorrections:
        nclass = plan.class_sets.shape[0]
        nsig = plan.side_y.shape[1] if plan.do_side else 1
        return cls(np.zeros((nint, ngroups), bool), np.zeros((nint, ngroups, nclass)),
                   np.zeros((nint, ngroups, nclass), bool), np.zeros((nint, ngroups, nclass), bool),
                   np.zeros((nint, ngroups, nsig)))


def measure_planes(sci: np.ndarray, plan: RefpixPlan, out: PlaneCorrections, ints: slice, *,
                   side_gain: float = 1.0, siglimit: float = 3.0, float32_first: bool = True) -> None:
    """Measure the correction of every whole plane of ``sci`` (float32 (nint_chunk, ngroups,
    ny, nx), integrations ``ints`` of the exposure; not changed) into ``out[ints]``: what
    :func:`apply_plan` would subtract from it, to the bit. ``float32_first=False``: the first
    plane of the exposure is not worked in float32 either (ZEROFRAME, as
    ``RefPixStep.process_zeroframe`` corrects it)."""
    if plan.path == "none" or sci.size == 0:
        return
    first = ints.start or 0
    f32_plane = 0 if (plan.do_side and first == 0 and float32_first) else -1
    o = {k: getattr(out, k)[ints] for k in ("f32", "ref", "r32", "rok", "sig")}
    from ..kernels.refpix import _refpix_stats_kernel

    _refpix_stats_kernel(sci, f32_plane, plan.ref_y, plan.ref_x, plan.set_start, plan.class_sets,
                         plan.pair_parity, plan.side_y, plan.side_x, plan.side_cls, plan.do_side,
                         plan.win_lo, plan.win_len, float(side_gain), float(siglimit), float(siglimit),
                         plan.nbuf, o["f32"], o["ref"], o["r32"], o["rok"], o["sig"])


def plan_pixels(plan: RefpixPlan) -> np.ndarray:
    """The pixels of a DMS plane :func:`measure_planes` reads with ``plan``: sorted distinct
    flat indices ``y * nx + x`` (int64) of its reference pixels and usable side pixels."""
    if plan.path == "none":
        return np.zeros(0, np.int64)
    flat = [plan.ref_y.astype(np.int64) * plan.nx + plan.ref_x]
    if plan.do_side:
        ok = plan.side_y >= 0
        flat.append(plan.side_y[ok].astype(np.int64) * plan.nx + plan.side_x[ok])
    return np.unique(np.concatenate(flat))


def pixel_plan(plan: RefpixPlan) -> RefpixPlan:
    """``plan`` for planes that hold only the pixels of :func:`plan_pixels` (one row, in that
    order), for :func:`measure_planes` (the same statistics from the same values; not for
    applying the corrections)."""
    pix = plan_pixels(plan)

    def at(y, x):
        return np.searchsorted(pix, y.astype(np.int64) * plan.nx + x).astype(np.int32)

    ok = plan.side_y >= 0
    side_x = np.where(ok, at(np.where(ok, plan.side_y, 0), plan.side_x), plan.side_x).astype(np.int32)
    return replace(plan, ny=1, nx=pix.size, ref_y=np.zeros_like(plan.ref_y), ref_x=at(plan.ref_y, plan.ref_x),
                   side_y=np.where(ok, 0, plan.side_y).astype(np.int32), side_x=side_x, notes=[])


def apply_corrections(sci: np.ndarray, plan: RefpixPlan, corr: PlaneCorrections, ints: slice, first_row: int) -> None:
    """Subtract the measured corrections of integrations ``ints`` from ``sci`` (float32
    (nint_chunk, ngroups, nrow, nx) holding DMS rows ``first_row ...``), in place."""
    if plan.path == "none" or sci.size == 0:
        return
    from ..kernels.refpix import _refpix_apply_kernel
    from ..kernels.row_window import window_rows

    wsci, ys = window_rows(sci)  # rows of the row stream's window: the kernel takes the window whole
    _refpix_apply_kernel(wsci, ys, sci.shape[2], int(first_row), corr.f32[ints], corr.ref[ints], corr.r32[ints],
                         corr.rok[ints], corr.sig[ints], plan.cls_axis, plan.r_axis, plan.transposed, plan.do_side)
