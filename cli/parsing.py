"""Parsing of user input shared by commands."""

from __future__ import annotations

import json
from typing import Any

import click

from app.shared.limits import MAX_JSON_DEPTH, too_deep


def id_list(text: str | None) -> list[int] | None:
    """``"1,2 3"`` -> ``[1, 2, 3]``; None stays None."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise click.BadParameter(f"expected IDs separated by commas, got {text!r}") from None


def json_value(text: str | None, what: str = "--data") -> Any:
    if text is None:
        return None
    too_deep_error = click.BadParameter(
        f"{what} is nested more than {MAX_JSON_DEPTH} levels deep (the server's limit)"
    )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} must be JSON: {exc}") from None
    except RecursionError:  # the decoder recurses per level
        raise too_deep_error from None
    if too_deep(value):
        raise too_deep_error
    return value
