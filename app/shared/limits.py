"""Limits the server enforces and the CLI checks first, so both say the same thing."""

from __future__ import annotations

# Deepest nesting of a JSON value (user data, event data, configuration blocks) the server
# accepts. It answers values inside envelopes a few levels deep, and its encoder stops at 254.
MAX_JSON_DEPTH = 200
