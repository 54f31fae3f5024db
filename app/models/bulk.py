"""Create a whole expanded workflow in one transaction (the ``workflow_specs`` extension).

The client expands a specification file into a payload whose records refer to each other by
position in the payload's lists. Everything is checked before anything is written, then
inserted with one prepared statement per table, so 100,000 jobs take seconds and a bad
payload leaves no trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import peewee as pw

from app.errors import ClientGone, InvalidInput
from app.models import actions as action_records
from app.models import lifecycle
from app.models.db import bulk_insert, next_ids, write_transaction
from app.models.events import record_event
from app.models.records import (
    DEFAULT_RR_NAME,
    FAILURE_HANDLERS,
    create_workflow,
    prepare_resource_requirements,
)
from app.models.tables import (
    BaseModel,
    FailureHandler,
    File,
    Job,
    JobDependsOn,
    JobInputFile,
    JobInputUserData,
    JobOutputFile,
    JobOutputUserData,
    ResourceRequirements,
    SlurmScheduler,
    UserData,
    Workflow,
)
from app.shared.contract import (
    ACTION_TYPES,
    RESOURCE_REQUIREMENTS_FIELDS,
    SCHEDULE_NODES_OPTIONS,
    SLURM_SCHEDULER_FIELDS,
    SLURM_SCHEDULER_OPTIONAL_FIELDS,
    TRIGGER_TYPES,
    WORKFLOW_FIELDS,
    WORKFLOW_JSON_FIELDS,
)
from app.shared.status import JobStatus
from app.shared.units import MAX_INTEGER, MIN_INTEGER

logger = logging.getLogger(__name__)

Record = dict[str, Any]
# How often (in rows) a long insert asks whether its client is still there.
ABANDON_CHECK_ROWS = 10_000
USER_DATA_PLACEHOLDER = re.compile(r"\$\{user_data\.(input|output)\.([^}]+)\}")
JOB_LINKS = {
    "depends_on": (JobDependsOn, "depends_on_job_id", "jobs"),
    "input_files": (JobInputFile, "file_id", "files"),
    "output_files": (JobOutputFile, "file_id", "files"),
    "input_user_data": (JobInputUserData, "user_data_id", "user_data"),
    "output_user_data": (JobOutputUserData, "user_data_id", "user_data"),
}


# --------------------------------------------------------------------------------------------
# Checking the payload
# --------------------------------------------------------------------------------------------


def _fail(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where}: {message}", details={"field": where})


def _expect(
    record: Record, key: str, kinds: type | tuple[type, ...], where: str, required: bool = True
) -> Any:
    value = record.get(key)
    if value is None:
        if required:
            raise _fail(f"{where}.{key}", "is required")
        return None
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise _fail(f"{where}.{key}", f"expected {_kind_name(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise _fail(f"{where}.{key}", f"expected {_kind_name(kinds)}, got {type(value).__name__}")
    return value


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    names = {
        int: "integer",
        str: "string",
        bool: "boolean",
        list: "list",
        dict: "object",
        float: "number",
    }
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _records(payload: Record, key: str, required: bool = False) -> list[Record]:
    items = payload.get(key)
    if items is None:
        if required:
            raise _fail(key, "is required")
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _fail(key, "expected a list of objects")
    return items


def _indexes(record: Record, key: str, size: int, where: str) -> list[int]:
    values = record.get(key)
    if not values:
        return []
    if not isinstance(values, list):
        raise _fail(f"{where}.{key}", "expected a list of indexes")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise _fail(f"{where}.{key}", f"{value!r} is not an index below {size}")
    return list(dict.fromkeys(values))


def _index(record: Record, key: str, size: int, where: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise _fail(f"{where}.{key}", f"{value!r} is not an index below {size}")
    return value


def _unique_names(records: Sequence[Record], label: str) -> dict[str, int]:
    names: dict[str, int] = {}
    for position, record in enumerate(records):
        name = _expect(record, "name", str, f"{label}[{position}]")
        if name in names:
            raise _fail(f"{label}[{position}].name", f"duplicate name {name!r}")
        names[name] = position
    return names


@dataclass
class Plan:
    """The checked payload, ready to insert."""

    workflow: Record
    resource_requirements: list[Record]
    failure_handlers: list[Record]
    slurm_schedulers: list[Record]
    files: list[Record]
    user_data: list[Record]
    jobs: list[Record]
    actions: list[Record]
    user_data_names: dict[str, int] = field(default_factory=dict)


def check_payload(payload: Any) -> Plan:
    """Validate types and every cross-reference; raise InvalidInput naming the first problem."""
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object")
    workflow = payload.get("workflow")
    if not isinstance(workflow, dict):
        raise _fail("workflow", "expected an object")
    _expect(workflow, "name", str, "workflow")
    _expect(workflow, "user", str, "workflow")
    unknown = set(workflow) - set(WORKFLOW_FIELDS) - {"timestamp"}
    if unknown:
        raise _fail("workflow", f"unknown fields {sorted(unknown)}")
    # The two configuration blocks take any JSON: they are stored as its text.
    _check_columns(workflow, Workflow, set(workflow) - WORKFLOW_JSON_FIELDS, "workflow")
    plan = Plan(
        workflow=workflow,
        resource_requirements=_records(payload, "resource_requirements"),
        failure_handlers=_records(payload, "failure_handlers"),
        slurm_schedulers=_records(payload, "slurm_schedulers"),
        files=_records(payload, "files"),
        user_data=_records(payload, "user_data"),
        jobs=_records(payload, "jobs", required=True),
        actions=_records(payload, "actions"),
    )
    rr_names = _unique_names(plan.resource_requirements, "resource_requirements")
    if DEFAULT_RR_NAME in rr_names:
        raise _fail("resource_requirements", f"the name {DEFAULT_RR_NAME!r} is reserved")
    _unique_names(plan.failure_handlers, "failure_handlers")
    _unique_names(plan.jobs, "jobs")
    plan.user_data_names = _unique_names(plan.user_data, "user_data")
    _check_files(plan.files)
    for label, records, model, keys in (
        (
            "resource_requirements",
            plan.resource_requirements,
            ResourceRequirements,
            RESOURCE_REQUIREMENTS_FIELDS,
        ),
        ("slurm_schedulers", plan.slurm_schedulers, SlurmScheduler, SLURM_SCHEDULER_FIELDS),
        ("user_data", plan.user_data, UserData, ("is_ephemeral",)),
    ):
        for position, record in enumerate(records):
            _check_columns(record, model, keys, f"{label}[{position}]")
    _check_jobs(plan)
    _check_actions(plan)
    return plan


def _check_columns(record: Record, model: type[BaseModel], keys: Iterable[str], where: str) -> None:
    """Each value given has its column's type; an integer also fits the column's 64 bits.

    SQLite would store a string in an integer column as it is, and a client would read it
    back where the contract promises a number.
    """
    for key in keys:
        column = model._meta.fields[key]
        if isinstance(column, pw.BooleanField):
            _expect(record, key, bool, where, required=False)
        elif isinstance(column, pw.IntegerField):
            value = _expect(record, key, int, where, required=False)
            if value is not None and not MIN_INTEGER <= value <= MAX_INTEGER:
                raise _fail(f"{where}.{key}", f"{value} does not fit in 64 bits")
        elif isinstance(column, pw.FloatField):
            _expect(record, key, (int, float), where, required=False)
        else:
            _expect(record, key, str, where, required=False)


def _check_files(files: list[Record]) -> None:
    for position, record in enumerate(files):
        _expect(record, "name", str, f"files[{position}]")
        _expect(record, "path", str, f"files[{position}]")
        _expect(record, "st_mtime", (int, float), f"files[{position}]", required=False)


def _check_jobs(plan: Plan) -> None:
    sizes = {"jobs": len(plan.jobs), "files": len(plan.files), "user_data": len(plan.user_data)}
    for position, job in enumerate(plan.jobs):
        where = f"jobs[{position}]"
        _expect(job, "command", str, where)
        _expect(job, "invocation_script", str, where, required=False)
        for flag in ("cancel_on_blocking_job_failure", "supports_termination"):
            _expect(job, flag, bool, where, required=False)
        _index(job, "resource_requirements", len(plan.resource_requirements), where)
        _index(job, "failure_handler", len(plan.failure_handlers), where)
        _index(job, "scheduler", len(plan.slurm_schedulers), where)
        for key, (_, _, target) in JOB_LINKS.items():
            indexes = _indexes(job, key, sizes[target], where)
            # Store only links that exist: a million jobs with five empty lists each would
            # cost the server half a gigabyte.
            if indexes:
                job[key] = indexes
            else:
                job.pop(key, None)
        if position in job.get("depends_on", ()):
            raise _fail(f"{where}.depends_on", "a job cannot depend on itself")
        for text in (job["command"], job.get("invocation_script") or ""):
            for _, name in USER_DATA_PLACEHOLDER.findall(text):
                if name not in plan.user_data_names:
                    raise _fail(f"{where}.command", f"unknown user data {name!r}")


def _check_actions(plan: Plan) -> None:
    for position, action in enumerate(plan.actions):
        where = f"actions[{position}]"
        trigger = _expect(action, "trigger_type", str, where)
        kind = _expect(action, "action_type", str, where)
        if trigger not in TRIGGER_TYPES:
            raise _fail(f"{where}.trigger_type", f"unknown trigger {trigger!r}")
        if kind not in ACTION_TYPES:
            raise _fail(f"{where}.action_type", f"unknown action {kind!r}")
        action["jobs"] = _indexes(action, "jobs", len(plan.jobs), where)
        if trigger in action_records.JOB_TRIGGERS and not action["jobs"]:
            raise _fail(f"{where}.jobs", f"a {trigger} action needs at least one job")
        scheduler = _index(action, "scheduler", len(plan.slurm_schedulers), where)
        if kind == "schedule_nodes" and scheduler is None:
            raise _fail(f"{where}.scheduler", "schedule_nodes needs a scheduler")
        if kind == "run_commands":
            commands = _expect(action, "commands", list, where, required=False) or []
            if not all(isinstance(command, str) for command in commands):
                raise _fail(f"{where}.commands", "expected a list of strings")


# --------------------------------------------------------------------------------------------
# Writing it
# --------------------------------------------------------------------------------------------


def create_from_payload(
    payload: Any, initialize: bool = False, client_gone: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Check, then create everything in one transaction; optionally initialize the jobs.

    ``client_gone`` tells whether the requester has hung up: a creation nobody waits for any
    more is rolled back rather than committed (a killed ``torc workflows create`` of millions
    of jobs must not leave a workflow behind minutes later).
    """
    watch = _Watch(client_gone)
    plan = check_payload(payload)
    watch.check()
    with write_transaction():
        workflow_id = create_workflow(plan.workflow)
        rr_ids = _insert_resource_requirements(workflow_id, plan.resource_requirements)
        handler_ids = [_insert_failure_handler(workflow_id, h) for h in plan.failure_handlers]
        scheduler_ids = [_insert_scheduler(workflow_id, s) for s in plan.slurm_schedulers]
        file_ids = _insert_files(workflow_id, plan.files)
        data_ids = _insert_user_data(workflow_id, plan.user_data)
        default_rr = _default_rr(workflow_id)
        job_ids = _insert_jobs(
            workflow_id, plan, rr_ids, handler_ids, scheduler_ids, default_rr, data_ids, watch
        )
        ids = {"jobs": job_ids, "files": file_ids, "user_data": data_ids}
        watch.check()
        _insert_job_links(workflow_id, plan.jobs, ids)
        for action in plan.actions:
            _insert_action(workflow_id, action, job_ids, scheduler_ids)
        record_event(workflow_id, "workflow", "workflow_created_from_spec", jobs=len(job_ids))
        watch.check()
        counts = lifecycle.initialize_jobs(workflow_id) if initialize else {}
        watch.check()  # the last moment before the commit
    return {"workflow_id": workflow_id, "job_count": len(job_ids), **counts}


class _Watch:
    """Raises ClientGone once the requester has hung up (never, without a callback)."""

    def __init__(self, client_gone: Callable[[], bool] | None) -> None:
        self._client_gone = client_gone

    def check(self) -> None:
        if self._client_gone is not None and self._client_gone():
            logger.warning("workflow creation abandoned: the client hung up; nothing is stored")
            raise ClientGone("the client hung up before the workflow was created; nothing stored")

    def rows(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        for count, row in enumerate(rows, 1):
            if count % ABANDON_CHECK_ROWS == 0:
                self.check()
            yield row


def _default_rr(workflow_id: int) -> int:
    return (
        ResourceRequirements.select(ResourceRequirements.id)
        .where(
            ResourceRequirements.workflow_id == workflow_id,
            ResourceRequirements.name == DEFAULT_RR_NAME,
        )
        .scalar()
    )


def _insert_resource_requirements(workflow_id: int, items: list[Record]) -> list[int]:
    ids = []
    for item in items:
        values = prepare_resource_requirements(
            {key: item.get(key) for key in RESOURCE_REQUIREMENTS_FIELDS}
        )
        values = {key: value for key, value in values.items() if value is not None}
        ids.append(
            ResourceRequirements.insert(
                workflow_id=workflow_id, name=item["name"], **values
            ).execute()
        )
    return ids


def _insert_failure_handler(workflow_id: int, item: Record) -> int:
    values = FAILURE_HANDLERS.prepare({"name": item["name"], "rules": item.get("rules", "[]")})
    return FailureHandler.insert(workflow_id=workflow_id, **values).execute()


def _insert_scheduler(workflow_id: int, item: Record) -> int:
    where = f"slurm scheduler {item.get('name')!r}"
    _expect(item, "account", str, where)
    optional = {
        key: item[key] for key in SLURM_SCHEDULER_OPTIONAL_FIELDS if item.get(key) is not None
    }
    return SlurmScheduler.insert(
        workflow_id=workflow_id,
        name=item.get("name"),
        account=item["account"],
        nodes=item.get("nodes") or 1,
        walltime=item.get("walltime") or "01:00:00",
        **optional,
    ).execute()


def _insert_files(workflow_id: int, files: list[Record]) -> list[int]:
    ids = list(next_ids(File, len(files)))
    rows = [
        (i, workflow_id, f["name"], f["path"], _float_or_none(f.get("st_mtime")))
        for i, f in zip(ids, files, strict=True)
    ]
    bulk_insert(File, ["id", "workflow_id", "name", "path", "st_mtime"], rows)
    return ids


def _float_or_none(value: float | None) -> float | None:
    # The driver binds a Python int as a 64-bit INTEGER (and fails beyond); the column is REAL.
    return None if value is None else float(value)


def _insert_user_data(workflow_id: int, items: list[Record]) -> list[int]:
    ids = list(next_ids(UserData, len(items)))
    rows = [
        (
            i,
            workflow_id,
            item["name"],
            bool(item.get("is_ephemeral")),
            None if item.get("data") is None else orjson.dumps(item["data"]).decode(),
        )
        for i, item in zip(ids, items, strict=True)
    ]
    bulk_insert(UserData, ["id", "workflow_id", "name", "is_ephemeral", "data"], rows)
    return ids


JOB_COLUMNS = [
    "id",
    "workflow_id",
    "name",
    "command",
    "invocation_script",
    "status",
    "cancel_on_blocking_job_failure",
    "supports_termination",
    "resource_requirements_id",
    "scheduler_id",
    "failure_handler_id",
    "attempt_id",
    "unfinished_blockers",
    "has_failed_blocker",
]


def _insert_jobs(
    workflow_id: int,
    plan: Plan,
    rr_ids: list[int],
    handler_ids: list[int],
    scheduler_ids: list[int],
    default_rr: int,
    data_ids: list[int],
    watch: _Watch,
) -> list[int]:
    ids = list(next_ids(Job, len(plan.jobs)))

    def user_data_id(match: re.Match) -> str:
        return str(data_ids[plan.user_data_names[match.group(2)]])

    def pick(table: list[int], index: int | None) -> int | None:
        return None if index is None else table[index]

    def row(job_id: int, job: Record) -> tuple:
        script = job.get("invocation_script")
        return (
            job_id,
            workflow_id,
            job["name"],
            USER_DATA_PLACEHOLDER.sub(user_data_id, job["command"]),
            USER_DATA_PLACEHOLDER.sub(user_data_id, script) if script else script,
            int(JobStatus.UNINITIALIZED),
            job.get("cancel_on_blocking_job_failure", True) is not False,
            bool(job.get("supports_termination")),
            pick(rr_ids, job.get("resource_requirements")) or default_rr,
            pick(scheduler_ids, job.get("scheduler")),
            pick(handler_ids, job.get("failure_handler")),
            1,
            0,
            False,
        )

    rows = (row(*pair) for pair in zip(ids, plan.jobs, strict=True))
    bulk_insert(Job, JOB_COLUMNS, watch.rows(rows))
    return ids


def _insert_job_links(workflow_id: int, jobs: list[Record], ids: dict[str, list[int]]) -> None:
    job_ids = ids["jobs"]
    for key, (table, column, target) in JOB_LINKS.items():
        targets = ids[target]
        rows = (
            (job_id, targets[index], workflow_id)
            for job_id, job in zip(job_ids, jobs, strict=True)
            for index in job.get(key, ())
        )
        bulk_insert(table, ["job_id", column, "workflow_id"], rows)


def _insert_action(
    workflow_id: int, action: Record, job_ids: list[int], scheduler_ids: list[int]
) -> None:
    config: Record = {}
    if action["action_type"] == "run_commands":
        config["commands"] = action.get("commands") or []
    else:
        config["scheduler_id"] = scheduler_ids[action["scheduler"]]
    for key in SCHEDULE_NODES_OPTIONS:
        if action.get(key) is not None:
            config[key] = action[key]
    action_records.create_action(
        workflow_id,
        {
            "trigger_type": action["trigger_type"],
            "action_type": action["action_type"],
            "action_config": config,
            "job_ids": [job_ids[index] for index in action["jobs"]],
            "persistent": action.get("persistent"),
        },
    )
