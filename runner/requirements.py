"""The workflow's resource requirements, as the runner needs them: what a job holds while it
runs, and its runtime limit."""

from __future__ import annotations

from typing import Any

from app.shared.units import parse_memory, parse_runtime
from cli.client import TorcClient
from runner.resources import Need


class Requirements:
    def __init__(self, client: TorcClient, workflow_id: int, count_jobs: bool) -> None:
        """``count_jobs``: queue-depth mode (``--max-parallel-jobs``), where a job holds no
        resources and only the number of running jobs is limited."""
        self.client = client
        self.workflow_id = workflow_id
        self.count_jobs = count_jobs
        self._records: dict[int, dict[str, Any]] = {}
        self.load()

    def load(self) -> None:
        for record in self.client.list_resource_requirements(self.workflow_id):
            record["runtime_seconds"] = parse_runtime(record["runtime"])
            record["memory_bytes"] = parse_memory(record["memory"])
            self._records[record["id"]] = record

    def of(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job's requirements record (loaded again when it is new: jobs can be added)."""
        rr_id = job.get("resource_requirements_id")
        if rr_id is None:
            return None
        if rr_id not in self._records:
            self.load()
        return self._records.get(rr_id)

    def need(self, job: dict[str, Any]) -> Need:
        """What the job holds while running; nothing in queue-depth mode, which counts jobs."""
        if self.count_jobs:
            return Need(num_cpus=0, memory_bytes=0)
        record = self.of(job)
        if record is None:
            return Need()
        return Need(
            record["num_cpus"], record["memory_bytes"], record["num_gpus"], record["num_nodes"]
        )

    def runtime_seconds(self, job: dict[str, Any]) -> float | None:
        """Jobs with declared requirements must finish within their runtime."""
        record = self.of(job)
        if record is None or record["name"] == "default":
            return None
        return record["runtime_seconds"]
