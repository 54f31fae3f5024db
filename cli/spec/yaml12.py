"""A PyYAML loader that resolves plain scalars by the YAML 1.2 core schema, as upstream does.

PyYAML implements YAML 1.1, where ``1:10`` is the base-60 integer 70, ``12:00:00`` is 43200,
``yes``/``no``/``on``/``off`` are booleans, ``010`` is octal and ``2024-01-01`` is a date.
Specs written for upstream rely on 1.2, where all of those are strings (``010`` is ten). The
core schema: ``null``/``Null``/``NULL``/``~``/empty; ``true``/``True``/``TRUE`` and the
``false`` forms; decimal, ``0o`` and ``0x`` integers; decimal floats, ``.inf`` and ``.nan``.
Merge keys (``<<``) are kept: they are not part of 1.2, but specs use them and upstream's
parser accepts them.
"""

from __future__ import annotations

import math
import re

import yaml
from yaml.constructor import ConstructorError

from cli.spec.errors import SpecPath
from cli.spec.positions import DuplicateKey, Positions

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"

_INT_DECIMAL = re.compile(r"^[-+]?[0-9]+$")
_INT_OCTAL = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT_NUMBER = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_FLOAT_INF = re.compile(r"^[-+]?(\.inf|\.Inf|\.INF)$")
_FLOAT_NAN = re.compile(r"^(\.nan|\.NaN|\.NAN)$")

# (tag, pattern, first characters); order matters: the first matching resolver wins.
_RESOLVERS = (
    (_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")),
    (
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?(?:\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN)$"
        ),
        list("-+0123456789."),
    ),
    (_MERGE, re.compile(r"^(?:<<)$"), ["<"]),
)


class CoreSchemaLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 core-schema resolution of plain scalars."""

    yaml_implicit_resolvers: dict = {}  # replaces, not extends, the YAML 1.1 resolvers


for _tag, _pattern, _first in _RESOLVERS:
    CoreSchemaLoader.add_implicit_resolver(_tag, _pattern, _first)


def _construct_bool(loader: CoreSchemaLoader, node: yaml.ScalarNode) -> bool:
    value = loader.construct_scalar(node)
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    raise ConstructorError(None, None, f"invalid boolean {value!r}", node.start_mark)


def _construct_int(loader: CoreSchemaLoader, node: yaml.ScalarNode) -> int:
    value = str(loader.construct_scalar(node))
    if _INT_DECIMAL.match(value):
        return int(value, 10)  # "010" is ten, not eight
    if _INT_OCTAL.match(value):
        return int(value[2:], 8)
    if _INT_HEX.match(value):
        return int(value[2:], 16)
    raise ConstructorError(None, None, f"invalid integer {value!r}", node.start_mark)


def _construct_float(loader: CoreSchemaLoader, node: yaml.ScalarNode) -> float:
    value = str(loader.construct_scalar(node))
    if _FLOAT_NUMBER.match(value):
        return float(value)
    if _FLOAT_INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _FLOAT_NAN.match(value):
        return math.nan
    raise ConstructorError(None, None, f"invalid float {value!r}", node.start_mark)


CoreSchemaLoader.add_constructor(_BOOL, _construct_bool)
CoreSchemaLoader.add_constructor(_INT, _construct_int)
CoreSchemaLoader.add_constructor(_FLOAT, _construct_float)


def yaml_positions(node: yaml.Node | None) -> Positions:
    """Positions of every mapping key and sequence item; raises DuplicateKey.

    Keys merged in with ``<<`` get the position of their definition in the merged mapping,
    unless the mapping itself sets them (its own keys win, as in YAML). A node reached again
    through an alias is not walked again, so alias-heavy documents stay linear.
    """
    positions: Positions = {}
    if node is not None:
        _YamlWalker(positions).walk(node, ())
    return positions


class _YamlWalker:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self._seen: set[int] = set()

    def walk(self, node: yaml.Node, path: SpecPath) -> None:
        if isinstance(node, yaml.ScalarNode):
            return
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.positions[(*path, index)] = _mark(item)
                self.walk(item, (*path, index))

    def _mapping(self, node: yaml.MappingNode, path: SpecPath) -> None:
        merged: list[yaml.Node] = []
        own: set[object] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key: the constructor reports it as unhashable
            key_path = (*path, key_node.value)
            if key_node.value in own:
                raise DuplicateKey(str(key_node.value), *_mark(key_node))
            own.add(key_node.value)
            self.positions[key_path] = _mark(key_node)
            self.walk(value_node, key_path)
        for value_node in merged:
            is_list = isinstance(value_node, yaml.SequenceNode)
            for source in value_node.value if is_list else [value_node]:
                self._merge(source, path, own)

    def _merge(self, source: yaml.Node, path: SpecPath, own: set[object]) -> None:
        if not isinstance(source, yaml.MappingNode):
            return  # the constructor reports "expected a mapping for merging"
        relative: Positions = {}
        _YamlWalker(relative).walk(source, ())
        for sub_path, position in relative.items():
            if sub_path[0] not in own:
                self.positions.setdefault((*path, *sub_path), position)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1
