"""SpecError, the one exception callers see, and the collector that produces it.

A :class:`Diagnostics` object is threaded through every stage. In *fail-fast* mode (used by
``build_payload``) the first error raises :class:`SpecError`; in *collect* mode (used by
``validate_spec``, the dry run) errors pile up and the later stages still run, so one pass
reports every problem it can: an entry that failed its schema check stays in, marked
*broken*, and later errors inside a broken entry, or about a reference to its name, are
left out (they follow from the first). ``checkpoint`` stops the run where a later stage
cannot go on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SpecPath = tuple[str | int, ...]
Locate = Callable[[SpecPath], "tuple[int, int] | None"]

# validate_spec stops collecting after this many errors: past that point the list is noise and
# building "did you mean" suggestions over 100k names per error would get slow.
MAX_ERRORS = 50
_MANY_NAMES = 5000
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


class SpecError(Exception):
    """A problem in a workflow spec; ``str(err)`` is one line ``file:line:col: message``."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, column: int = 1
    ) -> None:
        self.message = one_line(message)
        self.file = file
        self.line = line
        self.column = column
        super().__init__(format_error(self.message, file, line, column))


class StageFailed(Exception):
    """Internal: collect mode found errors in a stage, so later stages cannot run."""


def one_line(message: str) -> str:
    return _NEWLINES.sub(" ", message).strip()


def format_error(message: str, file: str | None, line: int | None, column: int = 1) -> str:
    if file is None:
        return message
    if line is None:
        return f"{file}: {message}"
    return f"{file}:{line}:{column}: {message}"


def did_you_mean(name: Any, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    if not isinstance(name, str):
        return ""
    names = list(candidates)
    if len(names) > _MANY_NAMES:  # keep suggestions cheap among 100k expanded job names
        names = [candidate for candidate in names if candidate[:2] == name[:2]]
    matches = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def describe(value: Any) -> str:
    """A short, user-facing description of a parsed value, for type errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@dataclass
class Diagnostics:
    """Errors and warnings for one spec file, each formatted with its source position."""

    file: str
    locate: Locate
    fail_fast: bool = True
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    broken_paths: set[SpecPath] = field(default_factory=set)
    broken_names: list[re.Pattern[str]] = field(default_factory=list)

    def error(self, message: str, path: SpecPath = (), about: str | None = None) -> None:
        """``about``: the name the message says is unknown (left out when that name is a
        broken entry's)."""
        if self.follows_from_broken(path, about):
            return
        position = self.locate(path) if path else None
        line, column = position if position else (None, 1)
        err = SpecError(message, self.file, line, column)
        if self.fail_fast:
            raise err
        self.errors.append(str(err))
        if len(self.errors) >= MAX_ERRORS:
            self.errors.append(f"{self.file}: too many errors; stopped after {MAX_ERRORS}")
            raise StageFailed

    def warn(self, message: str, path: SpecPath = ()) -> None:
        position = self.locate(path) if path else None
        line, column = position if position else (None, 1)
        self.warnings.append(format_error(one_line(message), self.file, line, column))

    def checkpoint(self) -> None:
        if self.errors:
            raise StageFailed

    def mark_broken(self, path: SpecPath, name: Any) -> None:
        """An entry with errors of its own; its ``{placeholder}`` name matches any value."""
        self.broken_paths.add(path)
        if isinstance(name, str) and name:
            parts = re.split(r"\{[A-Za-z_][A-Za-z0-9_]*(?::[^{}]*)?\}", name)
            self.broken_names.append(re.compile(".+".join(map(re.escape, parts))))

    def has_broken(self, key: str) -> bool:
        """Whether an entry of this collection (``jobs``, ``files``...) is broken."""
        return any(path[0] == key for path in self.broken_paths)

    def follows_from_broken(self, path: SpecPath, about: str | None = None) -> bool:
        if any(path[: len(broken)] == broken for broken in self.broken_paths):
            return True
        return about is not None and any(p.fullmatch(about) for p in self.broken_names)
