"""``torc reports``."""

from __future__ import annotations

import click


@click.group("reports")
def group() -> None:
    """Report commands."""
