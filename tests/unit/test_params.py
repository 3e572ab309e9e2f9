"""The parameter spec reader (jwst's spec language) and its checks."""

import pytest

from rampflow.steps.params import ParamError, format_value, params_dataclass, parse_spec

SPEC = """
    # a comment line
    thr = float(default=4.0, min=0)  # threshold
    n = integer(0, 9, default=3)
    on = boolean(default=True)
    name = string(default=None)
    how = option('a', 'b', default='a')
    out = output_file(default=None)
    sizes = int_list(min=1, default=None)
"""


def test_parse_reads_kind_default_range_options_comment():
    s = parse_spec(SPEC)
    assert list(s) == ["thr", "n", "on", "name", "how", "out", "sizes"]
    assert (s["thr"].kind, s["thr"].default, s["thr"].min, s["thr"].max, s["thr"].comment) == \
        ("float", 4.0, 0, None, "threshold")
    assert (s["n"].min, s["n"].max, s["n"].default) == (0, 9, 3)     # positional min, max
    assert s["how"].options == ("a", "b") and s["how"].default == "a"
    assert s["name"].allows_none and not s["thr"].allows_none
    assert isinstance(parse_spec("x = float(default=1000)")["x"].default, float)   # jwst writes 1000 for 1000.0


@pytest.mark.parametrize("name,value", [("thr", 0), ("thr", 2.5), ("n", 9), ("on", False), ("name", "x"),
                                        ("name", None), ("how", "b"), ("out", "f.fits"), ("sizes", [1, 2])])
def test_allowed_values_pass(name, value):
    parse_spec(SPEC)[name].check(value, "k")


@pytest.mark.parametrize("name,value,message", [
    ("thr", "4", 'k: "4" is not a number; expected a float >= 0 (jwst default 4.0)'),
    ("thr", True, "k: true is not a number"),
    ("thr", float("nan"), "k: nan is not a finite number"),
    ("thr", -0.5, "k: -0.5 is out of range; expected a float >= 0"),
    ("n", 10, "k: 10 is out of range; expected an integer from 0 to 9 (jwst default 3)"),
    ("n", 3.0, "k: 3.0 is not an integer"),
    ("n", False, "k: false is not an integer"),
    ("on", 1, "k: 1 is not true or false; expected true or false (jwst default true)"),
    ("how", "A", 'k: "A" is not one of the options; expected one of "a", "b"'),
    ("how", None, 'k: null is not allowed; expected one of "a", "b" (jwst default "a")'),
    ("name", 3, 'k: 3 is not a string (quote it: "3"); expected a string or null (jwst default null)'),
    ("sizes", [], "k: [] has the wrong length"),  # configobj: a list check's min/max bound its length
    ("sizes", [1, "x"], 'k: [1, "x"] has an item "x" that is not an integer'),
    ("sizes", 1, "k: 1 is not a list"),
])
def test_wrong_values_are_named(name, value, message):
    with pytest.raises(ParamError) as err:
        parse_spec(SPEC)[name].check(value, "k")
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("line", ["x float(default=1)", "x = floaty(default=1)", "x = float(default=a)",
                                  "x = float(default=1, mni=0)", "x = float(default=-1, min=0)", "x = option()",
                                  "x = float(default=1)\nx = float(default=2)"])
def test_malformed_specs_are_refused(line):
    with pytest.raises(ValueError):
        parse_spec(line)


def test_command_line_text_is_read_by_kind():
    s = parse_spec(SPEC)
    assert s["thr"].parse_text("2.5") == 2.5 and s["thr"].parse_text("five") == "five"
    assert s["n"].parse_text("4") == 4 and s["on"].parse_text("false") is False
    assert s["name"].parse_text("7") == "7" and s["name"].parse_text("null") is None
    assert s["how"].parse_text("b") == "b"


def test_dataclass_from_spec():
    P = params_dataclass("P", parse_spec("a = float(default=1.0)\nb = boolean(default=False)"))
    assert P() == P(a=1.0, b=False) and P(a=2.0).a == 2.0
    assert format_value("x") == '"x"' and format_value(None) == "null" and format_value([True]) == "[true]"
