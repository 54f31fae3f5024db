"""Limits the server enforces and the CLI checks first, so both say the same thing."""

from __future__ import annotations

# Deepest nesting of a JSON value (user data, event data, configuration blocks) the server
# accepts. It answers values inside envelopes a few levels deep, and its encoder stops at 254.
MAX_JSON_DEPTH = 200


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether lists and mappings nest more than ``limit`` levels (walked without recursion,
    each level once, stopping at the first path deeper than the limit)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        elif not isinstance(node, list):
            continue
        if depth > limit:
            return True
        stack.extend((item, depth + 1) for item in node if isinstance(item, dict | list))
    return False
