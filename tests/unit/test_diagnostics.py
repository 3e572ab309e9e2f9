"""Step diagnostics (plots, DQ tally) on hand-built ramp products, and ``rampflow flags``."""

import csv
import importlib

import numpy as np
import pytest

from rampflow import dq as dqflags
from rampflow import io, plotting
from rampflow.qa import diagnostics as dg
from rampflow.qa.diagnostics import common
from tests.conftest import make_uncal

NINTS, NGROUPS, NY, NX = 2, 4, 8, 10


def _png_shape(path):
    from matplotlib.image import imread

    img = imread(str(path))
    return img.shape[:2]


def _expected(figsize):
    return (int(round(figsize[1] * dg.DPI)), int(round(figsize[0] * dg.DPI)))


@pytest.fixture
def chain(tmp_path):
    """An uncal file and three ramp products with known flags and values (NIRSpec: fast axis y)."""
    g = np.arange(NGROUPS, dtype=np.float32)[:, None, None]
    base = np.broadcast_to(1000 + 100 * g, (NINTS, NGROUPS, NY, NX)).astype(np.float32).copy()
    uncal = make_uncal(tmp_path / "jw01_nrs1_uncal.fits", base.astype(np.uint16), fastaxis=2, slowaxis=1)
    pdq = np.zeros((NY, NX), np.uint32)
    pdq[:, 0] = dqflags.REFERENCE_PIXEL | dqflags.DO_NOT_USE      # a reference column (8 pixels)
    gdq_sat = np.zeros(base.shape, np.uint8)
    gdq_sat[0, 2:, 3, 4] = dqflags.SATURATED                      # 2 groups
    gdq_sat[1, 3, 5, 6] = dqflags.SATURATED                       # 1 group
    gdq_jump = gdq_sat.copy()
    gdq_jump[1, 2, 1, 1] |= dqflags.JUMP_DET
    gdq_jump[1, 1, 6, 8] |= dqflags.JUMP_DET
    sci = base - 1000                                             # "bias subtracted": 0, 100, 200, 300
    sci[:, :, 2, 2] = [0, 100, 190, 270]
    paths = {}
    with io.open_ramp(uncal) as rf:
        for step, gdq in (("dq_init", np.zeros(base.shape, np.uint8)), ("saturation", gdq_sat), ("jump", gdq_jump)):
            out = tmp_path / f"jw01_nrs1_{step}.fits"
            with io.RampWriter(out, rf, updates={"S_TEST": "COMPLETE"}) as w:
                w.write(slice(None), slice(None), sci, gdq)
                w.write_pixeldq(pdq)
            paths[step] = out
    return uncal, paths, sci


def test_dq_tally_counts_exact(chain, tmp_path):
    _, paths, _ = chain
    rows = dg.dq_tally(paths, tmp_path / "dq.csv", tmp_path / "dq.png")
    with open(tmp_path / "dq.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    get = {(r["array"], r["step"], r["flag"]): r for r in table}
    ref = get[("PIXELDQ", "jump", "REFERENCE_PIXEL")]
    assert ref["count"] == "8" and float(ref["percent"]) == pytest.approx(100 * 8 / 80) and ref["bit"] == "31"
    assert get[("PIXELDQ", "dq_init", "DO_NOT_USE")]["added"] == "8"
    assert get[("PIXELDQ", "saturation", "DO_NOT_USE")]["added"] == "0"
    sat = get[("GROUPDQ", "saturation", "SATURATED")]
    ngroups_total = NINTS * NGROUPS * NY * NX
    assert sat["count"] == "3" and sat["added"] == "3"
    assert float(sat["percent"]) == pytest.approx(100 * 3 / ngroups_total)
    assert get[("GROUPDQ", "jump", "SATURATED")]["added"] == "0"
    jump = get[("GROUPDQ", "jump", "JUMP_DET")]
    assert jump["count"] == "2" and jump["added"] == "2"
    assert ("GROUPDQ", "dq_init", "JUMP_DET") not in get          # flags never set are not listed
    assert _png_shape(tmp_path / "dq.png") == _expected((11, 5))


def test_linearity_ratio_sample_exact(chain):
    _, paths, _ = chain
    x, r = dg.linearity_ratio_sample(paths["dq_init"], min_diff=20.0)
    # column 0 is reference pixels; every other pixel: first diff 100, last diff 100, signal 300,
    # except (2, 2): first 100, last 270 - 190 = 80 -> 0.8 at signal 270
    assert x.size == NINTS * NY * (NX - 1)
    k = np.flatnonzero(x == 270)
    assert k.size == NINTS and np.all(r[k] == np.float32(0.8))
    assert np.all(r[x == 300] == 1.0)
    # saturated groups are left out: (3, 4) in integration 0 and (5, 6) in integration 1
    x2, _ = dg.linearity_ratio_sample(paths["saturation"], min_diff=20.0)
    assert x2.size == x.size - 2
    # sampling keeps about max_points
    x3, _ = dg.linearity_ratio_sample(paths["dq_init"], max_points=40, seed=1)
    assert 15 < x3.size < 70


def test_jump_counts_exact(chain):
    _, paths, _ = chain
    ngrp, npix = dg.jump_counts(paths["jump"])
    np.testing.assert_array_equal(ngrp, [0, 2])
    np.testing.assert_array_equal(npix, [0, 2])


def test_refpix_means_exact(tmp_path):
    # NIRSpec orientation: the fast axis is y, so the reference "rows" of the detector are
    # the DMS columns 0 and NX-1; even / odd alternate along y (detector columns)
    data = np.full((1, 3, 6, 5), 500, np.uint16)
    for gi in range(3):
        data[0, gi, 0::2, 0] = 10 + gi          # even y (SUBSTRT2 = 1: detector column 0, 2, 4)
        data[0, gi, 1::2, 0] = 20 + gi
        data[0, gi, 0::2, 4] = 30 + gi
        data[0, gi, 1::2, 4] = 40 + gi
    uncal = make_uncal(tmp_path / "r_uncal.fits", data, fastaxis=2, slowaxis=1)
    pdq = np.zeros((6, 5), np.uint32)
    pdq[:, [0, 4]] = dqflags.REFERENCE_PIXEL
    out = tmp_path / "r_dq_init.fits"
    with io.open_ramp(uncal) as rf, io.RampWriter(out, rf) as w:
        sci, gdq = rf.read()
        w.write(slice(None), slice(None), sci, gdq)
        w.write_pixeldq(pdq)
    means, what = dg.refpix_means(out)
    assert what.startswith("reference rows")
    # even: mean(10+g, 30+g) = 20 + g; odd: mean(20+g, 40+g) = 30 + g; one amplifier
    np.testing.assert_allclose(means[:, 0, 0], [20, 21, 22])
    np.testing.assert_allclose(means[:, 0, 1], [30, 31, 32])
    dg.plot_refpix(out, out, tmp_path / "refpix.png", figsize=(8, 4))
    assert _png_shape(tmp_path / "refpix.png") == _expected((8, 4))


def test_refpix_means_miri_interleaved_outputs(tmp_path):
    # MIRI: the fast axis is x and the four outputs take the columns in turn (column mod 4);
    # reference columns 0-3 and 20-23 of a 24-column frame hold 100 * (column mod 4) + group
    data = np.full((1, 2, 4, 24), 900, np.uint16)
    for gi in range(2):
        for c in (*range(4), *range(20, 24)):
            data[0, gi, :, c] = 100 * (c % 4) + gi
    uncal = make_uncal(tmp_path / "m_uncal.fits", data, instrument="MIRI", detector="MIRIMAGE",
                       exp_type="MIR_IMAGE", subarray="GENERIC", readpatt="FASTR1", fastaxis=1, slowaxis=2)
    pdq = np.zeros((4, 24), np.uint32)
    pdq[:, [0, 1, 2, 3, 20, 21, 22, 23]] = dqflags.REFERENCE_PIXEL
    out = tmp_path / "m_dq_init.fits"
    with io.open_ramp(uncal) as rf, io.RampWriter(out, rf) as w:
        sci, gdq = rf.read()
        w.write(slice(None), slice(None), sci, gdq)
        w.write_pixeldq(pdq)
    means, what = dg.refpix_means(out)
    assert what == "reference pixels" and means.shape == (2, 4, 2)
    for a in range(4):   # output a holds only columns of parity a % 2
        np.testing.assert_allclose(means[:, a, a % 2], [100 * a, 100 * a + 1])
        assert np.isnan(means[:, a, 1 - a % 2]).all()


def test_every_plot_writes_png_of_expected_size(chain, tmp_path):
    uncal, paths, _ = chain
    out = tmp_path / "png"
    jobs = {
        "lin": (dg.plot_linearity_ratio, (paths["dq_init"], paths["jump"]), {}, (11, 4.5)),
        "sat": (dg.plot_saturation, (paths["saturation"],), {}, (11, 4.5)),
        "jc": (dg.plot_jump_counts, (paths["jump"],), {}, (9, 4.5)),
        "jr": (dg.plot_jump_ramps, (paths["jump"],), {"n_examples": 2}, (11, 9)),
        "jr0": (dg.plot_jump_ramps, (paths["dq_init"],), {}, (11, 9)),        # no jumps at all
        "ds": (dg.plot_destripe, (paths["dq_init"], paths["jump"]), {}, (11, 8)),
        "rp": (dg.plot_refpix, (paths["dq_init"], paths["jump"]), {}, (11, 4.5)),
        "ta": (dg.plot_ta_quicklook, ([uncal],), {}, (12, 7)),                   # no TA: a message
    }
    for name, (func, args, kw, figsize) in jobs.items():
        png = out / f"{name}.png"
        func(*args, png, **kw)
        assert png.stat().st_size > 1000, name
        assert _png_shape(png) == _expected(figsize), name


def test_saturation_plot_with_threshold(chain, tmp_path):
    from rampflow.io.simfiles import write_reference

    _, paths, _ = chain
    ref = tmp_path / "sat.fits"
    write_reference(ref, "saturation", {"SCI": np.full((NY, NX), 250, np.float32)},
                    dict(INSTRUME="NIRSPEC", DETECTOR="NRS1", SUBARRAY="FULL", SUBSTRT1=1, SUBSTRT2=1,
                         SUBSIZE1=NX, SUBSIZE2=NY, REFTYPE="SATURATION", AUTHOR="t", PEDIGREE="DUMMY",
                         USEAFTER="2022-01-01T00:00:00", DESCRIP="t"))
    png = dg.plot_saturation(paths["saturation"], tmp_path / "sat.png", threshold_path=ref, figsize=(6, 3))
    assert _png_shape(png) == _expected((6, 3))


def test_ta_quicklook_selects_ta_exposures(tmp_path):
    assert dg.is_target_acquisition("NRC_TACQ") and dg.is_target_acquisition("NIS_TACONFIRM")
    assert dg.is_target_acquisition("NRS_WATA") and not dg.is_target_acquisition("NRC_TSIMAGE")
    img = np.full((1, 2, 16, 16), 1000, np.uint16)
    img[0, 1, 9, 6] = 9000
    ta = make_uncal(tmp_path / "ta_uncal.fits", img, instrument="NIRCAM", detector="NRCA1",
                    exp_type="NRC_TACQ", subarray="SUB32TATS", fastaxis=-1, slowaxis=2)
    sci = make_uncal(tmp_path / "sci_uncal.fits", img)
    png = dg.plot_ta_quicklook([ta, sci], tmp_path / "ta.png")
    assert _png_shape(png) == _expected((12, 7))


def test_int_chunks_fit_the_budget():
    class Ramp:
        shape = (10, 8, 32, 64)                  # one integration of 8 groups: 8 * 32 * 64 * 5 B = 80 kB

    chunks = common.int_chunks(Ramp(), 0.2)      # 200 kB: 2 integrations (4 groups: 5)
    assert chunks == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8), slice(8, 10)]
    assert common.int_chunks(Ramp(), 0.2, 4) == [slice(0, 5), slice(5, 10)]
    assert common.int_chunks(Ramp(), 0.001) == [slice(i, i + 1) for i in range(10)]    # at least one


def test_diagnostics_use_the_shared_plotting_helpers():
    modules = [importlib.import_module(f"rampflow.qa.diagnostics.{m}")
               for m in ("linearity", "tally", "saturation", "jumps", "destripe", "refpix", "ta")]
    assert dg.DPI is plotting.DPI
    for mod in modules:
        assert mod.save is plotting.save and mod.figure is plotting.figure, mod.__name__
        assert not {"_figure", "_save", "_message", "_robust_limits"} & set(vars(mod)), mod.__name__


# --------------------------------------------------------------------------- rampflow flags

def _flags(capsys, *argv):
    from rampflow.qa.flags import flags_main

    code = flags_main(list(argv))
    return code, capsys.readouterr()


def test_flags_examples(capsys):
    assert _flags(capsys, "2147483649")[1].out.strip() == "DO_NOT_USE, REFERENCE_PIXEL"
    assert _flags(capsys, "SATURATED", "JUMP_DET")[1].out.strip() == "6"
    assert _flags(capsys, "0x80000001")[1].out.strip() == "DO_NOT_USE, REFERENCE_PIXEL"
    assert _flags(capsys, "saturated+jump_det")[1].out.strip() == "6"
    assert _flags(capsys, "0")[1].out.strip() == "GOOD"


def test_flags_round_trip_all_32_bits(capsys):
    names = [n for n, b in dqflags.FLAGS.items() if b]
    assert len(names) == 32
    for k in range(32):
        code, res = _flags(capsys, str(2**k))
        assert code == 0
        name = res.out.strip()
        assert dqflags.FLAGS[name] == 2**k
        code, res = _flags(capsys, name)
        assert code == 0 and int(res.out) == 2**k
    code, res = _flags(capsys, str(2**32 - 1))
    assert res.out.strip().split(", ") == names
    code, res = _flags(capsys, *names)
    assert int(res.out) == 2**32 - 1


def test_flags_errors(capsys):
    code, res = _flags(capsys, "SATURATED", "BOGUS")
    assert code == 2 and "unknown DQ mnemonic 'BOGUS'" in res.err
    code, res = _flags(capsys, str(2**32))
    assert code == 2 and "outside the 32-bit" in res.err
    code, res = _flags(capsys, "4", "JUMP_DET")
    assert code == 2 and "not both" in res.err
    code, res = _flags(capsys)
    assert code == 2


def test_flags_subcommand_registration(capsys):
    import argparse

    from rampflow.qa.flags import add_subcommand

    parser = argparse.ArgumentParser(prog="rampflow")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["flags", "SATURATED", "JUMP_DET"])
    assert args.func(args) == 0 and capsys.readouterr().out.strip() == "6"
    args = parser.parse_args(["flags", "--list"])
    assert args.func(args) == 0 and "31  2147483648  REFERENCE_PIXEL" in capsys.readouterr().out
