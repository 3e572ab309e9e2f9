"""CRDS parameter files read as YAML without asdf's extensions: the same parameters, types
included, as asdf reads from the same files; asdf still reads files it must."""

from __future__ import annotations

import asdf
import numpy as np
import pytest

from rampflow import pars_files, references


def _write(path, parameters, **tree):
    af = asdf.AsdfFile({"class": "jwst.jump.jump_step.JumpStep", "name": "jump", "parameters": parameters,
                        "meta": {"author": "test", "reftype": "pars-jumpstep", "instrument": {"name": "NIRSPEC"}},
                        **tree})
    af.write_to(str(path))
    return path


def _by_asdf(path):
    with asdf.open(str(path)) as af:
        return {str(k): pars_files._plain(v) for k, v in af.tree["parameters"].items()}


PARAMS = {
    "rejection_threshold": 8.0, "maximum_cores": "half", "flag_4_neighbors": True, "min_jump_to_flag_neighbors": 10,
    "after_jump_flag_dn1": np.float32(0.5), "after_jump_flag_n1": np.int64(3), "nothing": None,
    "firstgroup": -1, "tiny": 1e-30, "huge": 1.5e300, "text": "1e5", "listed": [1, 2.5, "x"],
    "nested": {"a": [1, 2]}, "yes_word": "yes",
}


def test_yaml_reading_equals_asdfs_values_and_types(tmp_path):
    path = _write(tmp_path / "p.asdf", PARAMS)
    assert pars_files._yaml_tree(path) is not None          # the fast reading was used
    ours, theirs = pars_files.read_parameters(path), _by_asdf(path)
    assert ours == theirs
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    assert ours["after_jump_flag_dn1"] == 0.5 and ours["after_jump_flag_n1"] == 3 and ours["text"] == "1e5"


def test_a_file_with_a_binary_block_is_read_by_asdf(tmp_path):
    path = _write(tmp_path / "b.asdf", {"rejection_threshold": 5.0}, extra=np.arange(100.0))
    assert pars_files._yaml_tree(path) is None
    assert pars_files.read_parameters(path) == {"rejection_threshold": 5.0}


def test_bad_files_name_themselves(tmp_path):
    notasdf = tmp_path / "notasdf.asdf"
    notasdf.write_text("parameters: {a: 1}\n")       # YAML, but not an ASDF file: asdf's error
    with pytest.raises(references.ReferenceError, match="notasdf.asdf"):
        references.read_pars_file(notasdf)
    noparams = _write(tmp_path / "noparams.asdf", {})
    noparams.write_bytes(noparams.read_bytes().replace(b"parameters:", b"settings:"))
    with pytest.raises(references.ReferenceError, match="noparams.asdf: not a CRDS parameter file"):
        references.read_pars_file(noparams)
    with pytest.raises(references.ReferenceError, match="missing.asdf"):
        references.read_pars_file(tmp_path / "missing.asdf")
