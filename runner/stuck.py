"""When an idle runner should stop waiting: nothing it could run can appear any more."""

from __future__ import annotations

import logging
from typing import Any

from cli.client import TorcClient
from runner.requirements import Requirements
from runner.resources import Ledger

logger = logging.getLogger("torc.runner")


class StuckCheck:
    def __init__(
        self, client: TorcClient, workflow_id: int, ledger: Ledger, requirements: Requirements
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.ledger = ledger
        self.requirements = requirements
        self._warned_unfit = False

    def reason(self) -> str | None:
        """Why waiting is pointless, when it is: every ready job needs more than this runner
        has, or only jobs awaiting classification (pending_failed) remain — with no job
        pending or running anywhere that could change that. Asked only when idle."""
        counts = self.client.job_status_counts(self.workflow_id)
        busy = counts.get("pending", 0) + counts.get("running", 0)
        if counts.get("ready", 0):
            ready = list(self.client.list_jobs(self.workflow_id, status="ready"))
            unfit = [
                job for job in ready if not self.ledger.could_ever_fit(self.requirements.need(job))
            ]
            if not unfit or len(unfit) < len(ready):
                return None  # something here could run; the claim will get to it
            message = self._unfit_message(unfit)
            if not busy:
                return message
            if not self._warned_unfit:  # others may still release work that fits
                self._warned_unfit = True
                logger.warning("%s", message)
            return None
        waiting = counts.get("pending_failed", 0)
        if waiting and not busy:
            return (
                f"{waiting} job(s) await classification (pending_failed); nothing else can run "
                "until they are retried or marked failed"
            )
        return None

    def _unfit_message(self, jobs: list[dict[str, Any]]) -> str:
        names = ", ".join(job["name"] for job in jobs[:5]) + (", …" if len(jobs) > 5 else "")
        capacity = self.ledger.capacity
        gpus = f", {capacity.num_gpus} GPUs" if capacity.num_gpus else ""
        return (
            f"{len(jobs)} ready job(s) need more than this runner has "
            f"({capacity.num_cpus} CPUs, {capacity.memory_gb:.1f} GB{gpus}): {names} "
            "(a larger machine, or --num-cpus/--memory-gb/--num-gpus, can run them)"
        )

    def elsewhere(self) -> str | None:
        """When an idle runner gives up while other runners hold jobs: what to know."""
        counts = self.client.job_status_counts(self.workflow_id)
        held = counts.get("pending", 0) + counts.get("running", 0)
        if not held:
            return None
        return (
            f"{held} job(s) are still claimed or running on other runners; if a runner is "
            "gone, the server's orphan check hands its jobs back after its heartbeat timeout "
            f"(or run `torc recover {self.workflow_id}`)"
        )
