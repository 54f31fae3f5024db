"""``torc events``."""

from __future__ import annotations

import click


@click.group("events")
def group() -> None:
    """Event commands."""
