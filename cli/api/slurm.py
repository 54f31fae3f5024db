"""Slurm extensions: closing the allocations Slurm has ended, regenerating schedulers."""

from __future__ import annotations

from cli.api.base import ClientBase, Record


class SlurmEndpoints(ClientBase):
    def sync_slurm_allocations(
        self, workflow_id: int, allocations: list[Record], dry_run: bool = False
    ) -> Record:
        """Close the allocations squeue no longer lists (``allocations``: what squeue says
        about each open one); their running jobs fail (see app.models.slurm)."""
        return self.post(
            f"/workflows/{workflow_id}/slurm/sync_status",
            {"allocations": allocations, "dry_run": dry_run},
        )

    def regenerate_slurm_schedulers(self, workflow_id: int, request: Record) -> Record:
        """New schedulers for the jobs still to run (``background``: 202 and a request id)."""
        return self.post(f"/workflows/{workflow_id}/slurm/regenerate", request)

    def slurm_regeneration(self, workflow_id: int, request_id: str) -> Record:
        """A background regeneration's state and, once done, its result."""
        return self.get(f"/workflows/{workflow_id}/slurm/regenerate/{request_id}")
