"""Synthetic JWST exposures (``_uncal`` ramps), their reference files, a CRDS cache and truth.

The simulator is organised by instrument and mode. Each *kind* of exposure lives in its
instrument's module and is registered here:

``nirspec_tso`` (:mod:`.nirspec`)
    NIRSpec Bright Object Time Series on SUB2048: a curved spectral trace and a transit,
    split into exposure segments.
``nircam_image`` (:mod:`.nircam`)
    NIRCam imaging, full frame or a corner subarray: Gaussian point sources.
``miri_image``, ``miri_lrs_tso`` (:mod:`.miri`, references in :mod:`.miri_refs`)
    MIRI imaging on the full 1024 x 1032 frame, and LRS slitless time series on
    SLITLESSPRISM (dispersed along the rows, a transit, segments), with MIRI's reset, first-
    and last-frame anomalies, RSCD, integration-dependent dark, EMI and REFOUT.
``niriss_soss`` (:mod:`.niriss`)
    NIRISS SOSS on SUBSTRIP256/96: three curved, overlapping orders, zodiacal background
    (with its BKG template reference), 1/f along columns (NIRISS reads along y).
``nircam_grism_tso``, ``nircam_imaging_tso`` (:mod:`.nircam_tso`)
    NIRCam grism time series on SUBGRISM64/128/256 (1 or 4 outputs, F322W2 or F444W, trace
    along rows) and the short-wave weak-lens imaging time series on SUB64P.

Adding an instrument or mode is one new module defining its :class:`~.kinds.Instrument` and
:class:`~.kinds.Kind` (geometry, scene, header keywords, physics defaults) plus one
``kinds.register`` line below; nothing else in the package names an instrument.

The rest is shared by every kind:

* :mod:`.kinds` the registry, the kinds' common interface and the physics parameters;
* :mod:`.geometry` subarray placement, NOUTPUTS, TFRAME and readout coordinates;
* :mod:`.detector` the detector model (its reference files' content) and the ramp synthesis:
  Poisson signal, dark, non-linearity, cosmic rays, bias, read noise, 1/f and odd/even noise;
* :mod:`.scene` scaling of the kind's source and the transit;
* :mod:`.timing` INT_TIMES, GROUP tables and BJD_TDB;
* :mod:`.references` the eight NIR reference files (a kind may write its own: MIRI's nine in
  :mod:`.miri_refs`); :mod:`.crds_cache` the local CRDS cache;
* :mod:`.exposure` one exposure segment (uncal keywords, truth file);
* :mod:`.program` a whole ``inputs.simulate`` block: stems, detectors x segments, the cache.

FITS files are written by :mod:`rampflow.io.simfiles`.

``KINDS``, ``DETECTORS``, ``READPATTERNS`` and ``PHYSICS_DEFAULTS`` are views of the registry,
computed when read, so they include kinds registered later.
"""

from __future__ import annotations

from . import kinds, miri, nircam, nircam_tso, niriss, nirspec
from .crds_cache import override_only_crds, write_crds_cache
from .detector import linear_to_measured, measured_to_linear
from .exposure import SimulatedExposure, read_truth, simulate_exposure
from .program import PROGRAM_KEYS, program_stems, simulate_program
from .references import REFTYPES
from .scene import transit_model

kinds.register(nirspec.BOTS)
kinds.register(nircam.IMAGE)
kinds.register(miri.IMAGE)
kinds.register(miri.LRS_TSO)
kinds.register(niriss.SOSS)
kinds.register(nircam_tso.GRISM_TSO)
kinds.register(nircam_tso.IMAGING_TSO)

__all__ = [
    "SimulatedExposure", "simulate_exposure", "simulate_program", "program_stems", "write_crds_cache",
    "override_only_crds", "read_truth", "transit_model", "linear_to_measured", "measured_to_linear",
    "PHYSICS_DEFAULTS", "KINDS", "REFTYPES", "DETECTORS", "READPATTERNS", "PROGRAM_KEYS", "kinds",
]

#: registry views: name -> function computing it from the registered kinds
_VIEWS = {
    "KINDS": kinds.names,                       # registered kind names
    "DETECTORS": kinds.detectors,               # detector -> (INSTRUME, FASTAXIS, SLOWAXIS)
    "READPATTERNS": kinds.readpatterns,         # INSTRUME -> {READPATT -> (NFRAMES, GROUPGAP)}
    "PHYSICS_DEFAULTS": kinds.physics_defaults,  # every physics parameter -> default
}


def __getattr__(name: str):
    try:
        return _VIEWS[name]()
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
