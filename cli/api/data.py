"""Files and user data: what jobs read and write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cli.api.base import PAGE_SIZE, ClientBase, Record


class DataEndpoints(ClientBase):
    # Files -------------------------------------------------------------------------------

    def list_files(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``produced_by_job_id``, ``name``, ``path``, ``is_output``; ``offset``,
        ``sort_by``, ``reverse_sort``."""
        return self.paged("/files", limit=limit, workflow_id=workflow_id, **filters)

    def files_page(
        self, workflow_id: int, *, offset: int = 0, limit: int = PAGE_SIZE, **filters: Any
    ) -> Record:
        """One page with its envelope (``items``, ``total_count``...); see ``jobs_page``."""
        return self.get("/files", workflow_id=workflow_id, offset=offset, limit=limit, **filters)

    def get_file(self, file_id: int) -> Record:
        return self.get(f"/files/{file_id}")

    def create_file(self, record: Record) -> Record:
        return self.post("/files", record)

    def update_file(self, file_id: int, record: Record) -> Record:
        return self.put(f"/files/{file_id}", record)

    def delete_file(self, file_id: int) -> Record:
        return self.delete(f"/files/{file_id}")

    def delete_files(self, workflow_id: int) -> Record:
        return self.delete("/files", workflow_id=workflow_id)

    # User data ---------------------------------------------------------------------------

    def list_user_data(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``consumer_job_id``, ``producer_job_id``, ``name``, ``is_ephemeral``;
        ``offset``, ``sort_by``, ``reverse_sort``."""
        return self.paged("/user_data", limit=limit, workflow_id=workflow_id, **filters)

    def get_user_data(self, record_id: int) -> Record:
        return self.get(f"/user_data/{record_id}")

    def create_user_data(
        self,
        record: Record,
        *,
        consumer_job_id: int | None = None,
        producer_job_id: int | None = None,
    ) -> Record:
        """A record, optionally linked at once to the job that reads or writes it."""
        return self.post(
            "/user_data",
            record,
            consumer_job_id=consumer_job_id,
            producer_job_id=producer_job_id,
        )

    def update_user_data(self, record_id: int, record: Record) -> Record:
        return self.put(f"/user_data/{record_id}", record)

    def delete_user_data(self, record_id: int) -> Record:
        return self.delete(f"/user_data/{record_id}")

    def delete_all_user_data(self, workflow_id: int) -> Record:
        return self.delete("/user_data", workflow_id=workflow_id)
