"""numba kernels of the SIRS side-pixel correction (see rampflow.steps.refpix_sirs).

Two passes over the planes of a chunk, both parallel over (integration, group) planes,
around the per-plane convolution that :mod:`rampflow.steps.refpix_sirs` does with numpy:

1. :func:`_sirs_columns_kernel`: each plane's top/bottom reference signal (jwst's clipped
   means, as the median path computes them) and its left and right reference columns after
   that subtraction, in the plane's working precision, as float64;
2. :func:`_sirs_apply_kernel`: every pixel minus its top/bottom signal, then minus the
   SIRS template of its detector row and amplifier (channel).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .refpix import _plane_refs, _top_bottom_value


@njit(cache=True)
def _columns_of_plane(plane, f32, nbuf, ref_y, ref_x, set_start, class_sets, pair_parity, sirs_y, sirs_x,
                      side_cls, low, high, refs, r32s, roks, cols):
    if f32:
        ref, r32, rok = _plane_refs(plane, np.empty(nbuf, np.float32), np.empty(nbuf, np.float32),
                                    np.empty(4, np.float32), ref_y, ref_x, set_start, class_sets,
                                    pair_parity, low, high)
    else:
        ref, r32, rok = _plane_refs(plane, np.empty(nbuf, np.float64), np.empty(nbuf, np.float64),
                                    np.empty(4, np.float64), ref_y, ref_x, set_start, class_sets,
                                    pair_parity, low, high)
    refs[:] = ref
    r32s[:] = r32
    roks[:] = rok
    for sd in range(2):
        for r in range(sirs_y.shape[1]):
            for c in range(sirs_y.shape[2]):
                cols[sd, r, c] = _top_bottom_value(plane[sirs_y[sd, r, c], sirs_x[sd, r, c]], side_cls[sd, c],
                                                   ref, r32, rok, f32)


@njit(cache=True, parallel=True)
def _sirs_columns_kernel(sci, f32_plane, ref_y, ref_x, set_start, class_sets, pair_parity, sirs_y, sirs_x,
                         side_cls, low, high, nbuf, refs, r32s, roks, cols):
    """Per plane q = i * ngroups + g of sci (float32 (nint, ngroups, ny, nx), not modified):
    refs/r32s/roks[q] (nclass) the top/bottom signal per correction class, and cols[q]
    (float64 (2, 2048, 4)) the left (0) and right (1) reference columns, detector row by
    detector column, after its subtraction. Plane ``f32_plane`` is worked in float32 (jwst's
    first group of the exposure), the others in float64."""
    nint, ngr = sci.shape[0], sci.shape[1]
    for q in prange(nint * ngr):
        i = q // ngr
        g = q - i * ngr
        _columns_of_plane(sci[i, g], q == f32_plane, nbuf, ref_y, ref_x, set_start, class_sets, pair_parity,
                          sirs_y, sirs_x, side_cls, low, high, refs[q], r32s[q], roks[q], cols[q])


@njit(cache=True, parallel=True)
def _sirs_apply_kernel(sci, f32_plane, refs, r32s, roks, cls_axis, r_axis, chan_axis, transposed, template):
    """Subtract from every pixel of sci (in place) its top/bottom signal (refs, r32s, roks
    per plane and class, as :func:`_sirs_columns_kernel` measured them), then the SIRS
    template (float64 (nplanes, nchan, 2048)) of its channel and detector row; the
    difference is taken in float64 and stored as float32, as jwst does."""
    nint, ngr = sci.shape[0], sci.shape[1]
    for q in prange(nint * ngr):
        i = q // ngr
        g = q - i * ngr
        plane = sci[i, g]
        tmpl = template[q]
        if q == f32_plane:
            _apply_plane_f32(plane, refs[q], r32s[q], roks[q], cls_axis, r_axis, chan_axis, transposed, tmpl)
            continue
        # float64 plane: (g - ref_k) - template, ref_k = 0 for a class left uncorrected (exact)
        refv = np.where(roks[q], refs[q], 0.0)
        ny, nx = plane.shape
        if transposed:
            for y in range(ny):
                rv = refv[cls_axis[y]]
                ch = chan_axis[y]
                for x in range(nx):
                    plane[y, x] = np.float32((np.float64(plane[y, x]) - rv) - tmpl[ch, r_axis[x]])
        else:
            for y in range(ny):
                r = r_axis[y]
                for x in range(nx):
                    plane[y, x] = np.float32((np.float64(plane[y, x]) - refv[cls_axis[x]]) - tmpl[chan_axis[x], r])


@njit(cache=True)
def _apply_plane_f32(plane, ref, r32, rok, cls_axis, r_axis, chan_axis, transposed, tmpl):
    """The exposure's first group: the top/bottom subtraction in float32, as jwst's buffer is."""
    ny, nx = plane.shape
    for y in range(ny):
        for x in range(nx):
            if transposed:
                k = cls_axis[y]
                ch = chan_axis[y]
                r = r_axis[x]
            else:
                k = cls_axis[x]
                ch = chan_axis[x]
                r = r_axis[y]
            t = _top_bottom_value(plane[y, x], k, ref, r32, rok, True)
            plane[y, x] = np.float32(t - tmpl[ch, r])
