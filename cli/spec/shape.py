"""Checks of a parsed spec's shape, before anything walks it: no NUL characters, no nesting
deeper than the server accepts, and no YAML aliases that multiply the document.

Every later stage (schema checks, JSON checks, the encoder) walks values recursively and in
full. A YAML "billion laughs" document is a few lines whose aliases repeat one list inside
another ten times over: PyYAML shares the repeated objects, so it loads at once, but any walk
of the result takes forever. This walk visits each distinct object once (no recursion), and
counts how many values the document holds once aliases are expanded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.shared.limits import MAX_JSON_DEPTH
from cli.spec.errors import SpecPath

# Aliases may repeat parts of a document, but a spec that expands to this many values and to
# more than EXPANSION_FACTOR times the values it writes out is refused as an alias bomb.
MAX_EXPANDED_VALUES = 1_000_000
EXPANSION_FACTOR = 10


@dataclass(frozen=True)
class ShapeProblem:
    message: str
    path: SpecPath


@dataclass
class _Node:
    value: Any
    path: SpecPath
    children: list[tuple[Any, SpecPath]]
    next_child: int = 0
    size: int = 1
    height: int = 1
    deepest: SpecPath = ()  # keys from this value down to its deepest one


def shape_problem(data: Any) -> ShapeProblem | None:
    """The first problem with ``data``'s shape, or None."""
    # id -> (values once expanded, height, keys down to the deepest value)
    sizes: dict[int, tuple[int, int, SpecPath]] = {}
    distinct = 0
    stack: list[_Node] = []
    on_stack: set[int] = set()
    problem = _scalar_problem(data, ())
    if problem or not isinstance(data, dict | list):
        return problem
    stack.append(_open(data, ()))
    on_stack.add(id(data))
    while stack:
        node = stack[-1]
        if node.next_child < len(node.children):
            child, path = node.children[node.next_child]
            node.next_child += 1
            problem = _scalar_problem(child, path)
            if problem:
                return problem
            if not isinstance(child, dict | list):
                node.size += 1
                continue
            if id(child) in on_stack:
                return ShapeProblem("a YAML alias refers to the value that contains it", path)
            known = sizes.get(id(child))
            if known is None:
                if len(stack) > MAX_JSON_DEPTH:
                    return ShapeProblem(_too_deep(), path)
                stack.append(_open(child, path))
                on_stack.add(id(child))
                continue
            _absorb(node, known, path)
            continue
        stack.pop()
        on_stack.discard(id(node.value))
        distinct += len(node.children) + 1
        summary = (node.size, node.height, node.deepest)
        sizes[id(node.value)] = summary
        if stack:
            _absorb(stack[-1], summary, node.path)
    total, height, deepest = sizes[id(data)]
    if height > MAX_JSON_DEPTH:
        return ShapeProblem(_too_deep(), deepest)
    if total > MAX_EXPANDED_VALUES and total > EXPANSION_FACTOR * distinct:
        return ShapeProblem(
            f"YAML aliases expand this spec to {total:,} values from {distinct:,} written "
            f"(more than {MAX_EXPANDED_VALUES:,}): an alias bomb, or aliases nested in aliases",
            (),
        )
    return None


def _open(value: dict | list, path: SpecPath) -> _Node:
    if isinstance(value, dict):
        children = [(item, (*path, key)) for key, item in value.items()]
    else:
        children = [(item, (*path, index)) for index, item in enumerate(value)]
    return _Node(value, path, children)


def _absorb(parent: _Node, child: tuple[int, int, SpecPath], path: SpecPath) -> None:
    """Add a finished child (reached at ``path``) to its parent's counts."""
    size, height, deepest = child
    parent.size += size
    if height + 1 > parent.height:
        parent.height = height + 1
        parent.deepest = (path[-1], *deepest)


def _scalar_problem(value: Any, path: SpecPath) -> ShapeProblem | None:
    if isinstance(value, str) and "\x00" in value:
        return ShapeProblem(
            "holds a NUL character (\\0), which no name or command may contain", path
        )
    if isinstance(value, dict):
        for key in value:
            if isinstance(key, str) and "\x00" in key:
                return ShapeProblem("a key holds a NUL character (\\0)", (*path, key))
    return None


def _too_deep() -> str:
    return f"nested more than {MAX_JSON_DEPTH} levels deep (the server's limit for JSON data)"
