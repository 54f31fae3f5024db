"""The pipeline from a spec file to the creation payload, stage by stage.

Stages: schema check -> parameter expansion -> named components -> job references -> cycles ->
actions and scheduler checks. In collect mode (the dry run) every stage runs, so one pass
reports every problem it can: an entry with errors is marked broken and what follows from it
is not reported again (see ``errors``); only a workflow that could not be built stops it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

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
    ExpandedFile,
    ExpandedJob,
    ExpandedUserData,
    expand_file,
    expand_job,
    expand_user_data,
    parameter_set,
    parse_shared_parameters,
)
from cli.spec.graph import blockers_of, describe_cycle, find_cycle
from cli.spec.loader import LoadedSpec, load_spec
from cli.spec.models import WorkflowSpec
from cli.spec.parameters import PLACEHOLDER, Parameter
from cli.spec.resolve import Catalog, JobResolver, index_names
from cli.spec.schema import build_workflow

DEFAULT_JOBS_SORT_METHOD = "gpus_runtime_memory"
_OPTIONAL_WORKFLOW_FIELDS = ("description", *WORKFLOW_COMPUTE_NODE_FIELDS)


@dataclass
class Options:
    user: str | None = None
    resource_monitoring: bool = True
    skip_checks: bool = False


@dataclass
class CompiledSpec:
    """The payload to POST, the warnings found on the way, and the dry-run summary counts."""

    payload: dict[str, Any]
    warnings: list[str]
    compilation: Compilation


def as_loaded(source: str | Path | LoadedSpec) -> LoadedSpec:
    return source if isinstance(source, LoadedSpec) else load_spec(source)


def compile_spec(
    source: str | Path | LoadedSpec,
    *,
    user: str | None = None,
    resource_monitoring: bool = True,
    skip_checks: bool = False,
) -> CompiledSpec:
    """Like build_payload, but also returns the warnings; raises SpecError on the first error."""
    loaded = as_loaded(source)
    diag = Diagnostics(loaded.path, loaded.locate, fail_fast=True)
    compilation = Compilation(loaded, diag, Options(user, resource_monitoring, skip_checks))
    return CompiledSpec(compilation.run(), diag.warnings, compilation)


@dataclass
class Compilation:
    """One run of the pipeline; its attributes fill in as the stages succeed."""

    loaded: LoadedSpec
    diag: Diagnostics
    options: Options
    spec: WorkflowSpec | None = None
    jobs: list[ExpandedJob] = field(default_factory=list)
    files: list[ExpandedFile] = field(default_factory=list)
    user_data: list[ExpandedUserData] = field(default_factory=list)
    expanded: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    # (collection key, spec index) -> the parameter names that entry expands over
    parameter_names: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)

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
            for job in self.jobs:
                job.resource_requirements = inline_resources.get(
                    job.spec_index, job.resource_requirements
                )
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
        self.files = _expand_all(
            spec.files, "files", "file", shared, expand_file, self.diag, self.parameter_names
        )
        self.user_data = _expand_all(
            spec.user_data,
            "user_data",
            "user data",
            shared,
            expand_user_data,
            self.diag,
            self.parameter_names,
        )
        self.jobs = _expand_all(
            spec.jobs, "jobs", "job", shared, expand_job, self.diag, self.parameter_names
        )
        if not self.jobs and not self.diag.errors:
            self.diag.error(
                "no jobs remain after parameter expansion (a parameter with no "
                'values, such as "[]", removes the jobs that use it)',
                ("jobs",),
            )

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
            files=[{"name": f.name, "path": f.path} for f in self.files],
            user_data=[
                {"name": u.name, "data": u.data, "is_ephemeral": u.is_ephemeral}
                for u in self.user_data
            ],
        )
        return Catalog(
            jobs=self._index(self.jobs, "job", "jobs", spec.jobs),
            files=self._index(self.files, "file", "files", spec.files),
            user_data=self._index(self.user_data, "user data", "user_data", spec.user_data),
            resource_requirements=rr_index,
            failure_handlers=fh_index,
            slurm_schedulers=scheduler_index,
            file_paths=[f.path for f in self.files],
        )

    def _index(
        self, items: Sequence[Any], kind: str, key: str, specs: Sequence[Any]
    ) -> dict[str, int]:
        def hint(spec_index: int) -> str:
            names = self.parameter_names.get((key, spec_index), ())
            return _unused_parameters_hint(kind, specs[spec_index].name, names)

        names = [i.name for i in items]
        return index_names(names, [i.spec_index for i in items], kind, key, self.diag, hint)

    def _workflow_record(self, spec: WorkflowSpec, defaults: dict[str, Any]) -> dict[str, Any]:
        user = self.options.user or spec.user or os.environ.get("USER") or "unknown"
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
        resolver = JobResolver(catalog, self.diag)
        self.payload["jobs"] = [resolver.resolve(job, i) for i, job in enumerate(self.jobs)]

    def _cycles(self) -> None:
        records = self.payload["jobs"]
        cycle = find_cycle(blockers_of(records))
        if cycle:
            first = self.jobs[cycle[0]]
            self.diag.error(describe_cycle(cycle, records), ("jobs", first.spec_index))

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


Expander = Callable[[Any, int, Any, Diagnostics], list[Any]]


def _expand_all(
    specs: Sequence[Any],
    key: str,
    label: str,
    shared: dict[str, Parameter],
    expander: Expander,
    diag: Diagnostics,
    parameter_names: dict[tuple[str, int], tuple[str, ...]],
) -> list[Any]:
    expanded: list[Any] = []
    for index, spec in enumerate(specs):
        where = f"{label} '{spec.name}'" if spec.name is not None else f"{label} #{index + 1}"
        errors = len(diag.errors)
        params = parameter_set(spec, shared, where, (key, index), diag)
        if params is not None:
            parameter_names[(key, index)] = tuple(p.name for p in params.parameters)
        expanded.extend(expander(spec, index, params, diag))
        if len(diag.errors) > errors:  # what it would have expanded to is unknown
            diag.mark_broken((key, index), spec.name)
    return expanded


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
