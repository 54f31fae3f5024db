"""Where jobs run: compute nodes (one per runner), scheduled compute nodes (allocations asked
of a scheduler), the Slurm and local scheduler configurations, and remote workers (SSH)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cli.api.base import PAGE_SIZE, ClientBase, Record, segment


class ComputeEndpoints(ClientBase):
    # Compute nodes -----------------------------------------------------------------------

    def list_compute_nodes(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``hostname``, ``is_active``, ``scheduled_compute_node_id``; ``offset``,
        ``sort_by``, ``reverse_sort``."""
        return self.paged("/compute_nodes", limit=limit, workflow_id=workflow_id, **filters)

    def get_compute_node(self, node_id: int) -> Record:
        return self.get(f"/compute_nodes/{node_id}")

    def create_compute_node(self, record: Record) -> Record:
        return self.post("/compute_nodes", record)

    def update_compute_node(self, node_id: int, record: Record) -> Record:
        return self.put(f"/compute_nodes/{node_id}", record)

    def delete_compute_node(self, node_id: int) -> Record:
        return self.delete(f"/compute_nodes/{node_id}")

    def delete_compute_nodes(self, workflow_id: int) -> Record:
        return self.delete("/compute_nodes", workflow_id=workflow_id)

    def heartbeat(self, node_id: int) -> Record:
        """A runner's sign of life; the jobs of a runner that falls silent become orphans."""
        return self.post(f"/compute_nodes/{node_id}/heartbeat")

    def detect_orphans(self, workflow_id: int, lost_compute_node_ids: list[int]) -> Record:
        """Hand back the jobs of runners that are gone (silent, or ``lost_compute_node_ids``
        known dead); counts of the jobs failed and requeued."""
        return self.post(*self.detect_orphans_request(workflow_id, lost_compute_node_ids))

    def detect_orphans_request(
        self, workflow_id: int, lost_compute_node_ids: list[int]
    ) -> tuple[str, Record]:
        """``detect_orphans``'s path and body, for a helper that cannot use this client: the
        runner's watchdog (standard library only) sends it once the runner is gone."""
        return (
            f"/workflows/{workflow_id}/detect_orphans",
            {"lost_compute_node_ids": lost_compute_node_ids},
        )

    # Scheduled compute nodes -------------------------------------------------------------

    def list_scheduled_compute_nodes(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``scheduler_id``, ``scheduler_config_id``, ``status``; ``offset``,
        ``sort_by``, ``reverse_sort``."""
        return self.paged(
            "/scheduled_compute_nodes", limit=limit, workflow_id=workflow_id, **filters
        )

    def scheduled_compute_nodes_page(
        self, workflow_id: int, *, offset: int = 0, limit: int = PAGE_SIZE, **filters: Any
    ) -> Record:
        """One page with its envelope (``items``, ``total_count``...); see ``jobs_page``."""
        return self.get(
            "/scheduled_compute_nodes",
            workflow_id=workflow_id,
            offset=offset,
            limit=limit,
            **filters,
        )

    def get_scheduled_compute_node(self, node_id: int) -> Record:
        return self.get(f"/scheduled_compute_nodes/{node_id}")

    def create_scheduled_compute_node(self, record: Record) -> Record:
        return self.post("/scheduled_compute_nodes", record)

    def update_scheduled_compute_node(self, node_id: int, record: Record) -> Record:
        return self.put(f"/scheduled_compute_nodes/{node_id}", record)

    def delete_scheduled_compute_node(self, node_id: int) -> Record:
        return self.delete(f"/scheduled_compute_nodes/{node_id}")

    def delete_scheduled_compute_nodes(self, workflow_id: int) -> Record:
        return self.delete("/scheduled_compute_nodes", workflow_id=workflow_id)

    # Slurm schedulers --------------------------------------------------------------------

    def list_slurm_schedulers(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``name``, ``account``, ``gres``, ``mem``, ``nodes``, ``partition``,
        ``qos``, ``tmp``, ``walltime``; ``offset``, ``sort_by``, ``reverse_sort``."""
        return self.paged("/slurm_schedulers", limit=limit, workflow_id=workflow_id, **filters)

    def get_slurm_scheduler(self, scheduler_id: int) -> Record:
        return self.get(f"/slurm_schedulers/{scheduler_id}")

    def create_slurm_scheduler(self, record: Record) -> Record:
        return self.post("/slurm_schedulers", record)

    def update_slurm_scheduler(self, scheduler_id: int, record: Record) -> Record:
        return self.put(f"/slurm_schedulers/{scheduler_id}", record)

    def delete_slurm_scheduler(self, scheduler_id: int) -> Record:
        return self.delete(f"/slurm_schedulers/{scheduler_id}")

    def delete_slurm_schedulers(self, workflow_id: int) -> Record:
        return self.delete("/slurm_schedulers", workflow_id=workflow_id)

    # Local schedulers --------------------------------------------------------------------

    def list_local_schedulers(
        self, workflow_id: int, *, limit: int | None = None, **filters: Any
    ) -> Iterator[Record]:
        """Filters: ``memory``, ``num_cpus``; ``offset``, ``sort_by``, ``reverse_sort``."""
        return self.paged("/local_schedulers", limit=limit, workflow_id=workflow_id, **filters)

    def get_local_scheduler(self, scheduler_id: int) -> Record:
        return self.get(f"/local_schedulers/{scheduler_id}")

    def create_local_scheduler(self, record: Record) -> Record:
        return self.post("/local_schedulers", record)

    def update_local_scheduler(self, scheduler_id: int, record: Record) -> Record:
        return self.put(f"/local_schedulers/{scheduler_id}", record)

    def delete_local_scheduler(self, scheduler_id: int) -> Record:
        return self.delete(f"/local_schedulers/{scheduler_id}")

    def delete_local_schedulers(self, workflow_id: int) -> Record:
        return self.delete("/local_schedulers", workflow_id=workflow_id)

    # Remote workers (hosts a workflow's jobs may run on over SSH) ------------------------

    def list_remote_workers(self, workflow_id: int) -> list[Record]:
        return self.get(f"/workflows/{workflow_id}/remote_workers")

    def add_remote_workers(self, workflow_id: int, workers: list[str]) -> list[Record]:
        """Add ``[user@]host[:port]`` addresses (known ones are kept); every worker now."""
        return self.post(f"/workflows/{workflow_id}/remote_workers", workers)

    def delete_remote_worker(self, workflow_id: int, worker: str) -> Record:
        return self.delete(f"/workflows/{workflow_id}/remote_workers/{segment(worker)}")
