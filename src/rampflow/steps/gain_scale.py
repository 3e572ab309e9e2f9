"""Gain scaling: jwst's ``gain_scale`` step (``jwst.gain_scale``) on rate / rateints arrays.

Exposures taken with a non-standard gain setting have a GAIN reference file whose primary
header holds GAINFACT (``meta.exposure.gain_factor``). jwst then multiplies SCI and ERR by
the factor and VAR_POISSON / VAR_RNOISE by its square, and records GAINFACT and
S_GANSCL = 'COMPLETE'; without GAINFACT the step is SKIPPED and the data are unchanged.
jwst's ramp_fit copies GAINFACT into the product, and gain_scale uses that value when it is
there (it comes from the same GAIN file); the runner passes the GAIN reference's header.

:class:`GainScale` is the registered step (a rate step: it acts on rate / rateints products).

Like numpy in jwst (``data *= gain_factor`` with a Python float), the multiplication is done
in the arrays' own precision (float32), in place.
"""

from __future__ import annotations

import numpy as np

from .base import Step

#: jwst GainScaleStep has no parameters (its spec is empty)
SPEC = ""
DEFAULTS: dict = {}

_LINEAR = ("SCI", "ERR")
_SQUARED = ("VAR_POISSON", "VAR_RNOISE")
_ALIASES = {"SLOPE": "SCI", "DATA": "SCI", "VAR_ERR": "ERR"}


def gain_factor_from_header(header) -> float | None:
    """GAINFACT from a GAIN reference's primary header (dict-like), or None if absent/blank."""
    if header is None:
        return None
    try:
        value = header["GAINFACT"] if "GAINFACT" in header else None
    except (KeyError, TypeError):
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def apply_gain_factor(arrays: dict, factor: float) -> dict:
    """Scale, in place, SCI and ERR by ``factor`` and VAR_POISSON / VAR_RNOISE by ``factor**2``
    (float32 arrays of any shape: rate (ny, nx) or rateints (nints, ny, nx)). Keys are
    matched case-insensitively (``SCI``/``slope``/``data``, ``ERR``/``err``, ``VAR_POISSON``,
    ``VAR_RNOISE``); other arrays (DQ) are left alone. Missing or empty variance arrays are
    skipped, as in jwst. Returns ``arrays``."""
    factor = float(factor)
    for key in list(arrays):
        name = _ALIASES.get(str(key).upper(), str(key).upper())
        arr = arrays[key]
        if arr is None or np.size(arr) == 0:
            continue
        if name in _LINEAR:
            arr *= factor
        elif name in _SQUARED:
            arr *= factor ** 2
    return arrays


def gain_scale(arrays: dict, gain_header) -> tuple[dict, float | None]:
    """jwst GainScaleStep on a product's arrays.

    arrays : EXTNAME -> array (SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE), modified in place.
    gain_header : the GAIN reference's primary header (or the product's, if it carries
        GAINFACT), dict-like; None means no gain information.
    Returns ``(arrays, factor)``; ``factor`` is None when the step is skipped (no GAINFACT):
    the caller then records S_GANSCL = 'SKIPPED', else 'COMPLETE' and GAINFACT = factor.
    """
    factor = gain_factor_from_header(gain_header)
    if factor is None:
        return arrays, None
    return apply_gain_factor(arrays, factor), factor


def header_updates(factor: float | None) -> dict:
    """The primary-header keywords jwst records for this step."""
    if factor is None:
        return {"S_GANSCL": "SKIPPED"}
    return {"S_GANSCL": "COMPLETE", "GAINFACT": float(factor)}


class GainScale(Step):
    """jwst ``GainScaleStep`` (class_alias "gain_scale"); reference GAIN, no parameters.

    A rate step: the runner gives it the arrays of each rate product (rate, then rateints)
    through :meth:`process_product` and writes ``gain_scale`` / ``gain_scaleints``.
    """

    name = "gain_scale"
    keyword = "S_GANSCL"
    reftypes = ("gain",)
    spec = SPEC
    kind = "rate"
    chunking = "products"
    products = ("gain_scale", "gain_scaleints")
    reads = ("rate", "rateints")

    def __init__(self, meta, refs, inputs=None, **params):
        super().__init__(meta, refs, inputs, **params)
        self.factor = gain_factor_from_header(refs["gain"].header)
        if self.factor is None:
            self.skipped = "no GAINFACT in the gain reference"

    def process_product(self, arrays: dict) -> None:
        """Scale one product's arrays in place (SCI, ERR, VAR_POISSON, VAR_RNOISE, DQ)."""
        if self.factor is not None:
            apply_gain_factor(arrays, self.factor)

    def header_updates(self) -> dict:
        if self.factor is None:
            return {}
        return {"GAINFACT": (float(self.factor), "gain scale factor applied")}

    def history(self) -> list[str]:
        return [f"rampflow gain_scale: factor={self.factor}"]
