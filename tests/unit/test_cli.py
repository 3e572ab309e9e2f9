"""The `rampflow` command line: step, params, info, flags."""

import numpy as np

from rampflow import io
from rampflow.cli import main


def test_step_command_matches_runner(uncal_factory, tmp_path, capsys):
    from rampflow.simulate import simulate_exposure

    sim = simulate_exposure(tmp_path / "sim", kind="nirspec_tso", detector="NRS1", nints=2, ngroups=4,
                            size=[16, 64], seed=2)
    out = tmp_path / "x_dq_init.fits"
    rc = main(["step", "dq_init", str(sim.uncal), str(out), "--override", f"mask={sim.refs['mask']}"])
    assert rc == 0 and out.is_file()
    out2 = tmp_path / "x_saturation.fits"
    rc = main(["step", "saturation", str(out), str(out2), "--param", "n_pix_grow_sat=0",
               "--override", f"saturation={sim.refs['saturation']}",
               "--override", f"superbias={sim.refs['superbias']}"])
    assert rc == 0
    with io.open_ramp(out2) as rf:
        assert rf.primary_header["S_SATURA"] == "COMPLETE"
        assert any("n_pix_grow_sat=0" in str(h) for h in rf.primary_header["HISTORY"])
        mask_pdq = rf.pixeldq()
    from rampflow.references import load_reference

    with io.open_ramp(sim.uncal) as rf:
        expected = load_reference("mask", sim.refs["mask"], rf.meta).dq()
    # dq_init copied the mask into PIXELDQ; saturation only adds bits
    assert np.all((mask_pdq & expected) == expected)


def test_step_command_rejects_unknown_param(tmp_path, uncal_factory, capsys):
    path, _ = uncal_factory()
    assert main(["step", "saturation", str(path), str(tmp_path / "o.fits"), "--param", "n_pix_grow=1",
                 "--override", "saturation=/nonexistent"]) == 2
    assert "n_pix_grow" in capsys.readouterr().err
    assert not (tmp_path / "o.fits").exists()


def test_params_lists_jwst_defaults(capsys):
    assert main(["params", "saturation"]) == 0
    out = capsys.readouterr().out
    assert "n_pix_grow_sat = 1" in out and "use_readpatt = True" in out
    assert main(["params", "nonsense"]) == 2


def test_info_summarises_products(uncal_factory, capsys):
    path, _ = uncal_factory(shape=(2, 3, 4, 5))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(2, 3, 4, 5) uint16" in out and "INT_TIMES" in out


def test_flags_decode_encode(capsys):
    assert main(["flags", "2147483649"]) == 0
    assert capsys.readouterr().out.strip() == "DO_NOT_USE, REFERENCE_PIXEL"
    assert main(["flags", "SATURATED", "JUMP_DET"]) == 0
    assert capsys.readouterr().out.strip() == "6"


def test_simulate_command_takes_any_registered_kind(tmp_path, capsys, caplog):
    from astropy.io import fits

    rc = main(["simulate", "--kind", "miri_lrs_tso", "--detectors", "mirimage", "--nints", "2", "--ngroups", "3",
               "--size", "16", "72", "--outdir", str(tmp_path / "sim"), "--set", "cr_rate=0"])
    assert rc == 0
    uncal = capsys.readouterr().out.split()[0]
    assert fits.getheader(uncal)["EXP_TYPE"] == "MIR_LRS-SLITLESS"
    assert main(["simulate", "--kind", "miri_lrs", "--outdir", str(tmp_path / "bad")]) == 2
    assert "'miri_lrs' is not one of" in caplog.text and "miri_lrs_tso" in caplog.text
