"""Colours: the seed's status colours and the palette built around them.

Green completed, yellow running, red failed, magenta canceled/terminated, blue
pending/scheduled, cyan ready, gray blocked. The other statuses get the colour of the one
they are closest to: ``pending_failed`` (a failure awaiting its decision) dark red,
``uninitialized`` the terminal's default, ``disabled`` gray.
"""

from __future__ import annotations

# Status (job, result or scheduled-node status, lowercase wire name) -> urwid colour.
STATUS_COLOURS: dict[str, str] = {
    "completed": "light green",
    "running": "yellow",
    "failed": "light red",
    "canceled": "light magenta",
    "terminated": "light magenta",
    "pending": "light blue",
    "scheduled": "light blue",
    "ready": "light cyan",
    "blocked": "dark gray",
    "pending_failed": "dark red",
    "disabled": "dark gray",
    "uninitialized": "default",
    # Scheduled compute nodes (an allocation's life) and their kin.
    "active": "yellow",
    "complete": "light green",
}

# The seed's wording, for the docs and the tests: which colour family each status shows in.
COLOUR_NAMES = {
    "light green": "green",
    "yellow": "yellow",
    "light red": "red",
    "dark red": "red",
    "light magenta": "magenta",
    "light blue": "blue",
    "light cyan": "cyan",
    "dark gray": "gray",
    "default": "default",
}


def status_attr(status: str | None) -> str:
    """The palette entry a status is drawn with (``status.completed``...)."""
    name = (status or "").lower()
    return f"status.{name}" if name in STATUS_COLOURS else "status.other"


def colour_of(status: str) -> str:
    """The seed's colour name for a status: ``green``, ``red``..."""
    return COLOUR_NAMES[STATUS_COLOURS.get(status.lower(), "default")]


def _status_entries() -> list[tuple[str, str, str]]:
    entries = [(f"status.{name}", colour, "") for name, colour in STATUS_COLOURS.items()]
    entries += [
        (f"status.{name}.focus", f"{colour},bold", "") for name, colour in STATUS_COLOURS.items()
    ]
    return entries + [("status.other", "default", ""), ("status.other.focus", "default,bold", "")]


PALETTE: list[tuple[str, str, str]] = [
    ("body", "default", ""),
    ("row.focus", "white,bold", ""),
    ("dim", "dark gray", ""),
    ("hint", "light cyan", ""),
    ("title", "white,bold", ""),
    ("header", "light gray", ""),
    ("tab", "light gray", ""),
    ("tab.active", "black", "light cyan"),
    ("error", "light red,bold", ""),
    ("warning", "yellow", ""),
    ("ok", "light green", ""),
    ("info", "light cyan", ""),
    ("server.running", "light green", ""),
    ("server.stopped", "yellow", ""),
    ("match", "black", "yellow"),
    ("match.current", "black", "light green"),
    ("dialog", "default", ""),
    ("dialog.danger", "light red,bold", ""),
    ("edit", "white", "dark blue"),
    *_status_entries(),
]
