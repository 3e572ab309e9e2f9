"""rampflow.simulate's registry of exposure kinds: listing, schema enum, registering and refusing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from rampflow import dq as dqflags
from rampflow import simulate
from rampflow.simulate import DETECTORS, kinds, read_truth, simulate_exposure
from rampflow.simulate.nircam import NIRCAM

ROOT = Path(__file__).resolve().parents[2]

NOISELESS = dict(poisson=False, read_noise_scale=0.0, one_over_f_rms=0.0, odd_even_rms=0.0,
                 amp_offset_rms=0.0)


# ---------------------------------------------------------------------------------------- kinds


class _FlatTso(kinds.Kind):
    """A throw-away kind: NIRCam long-wave detectors, a flat source, a time series."""

    name = "test_flat_tso"
    instrument = NIRCAM
    exp_type = "NRC_TSIMAGE"
    detectors = ("NRCALONG", "NRCBLONG")
    default_detectors = ("NRCALONG",)
    size = (16, 64)
    readpatt = "BRIGHT1"
    tso = True
    observation = 7
    visit_group = 3
    target = "SIM-FLAT-1"
    physics = {"one_over_f_rms": 0.0, "dark_rate": 0.001, "bias_level": 11000.0, "gain": 1.5,
               "readnoise": 6.0, "peak_well_fraction": 0.2, "background": 1.0, "transit_depth": 0.005}
    scene_physics = {"flat_level": 0.5}

    def subarray(self, detector, ny, nx):
        return "GENERIC", 1, 33

    def noutputs(self, ny, nx):
        return 1

    def source(self, det, geom, phys, rng, peak):
        return np.full((geom.ny, geom.nx), float(phys["flat_level"]) * peak)

    def keywords(self, geom):
        return {"FILTER": "F322W2", "PUPIL": "CLEAR", "APERNAME": "NRCA5_GENERIC"}


@pytest.fixture
def flat_kind():
    kind = kinds.register(_FlatTso())
    yield kind
    kinds.unregister(kind.name)


def test_registry_lists_the_shipped_kinds():
    assert simulate.KINDS[:2] == ("nirspec_tso", "nircam_image")
    shipped = {"miri_image", "miri_lrs_tso", "niriss_soss", "nircam_grism_tso", "nircam_imaging_tso"}
    assert shipped <= set(simulate.KINDS)
    assert [r["kind"] for r in kinds.table()][:2] == ["nirspec_tso", "nircam_image"]
    rows = {r["kind"]: r for r in kinds.table()}
    assert rows["nirspec_tso"] == {"kind": "nirspec_tso", "instrument": "NIRSPEC", "exp_type": "NRS_BRIGHTOBJ",
                                   "detectors": ("NRS1", "NRS2"), "size": (32, 2048), "readpatt": "NRSRAPID",
                                   "tso": True}
    assert rows["nircam_image"]["detectors"] == ("NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCALONG", "NRCB1",
                                                 "NRCB2", "NRCB3", "NRCB4", "NRCBLONG")
    assert (rows["nircam_image"]["exp_type"], rows["nircam_image"]["tso"]) == ("NRC_IMAGE", False)
    # seed codes are part of the output: fixed per detector
    nir = [d for d in DETECTORS if DETECTORS[d][0] in ("NIRSPEC", "NIRCAM")]
    assert [kinds.detector_spec(d).code for d in nir] == list(range(1, 13))
    assert kinds.detector_spec("MIRIMAGE").code == 40
    assert kinds.detector_spec("NIS").code == 21
    assert {"NIRSPEC", "NIRCAM", "MIRI", "NIRISS"} <= set(simulate.READPATTERNS)


def test_unknown_kind_is_rejected_naming_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="inputs.simulate.kind") as err:
        simulate_exposure(tmp_path, kind="miri_lrs", detector="MIRIMAGE")
    for name in ("nirspec_tso", "nircam_image"):
        assert repr(name) in str(err.value)
    assert not any(tmp_path.iterdir())


def test_schema_kind_enum_is_the_registry():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    kind = schema["properties"]["inputs"]["properties"]["simulate"]["properties"]["kind"]
    assert tuple(kind["enum"]) == simulate.KINDS


def test_a_registered_kind_is_simulated_and_listed(flat_kind, tmp_path):
    assert simulate.KINDS[:2] == ("nirspec_tso", "nircam_image")
    assert simulate.KINDS[-1] == "test_flat_tso"
    assert [r["kind"] for r in kinds.table()] == list(simulate.KINDS)
    assert simulate.PHYSICS_DEFAULTS["flat_level"] == 0.5
    # every kind in the table is accepted by simulate_exposure, with its own instrument and EXP_TYPE
    for row in kinds.table():
        exp = simulate_exposure(tmp_path / row["kind"], kind=row["kind"], detector=row["detectors"][-1],
                                nints=2, ngroups=2, size=[16, 64], seed=2)
        h = fits.getheader(exp.uncal)
        assert (h["INSTRUME"], h["EXP_TYPE"], h["DETECTOR"]) == (row["instrument"], row["exp_type"],
                                                                 row["detectors"][-1])
        assert read_truth(exp.truth)["header"]["KIND"] == row["kind"]
    # the new kind's own choices reach the files
    exp = simulate_exposure(tmp_path / "flat", kind="test_flat_tso", detector="nrcblong", nints=4, ngroups=3,
                            seed=3, flat_level=0.25, **NOISELESS, cr_rate=0.0)
    assert exp.uncal.name == "jw09999007001_03101_00001-seg001_nrcblong_uncal.fits"
    h = fits.getheader(exp.uncal)
    assert (h["SUBARRAY"], h["SUBSTRT1"], h["SUBSTRT2"], h["SUBSIZE2"], h["SUBSIZE1"]) == ("GENERIC", 1, 33, 16, 64)
    assert (h["READPATT"], h["NFRAMES"], h["GROUPGAP"], h["TSOVISIT"], h["TARGNAME"]) == \
        ("BRIGHT1", 1, 1, True, "SIM-FLAT-1")
    assert (h["FILTER"], h["FASTAXIS"], h["SLOWAXIS"], h["EXSEGNUM"]) == ("F322W2", 1, -2, 1)
    truth = read_truth(exp.truth)
    assert truth["header"]["SIM FLAT_LEVEL"] == 0.25
    assert truth["header"]["TDEPTH"] == 0.005
    light = truth["source"] > 0
    # SUBSTRT1 = 1: the first 4 columns are reference pixels, dark like the dead ones
    assert np.count_nonzero(fits.getdata(exp.refs["mask"], "DQ")[32:48, 0:64] & dqflags.REFERENCE_PIXEL) == 16 * 4
    assert light.sum() == 16 * 64 - 16 * 4 - len(truth["dead"])
    assert np.ptp(truth["source"][light]) == 0
    assert fits.getheader(exp.refs["dark"])["READPATT"] == "RAPID"
    assert simulate.program_stems({"kind": "test_flat_tso", "segments": 2}) == [
        "jw09999007001_03101_00001-seg001_nrcalong", "jw09999007001_03101_00001-seg002_nrcalong"]


def test_unregistered_kind_is_no_longer_accepted(tmp_path):
    kind = kinds.register(_FlatTso())
    kinds.unregister(kind.name)
    assert "test_flat_tso" not in simulate.KINDS
    assert "flat_level" not in simulate.PHYSICS_DEFAULTS
    with pytest.raises(ValueError, match="'test_flat_tso' is not one of"):
        simulate_exposure(tmp_path, kind="test_flat_tso", detector="NRCALONG")


def test_registry_refuses_clashes(flat_kind):
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(_FlatTso())

    class Stray(_FlatTso):
        name = "test_stray"
        detectors = ("NRS1",)

    with pytest.raises(ValueError, match=r"\['NRS1'\] are not NIRCAM detectors"):
        kinds.register(Stray())

    class Clash(_FlatTso):
        name = "test_clash"
        instrument = kinds.Instrument(name="NEWINST", detectors={"NEW1": kinds.DetectorSpec(1, 2, code=3)},
                                      readpatterns={"BRIGHT1": (1, 1)}, dark_readpatt="BRIGHT1")
        detectors = default_detectors = ("NEW1",)

    with pytest.raises(ValueError, match="NEW1 reuses seed code 3 of NRCA1"):
        kinds.register(Clash())
    assert simulate.KINDS[:2] == ("nirspec_tso", "nircam_image")
    assert simulate.KINDS[-1] == "test_flat_tso"
