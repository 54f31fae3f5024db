"""``torc failure-handlers``."""

from __future__ import annotations

import click


@click.group("failure-handlers")
def group() -> None:
    """Failure handler commands."""
