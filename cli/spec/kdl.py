"""KDL documents converted to the same spec mapping that YAML and JSON produce.

ckdl keeps no source positions, so each node's line is found by searching the text forward from
its parent (or previous sibling) for the node name, preferring a line that also holds the
node's first argument. The mapping itself is described in the package docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ckdl

from cli.spec.errors import SpecError, SpecPath, did_you_mean
from cli.spec.positions import Positions

SCALAR, LIST, MAP, JSON, ITEMS = "scalar", "list", "map", "json", "items"
SCALAR_OR_MAP = "scalar_or_map"  # one value, or child nodes / properties forming a mapping
# A node no field is called: kept under its own name, so the schema check reports it with
# every other problem ("unknown field", with a suggestion) instead of the first stopping all.
UNKNOWN = "unknown"
# How far past the first line with the right node name to look for one that also shows the
# node's first argument.
_HINT_LOOKAHEAD = 50


@dataclass(frozen=True)
class Rule:
    """How one KDL node name maps onto a spec field."""

    key: str
    kind: str
    table: dict[str, Rule] = field(default_factory=dict)
    naming: str = "none"  # ITEMS only: "required", "optional" or "none" (first argument = name)
    label: str = ""


def _scalars(*names: str) -> dict[str, Rule]:
    return {name: Rule(name, SCALAR) for name in names}


def _lists(**aliases: tuple[str, ...]) -> dict[str, Rule]:
    return {alias: Rule(key, LIST) for key, names in aliases.items() for alias in names}


_PARAMETERIZED = {
    "parameters": Rule("parameters", MAP),
    "parameter_mode": Rule("parameter_mode", SCALAR),
    **_lists(use_parameters=("use_parameters", "use_parameter")),
}
_JOB = {
    **_scalars(
        "command",
        "invocation_script",
        "failure_handler",
        "scheduler",
        "cancel_on_blocking_job_failure",
        "supports_termination",
    ),
    **_lists(
        depends_on=("depends_on", "depends_on_job"),
        depends_on_regexes=("depends_on_regex", "depends_on_regexes"),
        input_files=("input_file", "input_files"),
        output_files=("output_file", "output_files"),
        input_file_regexes=("input_file_regex", "input_file_regexes"),
        output_file_regexes=("output_file_regex", "output_file_regexes"),
        input_user_data=("input_user_data",),
        output_user_data=("output_user_data",),
        input_user_data_regexes=("input_user_data_regex", "input_user_data_regexes"),
        output_user_data_regexes=("output_user_data_regex", "output_user_data_regexes"),
    ),
    "resource_requirements": Rule("resource_requirements", SCALAR_OR_MAP),
    **_PARAMETERIZED,
}
_FILE = {**_scalars("path"), **_PARAMETERIZED}
_USER_DATA = {**_scalars("is_ephemeral"), "data": Rule("data", JSON), **_PARAMETERIZED}
_RESOURCES = _scalars("num_cpus", "num_gpus", "num_nodes", "memory", "runtime")
_RULE = {
    **_scalars("match_all_exit_codes", "recovery_script", "max_retries"),
    **_lists(exit_codes=("exit_codes", "exit_code")),
}
_SLURM = _scalars(
    "account",
    "partition",
    "nodes",
    "walltime",
    "mem",
    "gres",
    "qos",
    "ntasks_per_node",
    "tmp",
    "extra",
)
_ACTION = {
    **_scalars(
        "trigger_type",
        "action_type",
        "scheduler",
        "scheduler_type",
        "num_allocations",
        "start_one_worker_per_node",
        "max_parallel_jobs",
        "persistent",
    ),
    **_lists(
        commands=("command", "commands"),
        jobs=("job", "jobs"),
        job_name_regexes=("job_name_regex", "job_name_regexes"),
    ),
}
_TOP = {
    **_scalars(
        "name",
        "user",
        "description",
        "use_pending_failed",
        "jobs_sort_method",
        "compute_node_expiration_buffer_seconds",
        "compute_node_wait_for_new_jobs_seconds",
        "compute_node_ignore_workflow_completion",
        "compute_node_wait_for_healthy_database_minutes",
        "compute_node_min_time_for_new_jobs_seconds",
    ),
    **{name: Rule(name, MAP) for name in ("parameters", "resource_monitor", "slurm_defaults")},
    "job": Rule("jobs", ITEMS, _JOB, "required", "job"),
    "file": Rule("files", ITEMS, _FILE, "required", "file"),
    "user_data": Rule("user_data", ITEMS, _USER_DATA, "optional", "user_data"),
    "resource_requirements": Rule(
        "resource_requirements", ITEMS, _RESOURCES, "required", "resource_requirements"
    ),
    "failure_handler": Rule(
        "failure_handlers",
        ITEMS,
        {"rule": Rule("rules", ITEMS, _RULE, "none", "rule")},
        "required",
        "failure_handler",
    ),
    "slurm_scheduler": Rule("slurm_schedulers", ITEMS, _SLURM, "optional", "slurm_scheduler"),
    "action": Rule("actions", ITEMS, _ACTION, "none", "action"),
}
_DOCUMENT = Rule("", ITEMS, _TOP, "none", "document")


def parse_kdl(text: str, file: str, keep_unknown: bool = True) -> tuple[dict[str, Any], Positions]:
    """The spec mapping and its positions; raises ValueError (syntax) or SpecError (mapping).
    ``keep_unknown``: a node no field is called is kept for the schema check to report; else
    it is an error at once (for a file that may not be KDL at all)."""
    try:
        document = ckdl.parse(text, version="any")
    except ckdl.ParseError as exc:
        line, column = locate_syntax_error(text, str(exc))
        hint = _equals_hint(text, line)
        raise KdlSyntaxError(f"invalid KDL: {exc}{hint}", line, column) from None
    converter = _Converter(text, file, keep_unknown)
    data, _end = converter.item(list(document.nodes), [], {}, _DOCUMENT, (), 0)
    return data, converter.positions


class KdlSyntaxError(ValueError):
    def __init__(self, message: str, line: int | None, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class _Converter:
    def __init__(self, text: str, file: str, keep_unknown: bool = True) -> None:
        self._keep_unknown = keep_unknown
        self._lines = text.splitlines()
        self._file = file
        self._patterns: dict[str, re.Pattern[str]] = {}
        self.positions: Positions = {}

    def item(
        self, children: list, args: list, props: dict, rule: Rule, path: SpecPath, line: int
    ) -> tuple[dict[str, Any], int]:
        """One collection item (or the whole document) from its arguments and child nodes."""
        result: dict[str, Any] = {}
        self._name_argument(args, rule, result, line)
        where = _describe(rule, result)
        for key, value in props.items():
            self._property(key, _plain(value), rule, result, path, line, where)
        end = cursor = line
        for child in children:
            child_line = self._find(child.name, child.args, cursor)
            cursor = self._child(child, rule, result, path, child_line, where)
            end = max(end, cursor)
        return result, end

    def _name_argument(self, args: list, rule: Rule, result: dict, line: int) -> None:
        if rule.naming == "none" or (rule.naming == "optional" and not args):
            if args:
                self._fail(f"KDL node '{rule.label}' takes no arguments", line)
            return
        if len(args) != 1:
            example = f'{rule.label} "my_{rule.label}" {{ ... }}'
            self._fail(
                f"KDL node '{rule.label}' needs its name as the only argument: {example}", line
            )
        result["name"] = _plain(args[0])

    def _property(
        self, key: str, value: Any, rule: Rule, result: dict, path: SpecPath, line: int, where: str
    ) -> None:
        child_rule = self._rule_for(key, rule, line, where)
        if child_rule.kind not in (SCALAR, LIST, SCALAR_OR_MAP, UNKNOWN):
            self._fail(f"'{key}' cannot be given as a property of {where}", line)
        self._store(child_rule, [value], result, path, line)

    def _child(
        self, node: Any, rule: Rule, result: dict, path: SpecPath, line: int, where: str
    ) -> int:
        child_rule = self._rule_for(node.name, rule, line, where)
        if child_rule.kind == ITEMS:
            items = result.setdefault(child_rule.key, [])
            item_path = (*path, child_rule.key, len(items))
            self._mark(item_path, line, node.name)
            item, end = self.item(
                list(node.children), node.args, node.properties, child_rule, item_path, line
            )
            items.append(item)
            return end
        if child_rule.kind in (SCALAR, LIST) and (node.children or node.properties):
            self._fail(f"KDL node '{node.name}' takes values only, not children", line)
        if child_rule.kind == UNKNOWN and (node.children or node.properties):
            return self._store_map(node, child_rule, result, path, line)
        if child_rule.kind in (MAP, JSON, SCALAR_OR_MAP) and (node.children or node.properties):
            if child_rule.kind == SCALAR_OR_MAP and node.args:
                self._fail(f"KDL node '{node.name}' takes a value or child nodes, not both", line)
            return self._store_map(node, child_rule, result, path, line)
        self._store(child_rule, [_plain(arg) for arg in node.args], result, path, line)
        return line

    def _rule_for(self, name: str, rule: Rule, line: int, where: str) -> Rule:
        if name in rule.table:
            return rule.table[name]
        if not self._keep_unknown:
            hint = did_you_mean(name, rule.table)
            self._fail(f"unknown KDL node '{name}' in {where}{hint}", line)
        return Rule(name, UNKNOWN)

    def _store(self, rule: Rule, values: list, result: dict, path: SpecPath, line: int) -> None:
        key_path = (*path, rule.key)
        if rule.kind == LIST:
            if not values:
                self._fail(f"KDL node for '{rule.key}' needs at least one value", line)
            items = result.setdefault(rule.key, [])
            for value in values:
                self._mark((*key_path, len(items)), line, None)
                items.append(value)
            return
        self._check_unique(rule.key, result, line)
        self._mark(key_path, line, None)
        if rule.kind == UNKNOWN:
            result[rule.key] = _collapse(values)
        elif rule.kind == JSON:
            result[rule.key] = self._json_value(values, line)
        elif rule.kind == MAP and values:
            self._fail(
                f"KDL node '{rule.key}' takes child nodes: {rule.key} {{ name value }}", line
            )
        elif rule.kind == MAP:
            result[rule.key] = {}
        elif len(values) != 1:
            self._fail(f"KDL node '{rule.key}' needs exactly one value", line)
        else:
            result[rule.key] = values[0]

    def _store_map(self, node: Any, rule: Rule, result: dict, path: SpecPath, line: int) -> int:
        self._check_unique(rule.key, result, line)
        key_path = (*path, rule.key)
        self._mark(key_path, line, None)
        mapping, end = self._mapping(node, key_path, line)
        result[rule.key] = mapping
        return end

    def _mapping(self, node: Any, path: SpecPath, line: int) -> tuple[dict[str, Any], int]:
        """Free-form children (parameters, slurm_defaults, data...) as a plain mapping."""
        mapping: dict[str, Any] = {key: _plain(value) for key, value in node.properties.items()}
        end = cursor = line
        for child in node.children:
            cursor = self._find(child.name, child.args, cursor)
            if child.name in mapping:
                self._fail(f"'{child.name}' is given more than once", cursor)
            self._mark((*path, child.name), cursor, child.name)
            if child.children or child.properties:
                mapping[child.name], cursor = self._mapping(child, (*path, child.name), cursor)
            else:
                mapping[child.name] = _collapse([_plain(arg) for arg in child.args])
            end = max(end, cursor)
        return mapping, end

    def _json_value(self, values: list, line: int) -> Any:
        if len(values) == 1 and isinstance(values[0], str):
            try:
                return json.loads(values[0])
            except ValueError as exc:
                self._fail(f"user data 'data' must be a JSON string: {exc}", line)
        return _collapse(values)

    def _check_unique(self, key: str, result: dict, line: int) -> None:
        if key in result:
            self._fail(f"'{key}' is given more than once", line)

    def _find(self, name: str, args: list, start: int) -> int:
        """The 0-based line of the next node called ``name`` at or after ``start``."""
        pattern = self._patterns.get(name)
        if pattern is None:
            pattern = re.compile(r"(?:^|[;{])\s*" + re.escape(name) + r"(?=[\s;{}=]|$)")
            self._patterns[name] = pattern
        hint = f'"{args[0]}"' if args and isinstance(args[0], str) else None
        fallback = None
        for index in range(start, len(self._lines)):
            if fallback is not None and index > fallback + _HINT_LOOKAHEAD:
                break  # the argument is written differently (escapes, raw string): settle
            if pattern.search(self._lines[index]):
                if hint is None or hint in self._lines[index]:
                    return index
                fallback = index if fallback is None else fallback
        return start if fallback is None else fallback

    def _mark(self, path: SpecPath, line: int, name: str | None) -> None:
        text = self._lines[line] if line < len(self._lines) else ""
        column = text.find(name) if name and name in text else len(text) - len(text.lstrip())
        self.positions.setdefault(path, (line + 1, column + 1))

    def _fail(self, message: str, line: int | None = None) -> None:
        if line is None:
            raise SpecError(message, self._file)
        text = self._lines[line] if line < len(self._lines) else ""
        raise SpecError(message, self._file, line + 1, len(text) - len(text.lstrip()) + 1)


def _describe(rule: Rule, item: dict[str, Any]) -> str:
    if rule is _DOCUMENT:
        return "the top level"
    name = item.get("name")
    return f"{rule.label} '{name}'" if isinstance(name, str) else f"'{rule.label}'"


def _plain(value: Any) -> Any:
    """ckdl wraps type-annotated values like ``(u8)3``; the annotation carries no meaning here."""
    return value.value if isinstance(value, ckdl.Value) else value


def _collapse(values: list) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _equals_hint(text: str, line: int | None) -> str:
    """``depends_on = "b"`` is the commonest KDL slip of YAML/TOML writers."""
    lines = text.splitlines()
    if line is None or line > len(lines):
        return ""
    written = re.match(r"^\s*([\w-]+)\s*=\s*(.+?)\s*;?\s*$", lines[line - 1])
    if written is None or not re.search(r"\s=|=\s", lines[line - 1]):
        return ""
    name, value = written.groups()
    return (
        f"; a KDL field is a node followed by its value: write '{name} {value}' "
        "(properties are key=value without spaces)"
    )


def locate_syntax_error(text: str, message: str) -> tuple[int | None, int]:
    """(line, column) of a ckdl syntax error, which ckdl does not report.

    ckdl parses as a stream and stops at the first bad token, so a prefix of the document
    fails with the same message exactly when it contains that token: a binary search over
    line prefixes finds the line, then one over the characters of that line the column.
    Running out of input (an unclosed brace or string) is located by :func:`guess_error_line`.
    """
    if message.startswith("Unexpected end of data") or message == "Parse error":
        return guess_error_line(text), 1
    lines = text.splitlines(keepends=True)

    def fails_alike(prefix: str) -> bool:
        try:
            ckdl.parse(prefix, version="any")
        except ckdl.ParseError as exc:
            return str(exc) == message
        return False

    if not lines or not fails_alike(text):
        return guess_error_line(text), 1
    line = _first_true(1, len(lines), lambda n: fails_alike("".join(lines[:n])))
    before, current = "".join(lines[: line - 1]), lines[line - 1].rstrip("\r\n")
    if not fails_alike(before + current):
        return line, 1  # the error needs the line break (a node ended too early)
    column = _first_true(1, len(current), lambda k: fails_alike(before + current[:k]))
    return line, column


def _first_true(low: int, high: int, test: Callable[[int], bool]) -> int:
    """The smallest n in [low, high] with test(n), given test(high) and monotonicity."""
    while low < high:
        middle = (low + high) // 2
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return low


def guess_error_line(text: str) -> int | None:
    """Line (1-based) of an unbalanced brace or unterminated string, if one is obvious."""
    opened: list[int] = []
    quote_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        index = 0
        while index < len(line):
            char = line[index]
            if quote_line is not None:
                index += 2 if char == "\\" else 1
                quote_line = None if char == '"' else quote_line
                continue
            if line.startswith("//", index):
                break
            if char == '"':
                quote_line = number
            elif char == "{":
                opened.append(number)
            elif char == "}":
                if not opened:
                    return number
                opened.pop()
            index += 1
    if quote_line is not None:
        return quote_line
    return opened[-1] if opened else None
