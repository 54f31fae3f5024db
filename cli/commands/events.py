"""``torc events``: a workflow's audit log — create, list, follow, inspect, delete."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import click
import orjson

from cli.context import Context, pass_context
from cli.options import list_params, resolve_workflow_id, short_list_options, workflow_argument
from cli.output import cell
from cli.parsing import json_value

COLUMNS = [
    ("ID", "id"),
    ("Timestamp", "time"),
    ("Category", "category"),
    ("Type", "type"),
    ("Data", "data"),
]


@click.group("events")
def group() -> None:
    """Event commands."""


def now_ms() -> int:
    return int(time.time() * 1000)


def format_timestamp(milliseconds: int | None) -> str:
    """Local time with milliseconds: events often share a second."""
    if milliseconds is None:
        return ""
    moment = datetime.fromtimestamp(milliseconds / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{milliseconds % 1000:03d}"


def display_row(event: dict[str, Any]) -> dict[str, Any]:
    """The category and type get their own columns, so Data shows the rest."""
    data = event.get("data")
    fields = data if isinstance(data, dict) else {}
    rest = {key: value for key, value in fields.items() if key not in ("category", "type")}
    return {
        **event,
        "time": format_timestamp(event.get("timestamp")),
        "category": fields.get("category"),
        "type": fields.get("type"),
        "data": cell(rest if isinstance(data, dict) else data),
    }


def event_line(event: dict[str, Any]) -> str:
    row = display_row(event)
    parts = [f"[{row['time']}]", str(event.get("id")), row["category"], row["type"], row["data"]]
    return " ".join(str(part) for part in parts if part)


@group.command("create")
@workflow_argument
@click.option("-d", "--data", required=True, help='Event data, a JSON object: \'{"k": "v"}\'.')
@pass_context
def create(ctx: Context, workflow_id: int | None, data: str) -> None:
    """Record an event (a "category" key in the data files it under that category)."""
    value = json_value(data)
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="'--data'")
    body = {"workflow_id": resolve_workflow_id(ctx, workflow_id), "timestamp": now_ms()}
    event = ctx.client.create_event({**body, "data": value})
    ctx.emit(event, text=f"Created event {event['id']}")


@group.command("list")
@workflow_argument
@click.option("-c", "--category", help="Only events of this category.")
@short_list_options
@pass_context
def list_events(ctx: Context, workflow_id: int | None, category: str | None, **options) -> None:
    """List a workflow's events."""
    params = list_params(options)
    limit = params.pop("limit")
    events = list(
        ctx.client.list_events(
            resolve_workflow_id(ctx, workflow_id),
            limit=limit,
            category=category,
            **params,
        )
    )
    ctx.emit({"events": events}, rows=[display_row(e) for e in events], columns=COLUMNS)


@group.command("monitor")
@workflow_argument
@click.option(
    "-d",
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many minutes (default: until interrupted).",
)
@click.option(
    "-p",
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=60,
    show_default=True,
    help="Seconds between checks for new events.",
)
@click.option("-c", "--category", help="Only events of this category.")
@pass_context
def monitor(
    ctx: Context,
    workflow_id: int | None,
    duration: float | None,
    poll_interval: float,
    category: str | None,
) -> None:
    """Print a workflow's new events as they happen (JSON Lines with -f json)."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    follower = EventFollower(ctx, workflow_id, category)
    until = "until interrupted" if duration is None else f"for {duration:g} minutes"
    click.echo(
        f"Monitoring events of workflow {workflow_id} {until} (every {poll_interval:g}s); "
        "Ctrl-C stops",
        err=True,
    )
    deadline = None if duration is None else time.monotonic() + duration * 60
    try:
        follower.run(poll_interval, deadline)
    except KeyboardInterrupt:
        click.echo("Stopped", err=True)


class EventFollower:
    """Polls ``GET /events?after_timestamp=…`` and prints each new event exactly once."""

    def __init__(self, ctx: Context, workflow_id: int, category: str | None) -> None:
        self.ctx = ctx
        self.workflow_id = workflow_id
        self.category = category
        latest = ctx.client.latest_event_timestamp(workflow_id)
        # Only events newer than the monitor: those of the latest millisecond count as seen.
        self.since: int = latest.get("timestamp") or 0
        self.seen_at_since = {event["id"] for event in self.fetch()}

    def run(self, poll_interval: float, deadline: float | None) -> None:
        while True:
            self.poll()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            time.sleep(poll_interval if remaining is None else min(poll_interval, remaining))

    def fetch(self) -> list[dict[str, Any]]:
        """Events from the last millisecond seen on, oldest first.

        Events can share the millisecond of the last one seen, so the query starts one
        millisecond earlier and ``poll`` skips the IDs already printed.
        """
        events = self.ctx.client.list_events(
            self.workflow_id,
            category=self.category,
            after_timestamp=self.since - 1,
        )
        return sorted(events, key=lambda e: (e["timestamp"], e["id"]))

    def poll(self) -> None:
        for event in self.fetch():
            if event["timestamp"] > self.since or event["id"] not in self.seen_at_since:
                self.show(event)

    def show(self, event: dict[str, Any]) -> None:
        if event["timestamp"] > self.since:
            self.since, self.seen_at_since = event["timestamp"], set()
        self.seen_at_since.add(event["id"])
        if self.ctx.format == "json":
            click.echo(orjson.dumps(event).decode())
        else:
            click.echo(event_line(event))


@group.command("get-latest-event")
@workflow_argument
@pass_context
def get_latest_event(ctx: Context, workflow_id: int | None) -> None:
    """Show a workflow's most recent event."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    latest = ctx.client.latest_event_timestamp(workflow_id)
    event = _newest_event(ctx, workflow_id, latest.get("timestamp"))
    if event is None:
        ctx.emit(None, text=f"No events found for workflow {workflow_id}")
    else:
        ctx.emit(event)


def _newest_event(ctx: Context, workflow_id: int, timestamp: int | None) -> dict | None:
    if timestamp is None:
        return None
    events = ctx.client.list_events(workflow_id, after_timestamp=timestamp - 1)
    return max(events, key=lambda e: (e["timestamp"], e["id"]), default=None)


@group.command("delete")
@click.argument("event_id", type=int)
@pass_context
def delete(ctx: Context, event_id: int) -> None:
    """Delete one event."""
    ctx.emit(ctx.client.delete_event(event_id), text=f"Deleted event {event_id}")
