"""``torc compute-nodes``."""

from __future__ import annotations

import click


@click.group("compute-nodes")
def group() -> None:
    """Compute node commands."""
