"""``torc scheduled-compute-nodes``."""

from __future__ import annotations

import click


@click.group("scheduled-compute-nodes")
def group() -> None:
    """Scheduled compute node commands."""
