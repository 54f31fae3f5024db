"""Access groups, memberships, workflow sharing, and the access check."""

from __future__ import annotations

from typing import Any

import peewee

from app.errors import Conflict, Forbidden, NotFound, not_found
from app.models.common import get_workflow
from app.models.db import write_transaction
from app.models.tables import AccessGroup, UserGroupMembership, Workflow, WorkflowAccessGroup
from app.shared.units import utc_now_text

ADMIN_GROUP = "admin"


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
        get_group(group_id)
        try:
            return UserGroupMembership.insert(
                user_name=user_name, group_id=group_id, role=role, created_at=utc_now_text()
            ).execute()
        except peewee.IntegrityError:
            raise Conflict(f"User {user_name!r} is already a member of group {group_id}") from None


def remove_member(group_id: int, user_name: str) -> None:
    with write_transaction():
        get_group(group_id)
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


def has_access(workflow_id: int, user_name: str) -> bool:
    """The owner, or a member of any group the workflow is shared with."""
    workflow: Workflow = get_workflow(workflow_id)
    if workflow.user == user_name:
        return True
    shared = (
        WorkflowAccessGroup.select()
        .join(
            UserGroupMembership,
            on=(UserGroupMembership.group_id == WorkflowAccessGroup.group_id),
        )
        .where(
            WorkflowAccessGroup.workflow_id == workflow_id,
            UserGroupMembership.user_name == user_name,
        )
    )
    return shared.exists()
