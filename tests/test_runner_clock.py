"""The runner's loop on an injected clock: hours of the loop's time in a few real seconds.

The runner runs in this process against the real server, with real job processes; only its
time is the test's. Whenever the loop would wait with nothing ready, the clock moves forward
by the whole wait instead of sleeping, so a one-hour runtime limit or a one-hour idle timeout
is reached at once, and the figures the runner reports are in the clock's time.
"""

from __future__ import annotations

import selectors
import time
from pathlib import Path

from cli.client import TorcClient
from runner.resources import Resources
from runner.runner import JobRunner, RunnerOptions
from tests.helpers import Api, ServerProcess, spec_payload

HOUR = 3600.0


REAL_WAIT = 0.02  # long enough for a round trip to the server on loopback


class SkippingClock:
    """Monotonic time that jumps over every wait in which nothing happens (for
    ``REAL_WAIT`` real seconds: an answer from the server is on its way meanwhile)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.epoch = time.time() - self.now
        self.skipped = 0.0  # seconds of waiting that were jumped over

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def sleep(self, seconds: float) -> None:
        self._jump(seconds)

    def select(
        self, selector: selectors.BaseSelector, timeout: float
    ) -> list[tuple[selectors.SelectorKey, int]]:
        ready = selector.select(min(timeout, REAL_WAIT))
        if not ready:
            self._jump(timeout)
        return ready

    def _jump(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        self.skipped += max(seconds, 0.0)


def make_runner(server: ServerProcess, workflow_id: int, tmp_path: Path, clock: SkippingClock):
    options = RunnerOptions(
        workflow_id=workflow_id,
        output_dir=tmp_path / "output",
        poll_interval=60.0,
        resources=Resources(num_cpus=2, memory_bytes=4 * 1024**3),
        resource_monitoring=False,
    )
    return JobRunner(TorcClient(server.url), options, clock=clock)


def test_runtime_limit_of_an_hour_is_enforced_without_waiting_an_hour(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    hour = {"name": "hour", "num_cpus": 1, "memory": "1m", "runtime": "PT1H"}
    jobs = [{"name": "long", "command": "sleep 7200", "resource_requirements": 0}]
    payload = spec_payload(jobs, resource_requirements=[hour])
    workflow_id = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    clock = SkippingClock()
    started = time.monotonic()
    summary = make_runner(server, workflow_id, tmp_path, clock).run()
    assert time.monotonic() - started < 60
    assert summary.counts == {"terminated": 1}
    assert summary.complete
    (result,) = api.get("/results", params={"workflow_id": workflow_id})["items"]
    assert result["status"] == "terminated" and result["return_code"] == -9
    # The job ran for the clock's hour (and not much longer), not for the real seconds.
    assert HOUR / 60 <= result["exec_time_minutes"] < HOUR / 60 + 1
    assert clock.skipped >= HOUR


def test_idle_runner_waits_its_hour_for_new_jobs_then_exits(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    jobs = [
        {"name": "elsewhere", "command": "true"},
        {"name": "after", "command": "true", "depends_on": [0]},
    ]
    payload = spec_payload(jobs, workflow={"compute_node_wait_for_new_jobs_seconds": int(HOUR)})
    workflow_id = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    # Another runner holds the only ready job, so this one has nothing to do but wait.
    (claimed,) = api.claim(workflow_id, 1)
    other = api.compute_node(workflow_id)
    api.put(f"/jobs/{claimed['id']}/start_job/{api.run_id(workflow_id)}/{other}")
    clock = SkippingClock()
    started = time.monotonic()
    runner = make_runner(server, workflow_id, tmp_path, clock)
    summary = runner.run()
    assert time.monotonic() - started < 60
    assert not summary.complete and summary.stuck is None and not summary.counts
    assert HOUR <= clock.skipped < HOUR + 600  # slack: slow round trips under load
    assert f"No new jobs for {int(HOUR)}s; exiting" in runner.log_path.read_text()
    assert api.statuses(workflow_id) == {"elsewhere": "running", "after": "blocked"}
