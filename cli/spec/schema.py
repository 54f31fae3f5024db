"""Raw mappings checked against the dataclasses of :mod:`cli.spec.models`.

Unknown fields, missing required fields, wrong types and bad values are reported with the
field's path, so the message carries the line of the offending key. ``null`` counts as "not
given" for optional fields.

In collect mode (the dry run) an entry with errors is still built, from its valid fields and
neutral values for the missing ones, and marked broken, so the later stages check the rest
and every entry keeps its position. The workflow itself is built when only unknown keys are
wrong at the top level.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from cli.spec.errors import Diagnostics, SpecPath, describe, did_you_mean
from cli.spec.models import WorkflowSpec, int_range_problem

_INVALID = object()


def build_workflow(data: dict[str, Any], diag: Diagnostics) -> WorkflowSpec | None:
    return _build(WorkflowSpec, data, "workflow", (), diag)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, raw: Any, where: str, path: SpecPath, diag: Diagnostics) -> Any:
    if not isinstance(raw, dict):
        diag.error(f"{where} must be a mapping of fields, got {describe(raw)}", path)
        return None
    known = _fields(cls)
    values: dict[str, Any] = {}
    valid = fields_valid = True
    lenient = getattr(cls, "ignores_unknown_fields", False)
    for key, value in raw.items():
        if key not in known and lenient:
            diag.warn(
                f"{where}: unknown field '{key}' is ignored{did_you_mean(key, known)}",
                (*path, key),
            )
        elif key not in known:
            diag.error(f"{where}: unknown field '{key}'{did_you_mean(key, known)}", (*path, key))
            valid = False
        elif value is not None:
            converted = _field_value(cls, known[key], value, where, (*path, key), diag)
            if converted is _INVALID:
                valid = fields_valid = False
            else:
                values[key] = converted
    for name in _missing_required(known, raw):
        diag.error(f"{where}: missing required field '{name}'", path)
        valid = fields_valid = False
    if valid:
        return cls(**values)
    if diag.fail_fast:
        return None
    if fields_valid:  # only unknown keys: reported, and the entry is whole without them
        return cls(**values)
    return _partial(cls, values, raw, path, diag) if path else None


def _partial(cls: type, values: dict[str, Any], raw: dict, path: SpecPath, diag: Any) -> Any:
    """Collect mode: the entry from its valid fields, neutral values for required ones that
    are missing or wrong, marked broken (the workflow itself is not: its entries are)."""
    for name, spec_field in _fields(cls).items():
        if name not in values and _is_required(spec_field):
            values[name] = _neutral(_without_none(_hints(cls)[name]))
    if path:
        diag.mark_broken(path, raw.get("name"))
    return cls(**values)


def _neutral(hint: Any) -> Any:
    if typing.get_origin(hint) is list:
        return []
    if typing.get_origin(hint) is dict:
        return {}
    return {str: "", int: 0, float: 0.0, bool: False}.get(hint)


def _missing_required(known: dict[str, dataclasses.Field], raw: dict[str, Any]) -> list[str]:
    return [
        name
        for name, spec_field in known.items()
        if _is_required(spec_field) and raw.get(name) is None
    ]


def _is_required(spec_field: dataclasses.Field) -> bool:
    return (
        spec_field.default is dataclasses.MISSING
        and spec_field.default_factory is dataclasses.MISSING
    )


def _field_value(
    cls: type, spec_field: dataclasses.Field, value: Any, where: str, path: SpecPath, diag: Any
) -> Any:
    hint = _without_none(_hints(cls)[spec_field.name])
    converted = _convert(hint, value, spec_field, where, path, diag)
    check = spec_field.metadata.get("check")
    if converted is not _INVALID and check is not None:
        problem = check(converted)
        if isinstance(problem, tuple):  # (message, path of the nested value at fault)
            problem, below = problem
            path = (*path, *below)
        if problem:
            diag.error(f"{where}: field '{spec_field.name}' {_as_clause(problem)}", path)
            return _INVALID
    return converted


def _as_clause(problem: str) -> str:
    return problem if problem.startswith("must") else f"is invalid: {problem}"


def _without_none(hint: Any) -> Any:
    if _is_union(hint):
        remaining = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return remaining[0] if len(remaining) == 1 else hint
    return hint


def _convert(
    hint: Any, value: Any, spec_field: dataclasses.Field, where: str, path: SpecPath, diag: Any
) -> Any:
    if hint is Any:
        return value
    if _is_union(hint):
        return _convert_union(hint, value, spec_field, where, path, diag)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        label = spec_field.name if where == "workflow" else f"{where}, {spec_field.name}"
        built = _build(hint, value, label, path, diag)
        return _INVALID if built is None else built
    origin = typing.get_origin(hint)
    if origin is list:
        return _convert_list(typing.get_args(hint)[0], value, spec_field, where, path, diag)
    if origin is dict:
        return _convert_mapping(value, spec_field.name, where, path, diag)
    if _is_instance(hint, value):
        return _in_range(value, spec_field.name, where, path, diag)
    diag.error(
        f"{where}: field '{spec_field.name}' must be {_expected(hint)}, got {describe(value)}"
        f"{_braces_hint(value)}",
        path,
    )
    return _INVALID


def _braces_hint(value: Any) -> str:
    """YAML reads an unquoted ``{model}`` as the mapping ``{model: null}``: say so."""
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, dict)), None)
    if isinstance(value, dict) and len(value) == 1 and None in value.values():
        [key] = value
        return f' (an unquoted {{{key}}} is a mapping in YAML: quote it, "{{{key}}}")'
    return ""


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def _convert_union(
    hint: Any, value: Any, spec_field: dataclasses.Field, where: str, path: SpecPath, diag: Any
) -> Any:
    """``str | SomeSpec``: a mapping builds the dataclass, anything else must be the scalar."""
    options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    for option in options:
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return _convert(option, value, spec_field, where, path, diag)
        if not dataclasses.is_dataclass(option) and _is_instance(option, value):
            return value
    expected = " or ".join(_expected(option) for option in options)
    diag.error(
        f"{where}: field '{spec_field.name}' must be {expected}, got {describe(value)}", path
    )
    return _INVALID


def _in_range(value: Any, name: str, where: str, path: SpecPath, diag: Any) -> Any:
    """Integers must fit the server's signed 64 bits, or creating the workflow would fail."""
    if type(value) is int:
        problem = int_range_problem(value)
        if problem:
            diag.error(f"{where}: field '{name}' {problem}", path)
            return _INVALID
    return value


def _is_instance(hint: Any, value: Any) -> bool:
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _convert_list(
    item_hint: Any, value: Any, spec_field: dataclasses.Field, where: str, path: SpecPath, diag: Any
) -> Any:
    expected = f"a list of {_expected(item_hint, plural=True)}"
    if not isinstance(value, list):
        diag.error(
            f"{where}: field '{spec_field.name}' must be {expected}, got {describe(value)}"
            f"{_braces_hint(value)}",
            path,
        )
        return _INVALID
    if isinstance(item_hint, type) and dataclasses.is_dataclass(item_hint):
        label = spec_field.metadata.get("item", spec_field.name)
        built = [
            _build(item_hint, item, _item_label(where, label, item, index), (*path, index), diag)
            for index, item in enumerate(value)
        ]
        return _INVALID if None in built else built
    for index, item in enumerate(value):
        if not _is_instance(item_hint, item):
            diag.error(
                f"{where}: field '{spec_field.name}' must be {expected}, but item "
                f"{index + 1} is {describe(item)}{_braces_hint(item)}",
                (*path, index),
            )
            return _INVALID
        checked = _in_range(item, spec_field.name, where, (*path, index), diag)
        if checked is _INVALID:
            return _INVALID
    return value


def _item_label(where: str, label: str, item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    own = f"{label} '{name}'" if isinstance(name, str) else f"{label} #{index + 1}"
    return own if where == "workflow" else f"{where}, {own}"


def _convert_mapping(value: Any, name: str, where: str, path: SpecPath, diag: Any) -> Any:
    if not isinstance(value, dict):
        diag.error(f"{where}: field '{name}' must be a mapping, got {describe(value)}", path)
        return _INVALID
    for key in value:
        if not isinstance(key, str):
            diag.error(f"{where}: the keys of '{name}' must be strings, got {describe(key)}", path)
            return _INVALID
    return value


def _expected(hint: Any, plural: bool = False) -> str:
    if hint is str:
        return "strings" if plural else "a string"
    if hint is int:
        return "integers" if plural else "an integer"
    if hint is bool:
        return "booleans" if plural else "true or false"
    if dataclasses.is_dataclass(hint) and not plural:
        return "a mapping of fields"
    return "mappings" if plural else "a mapping"
