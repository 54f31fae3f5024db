"""Job records. What a runner does to a job (claim, start, complete) is in ``running``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cli.api.base import PAGE_SIZE, ClientBase, Record


class JobEndpoints(ClientBase):
    def list_jobs(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``status``, ``needs_file_id``, ``upstream_job_id``,
        ``include_relationships``, ``active_compute_node_id``; ``offset``, ``sort_by``,
        ``reverse_sort``."""
        return self.paged("/jobs", limit=limit, workflow_id=workflow_id, **filters)

    def jobs_page(
        self, workflow_id: int, *, offset: int = 0, limit: int = PAGE_SIZE, **filters: Any
    ) -> Record:
        """One page with its envelope (``items``, ``total_count``, ``has_more``...), for a
        view that fetches the pages it shows (the TUI's jobs table)."""
        return self.get("/jobs", workflow_id=workflow_id, offset=offset, limit=limit, **filters)

    def get_job(self, job_id: int) -> Record:
        return self.get(f"/jobs/{job_id}")

    def create_job(self, record: Record) -> Record:
        return self.post("/jobs", record)

    def create_jobs(self, jobs: list[Record]) -> list[Record]:
        """Many jobs in one request (``/bulk_jobs``); the created records, in order."""
        return self.post("/bulk_jobs", {"jobs": jobs})["jobs"]

    def update_job(self, job_id: int, record: Record) -> Record:
        return self.put(f"/jobs/{job_id}", record)

    def delete_job(self, job_id: int) -> Record:
        return self.delete(f"/jobs/{job_id}")

    def delete_jobs(self, workflow_id: int) -> Record:
        """Every job of the workflow; ``{"count": n}``."""
        return self.delete("/jobs", workflow_id=workflow_id)
