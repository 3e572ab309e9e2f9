"""CRDS parameter reference files (``pars-<step>``): stpipe's step configuration saved as ASDF,
a YAML tree (``class``, ``name``, ``parameters``, optional ``meta``) with no binary blocks.

Opening one with the asdf library costs ~3 s on first use: asdf loads every installed
extension (astropy's, gwcs's, stdatamodels') before reading the first tree, and the
references job reads parameter files on every run. A tree with no binary block is plain
YAML with tags (``!core/asdf-1.1.0``, ``!core/software-1.0.0``) that a parameters mapping
never needs, so it is read here with PyYAML's safe loader (the loader asdf itself reads the
YAML with), each tag's node taken as the plain mapping, sequence or scalar it tags. A file
with a binary block, or one this reading fails on, is opened with asdf as before, so the
error a user sees is asdf's.
"""

from __future__ import annotations

import functools

import numpy as np

#: the magic of an ASDF binary block
_BLOCK_MAGIC = b"\xd3BLK"


class ParsFileError(ValueError):
    """A parameter file that cannot be read, or whose tree has no ``parameters`` mapping."""


def read_parameters(path) -> dict:
    """The ``parameters`` mapping of the parameter file at ``path``, as plain Python values."""
    tree = _yaml_tree(path)
    if tree is None:
        tree = _asdf_tree(path)
    params = tree.get("parameters") if isinstance(tree, dict) else None
    if not isinstance(params, dict):
        raise ParsFileError(f"{path}: not a CRDS parameter file (no 'parameters' mapping in its ASDF tree)")
    return {str(k): _plain(v) for k, v in params.items()}


def _yaml_tree(path):
    """The file's tree read as YAML, or None where asdf must read it (binary blocks, not
    YAML, not a mapping)."""
    import yaml

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ParsFileError(f"{path}: cannot read as a CRDS parameter (ASDF) file: {exc}") from exc
    if not data.startswith(b"#ASDF") or _BLOCK_MAGIC in data:
        return None
    try:
        tree = yaml.load(data, Loader=_loader_class())
    except yaml.YAMLError:
        return None
    return tree if isinstance(tree, dict) else None


def _asdf_tree(path):
    import asdf  # heavy (imports its extensions)

    try:
        with asdf.open(str(path), lazy_load=False, memmap=False) as af:
            return dict(af.tree)
    except Exception as exc:
        raise ParsFileError(f"{path}: cannot read as a CRDS parameter (ASDF) file: {exc}") from exc


@functools.cache
def _loader_class():
    """PyYAML's safe loader class that takes a node with a tag it does not know as its plain
    value (made on first use, PyYAML imported only then)."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class TagTolerantLoader(base):
        """PyYAML's safe loader; a node with a tag it does not know is its plain value."""

    def untagged(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    TagTolerantLoader.add_multi_constructor("", untagged)
    return TagTolerantLoader


def _plain(value):
    """ASDF / numpy scalars as plain Python values (so they compare and print as the config's)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
