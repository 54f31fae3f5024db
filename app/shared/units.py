"""Memory and runtime strings as Torc writes them (``"20g"``, ISO-8601 ``"PT2H"``), and the
human-readable sizes, durations and percentages the CLI's tables and reports print.

Every unit formatter lives here, next to the parsers it mirrors, so a table, a report and
recovery write the same quantity the same way.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal

import isodate

# SQLite's INTEGER is a signed 64-bit number; a larger Python int cannot be bound to a query.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1

_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_MEMORY_RE = re.compile(r"^\s*(\d+)\s*([kmgtKMGT]?)\s*$")

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = 30.4375


def parse_memory(text: str) -> int:
    """Bytes in a memory string: an integer with an optional k/m/g/t suffix (1024-based)."""
    match = _MEMORY_RE.match(str(text))
    if not match:
        raise ValueError(
            f"invalid memory {text!r}: expected an integer with an optional unit k, m, g or t "
            "(for example 512m or 20g)"
        )
    size = int(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]
    if size > MAX_INTEGER:
        raise ValueError(f"invalid memory {text!r}: more than 8 EiB")
    return size


def parse_runtime(text: str) -> float:
    """Seconds in an ISO-8601 duration such as ``PT30M``, ``P0DT1H`` or ``P1DT12H``."""
    try:
        stripped = str(text).strip()
        if stripped.upper().endswith("T"):  # "PT", "P2DT": isodate accepts a bare designator
            raise ValueError(stripped)
        duration = isodate.parse_duration(stripped)
    except (isodate.ISO8601Error, ValueError, TypeError, OverflowError):
        # OverflowError: a component too large for a timedelta, e.g. PT99999999999999999999S.
        raise ValueError(
            f"invalid runtime {text!r}: expected an ISO-8601 duration such as PT30M, PT2H or "
            "P1DT12H"
        ) from None
    if isinstance(duration, dt.timedelta):
        seconds = duration.total_seconds()
    else:
        days = float(duration.years) * DAYS_PER_YEAR + float(duration.months) * DAYS_PER_MONTH
        seconds = days * 86400 + duration.tdelta.total_seconds()
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"invalid runtime {text!r}: must be a finite, non-negative duration")
    return seconds


def format_runtime(seconds: float) -> str:
    """An ISO-8601 duration for a number of seconds, in whole minutes where possible."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = "PT"
    if hours:
        parts += f"{hours}H"
    if minutes:
        parts += f"{minutes}M"
    if secs or parts == "PT":
        parts += f"{secs}S"
    return parts


def format_memory(count: float) -> str:
    """A memory request for ``count`` bytes, rounded UP to whole units so it is never below
    ``count``: whole g from 10 GiB, else whole m (written as g when it is a whole number of
    GiB), else k."""
    gib, mib, kib = _MEMORY_UNITS["g"], _MEMORY_UNITS["m"], _MEMORY_UNITS["k"]
    if count >= 10 * gib:
        return f"{math.ceil(count / gib)}g"
    if count >= mib:
        megabytes = math.ceil(count / mib)
        return f"{megabytes // 1024}g" if megabytes % 1024 == 0 else f"{megabytes}m"
    return f"{max(1, math.ceil(count / kib))}k"


def format_runtime_minutes(seconds: float) -> str:
    """A runtime request: ``PT{h}H{m}M``, ``PT{h}H`` or ``PT{m}M``, rounded up to whole
    minutes (at least 1)."""
    minutes = max(1, math.ceil(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"PT{hours}H{minutes}M"
    return f"PT{hours}H" if hours else f"PT{minutes}M"


# --------------------------------------------------------------------------------------------
# For people: table cells and report lines
# --------------------------------------------------------------------------------------------


def human_bytes(count: float | None) -> str:
    """``512 B``, ``1.5 KB`` ... ``2.0 TB`` (1024-based); empty for an unknown size."""
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def human_memory(count: float) -> str:
    """``512.00 MB`` below a GiB, ``10.50 GB`` from there on (1024-based, like requests)."""
    mebibytes = count / _MEMORY_UNITS["m"]
    return f"{mebibytes:.2f} MB" if mebibytes < 1024 else f"{mebibytes / 1024:.2f} GB"


def human_duration(seconds: float) -> str:
    """``1h 2m 3s``, ``2m 3s`` or ``4.5s``."""
    if seconds >= 3600:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours}h {rest // 60}m {rest % 60}s"
    if seconds >= 60:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m {rest}s"
    return f"{seconds:.1f}s"


def format_percent_change(percent: float) -> str:
    """``+31.3%`` / ``-12.0%``, halves rounded away from zero as in the docs (31.25 -> 31.3)."""
    rounded = Decimal(repr(percent)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{rounded:+.1f}%"


def utc_now_text() -> str:
    """UTC time as upstream writes it: ``2025-01-31T12:00:00.123Z``."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
