"""Step parameter specs: each step states its parameters once, as jwst does, in jwst's spec
language, and every value is checked against that spec before any job runs.

A step's ``spec`` is a string in the syntax of the jwst step classes' ``spec`` (configobj's
``validate`` checks), one parameter a line::

    rejection_threshold = float(default=4.0, min=0)  # CR sigma rejection threshold
    algorithm = option('OLS_C', default='OLS_C')
    save_opt = boolean(default=False)
    firstgroup = integer(default=None)
    user_supplied_dq = string(default=None)

Checks understood: ``float``, ``integer`` (optional ``min``/``max``, as keywords or the first
two positional arguments), ``boolean``, ``string``, ``output_file``, ``option(choice, ...)``
and the list checks (``is_list``, ``int_list``, ``float_list``, ``string_list``, ``bool_list``).
As in jwst, ``default=None`` means the value may be null (None); otherwise it may not.

:func:`parse_spec` turns a spec into :class:`ParamSpec` objects (name -> spec, in order);
:meth:`ParamSpec.check` checks one value and raises :class:`ParamError` naming where the
value came from, the value and what is allowed, e.g.
``step_params.jump.rejection_threshold: "five" is not a number; expected a float >= 0 (jwst default 4.0)``.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, make_dataclass
from typing import Any

import numpy as np

__all__ = ["ParamError", "ParamSpec", "parse_spec", "params_dataclass", "format_value"]

_NUMBER_KINDS = ("float", "integer")
_LIST_KINDS = {"is_list": None, "list": None, "int_list": "integer", "float_list": "float",
               "string_list": "string", "bool_list": "boolean"}
KINDS = ("float", "integer", "boolean", "string", "output_file", "option", *_LIST_KINDS)

#: Python type of each kind (for the dataclass of a step's parameters)
_PY_TYPES = {"float": float, "integer": int, "boolean": bool, "string": str, "output_file": str,
             "option": str}


class ParamError(ValueError):
    """A step parameter has the wrong type or is out of range; the message names it."""


def format_value(value) -> str:
    """A value as the user wrote it in YAML: strings in double quotes, None as null."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a step: its check (``kind``), default, range and options.

    kind    : one of :data:`KINDS` (jwst's check names)
    default : the default value (None: the parameter may be null)
    min, max: inclusive bounds of a number (of a list's length, as configobj), or None
    options : the allowed values of an ``option``
    comment : the spec line's comment
    source  : who states the default, for messages ("jwst" for official steps)
    """

    name: str
    kind: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: tuple = ()
    comment: str = ""
    source: str = "jwst"

    @property
    def allows_none(self) -> bool:
        return self.default is None

    def describe(self) -> str:
        """What is allowed, in words: ``a float >= 0``, ``one of "OLS_C"``, ``true or false``."""
        if self.kind == "option":
            text = "one of " + ", ".join(format_value(o) for o in self.options)
        elif self.kind in _NUMBER_KINDS:
            text = ("a float" if self.kind == "float" else "an integer") + self._range_text()
        elif self.kind == "boolean":
            text = "true or false"
        elif self.kind == "output_file":
            text = "a file name"
        elif self.kind == "string":
            text = "a string"
        else:
            item = _LIST_KINDS[self.kind]
            text = "a list" + (f" of {item} values" if item else "") + self._length_text()
        if self.allows_none:
            text += " or null"
        return text

    def _length_text(self) -> str:
        if self.min is not None and self.min == self.max:
            return f" of length {self.min:g}"
        if self.min is not None or self.max is not None:
            return f" of length{self._range_text()}"
        return ""

    def _range_text(self) -> str:
        if self.min is not None and self.max is not None:
            return f" from {self.min:g} to {self.max:g}"
        if self.min is not None:
            return f" >= {self.min:g}"
        if self.max is not None:
            return f" <= {self.max:g}"
        return ""

    def check(self, value, where: str) -> None:
        """Raise :class:`ParamError` (``where: <value> <problem>; expected <what> (<source>
        default <default>)``) unless ``value`` satisfies the spec."""
        problem = self._problem(value)
        if problem:
            default = format_value(self.default)
            source = f"{self.source} default" if self.source else "default"
            raise ParamError(f"{where}: {format_value(value)} {problem}; expected {self.describe()} "
                             f"({source} {default})")

    def _problem(self, value) -> str | None:
        if value is None:  # jwst's option(..., None, ...) takes None (its "None") whatever its default
            return None if self.allows_none or "None" in self.options else "is not allowed"
        kind = self.kind
        if kind in _LIST_KINDS:
            if not isinstance(value, (list, tuple)):
                return "is not a list"
            # as configobj's list checks: min and max bound the list's length
            if (self.min is not None and len(value) < self.min) or (self.max is not None and len(value) > self.max):
                return "has the wrong length"
            item = _LIST_KINDS[kind]
            for v in value:
                if item is not None:
                    problem = ParamSpec(self.name, item, 0)._problem(v)
                    if problem:
                        return f"has an item {format_value(v)} that {problem}"
            return None
        if kind == "boolean":
            return None if isinstance(value, (bool, np.bool_)) else "is not true or false"
        if kind in ("string", "output_file"):
            if isinstance(value, str):
                return None
            if _is_number(value):  # YAML read an unquoted number
                return f"is not a string (quote it: {json.dumps(str(value))})"
            return "is not a string"
        if kind == "option":
            return None if any(value == o and type(value) is type(o) for o in self.options) \
                else "is not one of the options"
        if kind == "integer" and not _is_int(value):
            return "is not an integer"
        if kind == "float":
            if not _is_number(value):
                return "is not a number"
            if not math.isfinite(float(value)):
                return "is not a finite number"
        if self.min is not None and value < self.min:
            return "is out of range"
        if self.max is not None and value > self.max:
            return "is out of range"
        return None

    def parse_text(self, text: str):
        """A value typed on the command line (``--param name=text``) as this spec reads it:
        strings stay strings, ``null``/``None`` is None where allowed, numbers and booleans
        are read as YAML reads them (then :meth:`check` judges the result)."""
        import yaml  # only the command line reads text values

        stripped = text.strip()
        if self.allows_none and stripped in ("None", "none", "null", "~", ""):
            return None
        if self.kind in ("string", "output_file") or (self.kind == "option" and all(isinstance(o, str)
                                                                                    for o in self.options)):
            return text
        return yaml.safe_load(text)


def _literal(node: ast.expr, line: str):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"parameter spec line {line!r}: arguments must be literals") from None


def _parse_line(line: str, source: str) -> ParamSpec:
    body, _, comment = line.partition("#")
    name, eq, check = body.partition("=")
    name, check = name.strip(), check.strip()
    if not eq or not name.isidentifier() or not check:
        raise ValueError(f"parameter spec line {line!r}: expected 'name = check(...)'")
    try:
        call = ast.parse(check, mode="eval").body
    except SyntaxError:
        raise ValueError(f"parameter spec line {line!r}: cannot parse {check!r}") from None
    if isinstance(call, ast.Name):
        kind, args, kwargs = call.id, [], {}
    elif isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
        kind = call.func.id
        args = [_literal(a, line) for a in call.args]
        kwargs = {k.arg: _literal(k.value, line) for k in call.keywords}
    else:
        raise ValueError(f"parameter spec line {line!r}: expected a check such as float(default=1.0)")
    if kind not in KINDS:
        raise ValueError(f"parameter spec line {line!r}: unknown check {kind!r}; known: {', '.join(KINDS)}")
    default = kwargs.pop("default", None)
    options: tuple = ()
    lo, hi = kwargs.pop("min", None), kwargs.pop("max", None)
    if kind == "option":
        # configobj reads a bare None among an option's choices as the string "None"
        options = tuple("None" if a is None else a for a in args)
        if not options:
            raise ValueError(f"parameter spec line {line!r}: option() needs its choices")
    elif args:  # integer(0, 9): min, max
        lo = args[0] if lo is None else lo
        hi = args[1] if len(args) > 1 and hi is None else hi
    if kwargs:
        raise ValueError(f"parameter spec line {line!r}: unknown argument(s) {sorted(kwargs)}")
    if kind == "float" and default is not None:
        default = float(default)
    spec = ParamSpec(name, kind, default, lo, hi, options, comment.strip(), source)
    if default is not None and spec._problem(default):
        raise ValueError(f"parameter spec line {line!r}: the default {format_value(default)} "
                         f"{spec._problem(default)}")
    return spec


def parse_spec(text: str, source: str = "jwst") -> dict[str, ParamSpec]:
    """Parse a spec string (one ``name = check(...)  # comment`` a line; blank lines ignored)
    into name -> :class:`ParamSpec`, in order. ``source`` names who states the defaults in
    messages ("jwst", or "rampflow" for custom steps). Raises ValueError for a malformed line."""
    out: dict[str, ParamSpec] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec = _parse_line(line, source)
        if spec.name in out:
            raise ValueError(f"parameter spec: {spec.name!r} is stated twice")
        out[spec.name] = spec
    return out


def params_dataclass(cls_name: str, specs: dict[str, ParamSpec], doc: str = ""):
    """A frozen dataclass with one field per parameter, typed and defaulted from ``specs``
    (for steps whose pure functions take their parameters as one object)."""
    fields = [(s.name, _PY_TYPES.get(s.kind, object), s.default) for s in specs.values()]
    cls = make_dataclass(cls_name, fields, frozen=True)
    cls.__doc__ = doc or cls.__doc__
    return cls
