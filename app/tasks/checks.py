"""Periodic safety-net checks. The lifecycle does the real work; these only call it."""

from __future__ import annotations

import logging
import time

from app.models import lifecycle, orphans, purge, workflow_state
from app.tasks import COMPLETION_CHECK, ORPHAN_CHECK, PURGE, PURGE_BUDGET_SECONDS, huey, settings

logger = logging.getLogger(__name__)


@huey.periodic_task(COMPLETION_CHECK, retries=0)
def completion_check() -> None:
    """Release blocked jobs whose blockers are all done, and notice finished workflows."""
    deleted = purge.purging()  # their leftover rows are on their way out
    for workflow_id in workflow_state.workflows_needing_sweep():
        if workflow_id in deleted:
            continue
        released = lifecycle.sweep_workflow(workflow_id)
        if released:
            logger.warning(
                "completion check released %d job(s) in workflow %d", released, workflow_id
            )


@huey.periodic_task(ORPHAN_CHECK, retries=0)
def orphan_check() -> None:
    """Runners silent past the heartbeat timeout are gone: their jobs are orphans."""
    counts = orphans.handle_orphans(
        time.time(), settings.heartbeat_timeout_seconds, settings.started_at
    )
    if counts["compute_nodes"]:
        logger.warning(
            "orphan check: %d runner(s) lost; %d job(s) requeued, %d failed",
            counts["compute_nodes"],
            counts["requeued"],
            counts["failed"],
        )


@huey.periodic_task(PURGE, retries=0)
def purge_deleted_workflows() -> None:
    """Remove the rows of deleted workflows, in short transactions (see app.models.purge)."""
    removed = purge.purge(PURGE_BUDGET_SECONDS)
    if removed:
        logger.info("removed %d rows of deleted workflows", removed)
