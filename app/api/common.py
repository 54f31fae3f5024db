"""Shared pieces of the blueprints: paging, and the CRUD routes most record kinds share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema

from app.api import wire
from app.api.schemas import WorkflowIdArgs, list_response
from app.models import records
from app.models.records import Kind, Page

Filters = Callable[[dict[str, Any]], list[Any]]


def page_of(args: dict[str, Any]) -> Page:
    return Page(
        offset=args.get("offset", 0),
        limit=args.get("limit", records.MAX_LIMIT),
        sort_by=args.get("sort_by"),
        reverse_sort=bool(args.get("reverse_sort")),
    )


def listed(
    rows: list[dict[str, Any]], convert: Callable[[dict], dict], page: Page, total: int
) -> Response:
    return wire.json_response(wire.list_envelope([convert(row) for row in rows], page, total))


def equal_filters(model: type, args: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    """``column == value`` for each named query argument that was given."""
    return [getattr(model, name) == args[name] for name in names if args.get(name) is not None]


@dataclass(frozen=True)
class Crud:
    """The standard routes of one record kind (create, list, get, update, delete, delete all)."""

    kind: Kind
    path: str  # e.g. "/files"
    operation_ids: dict[str, str]  # create, list, delete_all, get, update, delete
    model_schema: type[Schema]
    list_args: type[Schema]
    filters: Filters
    convert: Callable[[dict], dict]


def operation_ids(singular: str, plural: str, **overrides: str) -> dict[str, str]:
    """Upstream's operationIds for the standard routes, e.g. ``create_file``/``list_files``."""
    names = {
        "create": f"create_{singular}",
        "list": f"list_{plural}",
        "delete_all": f"delete_{plural}",
        "get": f"get_{singular}",
        "update": f"update_{singular}",
        "delete": f"delete_{singular}",
    }
    return {**names, **overrides}


def register_crud(
    blp: Blueprint,
    crud: Crud,
    *,
    update: Callable[[int, dict], None] | None = None,
    skip: tuple[str, ...] = (),
) -> None:
    """Add the standard routes to ``blp``.

    ``update`` replaces the default update; routes named in ``skip`` (by their key in
    ``operation_ids``) are left for the blueprint to define itself.
    """
    model = crud.kind.model
    ops = crud.operation_ids
    update_record = update or (
        lambda record_id, body: records.update_record(crud.kind, record_id, body)
    )
    list_schema = list_response(crud.model_schema, f"List{crud.model_schema.__name__}Response")

    def get_one(record_id: int) -> Response:
        return wire.json_response(crud.convert(records.get_row(model, record_id, crud.kind.label)))

    if "create" not in skip:

        @blp.route(crud.path, methods=["POST"], endpoint=ops["create"])
        @blp.arguments(crud.model_schema)
        @blp.response(200, crud.model_schema)
        @blp.doc(operationId=ops["create"])
        def create(body: dict[str, Any]) -> Response:
            return get_one(records.create_record(crud.kind, body))

    if "list" not in skip:

        @blp.route(crud.path, methods=["GET"], endpoint=ops["list"])
        @blp.arguments(crud.list_args, location="query")
        @blp.response(200, list_schema)
        @blp.doc(operationId=ops["list"])
        def list_all(args: dict[str, Any]) -> Response:
            page = page_of(args)
            conditions = [model.workflow_id == args["workflow_id"], *crud.filters(args)]
            rows, total = records.list_page(model, conditions, page)
            return listed(rows, crud.convert, page, total)

    if "delete_all" not in skip:

        @blp.route(crud.path, methods=["DELETE"], endpoint=ops["delete_all"])
        @blp.arguments(WorkflowIdArgs, location="query")
        @blp.response(200)
        @blp.doc(operationId=ops["delete_all"])
        def delete_all(args: dict[str, Any]) -> Response:
            count = records.delete_workflow_records(crud.kind, args["workflow_id"])
            return wire.json_response({"count": count})

    if "get" not in skip:

        @blp.route(f"{crud.path}/<int:record_id>", methods=["GET"], endpoint=ops["get"])
        @blp.response(200, crud.model_schema)
        @blp.doc(operationId=ops["get"])
        def get(record_id: int) -> Response:
            return get_one(record_id)

    if "update" not in skip:

        @blp.route(f"{crud.path}/<int:record_id>", methods=["PUT"], endpoint=ops["update"])
        @blp.arguments(crud.model_schema)
        @blp.response(200, crud.model_schema)
        @blp.doc(operationId=ops["update"])
        def put(body: dict[str, Any], record_id: int) -> Response:
            update_record(record_id, body)
            return get_one(record_id)

    if "delete" not in skip:

        @blp.route(f"{crud.path}/<int:record_id>", methods=["DELETE"], endpoint=ops["delete"])
        @blp.response(200, crud.model_schema)
        @blp.doc(operationId=ops["delete"])
        def delete(record_id: int) -> Response:
            return wire.json_response(crud.convert(records.delete_record(crud.kind, record_id)))
