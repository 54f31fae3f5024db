"""Access groups: teams of users that workflows can be shared with."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint, listed, page_of
from app.api.schemas import (
    AccessCheckResponse,
    AccessGroupModel,
    OffsetLimitArgs,
    UserGroupMembershipModel,
    WorkflowAccessGroupModel,
    list_response,
)
from app.errors import InvalidInput
from app.models import access, records
from app.models.common import get_workflow
from app.models.tables import AccessGroup, UserGroupMembership

blp = Blueprint("access_groups", __name__, description="Teams and workflow sharing")

GroupList = list_response(AccessGroupModel, "ListAccessGroupsResponse")


def _group(group_id: int) -> Response:
    row = records.get_row(AccessGroup, group_id, "Access group")
    return wire.json_response(wire.access_group(row))


def _groups(condition: Any, args: dict[str, Any]) -> Response:
    page = page_of(args)
    rows, total = records.list_page(AccessGroup, [condition] if condition else [], page)
    return listed(rows, wire.access_group, page, total)


@blp.route("/access_groups", methods=["POST"], endpoint="create_access_group")
@blp.arguments(AccessGroupModel)
@blp.response(200, AccessGroupModel)
@blp.doc(operationId="create_access_group")
def create_group(body: dict[str, Any]) -> Response:
    return _group(access.create_group(body["name"], body.get("description")))


@blp.route("/access_groups", methods=["GET"], endpoint="list_access_groups")
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, GroupList)
@blp.doc(operationId="list_access_groups")
def list_groups(args: dict[str, Any]) -> Response:
    return _groups(None, args)


@blp.route("/access_groups/<int:group_id>", methods=["GET"], endpoint="get_access_group")
@blp.response(200, AccessGroupModel)
@blp.doc(operationId="get_access_group")
def get_group(group_id: int) -> Response:
    return _group(group_id)


@blp.route("/access_groups/<int:group_id>", methods=["DELETE"], endpoint="delete_access_group")
@blp.response(200, AccessGroupModel)
@blp.doc(operationId="delete_access_group")
def delete_group(group_id: int) -> Response:
    return wire.json_response(wire.access_group(access.delete_group(group_id)))


@blp.route("/access_groups/<int:group_id>/members", methods=["POST"], endpoint="add_user_to_group")
@blp.arguments(UserGroupMembershipModel)
@blp.response(200, UserGroupMembershipModel)
@blp.doc(operationId="add_user_to_group")
def add_member(body: dict[str, Any], group_id: int) -> Response:
    if body.get("group_id") not in (None, group_id):
        raise InvalidInput(f"body group_id {body['group_id']} does not match path {group_id}")
    membership_id = access.add_member(group_id, body["user_name"], body.get("role") or "member")
    row = records.get_row(UserGroupMembership, membership_id, "Membership")
    return wire.json_response(row)


@blp.route("/access_groups/<int:group_id>/members", methods=["GET"], endpoint="list_group_members")
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, list_response(UserGroupMembershipModel, "ListUserGroupMembershipsResponse"))
@blp.doc(operationId="list_group_members")
def list_members(args: dict[str, Any], group_id: int) -> Response:
    access.get_group(group_id)
    page = page_of(args)
    rows, total = records.list_page(
        UserGroupMembership, [UserGroupMembership.group_id == group_id], page
    )
    return listed(rows, wire.plain, page, total)


@blp.route(
    "/access_groups/<int:group_id>/members/<user_name>",
    methods=["DELETE"],
    endpoint="remove_user_from_group",
)
@blp.response(200)
@blp.doc(operationId="remove_user_from_group")
def remove_member(group_id: int, user_name: str) -> Response:
    access.remove_member(group_id, user_name)
    return wire.json_response({"message": f"Removed {user_name} from group {group_id}"})


@blp.route("/users/<user_name>/groups", methods=["GET"], endpoint="list_user_groups")
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, GroupList)
@blp.doc(operationId="list_user_groups")
def user_groups(args: dict[str, Any], user_name: str) -> Response:
    return _groups(access.groups_of_user(user_name), args)


@blp.route(
    "/workflows/<int:workflow_id>/access_groups",
    methods=["POST"],
    endpoint="add_workflow_to_group",
)
@blp.arguments(WorkflowAccessGroupModel)
@blp.response(200, WorkflowAccessGroupModel)
@blp.doc(operationId="add_workflow_to_group")
def add_workflow(body: dict[str, Any], workflow_id: int) -> Response:
    if body["workflow_id"] != workflow_id:
        raise InvalidInput(f"body workflow_id {body['workflow_id']} does not match {workflow_id}")
    return wire.json_response(access.add_workflow(workflow_id, body["group_id"]))


@blp.route(
    "/workflows/<int:workflow_id>/access_groups",
    methods=["GET"],
    endpoint="list_workflow_groups",
)
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, GroupList)
@blp.doc(operationId="list_workflow_groups")
def workflow_groups(args: dict[str, Any], workflow_id: int) -> Response:
    get_workflow(workflow_id)
    return _groups(access.groups_of_workflow(workflow_id), args)


@blp.route(
    "/workflows/<int:workflow_id>/access_groups/<int:group_id>",
    methods=["DELETE"],
    endpoint="remove_workflow_from_group",
)
@blp.response(200)
@blp.doc(operationId="remove_workflow_from_group")
def remove_workflow(workflow_id: int, group_id: int) -> Response:
    access.remove_workflow(workflow_id, group_id)
    return wire.json_response({"message": f"Removed workflow {workflow_id} from group {group_id}"})


@blp.route(
    "/access_check/<int:workflow_id>/<user_name>", methods=["GET"], endpoint="check_workflow_access"
)
@blp.response(200, AccessCheckResponse)
@blp.doc(operationId="check_workflow_access")
def check_access(workflow_id: int, user_name: str) -> Response:
    allowed = access.has_access(workflow_id, user_name)
    return wire.json_response(
        {"has_access": allowed, "user_name": user_name, "workflow_id": workflow_id}
    )
