"""Marshmallow schemas mirroring the upstream contract's models and parameters.

They validate every request (unknown fields are rejected) and describe every response in the
served OpenAPI document. Component names follow upstream (``job_model``…) via the resolver in
``app.api``.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models.records import MAX_LIMIT
from app.shared.contract import JOBS_SORT_METHODS
from app.shared.status import STATUS_NAMES
from app.shared.units import MAX_INTEGER, MIN_INTEGER

# The most memory a compute node can offer that still counts in bytes as a database integer.
MAX_MEMORY_GB = MAX_INTEGER / 1024**3
# A retry stores attempt_id + 1, and attempt_id may reach max_retries: that must still fit.
MAX_RETRIES_RANGE = validate.Range(min=0, max=MAX_INTEGER - 1)


class Integer(fields.Integer):
    """A JSON integer the database can store.

    Strict, as upstream's server is: ``1.5``, ``1.0`` and ``"1"`` are not integers (marshmallow
    would truncate 1.5 to 1). The 64-bit range makes a larger value a 422 naming the field
    instead of an overflow inside SQLite (a 500), and puts the range in the served document.
    """

    def __init__(self, *, strict: bool = True, **kwargs: Any) -> None:
        super().__init__(strict=strict, **kwargs)
        self.validators.insert(0, validate.Range(min=MIN_INTEGER, max=MAX_INTEGER))


class QueryInteger(Integer):
    """A query argument: query strings are text, so ``?limit=5`` is the integer 5."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=False, **kwargs)


class Boolean(fields.Boolean):
    """A JSON ``true`` or ``false``; marshmallow alone also takes 0, 1.0, "yes", "on"…"""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Number(fields.Float):
    """A JSON number (an integer or a float); marshmallow alone also takes "1.5"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class JsonText(fields.Raw):
    """Any JSON value, loaded as its JSON text: the form the database keeps it in.

    A string is a JSON string like any other value (``"a b"`` comes back as ``"a b"``), never
    text to be parsed later, so whatever is accepted can be read back.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return orjson.dumps(value).decode()


StatusField = fields.String(validate=validate.OneOf(STATUS_NAMES), allow_none=True)


def Int(**kwargs) -> fields.Integer:  # noqa: N802  (reads like a field class)
    kwargs.setdefault("allow_none", not kwargs.get("required", False))
    return Integer(**kwargs)


def Str(**kwargs) -> fields.String:  # noqa: N802
    kwargs.setdefault("allow_none", not kwargs.get("required", False))
    return fields.String(**kwargs)


def Bool(**kwargs) -> fields.Boolean:  # noqa: N802
    kwargs.setdefault("allow_none", not kwargs.get("required", False))
    return Boolean(**kwargs)


def Float(**kwargs) -> fields.Float:  # noqa: N802
    kwargs.setdefault("allow_none", not kwargs.get("required", False))
    return Number(**kwargs)


def IdList() -> fields.List:  # noqa: N802
    return fields.List(Integer(), allow_none=True)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class WorkflowModel(Schema):
    id = Int()
    name = Str(required=True)
    user = Str(required=True)
    description = Str()
    timestamp = Str()
    compute_node_expiration_buffer_seconds = Int()
    compute_node_wait_for_new_jobs_seconds = Int()
    compute_node_ignore_workflow_completion = Bool()
    compute_node_wait_for_healthy_database_minutes = Int()
    compute_node_min_time_for_new_jobs_seconds = Int()
    jobs_sort_method = Str(validate=validate.OneOf(JOBS_SORT_METHODS))
    resource_monitor_config = Str()
    slurm_defaults = Str()
    use_pending_failed = Bool()
    status_id = Int()


class WorkflowStatusModel(Schema):
    id = Int()
    is_canceled = Bool(required=True)
    is_archived = Bool()
    run_id = Int(required=True)
    has_detected_need_to_run_completion_script = Bool()


class JobModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    name = Str(required=True)
    command = Str(required=True)
    invocation_script = Str()
    status = StatusField
    cancel_on_blocking_job_failure = Bool()
    supports_termination = Bool()
    depends_on_job_ids = IdList()
    input_file_ids = IdList()
    output_file_ids = IdList()
    input_user_data_ids = IdList()
    output_user_data_ids = IdList()
    resource_requirements_id = Int()
    scheduler_id = Int()
    failure_handler_id = Int()
    attempt_id = Int(validate=validate.Range(min=1))


class JobsModel(Schema):
    jobs = fields.List(fields.Nested(JobModel), required=True)


class CreateJobsResponse(Schema):
    jobs = fields.List(fields.Nested(JobModel))


class FileModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    name = Str(required=True)
    path = Str(required=True)
    st_mtime = Float()


class UserDataModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    is_ephemeral = Bool()
    name = Str(required=True)
    data = JsonText(allow_none=True)


class ResourceRequirementsModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    name = Str(required=True)
    num_cpus = Int(validate=validate.Range(min=0))
    num_gpus = Int(validate=validate.Range(min=0))
    num_nodes = Int(validate=validate.Range(min=1))
    memory = Str()
    runtime = Str()


class ResultModel(Schema):
    id = Int()
    job_id = Int(required=True)
    workflow_id = Int(required=True)
    run_id = Int(required=True)
    attempt_id = Int(validate=validate.Range(min=1))
    compute_node_id = Int(required=True)
    return_code = Int(required=True)
    exec_time_minutes = Float(required=True)
    completion_time = Str(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUS_NAMES))
    peak_memory_bytes = Int()
    avg_memory_bytes = Int()
    peak_cpu_percent = Float()
    avg_cpu_percent = Float()


class EventModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    timestamp = Int(required=True)
    data = fields.Dict(required=True)


class ComputeNodeModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    hostname = Str(required=True)
    pid = Int(required=True)
    start_time = Str(required=True)
    duration_seconds = Float()
    is_active = Bool()
    num_cpus = Int(required=True, validate=validate.Range(min=0))
    memory_gb = Float(required=True, validate=validate.Range(min=0, max=MAX_MEMORY_GB))
    num_gpus = Int(required=True, validate=validate.Range(min=0))
    num_nodes = Int(required=True, validate=validate.Range(min=0))
    time_limit = Str()
    scheduler_config_id = Int()
    compute_node_type = Str(required=True)
    scheduler = JsonText(allow_none=True)


class ComputeNodesResources(Schema):
    id = Int()
    num_cpus = Int(required=True, validate=validate.Range(min=0))
    memory_gb = Float(required=True, validate=validate.Range(min=0, max=MAX_MEMORY_GB))
    num_gpus = Int(required=True, validate=validate.Range(min=0))
    num_nodes = Int(required=True, validate=validate.Range(min=0))
    time_limit = Str()
    scheduler_config_id = Int()


class ScheduledComputeNodesModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    scheduler_id = Int(required=True)
    scheduler_config_id = Int(required=True)
    scheduler_type = Str(required=True)
    status = Str(required=True)


class SlurmSchedulerModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    name = Str()
    account = Str(required=True)
    gres = Str()
    mem = Str()
    nodes = Int(required=True, validate=validate.Range(min=1))
    ntasks_per_node = Int()
    partition = Str()
    qos = Str()
    tmp = Str()
    walltime = Str(required=True)
    extra = Str()


class LocalSchedulerModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    name = Str()
    memory = Str()
    num_cpus = Int()


class FailureHandlerModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    name = Str(required=True)
    rules = fields.Raw(required=True)

    @validates_schema
    def rules_text_or_list(self, data: dict, **_kwargs) -> None:
        if not isinstance(data.get("rules"), str | list):
            raise ValidationError("rules must be a JSON string (or array) of rule objects", "rules")


class WorkflowActionModel(Schema):
    id = Int()
    workflow_id = Int(required=True)
    trigger_type = Str(required=True)
    action_type = Str(required=True)
    action_config = fields.Dict(required=True)
    job_ids = IdList()
    executed = Bool()
    executed_at = Str()
    executed_by = Int()
    persistent = Bool()
    is_recovery = Bool(metadata={"description": "Extension: created by slurm regenerate"})
    trigger_count = Int(metadata={"description": "Extension: triggers seen so far"})
    required_triggers = Int(metadata={"description": "Extension: triggers needed"})


class ClaimActionBody(Schema):
    compute_node_id = Int(required=True)


class ClaimActionResponse(Schema):
    claimed = fields.Boolean()
    action_id = Integer()


class RemoteWorkerModel(Schema):
    worker = Str(required=True)
    workflow_id = Int(required=True)


class AccessGroupModel(Schema):
    id = Int()
    name = Str(required=True, validate=validate.Length(min=1))
    description = Str()
    created_at = Str()


class UserGroupMembershipModel(Schema):
    id = Int()
    user_name = Str(required=True, validate=validate.Length(min=1))
    group_id = Int(required=True)
    role = Str(validate=validate.OneOf(["member", "admin"]))
    created_at = Str()


class WorkflowAccessGroupModel(Schema):
    workflow_id = Int(required=True)
    group_id = Int(required=True)
    created_at = Str()


class AccessCheckResponse(Schema):
    has_access = fields.Boolean(required=True)
    user_name = fields.String(required=True)
    workflow_id = Integer(required=True)


# --------------------------------------------------------------------------------------------
# Small responses
# --------------------------------------------------------------------------------------------


class ErrorDetail(Schema):
    type = fields.String(required=True, metadata={"description": "e.g. NotFound"})
    message = fields.String(required=True)
    details = fields.Raw(metadata={"description": "The offending fields of an invalid request"})


class DefaultErrorResponse(Schema):
    """Every error response, whatever the route (``app.api.errors``).

    The contract's ``default_error_response`` (``error``, ``errorNum``, ``errorMessage``,
    ``code``) plus ``message``, where upstream's server puts the text.
    """

    error = fields.Nested(ErrorDetail, required=True)
    code = Integer(required=True)
    errorNum = Integer(required=True)
    errorMessage = fields.String(required=True)
    message = fields.String(required=True)


class InitializeJobsResponse(Schema):
    message = fields.String(required=True)
    initialized = fields.Boolean(
        metadata={"description": "Extension (with if_uninitialized): whether this call did it"}
    )
    ready = Integer(metadata={"description": "Extension: jobs now ready"})
    blocked = Integer(metadata={"description": "Extension: jobs now blocked"})


class IsCompleteResponse(Schema):
    is_canceled = fields.Boolean(required=True)
    is_complete = fields.Boolean(required=True)
    needs_to_run_completion_script = fields.Boolean(required=True)


class JobStatusCountsResponse(Schema):
    workflow_id = Integer(required=True)
    total = Integer(required=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=Integer(),
        required=True,
        metadata={"description": "Jobs per status name; every status is present."},
    )


class IsUninitializedResponse(Schema):
    is_uninitialized = fields.Boolean(required=True)


class ListJobIdsResponse(Schema):
    job_ids = fields.List(Integer(), required=True)
    count = Integer(required=True)


class GetReadyJobRequirementsResponse(Schema):
    num_jobs = Integer(required=True)
    # Totals over many jobs, not stored values: they may pass the 64-bit range.
    num_cpus = fields.Integer(required=True)
    num_gpus = fields.Integer(required=True)
    memory_gb = fields.Float(required=True)
    max_num_nodes = Integer(required=True)
    max_runtime = fields.String(required=True)


class ProcessChangedJobInputsResponse(Schema):
    reinitialized_jobs = fields.List(fields.String())


class ListMissingUserDataResponse(Schema):
    user_data = fields.List(Integer())


class ListRequiredExistingFilesResponse(Schema):
    files = fields.List(
        Integer(),
        metadata={"description": "IDs of files some job reads and no job writes"},
    )


class ClaimJobsResponse(Schema):
    jobs = fields.List(fields.Nested(JobModel))
    reason = fields.String(allow_none=True)


class ResetJobStatusResponse(Schema):
    workflow_id = Integer(required=True)
    updated_count = Integer(required=True)
    status = fields.String(required=True)
    reset_type = fields.String()


class MessageResponse(Schema):
    message = fields.String()


class PingResponse(Schema):
    status = fields.String()


class VersionResponse(Schema):
    version = fields.String()
    api_version = fields.String()
    heartbeat_timeout_secs = fields.Float()


class LatestEventTimestampResponse(Schema):
    timestamp = Integer(allow_none=True)


class JobDependencyModel(Schema):
    job_id = Integer(required=True)
    job_name = fields.String(required=True)
    depends_on_job_id = Integer(required=True)
    depends_on_job_name = fields.String(required=True)
    workflow_id = Integer(required=True)


class JobFileRelationshipModel(Schema):
    file_id = Integer(required=True)
    file_name = fields.String(required=True)
    file_path = fields.String(required=True)
    producer_job_id = Integer(allow_none=True)
    producer_job_name = fields.String(allow_none=True)
    consumer_job_id = Integer(allow_none=True)
    consumer_job_name = fields.String(allow_none=True)
    workflow_id = Integer(required=True)


class JobUserDataRelationshipModel(Schema):
    user_data_id = Integer(required=True)
    user_data_name = fields.String(required=True)
    producer_job_id = Integer(allow_none=True)
    producer_job_name = fields.String(allow_none=True)
    consumer_job_id = Integer(allow_none=True)
    consumer_job_name = fields.String(allow_none=True)
    workflow_id = Integer(required=True)


def list_response(item_schema: type[Schema], name: str) -> type[Schema]:
    """The list envelope ``{items, offset, max_limit, count, total_count, has_more}``."""
    return type(
        name,
        (Schema,),
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "offset": Integer(required=True),
            "max_limit": Integer(required=True),
            "count": Integer(required=True),
            "total_count": Integer(required=True),
            "has_more": fields.Boolean(required=True),
        },
    )


# --------------------------------------------------------------------------------------------
# Query parameters
# --------------------------------------------------------------------------------------------


class PageArgs(Schema):
    offset = QueryInteger(load_default=0, validate=validate.Range(min=0))
    limit = QueryInteger(load_default=MAX_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    sort_by = fields.String(load_default=None)
    reverse_sort = fields.Boolean(load_default=False)


class OffsetLimitArgs(Schema):
    offset = QueryInteger(load_default=0, validate=validate.Range(min=0))
    limit = QueryInteger(load_default=MAX_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


class WorkflowScopedArgs(PageArgs):
    workflow_id = QueryInteger(required=True)


class WorkflowIdArgs(Schema):
    workflow_id = QueryInteger(required=True)


class ListWorkflowsArgs(PageArgs):
    name = fields.String()
    user = fields.String()
    description = fields.String()
    is_archived = fields.Boolean()


class ListJobsArgs(WorkflowScopedArgs):
    status = fields.String(validate=validate.OneOf(STATUS_NAMES))
    needs_file_id = QueryInteger()
    upstream_job_id = QueryInteger()
    include_relationships = fields.Boolean(load_default=False)
    active_compute_node_id = QueryInteger()


class ListFilesArgs(WorkflowScopedArgs):
    produced_by_job_id = QueryInteger()
    name = fields.String()
    path = fields.String()
    is_output = fields.Boolean()


class ListUserDataArgs(WorkflowScopedArgs):
    consumer_job_id = QueryInteger()
    producer_job_id = QueryInteger()
    name = fields.String()
    is_ephemeral = fields.Boolean()


class UserDataLinkArgs(Schema):
    consumer_job_id = QueryInteger()
    producer_job_id = QueryInteger()


class ListResourceRequirementsArgs(WorkflowScopedArgs):
    job_id = QueryInteger()
    name = fields.String()
    memory = fields.String()
    num_cpus = QueryInteger()
    num_gpus = QueryInteger()
    num_nodes = QueryInteger()
    runtime = fields.String()


class ListResultsArgs(WorkflowScopedArgs):
    job_id = QueryInteger()
    run_id = QueryInteger()
    return_code = QueryInteger()
    status = fields.String(validate=validate.OneOf(STATUS_NAMES))
    all_runs = fields.Boolean(load_default=False)
    compute_node_id = QueryInteger()


class ListEventsArgs(WorkflowScopedArgs):
    category = fields.String()
    after_timestamp = QueryInteger()


class ListComputeNodesArgs(WorkflowScopedArgs):
    hostname = fields.String()
    is_active = fields.Boolean()
    scheduled_compute_node_id = QueryInteger()


class ListScheduledComputeNodesArgs(WorkflowScopedArgs):
    scheduler_id = QueryInteger()
    scheduler_config_id = QueryInteger()
    status = fields.String()


class ListSlurmSchedulersArgs(WorkflowScopedArgs):
    name = fields.String()
    account = fields.String()
    gres = fields.String()
    mem = fields.String()
    nodes = QueryInteger()
    partition = fields.String()
    qos = fields.String()
    tmp = fields.String()
    walltime = fields.String()


class ListLocalSchedulersArgs(WorkflowScopedArgs):
    memory = fields.String()
    num_cpus = QueryInteger()


class InitializeJobsArgs(Schema):
    only_uninitialized = fields.Boolean(load_default=False)
    clear_ephemeral_user_data = fields.Boolean(load_default=True)
    if_uninitialized = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Extension: initialize only if every job is still uninitialized "
            "(or disabled), checked in the same transaction, so of several runners started "
            "together exactly one initializes; a workflow that ran before starts its next "
            "run_id. `initialized` in the answer says whether this call did it."
        },
    )


class ClaimNextJobsArgs(Schema):
    limit = QueryInteger(load_default=10, validate=validate.Range(min=1, max=MAX_LIMIT))


class ClaimByResourcesArgs(Schema):
    sort_method = fields.String(load_default=None, validate=validate.OneOf(JOBS_SORT_METHODS))
    strict_scheduler_match = fields.Boolean(load_default=False)


class ReadyJobRequirementsArgs(Schema):
    scheduler_config_id = QueryInteger()


class DryRunArgs(Schema):
    dry_run = fields.Boolean(load_default=False)


class ForceArgs(Schema):
    force = fields.Boolean(load_default=False)


class FailedOnlyArgs(Schema):
    failed_only = fields.Boolean(load_default=False)


class FailedAttempt(Schema):
    """Extension: the result of the attempt being retried, recorded as a failed result."""

    job_id = Int()
    workflow_id = Int()
    run_id = Int()
    attempt_id = Int()
    compute_node_id = Int()
    return_code = Int()
    exec_time_minutes = Float()
    completion_time = Str()
    status = Str()
    peak_memory_bytes = Int()
    avg_memory_bytes = Int()
    peak_cpu_percent = Float()
    avg_cpu_percent = Float()


class RetryArgs(Schema):
    max_retries = QueryInteger(required=True, validate=MAX_RETRIES_RANGE)


class PendingActionsArgs(Schema):
    trigger_type = fields.String()


class InitializeSpecArgs(Schema):
    initialize = fields.Boolean(load_default=False)


class WorkflowSpecCreated(Schema):
    workflow_id = Integer(required=True)
    job_count = Integer(required=True)
    ready = Integer()
    blocked = Integer()


# --------------------------------------------------------------------------------------------
# Extension: the job runner's round trip
# --------------------------------------------------------------------------------------------


class CompletedJob(Schema):
    job_id = Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUS_NAMES))
    return_code = Integer(required=True)
    exec_time_minutes = Number(required=True)
    completion_time = fields.String(required=True)
    attempt_id = Int(validate=validate.Range(min=1))
    peak_memory_bytes = Int()
    avg_memory_bytes = Int()
    peak_cpu_percent = Float()
    avg_cpu_percent = Float()


class FileMtime(Schema):
    file_id = Integer(required=True)
    st_mtime = Number(required=True)


class ClaimBody(Schema):
    limit = Integer(required=True, validate=validate.Range(min=0, max=MAX_LIMIT))
    resources = fields.Nested(ComputeNodesResources, allow_none=True, load_default=None)
    sort_method = fields.String(load_default="none", validate=validate.OneOf(JOBS_SORT_METHODS))
    strict_scheduler_match = Boolean(load_default=False)


class RetriedJob(Schema):
    job_id = Integer(required=True)
    max_retries = Integer(required=True, validate=MAX_RETRIES_RANGE)
    result = fields.Nested(CompletedJob, allow_none=True, load_default=None)


class RunnerCycleBody(Schema):
    compute_node_id = Integer(required=True)
    completed = fields.List(fields.Nested(CompletedJob), load_default=list)
    retried = fields.List(fields.Nested(RetriedJob), load_default=list)
    started = fields.List(Integer(), load_default=list)
    file_mtimes = fields.List(fields.Nested(FileMtime), load_default=list)
    claim = fields.Nested(ClaimBody, allow_none=True, load_default=None)
    resync = Boolean(load_default=False)

    def load(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        # Every job runner sends this on each loop turn with up to hundreds of reports, where
        # field-by-field marshmallow costs more than the database work. A body of the usual
        # shape is checked here by the same rules; anything else (including every invalid
        # body) takes the full schema, which gives the documented error.
        loaded = _fast_runner_cycle(data) if not args and not kwargs else None
        return loaded if loaded is not None else super().load(data, *args, **kwargs)


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int and MIN_INTEGER <= value <= MAX_INTEGER


def _is_number(value: Any) -> TypeGuard[int | float]:
    return type(value) in (int, float) and MIN_INTEGER <= value <= MAX_INTEGER


_REPORT_REQUIRED = ("job_id", "status", "return_code", "exec_time_minutes", "completion_time")
_REPORT_INTS = ("peak_memory_bytes", "avg_memory_bytes")
_REPORT_FLOATS = ("peak_cpu_percent", "avg_cpu_percent")
_REPORT_KEYS = frozenset(_REPORT_REQUIRED + _REPORT_INTS + _REPORT_FLOATS + ("attempt_id",))
_STATUS_SET = frozenset(STATUS_NAMES)


def _fast_report(item: Any) -> dict[str, Any] | None:
    """A ``CompletedJob`` as its schema would load it, or None to let the schema decide."""
    if type(item) is not dict or not _REPORT_KEYS.issuperset(item):
        return None
    if not all(key in item for key in _REPORT_REQUIRED):
        return None
    if not (
        _is_int(item["job_id"])
        and _is_int(item["return_code"])
        and _is_number(item["exec_time_minutes"])
        and type(item["completion_time"]) is str
        and item["status"] in _STATUS_SET
    ):
        return None
    attempt = item.get("attempt_id", 1)
    if not (_is_int(attempt) and attempt >= 1):
        return None
    for key in _REPORT_INTS:
        if item.get(key) is not None and not _is_int(item[key]):
            return None
    for key in _REPORT_FLOATS:
        if item.get(key) is not None and not _is_number(item[key]):
            return None
    loaded = dict(item)
    loaded["exec_time_minutes"] = float(item["exec_time_minutes"])
    for key in _REPORT_FLOATS:
        if item.get(key) is not None:
            loaded[key] = float(item[key])
    return loaded


_CLAIM_KEYS = frozenset(("limit", "resources", "sort_method", "strict_scheduler_match"))
_OFFER_COUNTS = ("num_cpus", "num_gpus", "num_nodes")
_OFFER_KEYS = frozenset((*_OFFER_COUNTS, "memory_gb", "id", "time_limit", "scheduler_config_id"))


def _fast_claim(claim: Any) -> dict[str, Any] | None:
    if type(claim) is not dict or not _CLAIM_KEYS.issuperset(claim):
        return None
    limit = claim.get("limit")
    sort_method = claim.get("sort_method", "none")
    strict = claim.get("strict_scheduler_match", False)
    if not (_is_int(limit) and 0 <= limit <= MAX_LIMIT):
        return None
    if sort_method not in JOBS_SORT_METHODS or type(strict) is not bool:
        return None
    resources = claim.get("resources")
    if resources is not None:
        resources = _fast_offer(resources)
        if resources is None:
            return None
    return {
        "limit": limit,
        "resources": resources,
        "sort_method": sort_method,
        "strict_scheduler_match": strict,
    }


def _fast_offer(offer: Any) -> dict[str, Any] | None:
    """A ``ComputeNodesResources`` as its schema would load it, or None."""
    if type(offer) is not dict or not _OFFER_KEYS.issuperset(offer):
        return None
    if not all(_is_int(offer.get(key)) and offer[key] >= 0 for key in _OFFER_COUNTS):
        return None
    memory = offer.get("memory_gb")
    if not (_is_number(memory) and 0 <= memory <= MAX_MEMORY_GB):
        return None
    for key in ("id", "scheduler_config_id"):
        if offer.get(key) is not None and not _is_int(offer[key]):
            return None
    if offer.get("time_limit") is not None and type(offer["time_limit"]) is not str:
        return None
    return {**offer, "memory_gb": float(memory)}


def _fast_runner_cycle(data: Any) -> dict[str, Any] | None:
    """The usual runner_cycle body (no retries, no file mtimes, a plain claim), or None."""
    keys = ("compute_node_id", "completed", "retried", "started", "file_mtimes", "claim", "resync")
    if type(data) is not dict or not set(keys).issuperset(data):
        return None
    if data.get("retried") or data.get("file_mtimes") or not _is_int(data.get("compute_node_id")):
        return None
    started = data.get("started", [])
    completed = data.get("completed", [])
    resync = data.get("resync", False)
    if type(started) is not list or type(completed) is not list or type(resync) is not bool:
        return None
    if not all(_is_int(job_id) for job_id in started):
        return None
    reports = [_fast_report(item) for item in completed]
    if any(report is None for report in reports):
        return None
    claim = data.get("claim")
    if claim is not None:
        claim = _fast_claim(claim)
        if claim is None:
            return None
    return {
        "compute_node_id": data["compute_node_id"],
        "completed": reports,
        "retried": [],
        "started": started,
        "file_mtimes": [],
        "claim": claim,
        "resync": resync,
    }


class JobOutcome(Schema):
    job_id = Integer(required=True)
    ok = fields.Boolean(required=True)
    error = fields.String(allow_none=True)


class RunnerCycleResponse(Schema):
    completed = fields.List(fields.Nested(JobOutcome))
    retried = fields.List(fields.Nested(JobOutcome))
    started = fields.List(fields.Nested(JobOutcome))
    jobs = fields.List(fields.Nested(JobModel))
    reason = fields.String(allow_none=True)
    is_complete = fields.Boolean()
    is_canceled = fields.Boolean()
    pending_actions = fields.List(fields.Nested(WorkflowActionModel))
    assigned = fields.List(fields.Nested(JobModel))


class DetectOrphansBody(Schema):
    lost_compute_node_ids = fields.List(
        Integer(),
        load_default=list,
        metadata={"description": "Runners the caller knows are gone (e.g. dead local PIDs)."},
    )


class DetectOrphansResponse(Schema):
    compute_nodes = Integer(metadata={"description": "Runners marked inactive."})
    requeued = Integer(metadata={"description": "Claimed jobs put back to ready."})
    failed = Integer(
        metadata={"description": "Running jobs finished as orphans (return code -128)."}
    )


class HeartbeatResponse(Schema):
    id = Integer()
    last_heartbeat = fields.Float()
