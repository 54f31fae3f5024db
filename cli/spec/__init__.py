"""Workflow specification files: load, validate and expand them into one creation payload.

Public API::

    raw = load_spec(path)            # LoadedSpec: .data, .path, .format, .locate(path_tuple)
    payload = build_payload(path_or_loaded, user=None, resource_monitoring=True)
    result = validate_spec(path_or_loaded, user=None, resource_monitoring=True, skip_checks=False)
    text = format_validation(result)
    compiled = compile_spec(...)     # .payload plus .warnings, for callers that print warnings

Every problem is a :class:`SpecError` whose ``str`` is one line, ``file:line:col: message``
(or ``file: message`` when the position is unknown).

Formats
-------
The extension picks the parser (``.yaml``/``.yml``, ``.json``, ``.json5``, ``.kdl``). If it
fails, the other parsers are tried; if all fail, the extension's own error is reported (YAML's
for unknown extensions). Duplicate keys in YAML/JSON/JSON5 mappings are errors. YAML is read
with YAML 1.2 core-schema resolution (:mod:`cli.spec.yaml12`), merge keys included.

KDL mapping
-----------
Top level::

    name "my_workflow"                  // also: user, description, use_pending_failed #true,
    jobs_sort_method "none"             // and the five compute_node_* settings
    parameters { lr "[0.1,0.2]"; i "1:10" }
    resource_monitor { enabled #true; granularity "summary"; sample_interval_seconds 5 }
    slurm_defaults { qos "high"; constraint "cpu" }
    job "name" { ... }                  // one node per collection item, name as the argument
    file "name" path="out/f.txt"        // fields as properties or as child nodes
    user_data "name" { is_ephemeral #true; data "{\\"k\\": 1}" }   // data: a JSON string,
                                        // or child nodes forming a mapping
    resource_requirements "name" { num_cpus 2; memory "4g"; runtime "PT30M" }
    failure_handler "name" { rule { exit_codes 10 11; max_retries 3 } }
    slurm_scheduler "name" { account "acct"; walltime "04:00:00" }
    action { trigger_type "on_jobs_ready"; action_type "run_commands"; job "a"; command "x" }

Inside ``job``: scalar nodes ``command``, ``invocation_script``, ``resource_requirements``
(or, inline, ``resource_requirements { num_cpus 2; memory "4g" }``), ``failure_handler``,
``scheduler``, ``cancel_on_blocking_job_failure``,
``supports_termination``, ``parameter_mode``; ``parameters { ... }``; repeatable list nodes
taking one or more values: ``depends_on`` (alias ``depends_on_job``), ``depends_on_regex``,
``input_file``, ``output_file``, ``input_file_regex``, ``output_file_regex``,
``input_user_data``, ``output_user_data``, ``input_user_data_regex``,
``output_user_data_regex`` and ``use_parameters "a" "b"`` (plural spellings work too).
Files and user data accept ``parameters``, ``parameter_mode`` and ``use_parameters``. In
``action``, repeat ``command``, ``job`` and ``job_name_regex``. In ``parameters``, a node with
several values (``bs 16 32 64``) is a list. Unknown nodes are errors.

Decisions where the product docs are silent or ambiguous
--------------------------------------------------------
* Parameters: ranges include the end; without a step, ``5:1`` counts down; a float range's
  third number is always a step, computed exactly (``0.1:1.0:0.1`` = 0.1 ... 1.0); strings made
  only of digits, signs, dots and colons must be valid ranges. ``{p}`` renders ints with
  ``str`` and floats in shortest form without exponents (``1.0``, ``0.00001``); ``{p:spec}``
  is Python's ``format``; a spec that does not fit the value (``{name:03d}`` on a string) is an
  error.
* ``use_parameters`` and local ``parameters`` merge: shared ones first in ``use_parameters``
  order, then local ones; a local parameter replaces a shared one of the same name.
* Fan-in (D3, docs/decisions.md): a job with parameters but none in its name is one job;
  ALL its list fields (dependencies, inputs, outputs and regexes) expand over every
  combination; its command and other scalars are not substituted (a warning says so if they
  hold placeholders). A file or user data entry with parameters must use one in its name.
* Regex dependencies never match the job itself. ``^name$`` patterns without other regex
  syntax are resolved by lookup, so per-instance templated regexes stay fast.
* Cycle detection follows explicit and implied (file / user data) dependencies. A job that
  reads a file or user data entry it also writes keeps it as an output only, so it never waits
  for itself.
* ``skip_checks`` turns scheduler node checks (nodes, runtime vs walltime, memory vs mem,
  GPUs vs gres, for jobs with an explicit scheduler) into warnings.
* ``resource_monitoring=False`` disables monitoring even if the spec enables it.
* ``max_jobs`` (default 1,000,000; the client setting ``max_jobs``): a spec whose jobs, files
  or user data would expand to more entries is refused before anything is expanded, naming
  the entry that contributes most and how to raise the limit.
* Expansion streams: ``compile_spec`` makes jobs and files as they are read (``Sweep``),
  keeps job records as JSON text (``JobRecords``, spilled to a temporary file) and files as
  ``Mapped`` views; ``CompiledSpec.request_body()`` is the body to send. ``build_payload``
  returns plain lists.
* A slurm scheduler may omit ``account`` when ``slurm_defaults`` sets one. Its ``name`` is
  optional (the seed's reference): an unnamed one becomes ``scheduler_N`` (its position, or
  the next free number).
* A job's ``resource_requirements`` may be an inline mapping; it becomes an entry named
  after the job (``_2``... if taken). Integers must fit in signed 64 bits.
* Anything shaped like ``${files.``/``${file.``/``${user_data.``/``${userdata.`` that is not
  exactly a valid reference is an error; other ``${...}`` (shell variables) stay as written.
* The payload omits empty lists and unset optional values; ``jobs_sort_method`` defaults to
  ``gpus_runtime_memory`` and ``use_pending_failed`` to false.
* The resource requirements name ``default`` is reserved for the server's own entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.spec.errors import SpecError
from cli.spec.loader import LoadedSpec, load_spec
from cli.spec.payload import DEFAULT_MAX_JOBS, CompiledSpec, compile_spec
from cli.spec.validate import format_validation, validate_spec


def build_payload(
    source: str | Path | LoadedSpec,
    *,
    user: str | None = None,
    resource_monitoring: bool = True,
    skip_checks: bool = False,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> dict[str, Any]:
    """The expanded creation payload, its jobs and files as lists of dicts; raises SpecError
    on the first problem. (``compile_spec`` makes them as they are read, for big specs.)"""
    payload = compile_spec(
        source,
        user=user,
        resource_monitoring=resource_monitoring,
        skip_checks=skip_checks,
        max_jobs=max_jobs,
    ).payload
    return {**payload, "jobs": list(payload["jobs"]), "files": list(payload["files"])}


__all__ = [
    "CompiledSpec",
    "LoadedSpec",
    "SpecError",
    "build_payload",
    "compile_spec",
    "format_validation",
    "load_spec",
    "validate_spec",
]
