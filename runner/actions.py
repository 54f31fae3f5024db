"""Workflow actions a runner executes: ``run_commands`` for every trigger.

Non-persistent actions are claimed once for the whole workflow; persistent ones once by each
runner. Commands run one after another with ``bash -c`` in the output directory; the first
failing command ends the action (it is logged, never retried).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterable
from pathlib import Path

from cli.client import Conflict, TorcClient
from runner.launchers.local import BASH

logger = logging.getLogger("torc.runner")

RUNNABLE = {"run_commands"}


class ActionRunner:
    def __init__(self, client: TorcClient, workflow_id: int, output_dir: Path) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.output_dir = output_dir
        self.compute_node_id: int | None = None
        self.done: set[int] = set()  # actions this runner has executed

    def run_pending(self, trigger_types: Iterable[str], pending: list[dict] | None = None) -> int:
        """Claim and run claimable actions of these triggers; return how many ran."""
        wanted = set(trigger_types)
        if pending is None:
            pending = self.client.pending_actions(self.workflow_id)
        ran = 0
        for action in pending:
            if action["trigger_type"] in wanted and self._claim(action):
                self._execute(action)
                ran += 1
        return ran

    def _claim(self, action: dict) -> bool:
        if action["id"] in self.done or action["action_type"] not in RUNNABLE:
            return False
        try:
            self.client.claim_action(self.workflow_id, action["id"], self.compute_node_id)
        except Conflict:
            return False  # another runner took it
        self.done.add(action["id"])
        return True

    def _execute(self, action: dict) -> None:
        commands = (action.get("action_config") or {}).get("commands") or []
        logger.info(
            "Running action %s (%s) with %d command(s)",
            action["id"],
            action["trigger_type"],
            len(commands),
        )
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for command in commands:
            completed = subprocess.run(
                [BASH, "-c", command],
                cwd=self.output_dir,
                capture_output=True,
                text=True,
                check=False,
            )
            for stream, text in (("stdout", completed.stdout), ("stderr", completed.stderr)):
                if text.strip():
                    logger.info("action %s %s: %s", action["id"], stream, text.rstrip())
            if completed.returncode != 0:
                logger.error(
                    "Action %s command failed with return code %d: %s",
                    action["id"],
                    completed.returncode,
                    command,
                )
                return
