"""Starting a workflow that has never run (or was reset): check and initialize as one step.

``torc run ID`` and ``torc workflows run ID`` initialize a workflow whose jobs are all still
uninitialized. Done by the client as "ask, then initialize", several runners started together
each saw "uninitialized" and each initialized it (one ``workflow_started`` per runner, and
runners whose run_id had meanwhile been bumped by another failed). Here the question and the
answer share one write transaction, so exactly one caller initializes.
"""

from __future__ import annotations

from typing import Any

from app.models import lifecycle, workflow_state
from app.models.common import get_workflow
from app.models.db import write_transaction


def initialize_if_new(workflow_id: int) -> dict[str, Any]:
    """Initialize the workflow if every job is uninitialized (or disabled); else do nothing.

    A workflow that ran before (run_id > 0) and was reset starts the next run. Returns the
    initialization counts plus ``initialized``: whether this call did it.
    """
    with write_transaction():
        workflow = get_workflow(workflow_id)
        if not workflow_state.is_uninitialized(workflow_id):
            return {"initialized": False}
        if workflow.run_id > 0:
            lifecycle.update_workflow_status(
                workflow_id, {"run_id": workflow.run_id + 1, "is_canceled": False}
            )
        return {"initialized": True, **lifecycle.initialize_jobs(workflow_id)}
