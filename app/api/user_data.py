"""User data: JSON values stored in the database and passed between jobs."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import ListUserDataArgs, UserDataLinkArgs, UserDataModel
from app.models import records
from app.models.db import write_transaction
from app.models.jobs import link_user_data
from app.models.records import USER_DATA
from app.models.tables import JobInputUserData, JobOutputUserData, UserData

blp = Blueprint("user_data", __name__, description="JSON data passed between jobs")


def _filters(args: dict[str, Any]) -> list[Any]:
    conditions = equal_filters(UserData, args, ("name", "is_ephemeral"))
    for key, link in (
        ("consumer_job_id", JobInputUserData),
        ("producer_job_id", JobOutputUserData),
    ):
        if args.get(key) is not None:
            linked = link.select(link.user_data_id).where(link.job_id == args[key])
            conditions.append(UserData.id.in_(linked))
    return conditions


@blp.route("/user_data", methods=["POST"], endpoint="create_user_data")
@blp.arguments(UserDataLinkArgs, location="query")
@blp.arguments(UserDataModel)
@blp.response(200, UserDataModel)
@blp.doc(operationId="create_user_data")
def create(link: dict[str, Any], body: dict[str, Any]) -> Response:
    with write_transaction():
        record_id = records.create_record(USER_DATA, body)
        link_user_data(
            record_id, body["workflow_id"], link.get("consumer_job_id"), link.get("producer_job_id")
        )
    return wire.json_response(wire.user_data(records.get_row(UserData, record_id, USER_DATA.label)))


register_crud(
    blp,
    Crud(
        USER_DATA,
        "/user_data",
        operation_ids("user_data", "user_data", delete_all="delete_all_user_data"),
        UserDataModel,
        ListUserDataArgs,
        _filters,
        wire.user_data,
    ),
    skip=("create",),
)
