"""``torc resource-requirements``."""

from __future__ import annotations

import click


@click.group("resource-requirements")
def group() -> None:
    """Resource requirements commands."""
