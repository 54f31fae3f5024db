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
