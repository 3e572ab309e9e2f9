"""rampflow.names: JWST exposure names into parts and back."""

from rampflow import names


def test_parse_segmented_name_gives_every_part():
    p = names.parse("data/jw01366003001_04101_00001-seg002_nrs1_uncal.fits")
    assert (p.program, p.observation, p.visit_number) == (1366, 3, 1)
    assert (p.visit_group, p.parallel, p.activity, p.exposure) == (4, 1, 1, 1)
    assert (p.segment, p.detector, p.suffix) == (2, "nrs1", "uncal")
    assert p.visit == "jw01366003001"
    assert p.stem == "jw01366003001_04101_00001-seg002_nrs1"
    assert p.filename == "jw01366003001_04101_00001-seg002_nrs1_uncal.fits"


def test_parse_unsegmented_and_multiword_suffix():
    p = names.parse("JW02736001001_02105_00001_NRCB1_gain_scaleints.fits")
    assert p.segment == 0 and p.detector == "nrcb1" and p.suffix == "gain_scaleints"
    assert p.stem == "jw02736001001_02105_00001_nrcb1"
    assert names.parse("notes.txt") is None
    assert names.parse("jw0136_nrs1_uncal.fits") is None


def test_make_stem_round_trips_through_parse():
    stem = names.make_stem(program=9999, observation=1, segment=3, detector="NRS2")
    assert stem == "jw09999001001_04101_00001-seg003_nrs2"
    assert names.parse(names.uncal_name(stem)).stem == stem
    assert names.make_stem(program=9999, observation=2, activity=3, detector="nrcalong") == \
        "jw09999002001_04103_00001_nrcalong"


def test_product_stem_strips_the_longest_known_suffix():
    assert names.product_stem("x/jw01366003001_04101_00001-seg001_nrs2_rateints.fits") == \
        "jw01366003001_04101_00001-seg001_nrs2"
    assert names.product_stem("jw01366003001_04101_00001-seg001_nrs2_gain_scaleints.fits") == \
        "jw01366003001_04101_00001-seg001_nrs2"
    assert names.product_stem("jw01366003001_04101_00001-seg001_nrs2_destripe_mask.fits") == \
        "jw01366003001_04101_00001-seg001_nrs2"
    assert names.product_stem("my_file_custom.fits.gz") == "my_file"


def test_detector_segment_and_paths():
    stems = ["a_00001-seg002_nrs2", "a_00001-seg001_nrs1", "a_00001-seg002_nrs1"]
    assert names.stem_detector(stems[0]) == "nrs2"
    assert names.stem_segment(stems[0]) == 2
    assert names.stem_segment("jw01366003001_04101_00001_nrs1") is None
    assert names.detectors_of(stems) == ["nrs1", "nrs2"]
    assert names.stems_of_detector(stems, "NRS1") == stems[1:]
    assert names.product_path("out/stage1", "{stem}", "jump") == "out/stage1/{stem}_jump.fits"
    assert names.stem_of_uncal("/d/s_nrs1_uncal.fits") == "s_nrs1"
    assert names.stem_of_uncal("/d/s_nrs1_rate.fits") is None
