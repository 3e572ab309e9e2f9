"""Subarray and readout geometry of one simulated exposure (DMS orientation).

:func:`geometry` places the exposure's (ny, nx) cut on the detector (full frame, or where the
kind's :meth:`~.kinds.Kind.subarray` puts it), picks NOUTPUTS and the readout pattern, and
computes TFRAME. :func:`readout_coords` maps every pixel to its output amplifier, detector-column
parity and fast-read line, which the detector noise model needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kinds

#: full-frame size of the near-infrared (H2RG) detectors (the default Instrument.full_shape)
FULL = 2048
#: reference pixels on each full-frame edge
NREF = 4


@dataclass(frozen=True)
class Geometry:
    """Subarray and readout of one exposure (DMS orientation; x/y starts 1-based)."""

    kind: str
    instrument: str
    detector: str
    subarray: str
    xstart: int
    ystart: int
    nx: int
    ny: int
    fastaxis: int
    slowaxis: int
    noutputs: int
    readpatt: str
    nframes: int
    groupgap: int
    ngroups: int
    tframe: float
    full_ny: int = FULL          # the detector's full frame (DMS): 2048 x 2048 NIR, 1024 x 1032 MIRI
    full_nx: int = FULL
    interleaved: bool = False    # outputs take columns in turn (MIRI) rather than strips

    @property
    def tgroup(self) -> float:
        return (self.nframes + self.groupgap) * self.tframe

    @property
    def nframes_total(self) -> int:
        """Frames read from reset to the last frame of the last group."""
        return self.ngroups * (self.nframes + self.groupgap) - self.groupgap

    @property
    def frame_index(self) -> np.ndarray:
        """(ngroups, nframes) indices of the frames averaged into each group."""
        g = np.arange(self.ngroups)[:, None] * (self.nframes + self.groupgap)
        return g + np.arange(self.nframes)[None, :]

    @property
    def full_frame(self) -> bool:
        return self.nx == self.full_nx and self.ny == self.full_ny


def geometry(kind: str, detector: str, size, ngroups: int, readpatt: str | None, phys: dict | None = None) -> Geometry:
    """Geometry of a ``kind`` exposure on ``detector``: ``size`` [ny, nx] (None: the kind's
    default), ``readpatt`` (None: the kind's default), ``phys`` the physics parameters (some
    kinds choose NOUTPUTS from them). Bad values are ValueErrors naming the key."""
    spec = kinds.get(kind)
    instrument = spec.instrument
    det = instrument.detectors[detector]
    ny, nx = (int(s) for s in (size or spec.size))
    fny, fnx = (int(n) for n in instrument.full_shape)
    if not (1 <= ny <= fny and 8 <= nx <= fnx):
        raise ValueError(f"inputs.simulate.size: [{ny}, {nx}] is outside 1..{fny} x 8..{fnx}")
    if int(ngroups) < 1:
        raise ValueError(f"inputs.simulate.ngroups: must be >= 1, got {ngroups}")
    readpatt = str(readpatt or spec.readpatt).upper()
    try:
        nframes, groupgap = instrument.readpatterns[readpatt]
    except KeyError:
        raise ValueError(f"inputs.simulate.readpatt: {readpatt!r} is not a {instrument.name} pattern "
                         f"({', '.join(instrument.readpatterns)})") from None
    if (ny, nx) == (fny, fnx):
        name, xstart, ystart = "FULL", 1, 1
    else:
        name, xstart, ystart = spec.subarray(detector, ny, nx)
    noutputs = spec.outputs(ny, nx, phys or {})
    # detector frame: nfast pixels per line (per output), nslow lines; 10 us per pixel,
    # 12 extra pixel times per line and one extra line per frame
    fast, slow = det.fastaxis, det.slowaxis
    nfast, nslow = (nx, ny) if abs(fast) == 1 else (ny, nx)
    tframe = round((nfast // noutputs + 12) * (nslow + 1) * 1e-5, 5)
    if name == "FULL" and noutputs == 4:
        tframe = 10.73677           # the value in real full-frame headers
    tabulated = spec.frame_time(name, ny, nx, noutputs)
    if tabulated is not None:
        tframe = float(tabulated)
    return Geometry(kind=kind, instrument=instrument.name, detector=detector, subarray=name,
                    xstart=xstart, ystart=ystart, nx=nx, ny=ny, fastaxis=fast, slowaxis=slow,
                    noutputs=noutputs, readpatt=readpatt, nframes=nframes, groupgap=groupgap,
                    ngroups=int(ngroups), tframe=tframe, full_ny=fny, full_nx=fnx,
                    interleaved=bool(instrument.interleaved_outputs))


def full_frame(kind: str, detector: str) -> Geometry:
    """The full frame of ``detector`` read through 4 outputs (for full-frame detector maps)."""
    spec = kinds.get(kind)
    det = spec.instrument.detectors[detector]
    fny, fnx = (int(n) for n in spec.instrument.full_shape)
    return Geometry(kind, spec.instrument.name, detector, "FULL", 1, 1, fnx, fny, det.fastaxis,
                    det.slowaxis, 4, "", 1, 0, 1, 1.0, full_ny=fny, full_nx=fnx,
                    interleaved=bool(spec.instrument.interleaved_outputs))


def columns(geom: Geometry) -> np.ndarray:
    """Full-frame column (0-based, DMS) of each subarray column."""
    return geom.xstart - 1 + np.arange(geom.nx)


def column_position(geom: Geometry) -> np.ndarray:
    """Position u of each subarray column across the detector, -1 (column 0) .. ~1 (last column)."""
    return (columns(geom) - (geom.full_nx - 1) / 2.0) / (geom.full_nx / 2.0)


def readout_coords(geom: Geometry):
    """Per subarray pixel: output amplifier, detector-column parity and fast-read line index.

    In the detector frame (rows = slow axis, columns = fast axis, as jwst's
    science_detector_frame_transform gives) outputs are 512-column strips (H2RG) or take the
    columns in turn (``geom.interleaved``, MIRI: output = column mod 4), odd/even is the
    detector column parity and a line is one detector row. Returns (amp, parity, line, nlines).
    """
    X = geom.xstart - 1 + np.arange(geom.nx)
    Y = geom.ystart - 1 + np.arange(geom.ny)
    fnx, fny = geom.full_nx, geom.full_ny
    if abs(geom.fastaxis) == 1:
        fast = (X if geom.fastaxis > 0 else fnx - 1 - X)[None, :]
        slow = (Y if geom.slowaxis > 0 else fny - 1 - Y)[:, None]
        nfast = fnx
    else:
        fast = (Y if geom.fastaxis > 0 else fny - 1 - Y)[:, None]
        slow = (X if geom.slowaxis > 0 else fnx - 1 - X)[None, :]
        nfast = fny
    fast, slow = np.broadcast_arrays(fast, slow)
    if geom.noutputs <= 1:
        amp = np.zeros_like(fast)
    elif geom.interleaved:
        amp = fast % geom.noutputs
    else:
        amp = fast // (nfast // geom.noutputs)
    parity = fast % 2
    line = slow - slow.min()
    return amp.astype(np.intp), parity.astype(np.intp), line.astype(np.intp), int(line.max()) + 1


def fast_coordinate(geom: Geometry) -> np.ndarray:
    """(ny, nx) detector-frame fast-axis coordinate (the read order along a line) of each pixel."""
    X = geom.xstart - 1 + np.arange(geom.nx)
    Y = geom.ystart - 1 + np.arange(geom.ny)
    if abs(geom.fastaxis) == 1:
        f = (X if geom.fastaxis > 0 else geom.full_nx - 1 - X)[None, :]
    else:
        f = (Y if geom.fastaxis > 0 else geom.full_ny - 1 - Y)[:, None]
    return np.broadcast_to(f, (geom.ny, geom.nx))


def cut(geom: Geometry, arr: np.ndarray) -> np.ndarray:
    """The exposure's subarray of a full-frame array (last two axes)."""
    y0, x0 = geom.ystart - 1, geom.xstart - 1
    return arr[..., y0:y0 + geom.ny, x0:x0 + geom.nx]
