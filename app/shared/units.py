"""Memory and runtime strings as Torc writes them: ``"20g"`` and ISO-8601 ``"PT2H"``."""

from __future__ import annotations

import datetime as dt
import math
import re

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


def utc_now_text() -> str:
    """UTC time as upstream writes it: ``2025-01-31T12:00:00.123Z``."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
