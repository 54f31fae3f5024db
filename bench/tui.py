"""How ``torc tui`` copes with a big workflow: ``python -m bench.tui [--jobs 100000]``.

A workflow of ``--jobs`` jobs on a fresh server; the real app (its worker thread, its paged
tables) driven key by key as the urwid loop would, the screen rendered at 120x40. Reported:
the time to open the workflow (Enter until the first rows show), the UI thread's time per
PgDn (the screen never waits for pages: missing rows show "…" until they arrive), the time
until every row on screen is filled, End, a refresh (time and requests), and the DAG.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bench.server import Server
from cli.client import TorcClient
from tui import model
from tui.app import TorcTUI
from tui.model import Options, State
from tui.worker import Worker

SIZE = (120, 40)
USER = "bench"


class Driver:
    """The app with a real worker thread; callbacks run when ``pump`` says, as the loop would."""

    def __init__(self, url: str) -> None:
        self.calls: deque[Callable[[], None]] = deque()
        self.app = TorcTUI(State(url=url, user=USER, user_filter=USER), Options(), TorcClient)
        self.app.attach(Worker(TorcClient(url), self.calls.append), _NoClock(), self.calls.append)

    def render(self) -> str:
        canvas = self.app.top.render(SIZE, focus=True)
        return "\n".join(line.decode() for line in canvas.text)

    def key(self, key: str) -> float:
        """Seconds the UI thread spends on one key and the redraw after it."""
        started = time.perf_counter()
        self.app.top.keypress(SIZE, key)
        self.render()
        return time.perf_counter() - started

    def pump_until(self, done: Callable[[str], bool], timeout: float = 120.0) -> float:
        started = time.perf_counter()
        while True:
            while self.calls:
                self.calls.popleft()()
            if done(self.render()):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise TimeoutError("the screen never showed what was awaited")
            time.sleep(0.002)

    def settle(self) -> float:
        """Until every call sent so far has been answered (the worker runs them in order)."""
        done: list[bool] = []
        assert self.app.worker is not None
        self.app.worker.submit(lambda _client: None, lambda _none: done.append(True), print)
        return self.pump_until(lambda _screen: bool(done))


class _NoClock:
    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        pass


def filled(screen: str) -> bool:
    return "… loading" not in screen and "Loading…" not in screen


def measure(url: str, jobs: int, pages: int) -> dict[str, Any]:
    with TorcClient(url, timeout=600) as client:
        specs = [{"name": f"job_{n}", "command": "true"} for n in range(jobs - 1)]
        specs.append({"name": "collect", "command": "true", "depends_on": list(range(1000))})
        payload = {"workflow": {"name": "big", "user": USER}, "jobs": specs}
        started = time.perf_counter()
        client.create_workflow_from_spec(payload, initialize=True)
        created = time.perf_counter() - started
    driver = Driver(url)
    driver.app.start()
    driver.pump_until(lambda screen: " big " in screen)
    driver.key("enter")
    opened = driver.pump_until(lambda screen: " job_0 " in screen and filled(screen))
    per_key = [driver.key("page down") for _ in range(pages)]
    fill = driver.pump_until(filled)
    driver.settle()
    end_key = driver.key("end")
    end = end_key + driver.pump_until(lambda screen: " collect " in screen and filled(screen))
    sent: list[int] = []
    original = model.fetch_page

    def counted(*args: Any) -> Any:
        sent.append(args[3])
        return original(*args)

    model.fetch_page = counted  # type: ignore[assignment]
    started = time.perf_counter()
    driver.app.refresh_all(quiet=True)
    driver.render()
    refreshed = time.perf_counter() - started + driver.settle()
    model.fetch_page = original  # type: ignore[assignment]
    for _ in range(4):
        driver.key("tab")
    dag = driver.pump_until(lambda screen: "Stage 2" in screen)
    driver.app.shutdown()
    return {
        "jobs": jobs,
        "create_seconds": round(created, 3),
        "open_seconds": round(opened, 3),
        "page_down_ui_ms_median": round(statistics.median(per_key) * 1000, 2),
        "page_down_ui_ms_max": round(max(per_key) * 1000, 2),
        "page_downs": pages,
        "rows_filled_after_seconds": round(fill, 3),
        "end_seconds": round(end, 3),
        "refresh_seconds": round(refreshed, 3),
        "refresh_requests": len(sent),
        "dag_seconds": round(dag, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--page-downs", type=int, default=200)
    args = parser.parse_args()
    with Server() as url:
        result = measure(url, args.jobs, args.page_downs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
