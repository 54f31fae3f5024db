"""Field lists of the HTTP contract that both the server and its clients spell out.

The server uses them to accept a record's settable fields; the CLI uses the same lists to copy
records between servers (``torc workflows export/import``) and to build spec payloads. One
list each, so adding a field to the contract is one edit.
"""

from __future__ import annotations

# How a workflow's runners behave (a spec sets them as they are).
WORKFLOW_COMPUTE_NODE_FIELDS: tuple[str, ...] = (
    "compute_node_expiration_buffer_seconds",
    "compute_node_wait_for_new_jobs_seconds",
    "compute_node_ignore_workflow_completion",
    "compute_node_wait_for_healthy_database_minutes",
    "compute_node_min_time_for_new_jobs_seconds",
)

# The workflow fields a client sets; the server fills in id, timestamp and status itself.
WORKFLOW_FIELDS: tuple[str, ...] = (
    "name",
    "user",
    "description",
    *WORKFLOW_COMPUTE_NODE_FIELDS,
    "jobs_sort_method",
    "resource_monitor_config",
    "slurm_defaults",
    "use_pending_failed",
)

# The orders a runner's claim may ask the ready jobs in (``jobs_sort_method``).
JOBS_SORT_METHODS: tuple[str, ...] = ("gpus_runtime_memory", "gpus_memory_runtime", "none")

# Workflow fields whose value is a JSON document stored as text.
WORKFLOW_JSON_FIELDS: frozenset[str] = frozenset({"resource_monitor_config", "slurm_defaults"})

# A resource requirements record's quantities (besides its name).
RESOURCE_REQUIREMENTS_FIELDS: tuple[str, ...] = (
    "num_cpus",
    "num_gpus",
    "num_nodes",
    "memory",
    "runtime",
)

# A Slurm scheduler's required fields, then the optional ones (``sbatch`` options).
SLURM_SCHEDULER_REQUIRED_FIELDS: tuple[str, ...] = ("name", "account", "nodes", "walltime")
SLURM_SCHEDULER_OPTIONAL_FIELDS: tuple[str, ...] = (
    "gres",
    "mem",
    "ntasks_per_node",
    "partition",
    "qos",
    "tmp",
    "extra",
)
SLURM_SCHEDULER_FIELDS = SLURM_SCHEDULER_REQUIRED_FIELDS + SLURM_SCHEDULER_OPTIONAL_FIELDS

# Workflow actions: what fires them, what they do, and where ``schedule_nodes`` asks.
TRIGGER_TYPES: tuple[str, ...] = (
    "on_workflow_start",
    "on_workflow_complete",
    "on_jobs_ready",
    "on_jobs_complete",
    "on_worker_start",
    "on_worker_complete",
)
ACTION_TYPES: tuple[str, ...] = ("run_commands", "schedule_nodes")
# Actions of these triggers are persistent (once per worker) unless created with
# ``persistent: false`` (D15, docs/decisions.md; upstream defaults every trigger to false).
WORKER_TRIGGERS: tuple[str, ...] = ("on_worker_start", "on_worker_complete")
SCHEDULER_TYPES: tuple[str, ...] = ("slurm", "local")

# The options of a ``schedule_nodes`` workflow action, besides its commands.
SCHEDULE_NODES_OPTIONS: tuple[str, ...] = (
    "scheduler_type",
    "num_allocations",
    "start_one_worker_per_node",
    "max_parallel_jobs",
)
