"""Create, read, update and delete for the plain records of a workflow.

Status changes never happen here (see ``lifecycle``); this module checks references: every
ID a record points at must exist in the same workflow, so nothing half-valid is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
import peewee

from app.errors import Conflict, InvalidInput, not_found
from app.models import sql
from app.models.access import visible_condition
from app.models.common import get_workflow, require_same_workflow
from app.models.db import write_transaction
from app.models.events import record_event
from app.models.tables import (
    BaseModel,
    ComputeNode,
    Event,
    FailureHandler,
    File,
    Job,
    LocalScheduler,
    ResourceRequirements,
    Result,
    ScheduledComputeNode,
    SlurmScheduler,
    UserData,
    Workflow,
    WorkflowResult,
)
from app.shared.contract import JOBS_SORT_METHODS, WORKFLOW_FIELDS
from app.shared.status import JobStatus
from app.shared.units import MAX_INTEGER, parse_memory, parse_runtime, utc_now_text

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Page:
    offset: int = 0
    limit: int = MAX_LIMIT
    sort_by: str | None = None
    reverse_sort: bool = False


def list_page(
    model: type[BaseModel], conditions: list[Any], page: Page, sortable: set[str] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page of ``model`` rows matching ``conditions`` and the total number that match.

    When access control is enforced, only rows of workflows the viewer may reach count.
    """
    query = model.select()
    visible = visible_condition(model)
    if visible is not None:
        conditions = [*conditions, visible]
    if conditions:
        query = query.where(*conditions)
    total = query.count()
    order_field = _sort_field(model, page.sort_by, sortable)
    order = order_field.desc() if page.reverse_sort else order_field.asc()
    tiebreak = _primary_sort_field(model)
    rows = list(
        query.order_by(order, tiebreak.desc() if page.reverse_sort else tiebreak.asc())
        .offset(page.offset)
        .limit(page.limit)
        .dicts()
    )
    return rows, total


def _primary_sort_field(model: type[BaseModel]) -> peewee.Field:
    if "id" in model._meta.fields:
        return model._meta.fields["id"]
    return model._meta.sorted_fields[0]


def _sort_field(model: type[BaseModel], sort_by: str | None, sortable: set[str] | None):
    if not sort_by:
        return _primary_sort_field(model)
    allowed = sortable or set(model._meta.fields)
    if sort_by not in allowed or sort_by not in model._meta.fields:
        raise InvalidInput(
            f"cannot sort by {sort_by!r}; choose one of {', '.join(sorted(allowed))}"
        )
    return model._meta.fields[sort_by]


@cache
def _row_query(model: type[BaseModel]) -> tuple[str, tuple[tuple[str, bool], ...]]:
    """SELECT of one record by ID, and (field name, is boolean) for each column.

    Written once per model: Peewee would rebuild the SQL of a 40-column select on every
    request, which costs more than the query.
    """
    fields = model._meta.sorted_fields
    columns = ", ".join(field.column_name for field in fields)
    key = model._meta.primary_key.column_name
    table = model._meta.table_name
    query = f"SELECT {columns} FROM {table} WHERE {key} = ?"
    if "workflow_id" in model._meta.fields and model._meta.table_name != "workflow":
        # A deleted workflow's rows linger until purged (app.models.purge): not found.
        query += f" AND EXISTS (SELECT 1 FROM workflow WHERE workflow.id = {table}.workflow_id)"
    return query, tuple((field.name, isinstance(field, peewee.BooleanField)) for field in fields)


def get_row(model: type[BaseModel], record_id: int, label: str) -> dict[str, Any]:
    # A model class is hashable; mypy cannot see it through Peewee's untyped base.
    query, names = _row_query(model)  # type: ignore[arg-type]
    rows = sql.fetch(query, [record_id])
    if not rows:
        raise not_found(label, record_id)
    return {
        name: bool(value) if is_bool and value is not None else value
        for (name, is_bool), value in zip(names, rows[0], strict=True)
    }


# --------------------------------------------------------------------------------------------
# Generic workflow-owned records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A table of records that belong to one workflow, and how to check incoming values."""

    model: type[BaseModel]
    label: str
    prepare: Callable[[dict[str, Any]], dict[str, Any]] = lambda values: values
    # Runs in the creating transaction with the new ID and the prepared values.
    created: Callable[[int, dict[str, Any]], None] | None = None


def _columns(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    fields = model._meta.fields
    return {key: value for key, value in values.items() if key in fields and key != "id"}


def create_record(kind: Kind, values: dict[str, Any]) -> int:
    with write_transaction():
        workflow_id = int(values["workflow_id"])
        get_workflow(workflow_id)
        prepared = kind.prepare(dict(values))
        record_id = kind.model.insert(**_columns(kind.model, prepared)).execute()
        if kind.created is not None:
            kind.created(record_id, prepared)
        return record_id


def update_record(kind: Kind, record_id: int, values: dict[str, Any]) -> None:
    with write_transaction():
        current = get_row(kind.model, record_id, kind.label)
        given_workflow = values.get("workflow_id")
        if given_workflow is not None and int(given_workflow) != current["workflow_id"]:
            raise InvalidInput(
                f"{kind.label} {record_id} belongs to workflow {current['workflow_id']}, "
                f"not {given_workflow}"
            )
        prepared = kind.prepare({**current, **values, "workflow_id": current["workflow_id"]})
        columns = _columns(kind.model, prepared)
        kind.model.update(**columns).where(kind.model._meta.primary_key == record_id).execute()


def delete_record(kind: Kind, record_id: int) -> dict[str, Any]:
    with write_transaction():
        row = get_row(kind.model, record_id, kind.label)
        kind.model.delete().where(kind.model._meta.primary_key == record_id).execute()
        return row


def delete_workflow_records(kind: Kind, workflow_id: int) -> int:
    from app.models.purge import delete_owned_rows  # in chunks: other requests go between

    return delete_owned_rows(kind.model, workflow_id)


# --------------------------------------------------------------------------------------------
# Per-kind checks
# --------------------------------------------------------------------------------------------


def prepare_resource_requirements(values: dict[str, Any]) -> dict[str, Any]:
    for key in ("num_cpus", "num_gpus", "num_nodes"):
        if values.get(key) is not None and int(values[key]) < 0:
            raise InvalidInput(f"{key} must not be negative")
    if values.get("num_nodes") is not None and int(values["num_nodes"]) < 1:
        raise InvalidInput("num_nodes must be at least 1")
    memory = values.get("memory") or "1m"
    runtime = values.get("runtime") or "P0DT1M"
    try:
        values["memory_bytes"] = parse_memory(memory)
        values["runtime_seconds"] = parse_runtime(runtime)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    values["memory"], values["runtime"] = memory, runtime
    return values


def _reject_default_name(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("name") == DEFAULT_RR_NAME:
        raise Conflict(f"the resource requirements name {DEFAULT_RR_NAME!r} is reserved")
    return prepare_resource_requirements(values)


def _prepare_json_text(field: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def prepare(values: dict[str, Any]) -> dict[str, Any]:
        if field in values and not isinstance(values[field], str | type(None)):
            values[field] = orjson.dumps(values[field]).decode()
        return values

    return prepare


RULE_KEYS = {"exit_codes", "match_all_exit_codes", "recovery_script", "max_retries"}


def _prepare_failure_handler(values: dict[str, Any]) -> dict[str, Any]:
    rules = values.get("rules")
    if not isinstance(rules, str):
        rules = orjson.dumps(rules).decode()
    try:
        parsed = orjson.loads(rules)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"rules must be a JSON array of rule objects: {exc}") from None
    if not isinstance(parsed, list) or not all(isinstance(rule, dict) for rule in parsed):
        raise InvalidInput("rules must be a JSON array of rule objects")
    for index, rule in enumerate(parsed):
        unknown = set(rule) - RULE_KEYS
        if unknown:
            raise InvalidInput(
                f"rules[{index}] has unknown keys {sorted(unknown)}; allowed: {sorted(RULE_KEYS)}"
            )
        _check_rule_values(f"rules[{index}]", rule)
    values["rules"] = rules
    return values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rule_values(where: str, rule: dict[str, Any]) -> None:
    """Rules are applied later (by runners, and here to orphans): a bad value must fail now."""
    codes = rule.get("exit_codes")
    if codes is not None and not (isinstance(codes, list) and all(map(_is_int, codes))):
        raise InvalidInput(f"{where}.exit_codes must be a list of integers")
    retries = rule.get("max_retries")
    if retries is not None and not (_is_int(retries) and 0 <= retries < MAX_INTEGER):
        raise InvalidInput(f"{where}.max_retries must be a non-negative 64-bit integer")
    match_all = rule.get("match_all_exit_codes")
    if match_all is not None and not isinstance(match_all, bool):
        raise InvalidInput(f"{where}.match_all_exit_codes must be true or false")
    if not isinstance(rule.get("recovery_script") or "", str):
        raise InvalidInput(f"{where}.recovery_script must be a string")


def _prepare_result(values: dict[str, Any]) -> dict[str, Any]:
    require_same_workflow(Job, [values["job_id"]], int(values["workflow_id"]), "job_id")
    values["status"] = int(JobStatus.parse(values["status"]))
    return values


def _make_current_result(result_id: int, values: dict[str, Any]) -> None:
    """A result posted on its own (an imported one, a client's) becomes its job's current
    result, which ``results list`` shows, unless the job has one from a later run."""
    job_id = int(values["job_id"])
    current = (
        Result.select(Result.run_id)
        .join(WorkflowResult, on=WorkflowResult.result_id == Result.id)
        .where(WorkflowResult.job_id == job_id)
        .first()
    )
    if current is not None and current.run_id > int(values["run_id"]):
        return
    WorkflowResult.delete().where(WorkflowResult.job_id == job_id).execute()
    WorkflowResult.insert(
        workflow_id=int(values["workflow_id"]), job_id=job_id, result_id=result_id
    ).execute()


def _prepare_compute_node(values: dict[str, Any]) -> dict[str, Any]:
    scheduler = values.get("scheduler")
    if isinstance(scheduler, str):
        scheduler = orjson.loads(scheduler)
    if isinstance(scheduler, dict) and scheduler.get("scheduled_compute_node_id") is not None:
        values["scheduled_compute_node_id"] = _stored_id(
            scheduler["scheduled_compute_node_id"], "scheduler.scheduled_compute_node_id"
        )
    return _prepare_json_text("scheduler")(values)


def _stored_id(value: Any, label: str) -> int:
    """An ID taken from inside a JSON value, which no schema has checked."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
        raise InvalidInput(f"{label} must be a non-negative integer, not {value!r}")
    return value


def _prepare_event(values: dict[str, Any]) -> dict[str, Any]:
    data = values.get("data")
    values["category"] = data.get("category") if isinstance(data, dict) else None
    values["data"] = orjson.dumps(data).decode()
    return values


RESOURCE_REQUIREMENTS = Kind(ResourceRequirements, "Resource requirements", _reject_default_name)
FILES = Kind(File, "File")
USER_DATA = Kind(UserData, "User data", _prepare_json_text("data"))
RESULTS = Kind(Result, "Result", _prepare_result, _make_current_result)
EVENTS = Kind(Event, "Event", _prepare_event)
COMPUTE_NODES = Kind(ComputeNode, "Compute node", _prepare_compute_node)
SCHEDULED_COMPUTE_NODES = Kind(ScheduledComputeNode, "Scheduled compute node")
SLURM_SCHEDULERS = Kind(SlurmScheduler, "Slurm scheduler")
LOCAL_SCHEDULERS = Kind(LocalScheduler, "Local scheduler")
FAILURE_HANDLERS = Kind(FailureHandler, "Failure handler", _prepare_failure_handler)


def update_resource_requirements(record_id: int, values: dict[str, Any]) -> None:
    """Updating keeps the reserved ``default`` name, but a record can't be renamed to it."""
    current = get_row(ResourceRequirements, record_id, RESOURCE_REQUIREMENTS.label)
    renaming_to_default = (
        values.get("name") == DEFAULT_RR_NAME and current["name"] != DEFAULT_RR_NAME
    )
    kind = (
        RESOURCE_REQUIREMENTS
        if renaming_to_default
        else Kind(ResourceRequirements, RESOURCE_REQUIREMENTS.label, prepare_resource_requirements)
    )
    update_record(kind, record_id, values)


# --------------------------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------------------------

DEFAULT_RR_NAME = "default"


def _workflow_values(values: dict[str, Any]) -> dict[str, Any]:
    chosen = {
        key: value for key, value in values.items() if key in WORKFLOW_FIELDS and value is not None
    }
    method = chosen.get("jobs_sort_method")
    if method is not None and method not in JOBS_SORT_METHODS:
        raise InvalidInput(
            f"unknown jobs_sort_method {method!r}; expected one of {', '.join(JOBS_SORT_METHODS)}"
        )
    for key in ("resource_monitor_config", "slurm_defaults"):
        if key in chosen and not isinstance(chosen[key], str):
            chosen[key] = orjson.dumps(chosen[key]).decode()
    return chosen


def create_workflow(values: dict[str, Any]) -> int:
    """A new workflow with its ``default`` resource requirements (1 CPU, 1m, one minute)."""
    with write_transaction():
        workflow_id = Workflow.insert(
            timestamp=values.get("timestamp") or utc_now_text(), **_workflow_values(values)
        ).execute()
        ResourceRequirements.insert(
            workflow_id=workflow_id,
            name=DEFAULT_RR_NAME,
            **prepare_resource_requirements({}),
        ).execute()
        record_event(workflow_id, "workflow", "workflow_created", name=values["name"])
        return workflow_id


def update_workflow(workflow_id: int, values: dict[str, Any]) -> None:
    with write_transaction():
        get_workflow(workflow_id)
        chosen = _workflow_values(values)
        if chosen:
            Workflow.update(**chosen).where(Workflow.id == workflow_id).execute()


def delete_workflow(workflow_id: int) -> dict[str, Any]:
    """Delete a workflow and, by cascade, everything that belongs to it."""
    with write_transaction():
        row = get_row(Workflow, workflow_id, "Workflow")
        Workflow.delete().where(Workflow.id == workflow_id).execute()
        return row


def default_resource_requirements_id(workflow_id: int) -> int:
    row = ResourceRequirements.get_or_none(
        ResourceRequirements.workflow_id == workflow_id,
        ResourceRequirements.name == DEFAULT_RR_NAME,
    )
    if row is None:
        # A workflow imported from an older database may lack it; create it on demand.
        return ResourceRequirements.insert(
            workflow_id=workflow_id, name=DEFAULT_RR_NAME, **prepare_resource_requirements({})
        ).execute()
    return row.id


def heartbeat(compute_node_id: int) -> float:
    """Record that a runner is alive; return the time stored."""
    import time

    from app.models import sql

    now = time.time()
    with write_transaction():
        changed = sql.execute(
            "UPDATE compute_node SET last_heartbeat = ?, is_active = ? WHERE id = ?",
            [now, True, compute_node_id],
        )
    if not changed:
        raise not_found("Compute node", compute_node_id)
    return now
