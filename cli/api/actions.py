"""Workflow actions: commands to run or allocations to request when a trigger fires."""

from __future__ import annotations

from cli.api.base import ClientBase, Record


class ActionEndpoints(ClientBase):
    def list_actions(self, workflow_id: int) -> list[Record]:
        return self.get(f"/workflows/{workflow_id}/actions")

    def create_action(self, workflow_id: int, record: Record) -> Record:
        body = {**record, "workflow_id": workflow_id}
        return self.post(f"/workflows/{workflow_id}/actions", body)

    def pending_actions(self, workflow_id: int, trigger_type: str | None = None) -> list[Record]:
        """Actions whose trigger fired and that no runner has claimed yet."""
        return self.get(f"/workflows/{workflow_id}/actions/pending", trigger_type=trigger_type)

    def claim_action(self, workflow_id: int, action_id: int, compute_node_id: int | None) -> Record:
        """Take an action for this runner; ``Conflict`` when another runner has it."""
        return self.post(
            f"/workflows/{workflow_id}/actions/{action_id}/claim",
            {"compute_node_id": compute_node_id},
        )
