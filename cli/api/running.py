"""What a job runner calls: claiming jobs, reporting their status, the one-request round trip.

``runner_cycle`` is the server extension a runner normally uses (its reports and its next
jobs in one request); the single-purpose endpoints (``claim_next_jobs``, ``start_job``,
``complete_job``...) are upstream's and stay for other clients.
"""

from __future__ import annotations

from cli.api.base import ClientBase, Record


class RunnerEndpoints(ClientBase):
    def runner_cycle(self, workflow_id: int, run_id: int, request: Record) -> Record:
        """One round trip of a runner: finished jobs, started jobs and its offer in; what the
        server accepted and the jobs it claimed for this runner out."""
        return self.post(f"/workflows/{workflow_id}/runner_cycle/{run_id}", request)

    def claim_next_jobs(self, workflow_id: int, limit: int | None = None) -> list[Record]:
        """Up to ``limit`` ready jobs, now ``pending`` for the caller, whatever they need."""
        return self.post(f"/workflows/{workflow_id}/claim_next_jobs", limit=limit)["jobs"]

    def claim_jobs_based_on_resources(
        self,
        workflow_id: int,
        limit: int,
        resources: Record,
        *,
        sort_method: str | None = None,
        strict_scheduler_match: bool | None = None,
    ) -> Record:
        """Ready jobs that fit ``resources`` (a compute node's offer); ``{"jobs", "reason"}``."""
        return self.post(
            f"/workflows/{workflow_id}/claim_jobs_based_on_resources/{limit}",
            resources,
            sort_method=sort_method,
            strict_scheduler_match=strict_scheduler_match,
        )

    def ready_job_requirements(
        self, workflow_id: int, scheduler_config_id: int | None = None
    ) -> Record:
        """What the ready jobs need in total (to size an allocation)."""
        return self.get(
            f"/workflows/{workflow_id}/ready_job_requirements",
            scheduler_config_id=scheduler_config_id,
        )

    def start_job(self, job_id: int, run_id: int, compute_node_id: int) -> Record:
        return self.put(f"/jobs/{job_id}/start_job/{run_id}/{compute_node_id}")

    def complete_job(self, job_id: int, status: str, run_id: int, result: Record) -> Record:
        """Report a finished job (``status`` a terminal status name) with its result."""
        return self.post(f"/jobs/{job_id}/complete_job/{status}/{run_id}", result)

    def manage_status_change(self, job_id: int, status: str, run_id: int) -> Record:
        """Move a job to ``status`` as upstream's rules allow (e.g. a claimed job back to
        ``ready``, a finished one to ``uninitialized`` for a rerun)."""
        return self.put(f"/jobs/{job_id}/manage_status_change/{status}/{run_id}")

    def retry_job(
        self, job_id: int, run_id: int, max_retries: int, failed: Record | None = None
    ) -> Record:
        """Reserve another attempt (at most ``max_retries``); ``failed``, if given, is
        recorded as the failed attempt's result."""
        return self.post(f"/jobs/{job_id}/retry/{run_id}", failed, max_retries=max_retries)
