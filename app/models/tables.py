"""Peewee models: one per table of the upstream Torc schema.

Foreign-key fields are named after their column (``workflow_id``) and never lazy-load, so a
row's ``workflow_id`` is the integer, and ``.dicts()`` queries use the wire field names.
Deleting a workflow cascades to every table that belongs to it.
"""

from __future__ import annotations

import peewee as pw
from playhouse.sqlite_ext import AutoIncrementField

from app.models.db import database


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


def record_id() -> pw.AutoField:
    """An integer key that is never reused, even after the newest row is deleted
    (AUTOINCREMENT; migration 0002): clients holding a deleted record's ID must not find
    another record under it."""
    return AutoIncrementField()


def workflow_fk(**kwargs: object) -> pw.ForeignKeyField:
    return pw.ForeignKeyField(
        Workflow, column_name="workflow_id", on_delete="CASCADE", lazy_load=False, **kwargs
    )


class Workflow(BaseModel):
    id = record_id()
    name = pw.TextField()
    user = pw.TextField()
    description = pw.TextField(null=True)
    timestamp = pw.TextField()
    compute_node_expiration_buffer_seconds = pw.IntegerField(default=60)
    compute_node_wait_for_new_jobs_seconds = pw.IntegerField(default=90)
    compute_node_ignore_workflow_completion = pw.BooleanField(default=False)
    compute_node_wait_for_healthy_database_minutes = pw.IntegerField(default=20)
    compute_node_min_time_for_new_jobs_seconds = pw.IntegerField(default=300)
    jobs_sort_method = pw.TextField(default="gpus_runtime_memory")
    resource_monitor_config = pw.TextField(null=True)
    slurm_defaults = pw.TextField(null=True)
    use_pending_failed = pw.BooleanField(default=False)
    # Run state (upstream keeps it in a workflow_status row; one row per workflow here).
    run_id = pw.IntegerField(default=0)
    is_canceled = pw.BooleanField(default=False)
    is_archived = pw.BooleanField(default=False)
    has_detected_need_to_run_completion_script = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("user",), False),)


class ResourceRequirements(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    name = pw.TextField()
    num_cpus = pw.IntegerField(default=1)
    num_gpus = pw.IntegerField(default=0)
    num_nodes = pw.IntegerField(default=1)
    memory = pw.TextField(default="1m")
    runtime = pw.TextField(default="P0DT1M")
    # Parsed forms of memory/runtime, so claiming can filter and sort in SQL.
    memory_bytes = pw.BigIntegerField(default=1024 * 1024)
    runtime_seconds = pw.FloatField(default=60.0)

    class Meta:
        # Not unique: upstream allows repeated names through the API (migration 0005).
        indexes = ((("workflow_id", "name"), False),)


class FailureHandler(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    name = pw.TextField()
    rules = pw.TextField()

    class Meta:
        indexes = ((("workflow_id", "name"), True),)


class SlurmScheduler(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    name = pw.TextField(null=True)
    account = pw.TextField()
    gres = pw.TextField(null=True)
    mem = pw.TextField(null=True)
    nodes = pw.IntegerField()
    ntasks_per_node = pw.IntegerField(null=True)
    partition = pw.TextField(null=True)
    qos = pw.TextField(null=True, default="normal")
    tmp = pw.TextField(null=True)
    walltime = pw.TextField()
    extra = pw.TextField(null=True)


class LocalScheduler(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    name = pw.TextField(default="default")
    memory = pw.TextField(null=True)
    num_cpus = pw.IntegerField(null=True)


class Job(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    name = pw.TextField()
    command = pw.TextField()
    invocation_script = pw.TextField(null=True)
    status = pw.IntegerField(default=0)
    cancel_on_blocking_job_failure = pw.BooleanField(default=True)
    supports_termination = pw.BooleanField(default=False)
    resource_requirements_id = pw.ForeignKeyField(
        ResourceRequirements,
        column_name="resource_requirements_id",
        null=True,
        on_delete="RESTRICT",
        lazy_load=False,
    )
    # Slurm or local scheduler config; not a foreign key because it may point at either table.
    scheduler_id = pw.IntegerField(null=True)
    failure_handler_id = pw.ForeignKeyField(
        FailureHandler,
        column_name="failure_handler_id",
        null=True,
        on_delete="SET NULL",
        lazy_load=False,
    )
    attempt_id = pw.IntegerField(default=1)
    # Internal bookkeeping, never sent on the wire.
    input_hash = pw.TextField(null=True)
    active_compute_node_id = pw.IntegerField(null=True)
    # Number of blockers not yet done; maintained by the lifecycle while the job is blocked.
    unfinished_blockers = pw.IntegerField(default=0)
    # A blocker failed in the current run: cancel instead of release (D11, docs/decisions.md).
    has_failed_blocker = pw.BooleanField(default=False)

    class Meta:
        indexes = (
            (("workflow_id", "status", "resource_requirements_id"), False),
            (("workflow_id", "status"), False),  # ready jobs in ID order (migration 0003)
            (("workflow_id", "name"), False),
        )


class JobDependsOn(BaseModel):
    job_id = pw.ForeignKeyField(Job, column_name="job_id", on_delete="CASCADE", lazy_load=False)
    depends_on_job_id = pw.ForeignKeyField(
        Job, column_name="depends_on_job_id", on_delete="CASCADE", lazy_load=False
    )
    workflow_id = workflow_fk()

    class Meta:
        primary_key = pw.CompositeKey("job_id", "depends_on_job_id")
        indexes = ((("depends_on_job_id",), False), (("workflow_id",), False))


class File(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    name = pw.TextField()
    path = pw.TextField()
    st_mtime = pw.FloatField(null=True)

    class Meta:
        indexes = ((("workflow_id", "name"), False),)


class UserData(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    is_ephemeral = pw.BooleanField(default=False)
    name = pw.TextField()
    data = pw.TextField(null=True)

    class Meta:
        indexes = ((("workflow_id", "name"), False),)


def _job_link_model(class_name: str, target: type[BaseModel], column: str) -> type[BaseModel]:
    """A job-to-file or job-to-user-data relation table keyed by (job_id, <column>)."""
    meta = type(
        "Meta",
        (),
        {
            "primary_key": pw.CompositeKey("job_id", column),
            "indexes": (((column,), False), (("workflow_id",), False)),
        },
    )
    attrs = {
        "__module__": __name__,
        "job_id": pw.ForeignKeyField(
            Job, column_name="job_id", on_delete="CASCADE", lazy_load=False
        ),
        column: pw.ForeignKeyField(
            target, column_name=column, on_delete="CASCADE", lazy_load=False
        ),
        "workflow_id": workflow_fk(),
        "Meta": meta,
    }
    return type(class_name, (BaseModel,), attrs)


JobInputFile = _job_link_model("JobInputFile", File, "file_id")
JobOutputFile = _job_link_model("JobOutputFile", File, "file_id")
JobInputUserData = _job_link_model("JobInputUserData", UserData, "user_data_id")
JobOutputUserData = _job_link_model("JobOutputUserData", UserData, "user_data_id")


class Result(BaseModel):
    id = record_id()
    job_id = pw.ForeignKeyField(Job, column_name="job_id", on_delete="CASCADE", lazy_load=False)
    workflow_id = workflow_fk()
    run_id = pw.IntegerField()
    attempt_id = pw.IntegerField(default=1)
    compute_node_id = pw.IntegerField()
    return_code = pw.IntegerField()
    exec_time_minutes = pw.FloatField()
    completion_time = pw.TextField()
    status = pw.IntegerField()
    peak_memory_bytes = pw.BigIntegerField(null=True)
    avg_memory_bytes = pw.BigIntegerField(null=True)
    peak_cpu_percent = pw.FloatField(null=True)
    avg_cpu_percent = pw.FloatField(null=True)

    class Meta:
        indexes = ((("workflow_id", "run_id"), False), (("job_id", "run_id"), False))


class WorkflowResult(BaseModel):
    """The latest result of each job in the current run."""

    workflow_id = workflow_fk()
    job_id = pw.ForeignKeyField(
        Job, column_name="job_id", on_delete="CASCADE", lazy_load=False, primary_key=True
    )
    result_id = pw.ForeignKeyField(
        Result, column_name="result_id", on_delete="CASCADE", lazy_load=False
    )

    class Meta:
        indexes = ((("workflow_id",), False),)


class Event(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    timestamp = pw.BigIntegerField()
    category = pw.TextField(null=True)
    data = pw.TextField()

    class Meta:
        indexes = ((("workflow_id", "timestamp"), False), (("workflow_id", "category"), False))


class ComputeNode(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    hostname = pw.TextField()
    pid = pw.IntegerField()
    start_time = pw.TextField()
    duration_seconds = pw.FloatField(null=True)
    is_active = pw.BooleanField(null=True)
    num_cpus = pw.IntegerField()
    memory_gb = pw.FloatField()
    num_gpus = pw.IntegerField()
    num_nodes = pw.IntegerField()
    time_limit = pw.TextField(null=True)
    scheduler_config_id = pw.IntegerField(null=True)
    compute_node_type = pw.TextField()
    scheduler = pw.TextField(null=True)
    # Copied from ``scheduler`` so orphan checks and filters can use an index.
    scheduled_compute_node_id = pw.IntegerField(null=True, index=True)
    # Extension: epoch seconds of the runner's last sign of life (orphan detection).
    last_heartbeat = pw.FloatField(null=True)

    class Meta:
        indexes = ((("workflow_id", "is_active"), False),)


class ScheduledComputeNode(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    scheduler_id = pw.IntegerField()
    scheduler_config_id = pw.IntegerField()
    scheduler_type = pw.TextField()
    status = pw.TextField()

    class Meta:
        indexes = ((("workflow_id", "status"), False),)


class WorkflowAction(BaseModel):
    id = record_id()
    workflow_id = workflow_fk()
    trigger_type = pw.TextField()
    action_type = pw.TextField()
    action_config = pw.TextField()
    job_ids = pw.TextField(null=True)
    trigger_count = pw.IntegerField(default=0)
    required_triggers = pw.IntegerField(default=1)
    executed = pw.BooleanField(default=False)
    executed_at = pw.TextField(null=True)
    executed_by = pw.IntegerField(null=True)
    persistent = pw.BooleanField(default=False)
    is_recovery = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("workflow_id", "trigger_type"), False),)


class WorkflowActionJob(BaseModel):
    """Which jobs a job-triggered action watches, and whether each has counted yet."""

    action_id = pw.ForeignKeyField(
        WorkflowAction, column_name="action_id", on_delete="CASCADE", lazy_load=False
    )
    job_id = pw.ForeignKeyField(Job, column_name="job_id", on_delete="CASCADE", lazy_load=False)
    triggered = pw.BooleanField(default=False)

    class Meta:
        primary_key = pw.CompositeKey("action_id", "job_id")
        indexes = ((("job_id",), False),)


class RemoteWorker(BaseModel):
    workflow_id = workflow_fk()
    worker = pw.TextField()

    class Meta:
        primary_key = pw.CompositeKey("workflow_id", "worker")


class AccessGroup(BaseModel):
    id = record_id()
    name = pw.TextField(unique=True)
    description = pw.TextField(null=True)
    created_at = pw.TextField()
    is_system = pw.BooleanField(default=False)


class UserGroupMembership(BaseModel):
    id = record_id()
    user_name = pw.TextField()
    group_id = pw.ForeignKeyField(
        AccessGroup, column_name="group_id", on_delete="CASCADE", lazy_load=False
    )
    role = pw.TextField(default="member")
    created_at = pw.TextField()

    class Meta:
        indexes = ((("user_name", "group_id"), True),)


class WorkflowAccessGroup(BaseModel):
    workflow_id = workflow_fk()
    group_id = pw.ForeignKeyField(
        AccessGroup, column_name="group_id", on_delete="CASCADE", lazy_load=False
    )
    created_at = pw.TextField()

    class Meta:
        primary_key = pw.CompositeKey("workflow_id", "group_id")


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Workflow,
    ResourceRequirements,
    FailureHandler,
    SlurmScheduler,
    LocalScheduler,
    Job,
    JobDependsOn,
    File,
    UserData,
    JobInputFile,
    JobOutputFile,
    JobInputUserData,
    JobOutputUserData,
    Result,
    WorkflowResult,
    Event,
    ComputeNode,
    ScheduledComputeNode,
    WorkflowAction,
    WorkflowActionJob,
    RemoteWorker,
    AccessGroup,
    UserGroupMembership,
    WorkflowAccessGroup,
)
