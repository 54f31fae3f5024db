"""Reading a spec file in any of the four formats into a plain mapping plus source positions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.shared.limits import MAX_JSON_DEPTH
from cli.spec.errors import SpecError, SpecPath
from cli.spec.positions import DuplicateKey, Positions, json5_positions
from cli.spec.shape import shape_problem

# The YAML, JSON5 and KDL parsers are imported by the first spec that needs them: together
# they cost about 15 ms of start-up, which a JSON spec (generated ones usually are) never needs.

# The extension's own parser comes first; the others are fallbacks for misnamed files. KDL goes
# last for non-KDL files because KDL v2 accepts so much bare text that it would "succeed" on
# broken YAML and then report confusing node errors. A .kdl file is read as KDL only: YAML
# reads most broken KDL as some mapping, and its errors would then be about that mapping.
_PARSER_ORDER = {
    ".yaml": ("yaml", "json5", "kdl"),
    ".yml": ("yaml", "json5", "kdl"),
    ".json": ("json", "json5", "yaml", "kdl"),
    ".json5": ("json5", "yaml", "kdl"),
    ".kdl": ("kdl",),
}
_UNKNOWN_EXTENSION_ORDER = ("yaml", "json", "json5", "kdl")
_JSON5_ERROR = re.compile(r"^<string>:(\d+) (.*) at column (\d+)$", re.DOTALL)


@dataclass
class LoadedSpec:
    """A parsed spec: ``data`` is the raw mapping, ``locate`` maps a spec path to (line, col)."""

    data: dict[str, Any]
    path: str
    format: str
    _positions: Positions | None = field(default=None, repr=False)
    _build_positions: Callable[[], Positions] | None = field(default=None, repr=False)

    def locate(self, path: SpecPath) -> tuple[int, int] | None:
        """Position of ``path`` or of its nearest ancestor that has one."""
        if self._positions is None:
            self._positions = self._build_positions() if self._build_positions else {}
        for end in range(len(path), 0, -1):
            position = self._positions.get(tuple(path[:end]))
            if position:
                return position
        return None


class ParseFailure(Exception):
    def __init__(self, message: str, line: int | None = None, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def load_spec(path: str | Path) -> LoadedSpec:
    """Parse ``path`` with the parser its extension names, falling back to the other formats."""
    label = str(path)
    text = _read(Path(path), label)
    order = _PARSER_ORDER.get(Path(path).suffix.lower(), _UNKNOWN_EXTENSION_ORDER)
    first_failure: ParseFailure | None = None
    for fmt in order:
        try:
            spec = _parse(fmt, text, label, guessed=fmt != order[0])
        except ParseFailure as failure:
            first_failure = first_failure or failure
        except SpecError:
            if fmt == order[0]:
                raise
        else:
            _check_shape(spec)
            return spec
    assert first_failure is not None
    raise SpecError(first_failure.message, label, first_failure.line, first_failure.column)


def _read(path: Path, label: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("spec file not found", label) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file: {exc}", label) from None
    if not text.strip():
        raise SpecError("spec file is empty", label)
    return text


def _check_shape(spec: LoadedSpec) -> None:
    problem = shape_problem(spec.data)
    if problem is not None:
        where = ".".join(str(part) for part in problem.path)
        message = f"{where}: {problem.message}" if where else problem.message
        raise SpecError(message, spec.path, *(spec.locate(problem.path) or (None, 1)))


def _parse(fmt: str, text: str, label: str, guessed: bool = False) -> LoadedSpec:
    try:
        return _parse_as(fmt, text, label, guessed)
    except RecursionError:
        # The parsers (and PyYAML's composer) recurse per level: nesting a few hundred
        # levels deep exhausts the stack long before any limit of ours is checked.
        raise ParseFailure(
            f"invalid {fmt.upper()}: nested too deeply to read (the server accepts at most "
            f"{MAX_JSON_DEPTH} levels)"
        ) from None


def _parse_as(fmt: str, text: str, label: str, guessed: bool) -> LoadedSpec:
    """``guessed``: the file's extension names another format (or none), so a KDL reading
    must not keep nodes it does not know (broken YAML reads as KDL full of them)."""
    if fmt == "yaml":
        data, positions = _parse_yaml(text)
        spec = LoadedSpec(data, label, fmt, _positions=positions)
    elif fmt == "kdl":
        data, positions = _parse_kdl(text, label, keep_unknown=not guessed)
        spec = LoadedSpec(data, label, fmt, _positions=positions)
    else:
        data = _parse_json(text, fmt)
        spec = LoadedSpec(data, label, fmt, _build_positions=lambda: json5_positions(text))
    if not isinstance(spec.data, dict):
        raise ParseFailure(
            f"the workflow spec must be a mapping of fields at the top level, not {_kind(data)}", 1
        )
    return spec


def _parse_yaml(text: str) -> tuple[Any, Positions]:
    import yaml

    from cli.spec.yaml12 import CoreSchemaLoader, yaml_positions

    try:
        # The reader checks every character first: control characters fail here.
        loader = CoreSchemaLoader(text)
    except yaml.reader.ReaderError as exc:
        line, column = _text_position(text, exc.position)
        raise ParseFailure(f"invalid YAML: {_reader_problem(exc)}", line, column) from None
    try:
        node = loader.get_single_node()
        # Positions first: constructing flattens merge keys (<<) into the mapping nodes, which
        # would then look like duplicate keys.
        positions = yaml_positions(node)
        data = loader.construct_document(node) if node is not None else None
        return data, positions
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context})" if exc.context else ""
        at_line = mark.line + 1 if mark else None
        at_column = mark.column + 1 if mark else 1
        lines = text.splitlines()
        hint = placeholder_quoting_hint(lines[mark.line]) if mark and mark.line < len(lines) else ""
        message = f"invalid YAML{context}: {exc.problem}{hint}"
        raise ParseFailure(message, at_line, at_column) from None
    except yaml.YAMLError as exc:
        raise ParseFailure(f"invalid YAML: {exc}") from None
    except DuplicateKey as exc:
        raise ParseFailure(f"invalid YAML: {exc}", exc.line, exc.column) from None
    finally:
        loader.dispose()


# An unquoted word holding a {placeholder}: YAML reads "{" as the start of a mapping.
_UNQUOTED_PLACEHOLDER = re.compile(
    r"(?<![\"'\w$])([^\s\[\],:'\"{}]*\{[A-Za-z_][A-Za-z0-9_]*(?::[^{}]*)?\}[^\s\[\],'\"]*)"
)


def placeholder_quoting_hint(line: str) -> str:
    """``; quote values with {placeholders}: "model_{i}"`` for a YAML line that has one
    unquoted (the seed's own ``output_files: [model_{i}]`` is such a line)."""
    match = _UNQUOTED_PLACEHOLDER.search(line.split("#", 1)[0])
    if match is None:
        return ""
    word = match.group(1)
    return (
        f'; in YAML a value with a {{placeholder}} must be quoted, as in "{word}" '
        "(an unquoted { starts a mapping)"
    )


def _reader_problem(exc: Exception) -> str:
    character = getattr(exc, "character", "")
    code = ord(character) if isinstance(character, str) and character else character
    return f"control character #x{code:04x} is not allowed (only tabs and line breaks are)"


def _text_position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _parse_kdl(text: str, label: str, keep_unknown: bool) -> tuple[dict[str, Any], Positions]:
    from cli.spec.kdl import KdlSyntaxError, parse_kdl

    try:
        return parse_kdl(text, label, keep_unknown)
    except KdlSyntaxError as exc:
        raise ParseFailure(str(exc), exc.line, exc.column) from None


def _parse_json(text: str, fmt: str) -> Any:
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_reject_duplicates)
        import json5

        return json5.loads(text, object_pairs_hook=_reject_duplicates)
    except _DuplicateKeyFound as exc:
        _raise_duplicate(text, fmt, exc.key)
    except json.JSONDecodeError as exc:
        raise ParseFailure(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except ValueError as exc:
        match = _JSON5_ERROR.match(str(exc))
        if match:
            line, message, column = match.groups()
            raise ParseFailure(f"invalid JSON5: {message}", int(line), int(column)) from None
        raise ParseFailure(f"invalid {fmt.upper()}: {exc}") from None


class _DuplicateKeyFound(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicates(given: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    pairs = list(given)
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKeyFound(key)
            seen.add(key)
    return result


def _raise_duplicate(text: str, fmt: str, key: str) -> None:
    """Duplicate keys are found while parsing; the scanner finds where the second one is."""
    try:
        json5_positions(text)
    except DuplicateKey as exc:
        raise ParseFailure(f"invalid {fmt.upper()}: {exc}", exc.line, exc.column) from None
    raise ParseFailure(f"invalid {fmt.upper()}: duplicate key '{key}'")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return "empty" if value is None else f"a single value ({type(value).__name__})"
