"""The audit log: one row per state change, written inside the change's own transaction."""

from __future__ import annotations

import time
from typing import Any

import orjson

from app.models.db import bulk_insert
from app.models.tables import Event

# Lists of job IDs longer than this are summarised by their count, so initialising a
# million-job workflow writes one small event, not a megabyte of IDs.
MAX_IDS_IN_EVENT = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def record_event(workflow_id: int, category: str, event_type: str, **data: Any) -> None:
    record_events(workflow_id, category, [{"type": event_type, **data}])


def id_list(job_ids: list[int]) -> dict[str, Any]:
    """Event fields describing a set of jobs: their IDs when few, always their count."""
    if len(job_ids) <= MAX_IDS_IN_EVENT:
        return {"job_ids": sorted(job_ids), "count": len(job_ids)}
    return {"count": len(job_ids)}


def record_events(workflow_id: int, category: str, items: list[dict[str, Any]]) -> None:
    """One event per item (each item carries its own ``type``), in one statement."""
    timestamp = now_ms()
    rows = [
        (workflow_id, timestamp, category, orjson.dumps({"category": category, **item}).decode())
        for item in items
    ]
    bulk_insert(Event, ["workflow_id", "timestamp", "category", "data"], rows)
