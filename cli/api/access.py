"""Access groups: which users may see and change which workflows."""

from __future__ import annotations

from collections.abc import Iterator

from cli.api.base import ClientBase, Record, segment


class AccessEndpoints(ClientBase):
    def list_access_groups(self, *, limit: int | None = None, offset: int = 0) -> Iterator[Record]:
        return self.paged("/access_groups", limit=limit, offset=offset)

    def get_access_group(self, group_id: int) -> Record:
        return self.get(f"/access_groups/{group_id}")

    def create_access_group(self, record: Record) -> Record:
        """``{"name", "description"}``."""
        return self.post("/access_groups", record)

    def delete_access_group(self, group_id: int) -> Record:
        return self.delete(f"/access_groups/{group_id}")

    def list_group_members(
        self, group_id: int, *, limit: int | None = None, offset: int = 0
    ) -> Iterator[Record]:
        return self.paged(f"/access_groups/{group_id}/members", limit=limit, offset=offset)

    def add_user_to_group(self, group_id: int, user_name: str, role: str | None = None) -> Record:
        body: Record = {"user_name": user_name, "group_id": group_id}
        if role is not None:
            body["role"] = role
        return self.post(f"/access_groups/{group_id}/members", body)

    def remove_user_from_group(self, group_id: int, user_name: str) -> Record:
        return self.delete(f"/access_groups/{group_id}/members/{segment(user_name)}")

    def list_user_groups(
        self, user_name: str, *, limit: int | None = None, offset: int = 0
    ) -> Iterator[Record]:
        return self.paged(f"/users/{segment(user_name)}/groups", limit=limit, offset=offset)

    def list_workflow_groups(
        self, workflow_id: int, *, limit: int | None = None, offset: int = 0
    ) -> Iterator[Record]:
        return self.paged(f"/workflows/{workflow_id}/access_groups", limit=limit, offset=offset)

    def add_workflow_to_group(self, workflow_id: int, group_id: int) -> Record:
        body = {"workflow_id": workflow_id, "group_id": group_id}
        return self.post(f"/workflows/{workflow_id}/access_groups", body)

    def remove_workflow_from_group(self, workflow_id: int, group_id: int) -> Record:
        return self.delete(f"/workflows/{workflow_id}/access_groups/{group_id}")

    def check_workflow_access(self, workflow_id: int, user_name: str) -> Record:
        """``{"has_access", "user_name", "workflow_id"}``."""
        return self.get(f"/access_check/{workflow_id}/{segment(user_name)}")
