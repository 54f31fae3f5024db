"""Events: the audit log of a workflow."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import EventModel, ListEventsArgs
from app.models.records import EVENTS
from app.models.tables import Event

blp = Blueprint("events", __name__, description="The audit log of state changes")


def _filters(args: dict[str, Any]) -> list[Any]:
    conditions = equal_filters(Event, args, ("category",))
    if args.get("after_timestamp") is not None:
        conditions.append(Event.timestamp > args["after_timestamp"])
    return conditions


register_crud(
    blp,
    Crud(
        EVENTS,
        "/events",
        operation_ids("event", "events"),
        EventModel,
        ListEventsArgs,
        _filters,
        wire.event,
    ),
)
