"""SIRSKERNEL references for the simulator's CRDS cache (refpix's SIRS convolution kernels).

Layout as CRDS's (written with stdatamodels' ``SIRSKernelModel``, so jwst's RefPixStep reads
them): one ASDF file per instrument, ``jwst_<instrument>_sirskernel_0001.asdf``, holding for
each of the instrument's detectors a node ``<detector lower case>`` with ``gamma`` (left
reference columns) and ``zeta`` (right), complex64 arrays (4 channels, 1025 frequencies: the
real FFT of a 2048-row column). CRDS selects the file by instrument only (its nircam
``sirskernel`` rmap has no detector match), so the cache's rmap matches any detector.

Which detectors (found, public jwst and crds issue threads): the NIRCam file first held
the short-wave detectors and the long-wave ones were added (jwst #9032, "Derive SIRS
kernel coefficients for NIRSpec, NIRISS, and NIRCam longwave detectors"); CRDS added the
SIRSKERNEL type for NIRISS and NIRSpec (crds PR 1113); jwst's SIRSKernelModel schema allows
nrca1-4, nrcalong, nrcb1-4, nrcblong, nrs1, nrs2, nis (and MIRI names, which jwst never
uses: SIRS is NIR only); FGS has none. So the simulated cache has NIRCam (10 detectors),
NIRSpec (NRS1, NRS2) and NIRISS (NIS) files.

The coefficients (ASSUMED: the operational values are not available offline). They follow
the form of Rauscher's SIRS weights (JATIS 8, 028002, 2022) and of the NRCB1 example in jwst's
own tests: at each frequency the weight given to the reference columns is a Wiener-like
factor ``T(f) = 1 / (1 + (f / f_knee)^alpha)`` (1/f noise, common to the reference and
science pixels, dominates at low frequency; the reference pixels' white read noise above
the knee), shared between left and right by the channel's position across the detector
(``gamma_c + zeta_c = T``; channel 1 leans on the left columns, channel 4 on the right), with
a small phase ``2 pi f lag_c`` for the time between reading a row's reference columns and
the channel's pixels, and a few percent of seeded per-detector scatter. The kernels are
smooth, ~20 rows wide, and differ per channel and detector.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

#: detectors with SIRS coefficients in CRDS, per instrument
SIRS_DETECTORS = {
    "NIRCAM": ("NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCALONG", "NRCB1", "NRCB2", "NRCB3", "NRCB4", "NRCBLONG"),
    "NIRSPEC": ("NRS1", "NRS2"),
    "NIRISS": ("NIS",),
}
#: rows of a NIR detector column (the FFT length), channels (amplifiers)
NROWS, NCHAN = 2048, 4
#: knee of the weight (cycles per row) and its fall-off
F_KNEE, ALPHA = 0.03, 1.5
#: share of each channel's weight taken from the left reference columns
LEFT_SHARE = (0.87, 0.62, 0.38, 0.13)
USEAFTER = "2022-01-01T00:00:00"


def coefficients(detector: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(gamma, zeta) of ``detector``: complex64 (4, 1025); see the module docstring."""
    gen = np.random.default_rng([zlib.crc32(detector.upper().encode()), int(seed)])
    f = np.fft.rfftfreq(NROWS)                                   # cycles per row, 0 ... 0.5
    weight = 1.0 / (1.0 + (f / F_KNEE) ** ALPHA)
    gamma = np.empty((NCHAN, f.size), np.complex128)
    zeta = np.empty((NCHAN, f.size), np.complex128)
    for c in range(NCHAN):
        share = np.clip(LEFT_SHARE[c] + gen.normal(0.0, 0.02), 0.0, 1.0)
        lag = (c + 0.5) / NCHAN - 0.5 + gen.normal(0.0, 0.05)   # rows, science pixel vs reference
        for arr, part in ((gamma, share), (zeta, 1.0 - share)):
            amp = part * weight * (1.0 + gen.normal(0.0, 0.03, f.size))
            phase = 2.0 * np.pi * f * lag * (1 if arr is gamma else -1) + gen.normal(0.0, 0.01, f.size)
            arr[c] = amp * np.exp(1j * phase)
            arr[c, 0] = arr[c, 0].real                           # DC and Nyquist terms are real
            arr[c, -1] = arr[c, -1].real
    return gamma.astype(np.complex64), zeta.astype(np.complex64)


def sirskernel_name(instrument: str) -> str:
    return f"jwst_{instrument.lower()}_sirskernel_0001.asdf"


def write_sirskernel(refdir, instrument: str, seed: int = 0) -> Path | None:
    """Write the instrument's SIRSKERNEL file into ``refdir`` (atomically; kept if it exists);
    None for an instrument CRDS has none for."""
    from stdatamodels.jwst.datamodels import SIRSKernelModel  # heavy; only writing needs it

    dets = SIRS_DETECTORS.get(instrument.upper())
    if not dets:
        return None
    path = Path(refdir) / sirskernel_name(instrument)
    if path.exists():        # the content depends on nothing but the instrument and seed
        return path
    model = SIRSKernelModel()
    for det in dets:
        gamma, zeta = coefficients(det, seed)
        setattr(model, det.lower(), {"gamma": gamma, "zeta": zeta})
    model.meta.instrument.name = instrument.upper()
    model.meta.telescope = "JWST"
    model.meta.author = "rampflow simulate"
    model.meta.pedigree = "DUMMY"
    model.meta.useafter = USEAFTER
    model.meta.description = ("Simulated SIRS convolution kernel Fourier coefficients (gamma: left, zeta: right "
                              "reference columns; 4 channels)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.asdf")
    model.save(str(tmp))
    model.close()
    tmp.replace(path)
    return path
