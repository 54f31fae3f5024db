"""Shared pieces of the blueprints: request parsing, paging, and the standard CRUD routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask
import flask_smorest
import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter, Map

from app.api import wire
from app.api.guards import check_json
from app.api.schemas import WorkflowIdArgs, list_response
from app.errors import BadRequest, InvalidInput, NotFound
from app.models import records
from app.models.records import Kind, Page
from app.shared.units import MAX_INTEGER


class JsonBodyParser(FlaskParser):
    """Request bodies are read by orjson, as responses are written.

    Stricter than the standard library where strictness is right: a lone UTF-16 surrogate
    (which SQLite cannot store), NaN or Infinity makes the body invalid JSON, a 400 up front
    instead of a 500 when the value reaches the database. The 400 says what is wrong and where.
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing  # no body: fine where the body is optional
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # Handled here, not by webargs: orjson reports bytes that are not UTF-8 with an
            # empty document, which webargs would take for a missing body.
            raise BadRequest(f"Invalid JSON body: {exc}") from None
        check_json(data, value)
        return value


class Blueprint(flask_smorest.Blueprint):
    """Every blueprint of the API: parses its arguments with ``JsonBodyParser``."""

    ARGUMENTS_PARSER = JsonBodyParser()


class JsonProvider(DefaultJSONProvider):
    """``request.get_json()`` as strict as ``JsonBodyParser``; output stays Flask's own."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        value = orjson.loads(s)
        check_json(s.encode() if isinstance(s, str) else s, value)
        return value


class BadPathValue(str):
    """A path segment an ``<int:...>`` parameter cannot hold (see ``Int64Converter``)."""


class Int64Converter(IntegerConverter):
    """``<int:...>`` path segments bounded to what the database stores.

    Any segment matches, so that one which is not a 64-bit non-negative integer (too big,
    negative, not a number) still reaches the route's parameters as a ``BadPathValue`` and
    ``reject_bad_path_values`` answers with the project's own error naming it, rather than
    werkzeug's generic "URL not found". The bound appears in the served document as the
    parameter's maximum.
    """

    regex = r"[^/]+"

    def __init__(
        self,
        map: Map,  # noqa: A002  (werkzeug's parameter name)
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = MAX_INTEGER,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)

    def to_python(self, value: str) -> int | BadPathValue:
        if value.isascii() and value.isdigit() and int(value) <= MAX_INTEGER:
            return int(value)
        return BadPathValue(value)


# The records path IDs name, by parameter; ``record_id`` by the collection it follows in the
# path, e.g. "files" (register_crud fills it in).
PATH_ID_LABELS = {
    "workflow_id": "Workflow",
    "job_id": "Job",
    "compute_node_id": "Compute node",
    "group_id": "Access group",
    "action_id": "Action",
}
RECORD_ID_LABELS: dict[str, str] = {}
# The table a ``record_id`` path value names, by the collection it follows (for the guard).
RECORD_MODELS: dict[str, type] = {}


def collection_before(name: str) -> str:
    """``/torc-service/v1/files/<int:record_id>`` -> ``files``."""
    rule = flask.request.url_rule
    segments = rule.rule.split("/") if rule is not None else []
    for previous, segment in zip(segments, segments[1:], strict=False):
        if segment.endswith(f":{name}>"):
            return previous
    return ""


def reject_bad_path_values(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A path ID that cannot exist is "<record> <value> not found" (404), like any unknown
    ID; a path number that is not an ID (run_id, limit) out of range is invalid input."""
    for name, value in (values or {}).items():
        if not isinstance(value, BadPathValue):
            continue
        label = PATH_ID_LABELS.get(name) or (
            RECORD_ID_LABELS.get(collection_before(name)) if name == "record_id" else None
        )
        if label:
            raise NotFound(f"{label} {value} not found")
        raise InvalidInput(f"{name} must be an integer from 0 to {MAX_INTEGER}; got {str(value)!r}")


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
    RECORD_ID_LABELS[crud.path.strip("/")] = crud.kind.label
    RECORD_MODELS[crud.path.strip("/")] = model
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
