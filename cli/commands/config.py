"""``torc config``."""

from __future__ import annotations

import click


@click.group("config")
def group() -> None:
    """Configuration file commands."""
