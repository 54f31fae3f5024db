"""``torc logs``."""

from __future__ import annotations

import click


@click.group("logs")
def group() -> None:
    """Log bundle and analysis commands."""
