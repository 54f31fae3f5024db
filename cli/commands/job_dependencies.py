"""``torc job-dependencies``."""

from __future__ import annotations

import click


@click.group("job-dependencies")
def group() -> None:
    """Job dependency commands."""
