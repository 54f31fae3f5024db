"""``torc plot-resources``."""

from __future__ import annotations

COMMANDS: list = []
