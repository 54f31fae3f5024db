"""Results (one per finished job run) and events (what happened, for people and monitors)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cli.api.base import PAGE_SIZE, ClientBase, Record


class ResultEndpoints(ClientBase):
    # Results -----------------------------------------------------------------------------

    def list_results(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """The latest run's results unless ``all_runs``. Filters: ``job_id``, ``run_id``,
        ``return_code``, ``status``, ``compute_node_id``, ``all_runs``; ``offset``,
        ``sort_by``, ``reverse_sort``."""
        return self.paged("/results", limit=limit, workflow_id=workflow_id, **filters)

    def results_page(
        self, workflow_id: int, *, offset: int = 0, limit: int = PAGE_SIZE, **filters: Any
    ) -> Record:
        """One page with its envelope (``items``, ``total_count``...); see ``jobs_page``."""
        return self.get("/results", workflow_id=workflow_id, offset=offset, limit=limit, **filters)

    def get_result(self, result_id: int) -> Record:
        return self.get(f"/results/{result_id}")

    def create_result(self, record: Record) -> Record:
        return self.post("/results", record)

    def update_result(self, result_id: int, record: Record) -> Record:
        return self.put(f"/results/{result_id}", record)

    def delete_result(self, result_id: int) -> Record:
        return self.delete(f"/results/{result_id}")

    def delete_results(self, workflow_id: int) -> Record:
        return self.delete("/results", workflow_id=workflow_id)

    # Events ------------------------------------------------------------------------------

    def list_events(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``category``, ``after_timestamp`` (milliseconds since the epoch);
        ``offset``, ``sort_by``, ``reverse_sort``."""
        return self.paged("/events", limit=limit, workflow_id=workflow_id, **filters)

    def events_page(
        self, workflow_id: int, *, offset: int = 0, limit: int = PAGE_SIZE, **filters: Any
    ) -> Record:
        """One page with its envelope (``items``, ``total_count``...); see ``jobs_page``."""
        return self.get("/events", workflow_id=workflow_id, offset=offset, limit=limit, **filters)

    def latest_event_timestamp(self, workflow_id: int) -> Record:
        """``{"timestamp": ms}`` of the workflow's newest event (to follow new ones)."""
        return self.get(f"/workflows/{workflow_id}/latest_event_timestamp")

    def get_event(self, event_id: int) -> Record:
        return self.get(f"/events/{event_id}")

    def create_event(self, record: Record) -> Record:
        return self.post("/events", record)

    def update_event(self, event_id: int, record: Record) -> Record:
        return self.put(f"/events/{event_id}", record)

    def delete_event(self, event_id: int) -> Record:
        return self.delete(f"/events/{event_id}")

    def delete_events(self, workflow_id: int) -> Record:
        return self.delete("/events", workflow_id=workflow_id)
