"""Workflows: the records, their status and the operations on the whole workflow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from cli.api.base import ClientBase, Record


class WorkflowEndpoints(ClientBase):
    # The records -------------------------------------------------------------------------

    def list_workflows(self, *, limit: int | None = None, **filters: Any) -> Iterator[Record]:
        """Filters: ``name``, ``user``, ``description``, ``is_archived``; ``offset``,
        ``sort_by``, ``reverse_sort``."""
        return self.paged("/workflows", limit=limit, **filters)

    def count_workflows(self, **filters: Any) -> int:
        """How many workflows match (``total_count`` of a one-item page); filters as above."""
        return self.get("/workflows", limit=1, **filters)["total_count"]

    def get_workflow(self, workflow_id: int) -> Record:
        return self.get(f"/workflows/{workflow_id}")

    def create_workflow(self, fields: Record) -> Record:
        return self.post("/workflows", fields)

    def create_workflow_from_spec(
        self, payload: Record | IO[bytes], initialize: bool = False
    ) -> Record:
        """A whole workflow in one request: the records refer to each other by position.
        ``payload`` may be a JSON file (``CompiledSpec.request_body()``), sent as it is."""
        return self.post("/workflow_specs", payload, initialize=initialize)

    def update_workflow(self, workflow_id: int, record: Record) -> Record:
        return self.put(f"/workflows/{workflow_id}", record)

    def delete_workflow(self, workflow_id: int) -> Record:
        return self.delete(f"/workflows/{workflow_id}")

    # Status and the operations that change it --------------------------------------------

    def workflow_status(self, workflow_id: int) -> Record:
        return self.get(f"/workflows/{workflow_id}/status")

    def update_workflow_status(self, workflow_id: int, status: Record) -> Record:
        return self.put(f"/workflows/{workflow_id}/status", status)

    def cancel_workflow(self, workflow_id: int) -> Record:
        return self.put(f"/workflows/{workflow_id}/cancel")

    def initialize_jobs(
        self,
        workflow_id: int,
        only_uninitialized: bool = False,
        clear_ephemeral_user_data: bool | None = None,
    ) -> Record:
        return self.post(
            f"/workflows/{workflow_id}/initialize_jobs",
            only_uninitialized=only_uninitialized,
            clear_ephemeral_user_data=clear_ephemeral_user_data,
        )

    def initialize_if_uninitialized(self, workflow_id: int) -> Record:
        """Initialize unless already done, atomically on the server; ``initialized`` says
        whether this call did it (several runners may start the same workflow together)."""
        return self.post(f"/workflows/{workflow_id}/initialize_jobs", if_uninitialized=True)

    def reset_workflow_status(self, workflow_id: int, force: bool = False) -> Record:
        return self.post(f"/workflows/{workflow_id}/reset_status", force=force)

    def reset_job_status(self, workflow_id: int, failed_only: bool = False) -> Record:
        return self.post(f"/workflows/{workflow_id}/reset_job_status", failed_only=failed_only)

    def process_changed_job_inputs(self, workflow_id: int, dry_run: bool = False) -> Record:
        """Jobs whose inputs changed since they ran (reinitialize's first step)."""
        return self.post(f"/workflows/{workflow_id}/process_changed_job_inputs", dry_run=dry_run)

    # Questions about the workflow --------------------------------------------------------

    def is_complete(self, workflow_id: int) -> Record:
        return self.get(f"/workflows/{workflow_id}/is_complete")

    def is_uninitialized(self, workflow_id: int) -> bool:
        """Whether no job of the workflow has been initialized yet."""
        return bool(self.get(f"/workflows/{workflow_id}/is_uninitialized")["is_uninitialized"])

    def job_status_counts(
        self, workflow_id: int, scheduler_config_id: int | None = None
    ) -> dict[str, int]:
        """Jobs per status name, every status present (server extension, one query); with
        ``scheduler_config_id`` only the jobs a runner of that scheduler may run."""
        return self.get(
            f"/workflows/{workflow_id}/job_status_counts", scheduler_config_id=scheduler_config_id
        )["counts"]

    def job_ids(self, workflow_id: int) -> Record:
        """``{"job_ids": [...], "count": n}``."""
        return self.get(f"/workflows/{workflow_id}/job_ids")

    def missing_user_data(self, workflow_id: int) -> Record:
        """``{"user_data": [IDs]}``: records jobs need that hold no data and no job produces."""
        return self.get(f"/workflows/{workflow_id}/missing_user_data")

    def required_existing_files(self, workflow_id: int) -> Record:
        """``{"files": [IDs]}``: input files no job produces (they must exist beforehand)."""
        return self.get(f"/workflows/{workflow_id}/required_existing_files")

    # How the jobs relate -----------------------------------------------------------------

    def list_job_dependencies(self, workflow_id: int, **page: Any) -> Iterator[Record]:
        """Each blocked-by edge (``job_id``, ``depends_on_job_id``)."""
        return self.paged(f"/workflows/{workflow_id}/job_dependencies", **page)

    def list_job_file_relationships(self, workflow_id: int, **page: Any) -> Iterator[Record]:
        return self.paged(f"/workflows/{workflow_id}/job_file_relationships", **page)

    def list_job_user_data_relationships(self, workflow_id: int, **page: Any) -> Iterator[Record]:
        return self.paged(f"/workflows/{workflow_id}/job_user_data_relationships", **page)

    def list_producer_consumer_links(self, workflow_id: int) -> Iterator[Record]:
        """Job-file then job-user-data relationships (producer and consumer of each record)."""
        yield from self.list_job_file_relationships(workflow_id)
        yield from self.list_job_user_data_relationships(workflow_id)
