"""Human-readable sizes, durations and status names for tables."""

from __future__ import annotations


def human_bytes(count: float | None) -> str:
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def status_title(status: str) -> str:
    """``pending_failed`` -> ``PendingFailed`` (how upstream's tables print statuses)."""
    return "".join(part.capitalize() for part in status.split("_"))


def human_duration(seconds: float) -> str:
    """``1h 2m 3s``, ``2m 3s`` or ``4.5s``."""
    if seconds >= 3600:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours}h {rest // 60}m {rest % 60}s"
    if seconds >= 60:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m {rest}s"
    return f"{seconds:.1f}s"
