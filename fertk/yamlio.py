"""The one YAML reader of fertk: config files, ``--set`` and every ``KEY=VALUE`` option.

:func:`load` is PyYAML's ``safe_load`` (no Python objects, no code) with two changes:

- a number in exponent notation reads as a number as in YAML 1.2 (``1e-3``, ``5E4``, ``1.0e5``;
  YAML 1.1, which PyYAML follows, reads them as text);
- aliases may not make a document larger than :data:`MAX_ALIAS_NODES` values beyond the ones it
  writes out (an "alias bomb", a few lines of nested aliases that expand to billions of
  values, is refused before it is expanded), nor refer to themselves.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from fertk.errors import FertkError

#: Values that aliases may add to a document (what a repeated anchor expands to).
MAX_ALIAS_NODES = 10_000


class AliasLimitError(FertkError):
    """A YAML document whose aliases expand past :data:`MAX_ALIAS_NODES` or refer to themselves."""


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that reads ``1e-3`` as a float (YAML 1.2)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _expanded_size(root: yaml.Node) -> int:
    """Values the document of ``root`` holds once every alias is expanded (each node counted
    as often as it is reached); :class:`AliasLimitError` for a node that contains itself."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise AliasLimitError("a YAML alias refers to a value that contains it")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    total = size(root)
    written = len(sizes)  # distinct nodes: what the text writes out
    if total - written > MAX_ALIAS_NODES:
        raise AliasLimitError(f"YAML aliases expand to {total:,} values, more than "
                              f"{MAX_ALIAS_NODES:,} beyond the {written:,} written (an alias "
                              "bomb?); write the values out instead")
    return total


def load(text: str) -> Any:
    """The value of the YAML document ``text`` (see the module); ``yaml.YAMLError`` for text
    that is not YAML, :class:`AliasLimitError` for aliases past the limit."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


__all__ = ["MAX_ALIAS_NODES", "AliasLimitError", "load"]
