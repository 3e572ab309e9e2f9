"""ramp_fit's optional output (fitopt, RampFitOutputModel): the per-chunk arrays of
:func:`rampflow.steps.ramp_fit.fit_ramps` assembled into the exposure's, as stcal lays them out."""

from __future__ import annotations

import numpy as np

#: fit_ramps' opt keys -> RampFitOutputModel extension names, in the model's order
OPT_NAMES = {"slope": "SLOPE", "sigslope": "SIGSLOPE", "var_poisson": "VAR_POISSON",
             "var_rnoise": "VAR_RNOISE", "yint": "YINT", "sigyint": "SIGYINT",
             "pedestal": "PEDESTAL", "weights": "WEIGHTS", "crmag": "CRMAG"}


def assemble_opt(chunks, frame_shape) -> dict:
    """Assemble per-chunk fitopt arrays into the exposure's, as stcal lays them out.

    chunks : list of (rows slice, opt dict from :func:`fit_ramps`) covering the frame;
    frame_shape : (ny, nx). The segment / jump axes get the largest size over the chunks
    (stcal sizes them by the maxima over the whole exposure); shorter chunks are zero-padded.
    Returns EXTNAME -> array in the RampFitOutputModel order (SLOPE, SIGSLOPE, VAR_POISSON,
    VAR_RNOISE, YINT, SIGYINT, PEDESTAL, WEIGHTS, CRMAG).
    """
    ny, nx = frame_shape
    if not chunks:
        raise ValueError("ramp_fit.assemble_opt: no chunks")
    nints = chunks[0][1]["pedestal"].shape[0]
    nseg = max(o["slope"].shape[1] for _, o in chunks)
    ncr = max(o["crmag"].shape[1] for _, o in chunks)
    out = {}
    for name, ext in OPT_NAMES.items():
        if name == "pedestal":
            out[ext] = np.zeros((nints, ny, nx), np.float32)
        else:
            out[ext] = np.zeros((nints, ncr if name == "crmag" else nseg, ny, nx), np.float32)
    for rows, o in chunks:
        for name, ext in OPT_NAMES.items():
            a = o[name]
            if name == "pedestal":
                out[ext][:, rows] = a
            else:
                out[ext][:, :a.shape[1], rows] = a
    return out
