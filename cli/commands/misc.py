"""Top-level one-off commands: ``ping``, ``version``, ``completions``, ``plot-resources``."""

from __future__ import annotations

COMMANDS: list = []
