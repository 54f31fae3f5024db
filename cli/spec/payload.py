"""The pipeline from a spec file to the creation payload, stage by stage.

Stages: schema check -> parameter expansion -> named components -> job references -> cycles ->
actions and scheduler checks. In collect mode (the dry run) every stage runs, so one pass
reports every problem it can: an entry with errors is marked broken and what follows from it
is not reported again (see ``errors``); only a workflow that could not be built stops it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from app.shared.contract import WORKFLOW_COMPUTE_NODE_FIELDS
from cli.spec.actions import action_records
from cli.spec.checks import check_scheduler_fit, heterogeneous_scheduler_warning
from cli.spec.components import (
    failure_handler_records,
    name_unnamed_schedulers,
    resource_monitor_config,
    resource_requirements_records,
    slurm_defaults,
    slurm_scheduler_records,
    take_inline_resource_requirements,
)
from cli.spec.errors import Diagnostics, StageFailed
from cli.spec.expand import (
    Expanded,
    ExpandedFile,
    ExpandedFiles,
    ExpandedJobs,
    ExpandedUserData,
    expand_file,
    expand_job,
    expand_user_data,
    expansion_count,
    parameter_set,
    parse_shared_parameters,
)
from cli.spec.graph import DependencyGraph, describe_cycle
from cli.spec.loader import LoadedSpec, load_spec
from cli.spec.models import WorkflowSpec
from cli.spec.parameters import PLACEHOLDER, Parameter, ParameterSet
from cli.spec.records import JobRecords, Mapped, request_body
from cli.spec.resolve import Catalog, JobResolver, index_names
from cli.spec.schema import build_workflow

DEFAULT_JOBS_SORT_METHOD = "gpus_runtime_memory"
_OPTIONAL_WORKFLOW_FIELDS = ("description", *WORKFLOW_COMPUTE_NODE_FIELDS)


# The most jobs (and files, and user data records) a spec may expand to unless the client
# setting max_jobs says otherwise: a million jobs take about 2 GB and a minute to expand and
# store; a typo such as "1:1000000000" should not take the machine down first.
DEFAULT_MAX_JOBS = 1_000_000
_RAISE_LIMIT = (
    "to allow more, set max_jobs in the [client] section of torc.toml or TORC_CLIENT__MAX_JOBS"
)


@dataclass
class Options:
    user: str | None = None
    resource_monitoring: bool = True
    skip_checks: bool = False
    default_user: str | None = None  # owner when neither ``user`` nor the spec names one
    max_jobs: int = DEFAULT_MAX_JOBS


@dataclass
class CompiledSpec:
    """The payload to POST, the warnings found on the way, and the dry-run summary counts.
    The payload's ``jobs`` are ``JobRecords`` (JSON text, read back on demand)."""

    payload: dict[str, Any]
    warnings: list[str]
    compilation: Compilation

    def request_body(self) -> IO[bytes]:
        """The payload as a JSON file to send (the job records copied, never parsed)."""
        return request_body(self.payload)


def as_loaded(source: str | Path | LoadedSpec) -> LoadedSpec:
    return source if isinstance(source, LoadedSpec) else load_spec(source)


def compile_spec(
    source: str | Path | LoadedSpec,
    *,
    user: str | None = None,
    resource_monitoring: bool = True,
    skip_checks: bool = False,
    default_user: str | None = None,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> CompiledSpec:
    """Like build_payload, but also returns the warnings; raises SpecError on the first error."""
    loaded = as_loaded(source)
    diag = Diagnostics(loaded.path, loaded.locate, fail_fast=True)
    options = Options(
        user, resource_monitoring, skip_checks, default_user=default_user, max_jobs=max_jobs
    )
    compilation = Compilation(loaded, diag, options)
    return CompiledSpec(compilation.run(), diag.warnings, compilation)


@dataclass
class Compilation:
    """One run of the pipeline; its attributes fill in as the stages succeed."""

    loaded: LoadedSpec
    diag: Diagnostics
    options: Options
    spec: WorkflowSpec | None = None
    # Made as they are read (expand.ExpandedJobs); their records stream into payload["jobs"].
    jobs: ExpandedJobs = field(default_factory=lambda: ExpandedJobs([]))
    files: ExpandedFiles = field(default_factory=lambda: ExpandedFiles([]))
    user_data: list[ExpandedUserData] = field(default_factory=list)
    expanded: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    graph: DependencyGraph = field(default_factory=DependencyGraph)
    # (collection key, spec index) -> the parameter names that entry expands over
    parameter_names: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    # (collection key, spec index) of entries whose parameters have errors
    broken_parameters: set[tuple[str, int]] = field(default_factory=set)

    def run(self) -> dict[str, Any]:
        spec = self.spec = build_workflow(self.loaded.data, self.diag)
        if spec is None:  # the workflow itself could not be built: nothing more to check
            raise StageFailed
        self._stage_done()
        inline_resources = take_inline_resource_requirements(spec)
        name_unnamed_schedulers(spec)
        self._expand(spec)
        self._stage_done()
        if inline_resources:
            self.jobs.assign_resource_requirements(inline_resources)
        self.expanded = True
        catalog = self._components(spec)
        self._stage_done()
        self._jobs(catalog)
        self._stage_done()
        self._cycles()
        self.payload["actions"] = action_records(spec.actions, catalog, self.diag)
        self._scheduler_checks(spec)
        self.diag.checkpoint()
        return self.payload

    def _stage_done(self) -> None:
        """Fail fast stops at the first error anyway; collect mode goes on to the end."""
        if self.diag.fail_fast:
            self.diag.checkpoint()

    def _expand(self, spec: WorkflowSpec) -> None:
        shared = parse_shared_parameters(spec.parameters, self.diag)
        collections = (
            ("files", "file", spec.files, expand_file),
            ("user_data", "user data", spec.user_data, expand_user_data),
            ("jobs", "job", spec.jobs, expand_job),
        )
        planned = [
            (key, label, self._parameter_sets(key, label, specs, shared), expander)
            for key, label, specs, expander in collections
        ]
        # Counted before anything is expanded: a spec over the limit costs nothing (and
        # nothing after it is checked: the spec's jobs are unknown).
        if any(self._over_limit(key, label, sets) for key, label, sets, _ in planned):
            raise StageFailed
        expanded = {key: self._expanded(key, sets, expander) for key, _, sets, expander in planned}
        self.files = ExpandedFiles(expanded["files"])
        self.user_data = [item for group in expanded["user_data"] for item in group]
        self.jobs = ExpandedJobs(expanded["jobs"])
        if not self.jobs and not self.diag.errors:
            self.diag.error(
                "no jobs remain after parameter expansion (a parameter with no "
                'values, such as "[]", removes the jobs that use it)',
                ("jobs",),
            )

    def _parameter_sets(
        self, key: str, label: str, specs: Sequence[Any], shared: dict[str, Parameter]
    ) -> list[tuple[Any, ParameterSet | None]]:
        sets = []
        for index, item in enumerate(specs):
            where = f"{label} '{item.name}'" if item.name is not None else f"{label} #{index + 1}"
            errors = len(self.diag.errors)
            params = parameter_set(item, shared, where, (key, index), self.diag)
            if len(self.diag.errors) > errors:
                self.broken_parameters.add((key, index))
            if params is not None:
                self.parameter_names[(key, index)] = tuple(p.name for p in params.parameters)
            sets.append((item, params))
        return sets

    def _expanded(
        self, key: str, sets: list[tuple[Any, ParameterSet | None]], expander: Any
    ) -> list[Sequence[Any]]:
        """Every entry's expansion; an entry with errors (its parameters or its expansion) is
        marked broken, since what it would have expanded to is unknown."""
        expanded: list[Sequence[Any]] = []
        for index, (item, params) in enumerate(sets):
            errors = len(self.diag.errors)
            expanded.append(expander(item, index, params, self.diag))
            if len(self.diag.errors) > errors or (key, index) in self.broken_parameters:
                self.diag.mark_broken((key, index), item.name)
        return expanded

    def _over_limit(
        self, key: str, label: str, sets: list[tuple[Any, ParameterSet | None]]
    ) -> bool:
        limit = self.options.max_jobs
        counts = [expansion_count(item, params) for item, params in sets]
        if sum(counts) > limit:
            biggest = max(range(len(counts)), key=counts.__getitem__)
            kind = "jobs" if key == "jobs" else f"{label} entries"
            self.diag.error(
                f"the spec expands to {sum(counts):,} {kind} ({counts[biggest]:,} from "
                f"{label} '{sets[biggest][0].name}'), over the limit of {limit:,}; "
                f"{_RAISE_LIMIT}",
                (key, biggest),
            )
            return True
        for index, (item, params) in enumerate(sets):
            # A fan-in job is one job, but its lists are rendered once per combination.
            if params is not None and params.count() > limit:
                self.diag.error(
                    f"{label} '{item.name}' fans in over {params.count():,} parameter "
                    f"combinations, over the limit of {limit:,}; {_RAISE_LIMIT}",
                    (key, index),
                )
                return True
        return False

    def _components(self, spec: WorkflowSpec) -> Catalog:
        rr_records, rr_index = resource_requirements_records(spec.resource_requirements, self.diag)
        fh_records, fh_index = failure_handler_records(spec.failure_handlers, self.diag)
        defaults = slurm_defaults(spec.slurm_defaults, self.diag)
        scheduler_records, scheduler_index = slurm_scheduler_records(
            spec.slurm_schedulers, defaults, self.diag
        )
        self.payload.update(
            workflow=self._workflow_record(spec, defaults),
            resource_requirements=rr_records,
            failure_handlers=fh_records,
            slurm_schedulers=scheduler_records,
            files=Mapped(self.files, _file_record),
            user_data=[
                {"name": u.name, "data": u.data, "is_ephemeral": u.is_ephemeral}
                for u in self.user_data
            ],
        )
        return Catalog(
            jobs=self._index(self.jobs.names(), _SpecIndexes(self.jobs), "job", "jobs", spec.jobs),
            files=self._index(
                self.files.names(),
                _SpecIndexes(self.files),
                "file",
                "files",
                spec.files,
            ),
            user_data=self._index(
                (u.name for u in self.user_data),
                [u.spec_index for u in self.user_data],
                "user data",
                "user_data",
                spec.user_data,
            ),
            resource_requirements=rr_index,
            failure_handlers=fh_index,
            slurm_schedulers=scheduler_index,
            file_path=self.files.path,
        )

    def _index(
        self,
        names: Iterable[str],
        spec_indexes: Sequence[int],
        kind: str,
        key: str,
        specs: Sequence[Any],
    ) -> dict[str, int]:
        def hint(spec_index: int) -> str:
            names = self.parameter_names.get((key, spec_index), ())
            return _unused_parameters_hint(kind, specs[spec_index].name, names)

        return index_names(names, spec_indexes, kind, key, self.diag, hint)

    def _workflow_record(self, spec: WorkflowSpec, defaults: dict[str, Any]) -> dict[str, Any]:
        user = (
            self.options.user
            or spec.user
            or self.options.default_user
            or os.environ.get("USER")
            or "unknown"
        )
        record: dict[str, Any] = {"name": spec.name, "user": user}
        for key in _OPTIONAL_WORKFLOW_FIELDS:
            if getattr(spec, key) is not None:
                record[key] = getattr(spec, key)
        record["jobs_sort_method"] = spec.jobs_sort_method or DEFAULT_JOBS_SORT_METHOD
        record["resource_monitor_config"] = resource_monitor_config(
            spec.resource_monitor, self.options.resource_monitoring
        )
        if defaults:
            record["slurm_defaults"] = json.dumps(defaults)
        record["use_pending_failed"] = spec.use_pending_failed
        return record

    def _jobs(self, catalog: Catalog) -> None:
        """Each job is made, resolved, and stored as JSON text in turn: none is kept whole."""
        resolver = JobResolver(catalog, self.diag)
        records = self.payload["jobs"] = JobRecords()
        for position, job in enumerate(self.jobs):
            record = resolver.resolve(job, position)
            records.append(record)
            self.graph.add(record)

    def _cycles(self) -> None:
        cycle = self.graph.find_cycle()
        if cycle:
            self.diag.error(
                describe_cycle(cycle, self.payload["jobs"]),
                ("jobs", self.jobs.spec_index(cycle[0])),
            )

    def _scheduler_checks(self, spec: WorkflowSpec) -> None:
        resources = {rr.name: rr for rr in spec.resource_requirements}
        # Every scheduler has a name by now (components.name_schedulers).
        schedulers = {cast(str, s.name): s for s in spec.slurm_schedulers}
        check_scheduler_fit(self.jobs, resources, schedulers, self.options.skip_checks, self.diag)
        warning = heterogeneous_scheduler_warning(
            self.jobs, spec.slurm_schedulers, spec.jobs_sort_method
        )
        if warning:
            self.diag.warn(warning)


class _SpecIndexes(Sequence[int]):
    """Position -> spec index of expanded jobs or files, looked up only for duplicates."""

    def __init__(self, expanded: Expanded[Any]) -> None:
        self._expanded = expanded

    def __len__(self) -> int:
        return len(self._expanded)

    def __getitem__(self, position: Any) -> Any:
        return self._expanded.spec_index(position)


def _file_record(file: ExpandedFile) -> dict[str, Any]:
    return {"name": file.name, "path": file.path}


def _unused_parameters_hint(kind: str, name: str, parameters: Sequence[str]) -> str:
    used = {match.group(1) for match in PLACEHOLDER.finditer(name)}
    unused = [p for p in parameters if p not in used]
    if not used or not unused:
        return ""
    listed = ", ".join(f"'{p}'" for p in unused)
    return (
        f"; {kind} '{name}' does not use its parameter(s) {listed} in its name, so their "
        f"combinations get the same name: add {{{unused[0]}}} to the name"
    )
