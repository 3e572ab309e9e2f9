"""The geometry of an exposure's observing mode, from its own header: no instrument assumed.

Destriping, trace finding, box extraction, background and spectroscopic bins all need the
same few facts, and each used to assume NIRSpec BOTS (dispersion along x, one trace, 1/f
along columns). :class:`ModeGeometry` holds them, read from the exposure:

* ``fast_axis``: the DMS axis ("x" or "y") along which the detector reads a line (FASTAXIS
  +-1 is x, +-2 is y). 1/f noise is constant along a line, so its stripes are *rows* when the
  fast axis is x (NIRCam, and so NIRCam grism and imaging time series) and *columns* when it
  is y (NIRSpec, NIRISS -- hence NIRISS SOSS);
* ``noutputs``: NOUTPUTS, amplifiers splitting each line into 2048 / NOUTPUTS pixels;
* ``dispersion_axis``: "x" (NIRSpec, NIRISS SOSS, NIRCam grism: along rows), "y" (MIRI LRS),
  None for imaging;
* ``orders``: the spectral orders to extract: (1, 2) for NIRISS SOSS when the subarray is
  tall enough to hold order 2 (SUBSTRIP256, FULL), (1,) otherwise (SUBSTRIP96 and every
  single-trace mode);
* ``trace_order``: the trace polynomial degree the mode needs by default (4 for SOSS's
  strongly curved orders, 2 otherwise);
* ``background_template``: True where the background is a scaled template (SOSS's zodiacal
  light has a sharp step along the dispersion), else per-column out-of-trace pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModeGeometry", "mode_geometry", "from_header", "from_meta", "SOSS_ORDER2_MIN_ROWS"]

#: a SOSS subarray needs this many rows to hold order 2 (SUBSTRIP96 holds only order 1)
SOSS_ORDER2_MIN_ROWS = 200


@dataclass(frozen=True)
class ModeGeometry:
    """Geometry of one exposure's mode (see the module docstring)."""

    instrument: str
    exp_type: str
    subarray: str
    shape: tuple                 # (ny, nx), DMS orientation
    fast_axis: str | None        # "x" | "y" (None: the header did not say)
    noutputs: int
    dispersion_axis: str | None  # "x" | "y" | None (imaging)
    orders: tuple
    trace_order: int
    background_template: bool
    origin: tuple = (1, 1)       # (SUBSTRT1, SUBSTRT2), 1-based detector pixel of the frame's corner

    @property
    def stripes(self) -> str | None:
        """Which lines 1/f noise makes: "rows" (fast axis x) or "columns" (fast axis y)."""
        return None if self.fast_axis is None else ("rows" if self.fast_axis == "x" else "columns")

    @property
    def fast_index(self) -> int:
        """numpy axis of a (ny, nx) frame along which a line is read: 1 for x, 0 for y."""
        if self.fast_axis is None:
            raise ValueError(f"{self.exp_type}: FASTAXIS/SLOWAXIS unknown, the readout direction is not known")
        return 1 if self.fast_axis == "x" else 0

    @property
    def multi_order(self) -> bool:
        """True when the frame holds several spectral orders (their light must be masked)."""
        return self.exp_type == "NIS_SOSS"


def _fast(fastaxis, slowaxis) -> str | None:
    if fastaxis is None or slowaxis is None:
        return None
    f, s = abs(int(fastaxis)), abs(int(slowaxis))
    if {f, s} != {1, 2}:
        raise ValueError(f"FASTAXIS={fastaxis}, SLOWAXIS={slowaxis}: expected one of them +-1 and the other +-2")
    return "x" if f == 1 else "y"


def mode_geometry(*, instrument: str, exp_type: str, subarray: str, fastaxis: int, slowaxis: int,
                  noutputs: int, shape, imaging: bool = False, dispersion: str = "auto",
                  origin=(1, 1)) -> ModeGeometry:
    """The :class:`ModeGeometry` of an exposure described by its header values.

    dispersion : "auto" (from EXP_TYPE: y for MIRI LRS, x otherwise) or "x" / "y"
    """
    from .lightcurves.trace import dispersion_axis

    exp = str(exp_type or "").upper()
    ny, nx = (int(s) for s in shape[-2:])
    soss = exp == "NIS_SOSS"
    orders = (1, 2) if soss and ny >= SOSS_ORDER2_MIN_ROWS else (1,)
    return ModeGeometry(
        instrument=str(instrument or "").upper(), exp_type=exp, subarray=str(subarray or "").upper(),
        shape=(ny, nx), fast_axis=_fast(fastaxis, slowaxis), noutputs=int(noutputs or 1),
        dispersion_axis=None if imaging else dispersion_axis(dispersion, exp),
        orders=orders, trace_order=4 if soss else 2, background_template=soss,
        origin=(int(origin[0] or 1), int(origin[1] or 1)))


def from_header(header, shape, *, imaging: bool = False, dispersion: str = "auto",
                require_readout: bool = False) -> ModeGeometry:
    """From a primary header (a dict-like of FITS keywords) and the frame ``shape``. A missing
    FASTAXIS/SLOWAXIS leaves ``fast_axis`` None, or with ``require_readout`` is a ValueError
    naming the keyword."""
    for key in ("FASTAXIS", "SLOWAXIS"):
        if require_readout and header.get(key) in (None, ""):
            raise ValueError(f"header keyword {key} is missing: the readout direction is unknown")
    return mode_geometry(instrument=header.get("INSTRUME"), exp_type=header.get("EXP_TYPE"),
                         subarray=header.get("SUBARRAY"), fastaxis=header.get("FASTAXIS") or None,
                         slowaxis=header.get("SLOWAXIS") or None, noutputs=header.get("NOUTPUTS") or 1, shape=shape,
                         imaging=imaging, dispersion=dispersion,
                         origin=(header.get("SUBSTRT1") or 1, header.get("SUBSTRT2") or 1))


def from_meta(meta, *, imaging: bool = False) -> ModeGeometry:
    """From an :class:`rampflow.meta.ExposureMeta`."""
    return mode_geometry(instrument=meta.instrument, exp_type=meta.exp_type, subarray=meta.subarray,
                         fastaxis=meta.fastaxis, slowaxis=meta.slowaxis, noutputs=meta.noutputs,
                         shape=(meta.subsize2, meta.subsize1), imaging=imaging,
                         origin=(meta.substrt1, meta.substrt2))
