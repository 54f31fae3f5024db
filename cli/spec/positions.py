"""Source positions (1-based line, column) of keys and list items, keyed by spec path.

YAML positions come from the composed node tree. JSON and JSON5 text is scanned with a small
tokenizer (JSON is a subset of JSON5); the scan runs only when an error needs a position, so
large generated JSON specs cost nothing extra when they are valid.
"""

from __future__ import annotations

import bisect
import json
import re

import yaml

from cli.spec.errors import SpecPath

Positions = dict[SpecPath, tuple[int, int]]


class DuplicateKey(Exception):
    """A mapping repeats a key; ``line``/``column`` point at the second occurrence."""

    def __init__(self, key: str, line: int, column: int) -> None:
        super().__init__(f"duplicate key '{key}'")
        self.key = key
        self.line = line
        self.column = column


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
            if key_node.tag == _MERGE_TAG:
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


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


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
