"""What jobs declare beyond their command: resource requirements and failure handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cli.api.base import ClientBase, Record


class ResourceEndpoints(ClientBase):
    # Resource requirements ---------------------------------------------------------------

    def list_resource_requirements(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``job_id``, ``name``, ``memory``, ``num_cpus``, ``num_gpus``,
        ``num_nodes``, ``runtime``; ``offset``, ``sort_by``, ``reverse_sort``."""
        return self.paged("/resource_requirements", limit=limit, workflow_id=workflow_id, **filters)

    def get_resource_requirements(self, record_id: int) -> Record:
        return self.get(f"/resource_requirements/{record_id}")

    def create_resource_requirements(self, record: Record) -> Record:
        return self.post("/resource_requirements", record)

    def update_resource_requirements(self, record_id: int, record: Record) -> Record:
        return self.put(f"/resource_requirements/{record_id}", record)

    def delete_resource_requirements(self, record_id: int) -> Record:
        return self.delete(f"/resource_requirements/{record_id}")

    def delete_all_resource_requirements(self, workflow_id: int) -> Record:
        return self.delete("/resource_requirements", workflow_id=workflow_id)

    # Failure handlers --------------------------------------------------------------------

    def list_failure_handlers(
        self, workflow_id: int, *, limit: int | None = None, offset: int = 0
    ) -> Iterator[Record]:
        return self.paged(f"/workflows/{workflow_id}/failure_handlers", limit=limit, offset=offset)

    def get_failure_handler(self, handler_id: int) -> Record:
        return self.get(f"/failure_handlers/{handler_id}")

    def create_failure_handler(self, record: Record) -> Record:
        return self.post("/failure_handlers", record)

    def delete_failure_handler(self, handler_id: int) -> Record:
        return self.delete(f"/failure_handlers/{handler_id}")
