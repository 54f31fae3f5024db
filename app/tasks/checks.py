"""Periodic safety-net checks. The lifecycle does the real work; these only call it."""

from __future__ import annotations

import logging
import time

from app.models import lifecycle, orphans, workflow_state
from app.tasks import COMPLETION_CHECK, ORPHAN_CHECK, huey, settings

logger = logging.getLogger(__name__)


@huey.periodic_task(COMPLETION_CHECK, retries=0)
def completion_check() -> None:
    """Release blocked jobs whose blockers are all done, and notice finished workflows."""
    for workflow_id in workflow_state.workflows_needing_sweep():
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
