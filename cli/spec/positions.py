"""Source positions (1-based line, column) of keys and list items, keyed by spec path.

YAML positions come from the composed node tree (``cli.spec.yaml12``). JSON and JSON5 text is
scanned with a small tokenizer (JSON is a subset of JSON5); the scan runs only when an error
needs a position, so large generated JSON specs cost nothing extra when they are valid.
"""

from __future__ import annotations

import bisect
import json
import re

from cli.spec.errors import SpecPath

Positions = dict[SpecPath, tuple[int, int]]


class DuplicateKey(Exception):
    """A mapping repeats a key; ``line``/``column`` point at the second occurrence."""

    def __init__(self, key: str, line: int, column: int) -> None:
        super().__init__(f"duplicate key '{key}'")
        self.key = key
        self.line = line
        self.column = column


_TOKEN = re.compile(
    r"""(?P<skip>\s+|//[^\n]*|/\*.*?\*/)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<punct>[{}\[\]:,])
      | (?P<bare>[^\s{}\[\]:,"'/]+)""",
    re.VERBOSE | re.DOTALL,
)


class Json5Scanner:
    """Walks already-validated JSON/JSON5 text and records key and item positions."""

    def __init__(self, text: str) -> None:
        self._tokens = [
            (m.lastgroup, m.group(), m.start())
            for m in _TOKEN.finditer(text)
            if m.lastgroup != "skip"
        ]
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._index = 0
        self.positions: Positions = {}

    def scan(self) -> Positions:
        if self._tokens:
            self._value(())
        return self.positions

    def _position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def _next(self) -> tuple[str | None, str, int]:
        token = self._tokens[self._index] if self._index < len(self._tokens) else (None, "", 0)
        self._index += 1
        return token

    def _peek(self) -> str:
        return self._tokens[self._index][1] if self._index < len(self._tokens) else ""

    def _value(self, path: SpecPath) -> None:
        _kind, text, _offset = self._next()
        if text == "{":
            self._object(path)
        elif text == "[":
            self._array(path)

    def _object(self, path: SpecPath) -> None:
        seen: set[str] = set()
        while self._peek() not in ("}", ""):
            kind, text, offset = self._next()
            key = _key_text(kind, text)
            line, column = self._position(offset)
            if key in seen:
                raise DuplicateKey(key, line, column)
            seen.add(key)
            self.positions[(*path, key)] = (line, column)
            self._next()  # the colon
            self._value((*path, key))
            if self._peek() == ",":
                self._next()
        self._next()

    def _array(self, path: SpecPath) -> None:
        index = 0
        while self._peek() not in ("]", ""):
            offset = self._tokens[self._index][2]
            self.positions[(*path, index)] = self._position(offset)
            self._value((*path, index))
            index += 1
            if self._peek() == ",":
                self._next()
        self._next()


def _key_text(kind: str | None, text: str) -> str:
    if kind != "string":
        return text
    if text.startswith('"'):
        try:
            return json.loads(text)
        except ValueError:  # a JSON5-only escape; the raw text is close enough for a position
            return text[1:-1]
    return text[1:-1].replace("\\'", "'").replace('\\"', '"')


def json5_positions(text: str) -> Positions:
    return Json5Scanner(text).scan()
