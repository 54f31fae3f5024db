"""``torc files``."""

from __future__ import annotations

import click


@click.group("files")
def group() -> None:
    """File commands."""
