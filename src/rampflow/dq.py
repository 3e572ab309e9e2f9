"""JWST data-quality bit flags: the one place they are defined in rampflow.

Values are those of ``stdatamodels.jwst.datamodels.dqflags.pixel`` (the JWST DQ
definitions); a test checks they stay identical. Import the names from here,
never re-type a bit value.
"""

from __future__ import annotations

import numpy as np

FLAGS: dict[str, int] = {
    "GOOD": 0,
    "DO_NOT_USE": 2**0,
    "SATURATED": 2**1,
    "JUMP_DET": 2**2,
    "DROPOUT": 2**3,
    "OUTLIER": 2**4,
    "PERSISTENCE": 2**5,
    "AD_FLOOR": 2**6,
    "CHARGELOSS": 2**7,
    "RESERVED": 2**8,
    "NON_SCIENCE": 2**9,
    "DEAD": 2**10,
    "HOT": 2**11,
    "WARM": 2**12,
    "LOW_QE": 2**13,
    "RC": 2**14,
    "TELEGRAPH": 2**15,
    "NONLINEAR": 2**16,
    "BAD_REF_PIXEL": 2**17,
    "NO_FLAT_FIELD": 2**18,
    "NO_GAIN_VALUE": 2**19,
    "NO_LIN_CORR": 2**20,
    "NO_SAT_CHECK": 2**21,
    "UNRELIABLE_BIAS": 2**22,
    "UNRELIABLE_DARK": 2**23,
    "UNRELIABLE_SLOPE": 2**24,
    "UNRELIABLE_FLAT": 2**25,
    "OPEN": 2**26,
    "ADJ_OPEN": 2**27,
    "FLUX_ESTIMATED": 2**28,
    "MSA_FAILED_OPEN": 2**29,
    "OTHER_BAD_PIXEL": 2**30,
    "REFERENCE_PIXEL": 2**31,
}

GOOD = FLAGS["GOOD"]
DO_NOT_USE = FLAGS["DO_NOT_USE"]
FLUX_ESTIMATED = FLAGS["FLUX_ESTIMATED"]
SATURATED = FLAGS["SATURATED"]
JUMP_DET = FLAGS["JUMP_DET"]
DROPOUT = FLAGS["DROPOUT"]
AD_FLOOR = FLAGS["AD_FLOOR"]
PERSISTENCE = FLAGS["PERSISTENCE"]
CHARGELOSS = FLAGS["CHARGELOSS"]
DEAD = FLAGS["DEAD"]
HOT = FLAGS["HOT"]
NONLINEAR = FLAGS["NONLINEAR"]
NO_GAIN_VALUE = FLAGS["NO_GAIN_VALUE"]
NO_LIN_CORR = FLAGS["NO_LIN_CORR"]
NO_SAT_CHECK = FLAGS["NO_SAT_CHECK"]
UNRELIABLE_BIAS = FLAGS["UNRELIABLE_BIAS"]
UNRELIABLE_DARK = FLAGS["UNRELIABLE_DARK"]
UNRELIABLE_SLOPE = FLAGS["UNRELIABLE_SLOPE"]
REFERENCE_PIXEL = FLAGS["REFERENCE_PIXEL"]

#: group-DQ flags (uint8) are the low byte of the pixel flags
GROUP_FLAGS: dict[str, int] = {k: v for k, v in FLAGS.items() if v < 256 and k != "RESERVED"}


def decode(value: int) -> list[str]:
    """Mnemonics of the bits set in ``value`` (ascending bit order)."""
    value = int(value)
    if value < 0 or value >= 2**32:
        raise ValueError(f"DQ value {value} is outside the 32-bit unsigned range")
    return [name for name, bit in FLAGS.items() if bit and value & bit]


def encode(names) -> int:
    """Bitwise OR of the given mnemonics (case-insensitive); unknown names raise."""
    if isinstance(names, str):
        names = [n for n in names.replace("+", ",").replace("|", ",").split(",")]
    value = 0
    for name in names:
        key = name.strip().upper()
        if not key:
            continue
        if key not in FLAGS:
            raise ValueError(f"unknown DQ mnemonic {name!r}; known: {', '.join(FLAGS)}")
        value |= FLAGS[key]
    return value


def dynamic_mask(dq: np.ndarray, dq_def) -> np.ndarray:
    """Translate a reference file's DQ array to pipeline bits using its DQ_DEF table.

    This is jwst's ``dynamicdq.dynamic_mask``: each row of DQ_DEF names a bit
    (``BIT`` / ``VALUE``) in the reference file and the pipeline mnemonic
    (``NAME``) it stands for. With no DQ_DEF the array is returned as uint32 unchanged.
    A name that is not a JWST mnemonic is ignored with a warning, as jwst does.
    """
    import logging
    dq = np.asarray(dq)
    if dq_def is None or len(dq_def) == 0:
        return dq.astype(np.uint32, copy=True)
    out = np.zeros(dq.shape, dtype=np.uint32)
    names = dq_def["NAME"] if "NAME" in dq_def.colnames else dq_def["name"]
    values = dq_def["VALUE"] if "VALUE" in dq_def.colnames else dq_def["value"]
    for name, value in zip(names, values):
        if isinstance(name, bytes):
            name = name.decode()
        name = str(name).strip().upper()
        if name not in FLAGS:
            logging.getLogger(__name__).warning("DQ_DEF names unknown mnemonic %r; ignored", name)
            continue
        truebit = FLAGS[name]
        if truebit == 0:
            continue
        out[(dq.astype(np.uint32) & np.uint32(value)) != 0] |= np.uint32(truebit)
    return out
