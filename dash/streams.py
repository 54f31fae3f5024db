"""Server-Sent Event streams the dashboard sends the browser.

``run_stream``: a ``torc workflows run`` as it happens (the seed's ``/api/cli/run-stream``):
``start``, each line of the CLI's output as ``stdout`` (or ``stderr``), a ``status`` line
from the server every 3 seconds, then ``end`` (``success`` or ``failure``) and
``exit_code``. The run belongs to the machine, not to the page: a browser that goes away
stops receiving, the run goes on (its output is still read, so it never blocks).

``event_stream``: a workflow's events as they are recorded, one SSE event per server event,
named by its type (``job_started``, ``job_completed``, ``workflow_started``...) with the
event as JSON. The dashboard follows the server's events API (new events by timestamp, once
a second) and sends ``connected`` / ``disconnected`` when the server comes and goes, so the
page can show Live, Reconnecting or Disconnected.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from cli.client import TorcClient, TorcClientError

STATUS_INTERVAL_SECONDS = 3.0
EVENT_POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0


def sse(event: str, data: str) -> str:
    """One SSE frame; a multi-line value becomes several ``data:`` lines."""
    lines = data.split("\n") if data else [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def status_line(counts: dict[str, int]) -> str:
    """``Jobs: 3 running, 7 completed (total: 10)``: the statuses present, busiest first."""
    total = sum(counts.values())
    present = [(name, n) for name, n in counts.items() if n]
    present.sort(key=lambda item: -item[1])
    parts = ", ".join(f"{n} {name}" for name, n in present) or "no jobs"
    return f"Jobs: {parts} (total: {total})"


# --------------------------------------------------------------------------------------------
# The run stream
# --------------------------------------------------------------------------------------------


def _pump(stream: IO[str], name: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    for line in stream:
        lines.put((name, line.rstrip("\n")))
    lines.put((name, None))


def run_stream(
    workflow_id: int,
    process: subprocess.Popen[str],
    client: TorcClient,
    interval: float = STATUS_INTERVAL_SECONDS,
) -> Iterator[str]:
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    assert process.stdout is not None and process.stderr is not None
    for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
        threading.Thread(target=_pump, args=(stream, name, lines), daemon=True).start()
    try:
        yield sse("start", f"Running workflow {workflow_id}")
        open_streams = 2
        next_status = time.monotonic()
        while open_streams:
            now = time.monotonic()
            if now >= next_status:
                next_status = now + interval
                yield sse("status", _status(client, workflow_id))
            try:
                name, line = lines.get(timeout=max(0.05, next_status - time.monotonic()))
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            else:
                yield sse(name, line)
        code = process.wait()
        yield sse("status", _status(client, workflow_id))
        yield sse("end", "success" if code == 0 else "failure")
        yield sse("exit_code", str(code))
    finally:
        client.close()


def _status(client: TorcClient, workflow_id: int) -> str:
    try:
        return status_line(client.job_status_counts(workflow_id))
    except TorcClientError as exc:
        return f"status unavailable: {exc}"


# --------------------------------------------------------------------------------------------
# The event stream
# --------------------------------------------------------------------------------------------


class EventFollower:
    """New events of one workflow, in order, none twice (events may share a millisecond)."""

    def __init__(self, client: TorcClient, workflow_id: int, since_ms: int | None) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.since_ms = since_ms
        self.seen_at_since: set[int] = set()

    def start_from_now(self) -> None:
        latest = self.client.latest_event_timestamp(self.workflow_id).get("timestamp")
        self.since_ms = int(latest) if latest is not None else 0

    def new_events(self) -> list[dict[str, Any]]:
        if self.since_ms is None:
            self.start_from_now()
        assert self.since_ms is not None
        # after_timestamp is exclusive: ask from one millisecond earlier and skip the events
        # already sent at the boundary millisecond.
        found = list(
            self.client.list_events(
                self.workflow_id, after_timestamp=self.since_ms - 1, sort_by="id"
            )
        )
        fresh = [
            event
            for event in found
            if not (event["timestamp"] == self.since_ms and event["id"] in self.seen_at_since)
        ]
        fresh.sort(key=lambda event: (event["timestamp"], event["id"]))
        if fresh:
            newest = fresh[-1]["timestamp"]
            if newest != self.since_ms:
                self.seen_at_since = set()
            self.since_ms = newest
            self.seen_at_since |= {e["id"] for e in fresh if e["timestamp"] == newest}
        return fresh


def event_name(event: dict[str, Any]) -> str:
    data = event.get("data")
    kind = data.get("type") if isinstance(data, dict) else None
    return str(kind or "event")


def event_stream(
    follower: EventFollower,
    stopped: Callable[[], bool] = lambda: False,
    poll: float = EVENT_POLL_SECONDS,
) -> Iterator[str]:
    """Runs until the browser goes away (waitress then stops iterating) or ``stopped()``."""
    connected: bool | None = None
    last_sent = time.monotonic()
    try:
        while not stopped():
            try:
                events = follower.new_events()
            except TorcClientError as exc:
                if connected is not False:
                    connected = False
                    yield sse("disconnected", str(exc))
                    last_sent = time.monotonic()
            else:
                if connected is not True:
                    connected = True
                    yield sse("connected", f"Following workflow {follower.workflow_id}")
                    last_sent = time.monotonic()
                for event in events:
                    yield sse(event_name(event), orjson.dumps(event).decode())
                    last_sent = time.monotonic()
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                yield ": keepalive\n\n"  # a comment: finds a browser that went away
                last_sent = time.monotonic()
            time.sleep(poll)
    finally:
        follower.client.close()
