"""NaN and inf in reference files: every pixel they touch is flagged DO_NOT_USE plus the JWST
flag of its reference (warned about, naming the file), and no NaN or inf reaches SCI / ERR /
VAR_* of a pixel whose DQ is good -- through the whole chain, uncal to rateints."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rampflow import dq, io, runner
from rampflow.meta import ExposureMeta
from rampflow.references import Reference
from rampflow.steps import get_step_class
from rampflow.steps.dark_current import dark_groups_used
from tests.reliability.helpers import poison

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump",
         "ramp_fit"]

#: reftype -> (extension, plane or None, flag, {(row, col) in the exposure: bad value})
BAD = {
    "saturation": ("SCI", None, "NO_SAT_CHECK", {(3, 10): np.nan, (3, 11): np.inf}),
    "superbias": ("SCI", None, "UNRELIABLE_BIAS", {(5, 20): np.nan, (5, 21): -np.inf}),
    "linearity": ("COEFFS", 2, "NO_LIN_CORR", {(7, 30): np.nan, (7, 31): np.inf}),
    "dark": ("SCI", 1, "UNRELIABLE_DARK", {(9, 40): np.nan, (9, 41): np.inf}),
    "readnoise": ("SCI", None, "UNRELIABLE_SLOPE", {(11, 50): np.nan, (11, 51): np.inf}),
    "gain": ("SCI", None, "NO_GAIN_VALUE", {(13, 55): np.nan, (13, 56): np.inf}),
}


def _poisoned(sim, tmp_path: Path) -> dict:
    """Copies of ``sim``'s reference files with the BAD values written into them."""
    with fits.open(sim.uncal) as h:
        corner = (int(h[0].header["SUBSTRT2"]) - 1, int(h[0].header["SUBSTRT1"]) - 1)
    out = {rt: str(p) for rt, p in sim.refs.items()}
    for rt, (ext, plane, _, pixels) in BAD.items():
        out[rt] = poison(sim.refs[rt], tmp_path / f"bad_{Path(sim.refs[rt]).name}", ext, plane, pixels, corner)
    return out


@pytest.fixture(scope="module")
def products(sim_exposure, tmp_path_factory):
    """The chain run on the exposure with the poisoned references: (rate, rateints, warnings)."""
    tmp = tmp_path_factory.mktemp("nonfinite")
    refs = _poisoned(sim_exposure, tmp)
    outs = {"rate": str(tmp / "x_rate.fits"), "rateints": str(tmp / "x_rateints.fits")}
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        runner.run(CHAIN, {"ramp": str(sim_exposure.uncal)}, outs, overrides=refs)
    finally:
        logging.getLogger().removeHandler(handler)
    return (io.read_image_product(outs["rate"]), io.read_image_product(outs["rateints"]),
            [r.getMessage() for r in records], refs)


@pytest.mark.parametrize("reftype", sorted(BAD))
def test_bad_reference_pixels_are_flagged(products, reftype):
    rate, rateints, warnings, refs = products
    _, _, flag, pixels = BAD[reftype]
    bits = dq.DO_NOT_USE | dq.FLAGS[flag]
    for y, x in pixels:
        assert rate["DQ"][y, x] & bits == bits, f"{reftype} ({y}, {x}): rate DQ {dq.decode(rate['DQ'][y, x])}"
        for i in range(rateints["DQ"].shape[0]):
            got = rateints["DQ"][i, y, x]
            assert got & bits == bits, f"{reftype} ({y}, {x}) integration {i}: DQ {dq.decode(got)}"
    name = Path(refs[reftype]).name
    said = [w for w in warnings if name in w and flag in w]
    assert said, f"no warning names {name} and {flag}: {warnings}"
    assert f"{len(pixels)} pixel(s)" in said[0]


@pytest.mark.parametrize("which", ["rate", "rateints"])
def test_no_nonfinite_value_on_a_good_pixel(products, which):
    prod = products[0] if which == "rate" else products[1]
    good = (prod["DQ"] & dq.DO_NOT_USE) == 0
    assert good.mean() > 0.5  # most pixels are good: the check below means something
    for ext in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE"):
        bad = good & ~np.isfinite(prod[ext])
        assert not bad.any(), f"{which} {ext}: non-finite on good pixels at {np.argwhere(bad)[:10].tolist()}"


def test_every_other_pixel_is_unchanged(products, sim_exposure, tmp_path):
    """The same chain with the clean reference files: every pixel but the poisoned ones has
    identical SCI, ERR, DQ and variances."""
    outs = {"rate": str(tmp_path / "c_rate.fits"), "rateints": str(tmp_path / "c_rateints.fits")}
    refs = {k: str(v) for k, v in sim_exposure.refs.items()}
    runner.run(CHAIN, {"ramp": str(sim_exposure.uncal)}, outs, overrides=refs)
    clean = io.read_image_product(outs["rateints"])
    poisoned = products[1]
    others = np.ones(clean["DQ"].shape[-2:], dtype=bool)
    for _, _, _, pixels in BAD.values():
        for y, x in pixels:
            others[y, x] = False
    for ext in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
        np.testing.assert_array_equal(poisoned[ext][:, others], clean[ext][:, others], err_msg=ext)


def test_dark_flags_only_the_frames_it_uses():
    """Science NFRAMES=4, GROUPGAP=1, 3 groups: group g averages dark frames 5g .. 5g+3, so
    frames 4 and 9 (the gaps) and 14, 15 (past the end) are not used. A NaN in a used frame,
    an inf in another, and a NaN in the AVDRKCUR image flag their pixels; NaN in unused frames
    does not."""
    assert dark_groups_used(16, 1, 0, 3, 4, 1).tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13]
    # 6 dark groups, science 8 groups of 1 frame: groups 6, 7 extrapolated from groups 4 and 5
    assert dark_groups_used(6, 1, 0, 8, 1, 0).tolist() == [0, 1, 2, 3, 4, 5]
    assert dark_groups_used(6, 1, 0, 4, 1, 0).tolist() == [0, 1, 2, 3]
    ny, nx = 2, 4
    sci = np.ones((16, ny, nx), np.float32)
    sci[5, 0, 0] = np.nan      # used
    sci[13, 0, 1] = np.inf     # used
    sci[4, 0, 2] = np.nan      # a gap frame
    sci[15, 0, 3] = np.nan     # past the science pattern
    avg = np.full((ny, nx), 0.5, np.float32)
    avg[1, 3] = np.nan
    ref = Reference(reftype="dark", path="hand_dark.fits", header={"NFRAMES": 1, "GROUPGAP": 0},
                    arrays={"SCI": sci, "AVDRKCUR": avg})
    meta = ExposureMeta.from_headers({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "NFRAMES": 4, "GROUPGAP": 1,
                                      "NGROUPS": 3, "NINTS": 1}, {}, "hand_uncal.fits", shape=(1, 3, ny, nx))
    step = get_step_class("dark_current")(meta, {"dark": ref})
    bits = dq.DO_NOT_USE | dq.UNRELIABLE_DARK
    expected = np.zeros((ny, nx), np.uint32)
    expected[0, 0] = expected[0, 1] = expected[1, 3] = bits
    np.testing.assert_array_equal(step.dark_dq, expected)
    assert np.isfinite(step.dark).all() and step.dark[1, 0, 0] == 0.75  # (0 + 1 + 1 + 1) / 4
    assert step.average_dark_current[1, 3] == 0.0 and step.average_dark_current[0, 0] == 0.5
    data = np.full((1, 3, ny, nx), 100.0, np.float32)
    pdq = np.zeros((ny, nx), np.uint32)
    step.process(data, np.zeros(data.shape, np.uint8), pdq, slice(0, 1), slice(0, ny))
    assert np.isfinite(data).all()
    np.testing.assert_array_equal(pdq, expected)
