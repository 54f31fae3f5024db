"""The workflow spec data model (the seed's "Workflow Specification Reference").

Field types drive the type checks in :mod:`cli.spec.schema`; a field without a default is
required. ``metadata["check"]`` validates a well-typed value and returns a problem or None;
``metadata["item"]`` names the items of a list in messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from app.shared.contract import ACTION_TYPES, JOBS_SORT_METHODS, SCHEDULER_TYPES, TRIGGER_TYPES
from app.shared.units import parse_memory, parse_runtime

# A problem message, or (message, path below the field) to point at a nested value.
Problem: TypeAlias = "str | tuple[str, tuple[str | int, ...]] | None"
Check = Callable[[Any], Problem]

# The server stores integers as signed 64-bit values (and its JSON encoder cannot send more).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

PARAMETER_MODES = ("product", "zip")
GRANULARITIES = ("summary", "time_series", "Summary", "TimeSeries")
# Slurm time limits: minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]]
_WALLTIME = re.compile(r"^(\d+-\d{1,2}(:\d{1,2}){0,2}|\d+(:\d{1,2}){0,2})$")


def one_of(*choices: str) -> dict[str, Check]:
    def check(value: str) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in choices)}"

    return {"check": check}


def at_least(minimum: int) -> dict[str, Check]:
    def check(value: int) -> str | None:
        return None if value >= minimum else f"must be at least {minimum}"

    return {"check": check}


def _parse_problem(parser: Callable[[str], Any]) -> dict[str, Check]:
    def check(value: str) -> str | None:
        try:
            parser(value)
        except ValueError as exc:
            return str(exc)
        return None

    return {"check": check}


def _walltime_problem(value: str) -> str | None:
    if _WALLTIME.match(value.strip()):
        return None
    return f"invalid walltime {value!r}: expected a Slurm time such as 04:00:00 or 2-00:00:00"


def int_range_problem(value: int) -> str | None:
    if INT64_MIN <= value <= INT64_MAX:
        return None
    return (
        f"is out of range: {value} does not fit in a signed 64-bit integer "
        f"({INT64_MIN} to {INT64_MAX})"
    )


def _json_problem(value: Any, path: tuple[str | int, ...] = ()) -> Any:
    """JSON the server can store: YAML also reads dates, and integers may exceed 64 bits.
    Returns (message, path inside the data) so the error points at the offending value."""
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        problem = int_range_problem(value)
        if problem is None:
            return None
        return f"must be JSON data, but the value at {_where(path)} {problem}", path
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return (f"must be JSON data, but the value at {_where(path)} is {value} (quote it)", path)
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, (*path, index))
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return ("must be JSON data: mapping keys must be strings", path)
            problem = _json_problem(item, (*path, key))
            if problem:
                return problem
        return None
    return (f"must be JSON data, but it holds {type(value).__name__} {value} (quote it)", path)


def _where(path: tuple[str | int, ...]) -> str:
    if not path:
        return "the top"
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _not_empty(value: list) -> str | None:
    return None if value else "must contain at least one entry"


def items(label: str, **extra: Any) -> dict[str, Any]:
    return {"item": label, **extra}


def _list() -> Any:
    return field(default_factory=list)


@dataclass(kw_only=True)
class InlineResourceRequirementsSpec:
    """Resource requirements written on the job itself instead of naming a top-level entry."""

    num_cpus: int = field(metadata=at_least(1))
    memory: str = field(metadata=_parse_problem(parse_memory))
    num_gpus: int = field(default=0, metadata=at_least(0))
    num_nodes: int = field(default=1, metadata=at_least(1))
    runtime: str = field(default="PT1H", metadata=_parse_problem(parse_runtime))


@dataclass(kw_only=True)
class ResourceRequirementsSpec(InlineResourceRequirementsSpec):
    name: str


@dataclass(kw_only=True)
class JobSpec:
    name: str
    command: str
    invocation_script: str | None = None
    # A name of a top-level entry, or a mapping of the same fields without the name.
    resource_requirements: str | InlineResourceRequirementsSpec | None = None
    failure_handler: str | None = None
    scheduler: str | None = None
    cancel_on_blocking_job_failure: bool | None = None
    supports_termination: bool | None = None
    depends_on: list[str] = _list()
    depends_on_regexes: list[str] = _list()
    input_files: list[str] = _list()
    input_file_regexes: list[str] = _list()
    output_files: list[str] = _list()
    output_file_regexes: list[str] = _list()
    input_user_data: list[str] = _list()
    input_user_data_regexes: list[str] = _list()
    output_user_data: list[str] = _list()
    output_user_data_regexes: list[str] = _list()
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_mode: str = field(default="product", metadata=one_of(*PARAMETER_MODES))
    use_parameters: list[str] = _list()


@dataclass(kw_only=True)
class FileSpec:
    name: str
    path: str
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_mode: str = field(default="product", metadata=one_of(*PARAMETER_MODES))
    use_parameters: list[str] = _list()


@dataclass(kw_only=True)
class UserDataSpec:
    name: str | None = None
    data: Any = field(default=None, metadata={"check": _json_problem})
    is_ephemeral: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_mode: str = field(default="product", metadata=one_of(*PARAMETER_MODES))
    use_parameters: list[str] = _list()


@dataclass(kw_only=True)
class FailureHandlerRuleSpec:
    exit_codes: list[int] = _list()
    match_all_exit_codes: bool = False
    recovery_script: str | None = None
    max_retries: int = field(default=3, metadata=at_least(0))


@dataclass(kw_only=True)
class FailureHandlerSpec:
    name: str
    rules: list[FailureHandlerRuleSpec] = field(metadata=items("rule", check=_not_empty))


@dataclass(kw_only=True)
class SlurmSchedulerSpec:
    name: str | None = None  # optional (the seed's reference); a default name is generated
    account: str | None = None  # required unless slurm_defaults gives an account
    partition: str | None = None
    nodes: int = field(default=1, metadata=at_least(1))
    walltime: str = field(default="01:00:00", metadata={"check": _walltime_problem})
    mem: str | None = None
    gres: str | None = None
    qos: str | None = None
    ntasks_per_node: int | None = field(default=None, metadata=at_least(1))
    tmp: str | None = None
    extra: str | None = None


@dataclass(kw_only=True)
class WorkflowActionSpec:
    trigger_type: str = field(metadata=one_of(*TRIGGER_TYPES))
    action_type: str = field(metadata=one_of(*ACTION_TYPES))
    jobs: list[str] = _list()
    job_name_regexes: list[str] = _list()
    commands: list[str] = _list()
    scheduler: str | None = None
    scheduler_type: str | None = field(default=None, metadata=one_of(*SCHEDULER_TYPES))
    num_allocations: int | None = field(default=None, metadata=at_least(1))
    start_one_worker_per_node: bool | None = None
    max_parallel_jobs: int | None = field(default=None, metadata=at_least(1))
    # None: the trigger's default: once per worker for worker triggers (D15, docs/decisions.md).
    persistent: bool | None = None


@dataclass(kw_only=True)
class ResourceMonitorSpec:
    """Every field is optional: a partial block overrides only the keys it names
    (D10, docs/decisions.md).
    Other keys (upstream's own specs carry ``metrics:``) are ignored with a warning, as
    upstream ignores them (D17, docs/decisions.md)."""

    ignores_unknown_fields: ClassVar[bool] = True

    enabled: bool | None = None
    granularity: str | None = field(default=None, metadata=one_of(*GRANULARITIES))
    sample_interval_seconds: int | None = field(default=None, metadata=at_least(1))
    generate_plots: bool | None = None


@dataclass(kw_only=True)
class WorkflowSpec:
    name: str
    jobs: list[JobSpec] = field(metadata=items("job", check=_not_empty))
    user: str | None = None
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    files: list[FileSpec] = field(default_factory=list, metadata=items("file"))
    user_data: list[UserDataSpec] = field(default_factory=list, metadata=items("user data"))
    resource_requirements: list[ResourceRequirementsSpec] = field(
        default_factory=list, metadata=items("resource requirements")
    )
    failure_handlers: list[FailureHandlerSpec] = field(
        default_factory=list, metadata=items("failure handler")
    )
    slurm_schedulers: list[SlurmSchedulerSpec] = field(
        default_factory=list, metadata=items("slurm scheduler")
    )
    slurm_defaults: dict[str, Any] = field(default_factory=dict)
    resource_monitor: ResourceMonitorSpec | None = None
    actions: list[WorkflowActionSpec] = field(default_factory=list, metadata=items("action"))
    use_pending_failed: bool = False
    compute_node_expiration_buffer_seconds: int | None = field(default=None, metadata=at_least(0))
    compute_node_wait_for_new_jobs_seconds: int | None = field(default=None, metadata=at_least(0))
    compute_node_ignore_workflow_completion: bool | None = None
    compute_node_wait_for_healthy_database_minutes: int | None = field(
        default=None, metadata=at_least(0)
    )
    compute_node_min_time_for_new_jobs_seconds: int | None = field(
        default=None, metadata=at_least(0)
    )
    jobs_sort_method: str | None = field(default=None, metadata=one_of(*JOBS_SORT_METHODS))
