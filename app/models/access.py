"""Access groups, memberships, workflow sharing, and the facts access decisions need.

Who may do what is decided in ``app.api.access_guard``; this module answers its questions
(who owns a workflow, who is a system or group admin, can this user reach that workflow) and
keeps the system ``admin`` group in step with the server's configured admin users.

``VIEWER`` names whose request is being served when access control is enforced: lists of
workflow records (``records.list_page``) then return, and count, only what that user may see
(D22, docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import peewee

from app.errors import Conflict, Forbidden, NotFound, not_found
from app.models import sql
from app.models.common import get_workflow
from app.models.db import write_transaction
from app.models.tables import (
    AccessGroup,
    BaseModel,
    UserGroupMembership,
    Workflow,
    WorkflowAccessGroup,
)
from app.shared.units import utc_now_text

ADMIN_GROUP = "admin"
ADMIN_GROUP_DESCRIPTION = "System administrators"
# The system group takes ID 0, so the groups users create are numbered from 1.
ADMIN_GROUP_ID = 0
SYSTEM_GROUP_MEMBERS = "Admin group membership is managed via server configuration"


@dataclass(frozen=True)
class Viewer:
    """The user a request is served for, when what they see must be limited."""

    name: str
    is_admin: bool = False


VIEWER: ContextVar[Viewer | None] = ContextVar("torc_viewer", default=None)


def get_group(group_id: int) -> AccessGroup:
    group = AccessGroup.get_or_none(AccessGroup.id == group_id)
    if group is None:
        raise not_found("Access group", group_id)
    return group


def create_group(name: str, description: str | None, is_system: bool = False) -> int:
    with write_transaction():
        try:
            return AccessGroup.insert(
                name=name, description=description, created_at=utc_now_text(), is_system=is_system
            ).execute()
        except peewee.IntegrityError:
            raise Conflict(f"An access group named {name!r} already exists") from None


def delete_group(group_id: int) -> dict[str, Any]:
    with write_transaction():
        group = get_group(group_id)
        if group.is_system:
            raise Forbidden(f"The system group {group.name!r} cannot be deleted")
        row = AccessGroup.select().where(AccessGroup.id == group_id).dicts().get()
        AccessGroup.delete().where(AccessGroup.id == group_id).execute()
        return row


def add_member(group_id: int, user_name: str, role: str = "member") -> int:
    with write_transaction():
        _require_editable(get_group(group_id))
        try:
            return UserGroupMembership.insert(
                user_name=user_name, group_id=group_id, role=role, created_at=utc_now_text()
            ).execute()
        except peewee.IntegrityError:
            raise Conflict(f"User {user_name!r} is already a member of group {group_id}") from None


def remove_member(group_id: int, user_name: str) -> None:
    with write_transaction():
        _require_editable(get_group(group_id))
        removed = (
            UserGroupMembership.delete()
            .where(
                UserGroupMembership.group_id == group_id,
                UserGroupMembership.user_name == user_name,
            )
            .execute()
        )
        if not removed:
            raise NotFound(f"User {user_name!r} is not a member of group {group_id}")


def add_workflow(workflow_id: int, group_id: int) -> dict[str, Any]:
    with write_transaction():
        get_workflow(workflow_id)
        get_group(group_id)
        row = {"workflow_id": workflow_id, "group_id": group_id, "created_at": utc_now_text()}
        try:
            WorkflowAccessGroup.insert(**row).execute()
        except peewee.IntegrityError:
            raise Conflict(f"Workflow {workflow_id} is already in group {group_id}") from None
        return row


def remove_workflow(workflow_id: int, group_id: int) -> None:
    with write_transaction():
        removed = (
            WorkflowAccessGroup.delete()
            .where(
                WorkflowAccessGroup.workflow_id == workflow_id,
                WorkflowAccessGroup.group_id == group_id,
            )
            .execute()
        )
        if not removed:
            raise NotFound(f"Workflow {workflow_id} is not in group {group_id}")


def groups_of_user(user_name: str) -> peewee.Query:
    member_of = UserGroupMembership.select(UserGroupMembership.group_id).where(
        UserGroupMembership.user_name == user_name
    )
    return AccessGroup.id.in_(member_of)


def groups_of_workflow(workflow_id: int) -> peewee.Expression:
    linked = WorkflowAccessGroup.select(WorkflowAccessGroup.group_id).where(
        WorkflowAccessGroup.workflow_id == workflow_id
    )
    return AccessGroup.id.in_(linked)


def _require_editable(group: AccessGroup) -> None:
    if group.is_system:
        raise Forbidden(SYSTEM_GROUP_MEMBERS)


def has_access(workflow_id: int, user_name: str) -> bool:
    """The owner, a member of any group the workflow is shared with, or a system admin."""
    reachable = can_reach(user_name, workflow_id)
    if reachable is None:
        raise not_found("Workflow", workflow_id)
    return reachable


# Facts for access decisions ---------------------------------------------------------------

_ADMIN_SQL = (
    "SELECT 1 FROM user_group_membership m JOIN access_group g ON g.id = m.group_id "
    "WHERE g.is_system AND m.user_name = ?"
)
_REACH_SQL = (
    "SELECT w.user = ? OR EXISTS (SELECT 1 FROM workflow_access_group s "
    "JOIN user_group_membership m ON m.group_id = s.group_id "
    "WHERE s.workflow_id = w.id AND m.user_name = ?) "
    f"OR EXISTS ({_ADMIN_SQL}) FROM workflow w WHERE w.id = ?"
)


def can_reach(user_name: str, workflow_id: int) -> bool | None:
    """Whether the user owns, shares or administers the workflow (None: no such workflow)."""
    rows = sql.fetch(_REACH_SQL, [user_name, user_name, user_name, workflow_id])
    return bool(rows[0][0]) if rows else None


def is_system_admin(user_name: str) -> bool:
    return bool(sql.fetch(_ADMIN_SQL, [user_name]))


def is_group_admin(user_name: str, group_id: int) -> bool:
    return bool(
        sql.fetch(
            "SELECT 1 FROM user_group_membership WHERE group_id = ? AND user_name = ? "
            "AND role = 'admin'",
            [group_id, user_name],
        )
    )


def owner_of(workflow_id: int) -> str | None:
    rows = sql.fetch("SELECT user FROM workflow WHERE id = ?", [workflow_id])
    return rows[0][0] if rows else None


def workflow_of(model: type[BaseModel], record_id: int) -> int | None:
    """The workflow a record belongs to (None when there is no such record)."""
    table = model._meta.table_name
    rows = sql.fetch(f"SELECT workflow_id FROM {table} WHERE id = ?", [record_id])
    return rows[0][0] if rows else None


def visible_condition(model: type[BaseModel]) -> peewee.Expression | None:
    """What the current ``VIEWER`` may list of ``model`` (None: everything)."""
    viewer = VIEWER.get()
    if viewer is None or viewer.is_admin:
        return None
    shared = (
        WorkflowAccessGroup.select(WorkflowAccessGroup.workflow_id)
        .join(
            UserGroupMembership,
            on=(UserGroupMembership.group_id == WorkflowAccessGroup.group_id),
        )
        .where(UserGroupMembership.user_name == viewer.name)
    )
    reachable = (Workflow.user == viewer.name) | Workflow.id.in_(shared)
    if model is Workflow:
        return reachable
    if "workflow_id" in model._meta.fields:
        return model.workflow_id.in_(Workflow.select(Workflow.id).where(reachable))
    return None


# The system admin group -------------------------------------------------------------------


def sync_admin_group(admin_users: Iterable[str]) -> None:
    """Create the system ``admin`` group if needed and make its members exactly
    ``admin_users`` (role admin): configuration is the only way in or out of it."""
    wanted = list(dict.fromkeys(admin_users))
    now = utc_now_text()
    with write_transaction():
        group = AccessGroup.get_or_none(AccessGroup.is_system == True)  # noqa: E712
        if group is None:
            taken = AccessGroup.get_or_none(AccessGroup.id == ADMIN_GROUP_ID) is not None
            AccessGroup.insert(
                **({} if taken else {"id": ADMIN_GROUP_ID}),
                name=_free_admin_group_name(),
                description=ADMIN_GROUP_DESCRIPTION,
                created_at=now,
                is_system=True,
            ).execute()
            group = AccessGroup.get(AccessGroup.is_system == True)  # noqa: E712
        members = UserGroupMembership.group_id == group.id
        UserGroupMembership.delete().where(
            members, UserGroupMembership.user_name.not_in(wanted)
        ).execute()
        UserGroupMembership.update(role="admin").where(members).execute()
        present = {row.user_name for row in UserGroupMembership.select().where(members)}
        for user in wanted:
            if user not in present:
                UserGroupMembership.insert(
                    user_name=user, group_id=group.id, role="admin", created_at=now
                ).execute()


def _free_admin_group_name() -> str:
    """``admin``, unless a user group took that name before the system group existed."""
    name = ADMIN_GROUP
    while AccessGroup.get_or_none(AccessGroup.name == name) is not None:
        name = f"{name}_"
    return name
