"""NIRISS SOSS trace positions from a PASTASOSS reference file, as jwst 3.0 computes them
(``jwst/extract_1d/soss_extract/pastasoss.py``), natively.

A PASTASOSS reference (stdatamodels ``PastasossModel``, ASDF) holds, per spectral order, the
trace (x, y) in SUBSTRIP256 coordinates at the commanded pupil-wheel position
``meta.pwcpos_cmd``, the point the trace rotates about when the wheel is off by
``PWCPOS - pwcpos_cmd`` degrees, and a polynomial of wavelength in (x, wheel offset), both
min-max scaled. For an exposure's PWCPOS the trace is rotated about that point and
re-sampled on the original x (points above row 255 dropped); for the spectral traces the
positions are re-sampled on the reference's wavelength grid (linear extrapolation beyond the
trace's own wavelengths). Every operation follows jwst's (the same numpy / scipy / astropy
calls in the same order), so the positions agree with jwst's to the last bit.

The reference is read as a plain tree (dicts and arrays: :func:`read_tree`, or the ``tree`` of
a rampflow Reference loaded from the ASDF file).
"""

from __future__ import annotations

import numpy as np

#: SOSS subarrays jwst supports (jwst.lib.exposure_types.NIS_SOSS_SUPPORTED_SUBARRAYS; not FULL)
SUPPORTED_SUBARRAYS = ("SUBSTRIP256", "SUB17STRIPE_SOSS", "SUB60STRIPE_SOSS", "SUB204STRIPE_SOSS",
                       "SUB680STRIPE_SOSS", "SUBSTRIP96")


def read_tree(path) -> dict:
    """A PASTASOSS reference file's ``meta``, ``traces`` and ``wavecal_models`` as plain dicts
    and arrays (read with stdatamodels, so a file jwst would refuse is refused here too).
    Raises ValueError naming the file when it is not a PASTASOSS reference."""
    from stdatamodels.jwst import datamodels

    try:
        model = datamodels.PastasossModel(str(path))
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is reported the same way
        raise ValueError(f"{path}: not a readable PASTASOSS reference ({exc})") from None
    def plain(entry):
        return {k: (np.array(v) if hasattr(v, "__array__") else v) for k, v in dict(entry).items()}

    with model:
        meta = dict(model.meta.instance)
        traces = [plain(t) for t in model.instance.get("traces", [])]
        wavecal = [plain(w) for w in model.instance.get("wavecal_models", [])]
    if not traces or not wavecal:
        raise ValueError(f"{path}: PASTASOSS reference has no traces or wavecal_models")
    return {"meta": meta, "traces": traces, "wavecal_models": wavecal}


def _meta(tree, key):
    try:
        return tree["meta"][key]
    except KeyError:
        raise ValueError(f"PASTASOSS reference: meta.{key} is missing") from None


def check_pwcpos(tree: dict, pwcpos: float) -> None:
    """ValueError unless ``pwcpos`` lies within the reference's ``meta.pwcpos_bounds`` (jwst's check)."""
    bounds = tree["meta"].get("pwcpos_bounds")
    if pwcpos is None or bounds is None or len(bounds) != 2 or not bounds[0] <= float(pwcpos) <= bounds[1]:
        raise ValueError(f"PWC position {pwcpos} is outside bounds ({bounds}).")


def order_index(tree: dict, order: int) -> int:
    """Index of ``order``'s trace (1, 2 or 3) in the reference; -1 when it has none."""
    if int(order) not in (1, 2, 3):
        raise ValueError(f"Order {order} is not supported.")
    for i, entry in enumerate(tree["traces"]):
        if int(entry["spectral_order"]) == int(order):
            return i
    return -1


def rotate(x, y, angle, origin=(0, 0)):
    """Points (x, y) rotated by ``angle`` degrees about ``origin``, re-sampled (linearly, with
    extrapolation) on the original ``x``; points whose new y is above 255 are dropped.
    Returns (x kept, y)."""
    from scipy.interpolate import interp1d

    xy_center = np.atleast_2d(origin).T
    xy = np.vstack([x, y])
    radians = np.radians(angle)
    c, s = np.cos(radians), np.sin(radians)
    x_new, y_new = np.array([[c, -s], [s, c]]) @ (xy - xy_center) + xy_center
    y_new = interp1d(x_new, y_new, fill_value="extrapolate")(x)
    keep = np.where(y_new <= 255.0)
    return x[keep], y_new[keep]


def _poly_from_coefficients(coefficients):
    """The astropy Polynomial2D of the reference's coefficient list (C00, C10, C01, C20, C11, ...)."""
    from astropy.modeling.polynomial import Polynomial2D

    degree = int(np.sqrt(2 * len(coefficients))) - 1
    poly = Polynomial2D(degree=degree)
    for name in poly.param_names:
        xord, yord = (int(n) for n in name.strip("c").split("_"))
        tot = xord + yord
        setattr(poly, name, coefficients[tot * (tot + 1) // 2 + yord])
    return poly


def wavelengths(tree: dict, x, pwcpos: float, order: int) -> np.ndarray:
    """Wavelengths (um) of ``order`` at trace x positions ``x`` for wheel position ``pwcpos``."""
    model = tree["wavecal_models"][order_index(tree, order)]
    ext = np.asarray(model["scale_extents"], dtype=np.float64)
    poly = _poly_from_coefficients(np.asarray(model["coefficients"], dtype=np.float64))
    x_scaled = (x - ext[0][0]) / (ext[1][0] - ext[0][0])
    offset = np.ones_like(x) * (pwcpos - _meta(tree, "pwcpos_cmd"))
    return poly(x_scaled, (offset - ext[0][1]) / (ext[1][1] - ext[0][1]))


def trace(tree: dict, pwcpos: float, order: int, subarray: str = "SUBSTRIP256"):
    """(x, y, wavelength) of ``order``'s trace at ``pwcpos`` in the subarray's rows (jwst's
    ``get_soss_traces``, with its PWCPOS bounds check)."""
    check_pwcpos(tree, pwcpos)
    entry = tree["traces"][order_index(tree, order)]
    x, y = np.asarray(entry["trace"], dtype=np.float64).T.copy()
    if str(subarray).upper() == "SUBSTRIP96":
        y -= 10
    x_new, y_new = rotate(x, y, pwcpos - _meta(tree, "pwcpos_cmd"), (entry["pivot_x"], entry["pivot_y"]))
    return x_new, y_new, wavelengths(tree, x_new, pwcpos, order)


def _extrapolate_to_wavegrid(w_grid, wavelength, quantity):
    sort_i = np.argsort(wavelength)
    q = quantity[sort_i]
    w = wavelength[sort_i]
    slope_right = (q[-1] - q[-2]) / (w[-1] - w[-2])
    right = np.where(w_grid > w[-1])[0]
    q_right = q[-1] + (w_grid[right] - w[-1]) * slope_right
    slope_left = (q[1] - q[0]) / (w[1] - w[0])
    left = np.where(w_grid < w[0])[0]
    q_left = q[0] + (w_grid[left] - w[0]) * slope_left
    w = np.concatenate((w_grid[left], w, w_grid[right]))
    q = np.concatenate((q_left, q, q_right))
    return np.interp(w_grid, w, q)


def spectraces(tree: dict, pwcpos: float, subarray: str = "SUBSTRIP256", orders=None) -> list[np.ndarray]:
    """Per order (all of the reference's, or ``orders``): the array (3, nwl) of trace x, trace y
    and wavelength on the reference's wavelength grid (jwst's ``get_soss_wavemaps(...,
    spectraces=True)`` traces)."""
    known = [int(t["spectral_order"]) for t in tree["traces"]]
    wanted = known if orders is None else [o for o in orders if o in known]
    if not wanted:
        raise ValueError(f"None of the requested orders are available in the PASTASOSS reference file: "
                         f"{orders}. Defined orders are {known}.")
    check_pwcpos(tree, pwcpos)
    grid = np.linspace(_meta(tree, "wavemap_wlmin"), _meta(tree, "wavemap_wlmax"), _meta(tree, "wavemap_nwl"))
    out = []
    for order in wanted:
        x, y, wl = trace(tree, pwcpos, order, subarray)
        out.append(np.array([_extrapolate_to_wavegrid(grid, wl, x), _extrapolate_to_wavegrid(grid, wl, y), grid]))
    return out


def _calc_2d_wave_map(wave_grid, x_dms, y_dms, tilt, oversample=2, maxiter=5, dtol=1e-2, dimx=2048, dimy=300):
    """The wavelength of every pixel of the SOSS area (jwst's ``_calc_2d_wave_map``): iterated
    along x from the trace's (x, y, wavelength), NaN outside the trace's wavelengths, on a
    (os * dimx, os * dimx) frame whose last os * dimy rows hold the area."""
    os = np.copy(oversample)
    y_dms = y_dms + (dimy - dimx)
    x_vec = np.arange(dimx * os) / os - (os - 1) / (2 * os)
    y_vec = np.arange(dimy * os) / os - (os - 1) / (2 * os)
    x_grid, y_grid = np.meshgrid(x_vec, y_vec)
    delta_x = 0.0
    for _ in range(maxiter):
        wave_iterated = np.interp(x_grid - delta_x, x_dms[::-1], wave_grid[::-1])
        tilt_tmp = np.interp(wave_iterated, wave_grid, tilt)
        x_estimate = np.interp(wave_iterated, wave_grid, x_dms)
        y_estimate = np.interp(wave_iterated, wave_grid, y_dms)
        x_iterated = x_estimate + (y_grid - y_estimate) * np.tan(np.deg2rad(tilt_tmp))
        delta_x = delta_x + (x_iterated - x_grid)
        if np.all(np.abs(x_iterated - x_grid) < dtol):
            break
    wave_map_2d = np.interp(x_grid - delta_x, x_dms[::-1], wave_grid[::-1], left=np.nan, right=np.nan)
    tmp = np.full((os * dimx, os * dimx), fill_value=np.nan)
    tmp[(-os * dimy):] = wave_map_2d
    return tmp


def wavemap(tree: dict, pwcpos: float, subarray: str, order: int) -> np.ndarray:
    """The wavelength (um) of every pixel of the subarray for ``order`` (jwst's
    ``get_soss_wavemaps`` for one order): float64 (rows of the subarray, 2048)."""
    x, y, grid = spectraces(tree, pwcpos, subarray, orders=[order])[0]
    ymin, xdim = int(_meta(tree, "subarray_ymin")), int(_meta(tree, "soss_xdim"))
    wmap = _calc_2d_wave_map(grid, x, y, np.zeros_like(x), oversample=1, dimx=xdim,
                             dimy=int(_meta(tree, "soss_ydim")))
    wmap[:ymin, :] = wmap[ymin]
    if str(subarray).upper() == "SUBSTRIP96":
        return wmap[ymin:ymin + 96, :]
    if str(subarray).upper() in SUPPORTED_SUBARRAYS:
        return wmap[ymin:xdim, :]
    return wmap


def trace_mask(tree: dict, pwcpos: float, subarray: str, shape, halfwidth: int = 16) -> np.ndarray:
    """bool (ny, nx): True on the pixels within ``halfwidth`` rows (floor / ceil of the
    trace +- halfwidth, inclusive) of any order's trace, the trace interpolated on every
    column (jwst's ``mask_soss_traces``)."""
    ny, nx = shape
    yidx, _ = np.mgrid[:ny, :nx]
    on = np.zeros((ny, nx), dtype=bool)
    for xpts, ypts, _ in spectraces(tree, pwcpos, subarray):
        srt = np.argsort(xpts)
        y_full = np.interp(np.arange(nx), xpts[srt], ypts[srt])
        on |= (yidx >= np.floor(y_full - halfwidth)) & (yidx <= np.ceil(y_full + halfwidth))
    return on


def box_weights(centroid, n_pix, shape, cols) -> np.ndarray:
    """Weights (float64 (nrows, ncols)) of a box of ``n_pix`` rows centred on ``centroid`` (one
    value per column of ``cols``): 1 inside, the covered fraction at its two ends, 0 elsewhere
    and in the columns not in ``cols`` (jwst's ``get_box_weights``)."""
    nrows, _ = shape
    rows = np.indices((nrows, len(cols)))[0]
    cond = rows <= (centroid - 0.5 + n_pix / 2)
    cond &= (centroid + 0.5 - n_pix / 2) <= rows
    weights = cond.astype(float)
    cond = (centroid - 0.5 + n_pix / 2) < rows
    cond &= rows < (centroid + 0.5 + n_pix / 2)
    weights[cond] = (centroid + n_pix / 2 - (rows - 0.5))[cond]
    cond = rows < (centroid + 0.5 - n_pix / 2)
    cond &= (centroid - 0.5 - n_pix / 2) < rows
    weights[cond] = (rows + 0.5 - (centroid - n_pix / 2))[cond]
    out = np.zeros(shape, dtype=float)
    out[:, cols] = weights
    return out
