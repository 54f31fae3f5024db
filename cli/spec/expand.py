"""Parameter expansion of jobs, files and user data into concrete, still name-based entries.

A job whose name holds a placeholder of every parameter becomes one job per combination. A
job expands over the parameters its name uses (D16, docs/decisions.md): with none in its name
it is ONE fan-in job (D3, docs/decisions.md), with some one job per combination of those.
The parameters its name does not use expand its templated list fields (depends_on,
input/output files and user data, and all regexes) within each job, deduplicated in order;
in its scalar fields (command, ...) they are not substituted.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cli.spec.errors import Diagnostics, SpecPath, did_you_mean
from cli.spec.lazy import LazySequence
from cli.spec.models import FileSpec, JobSpec, UserDataSpec
from cli.spec.parameters import (
    PLACEHOLDER,
    Parameter,
    ParameterSet,
    Template,
    TemplateCompiler,
    parse_parameter,
)

JOB_SCALARS = (
    "command",
    "invocation_script",
    "resource_requirements",
    "failure_handler",
    "scheduler",
)
JOB_LISTS = (
    "depends_on",
    "depends_on_regexes",
    "input_files",
    "input_file_regexes",
    "output_files",
    "output_file_regexes",
    "input_user_data",
    "input_user_data_regexes",
    "output_user_data",
    "output_user_data_regexes",
)


@dataclass(slots=True, kw_only=True)
class ExpandedJob:
    name: str
    spec_index: int
    command: str
    invocation_script: str | None
    resource_requirements: str | None
    failure_handler: str | None
    scheduler: str | None
    cancel_on_blocking_job_failure: bool | None
    supports_termination: bool | None
    depends_on: tuple[str, ...]
    depends_on_regexes: tuple[str, ...]
    input_files: tuple[str, ...]
    input_file_regexes: tuple[str, ...]
    output_files: tuple[str, ...]
    output_file_regexes: tuple[str, ...]
    input_user_data: tuple[str, ...]
    input_user_data_regexes: tuple[str, ...]
    output_user_data: tuple[str, ...]
    output_user_data_regexes: tuple[str, ...]


@dataclass(slots=True)
class ExpandedFile:
    name: str
    path: str
    spec_index: int


@dataclass(slots=True)
class ExpandedUserData:
    name: str
    data: Any
    is_ephemeral: bool
    spec_index: int


def parse_shared_parameters(raw: dict[str, Any], diag: Diagnostics) -> dict[str, Parameter]:
    return _parse_all(raw, ("parameters",), diag)


def _parse_all(raw: dict[str, Any], path: SpecPath, diag: Diagnostics) -> dict[str, Parameter]:
    parsed = {}
    for name, value in raw.items():
        try:
            parsed[name] = parse_parameter(name, value)
        except ValueError as exc:
            diag.error(str(exc), (*path, name))
    return parsed


def parameter_set(
    spec: JobSpec | FileSpec | UserDataSpec,
    shared: dict[str, Parameter],
    where: str,
    path: SpecPath,
    diag: Diagnostics,
) -> ParameterSet | None:
    """Shared parameters named in use_parameters (in that order), then local ones; a local
    parameter replaces a shared one of the same name."""
    local = _parse_all(spec.parameters, (*path, "parameters"), diag)
    chosen: list[Parameter] = []
    for index, name in enumerate(spec.use_parameters):
        if name in local:
            continue
        if name not in shared:
            hint = did_you_mean(name, shared)
            diag.error(
                f"{where}: use_parameters names unknown parameter '{name}'{hint}",
                (*path, "use_parameters", index),
            )
            continue
        chosen.append(shared[name])
    chosen.extend(local.values())
    if not chosen:
        return None
    try:
        return ParameterSet(tuple(chosen), spec.parameter_mode)
    except ValueError as exc:
        diag.error(f"{where}: {exc}", (*path, "parameters"))
        return None


def expansion_count(spec: JobSpec | FileSpec | UserDataSpec, params: ParameterSet | None) -> int:
    """How many entries ``spec`` expands to, counted without expanding it.

    A job is one per combination of the parameters its name uses (D16, docs/decisions.md),
    so one if it uses none (a fan-in job). A file or user data entry is one per combination
    of all its parameters (one if its name uses none: an error reported while expanding).
    """
    if params is None or spec.name is None:
        return 1
    used = {match.group(1) for match in PLACEHOLDER.finditer(spec.name)} & params.names.keys()
    if not used:
        return 1
    return params.count(used) if isinstance(spec, JobSpec) else params.count()


def expand_job(
    spec: JobSpec, index: int, params: ParameterSet | None, diag: Diagnostics
) -> Sequence[ExpandedJob]:
    """The jobs of one entry: a list, or for a parameter sweep a ``ParameterizedJobs`` that
    makes each job when it is read (template errors are found here, before any is made)."""
    fixed = _fixed_job_fields(spec, index)
    if params is None:
        return [ExpandedJob(name=spec.name, **fixed)]
    compiler = TemplateCompiler(params)
    try:
        in_name = compiler.used_parameters(spec.name)
        if len(in_name) == len(params.parameters):
            return ParameterizedJobs(
                params,
                compiler.compile(spec.name),
                _varying_scalars(spec, compiler),
                _varying_lists(spec, compiler),
                fixed,
            )
        return _fan_in_jobs(spec, index, params, in_name, fixed, diag)
    except ValueError as exc:
        diag.error(f"job '{spec.name}': {exc}", ("jobs", index))
        return []


def _fixed_job_fields(spec: JobSpec, index: int) -> dict[str, Any]:
    fields: dict[str, Any] = {name: getattr(spec, name) for name in JOB_SCALARS}
    fields.update({name: tuple(getattr(spec, name)) for name in JOB_LISTS})
    fields["spec_index"] = index
    fields["cancel_on_blocking_job_failure"] = spec.cancel_on_blocking_job_failure
    fields["supports_termination"] = spec.supports_termination
    return fields


Item = TypeVar("Item", ExpandedJob, ExpandedFile)


class Sweep(LazySequence[Item]):
    """The entries one spec entry expands to, one per parameter combination, made each time
    they are read: a million-job sweep costs its templates, not a million objects."""

    def __init__(self, params: ParameterSet, name: Template, spec_index: int) -> None:
        self._params = params
        self._name = name
        self.spec_index = spec_index
        self._count = params.count()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Item]:
        return map(self._make, self._params.combinations())

    def _at(self, position: int) -> Item:
        return self._make(self._params.combination_at(position))

    def names(self) -> Iterator[str]:
        return map(self._name.render, self._params.combinations())

    def _make(self, combination: tuple[int, ...]) -> Item:
        raise NotImplementedError


class ParameterizedJobs(Sweep[ExpandedJob]):
    """The jobs of an entry whose name uses every parameter."""

    def __init__(
        self,
        params: ParameterSet,
        name: Template,
        scalars: list[tuple[str, Template]],
        lists: list[tuple[str, tuple[Template, ...]]],
        fixed: dict[str, Any],
    ) -> None:
        super().__init__(params, name, fixed["spec_index"])
        self._scalars = scalars
        self._lists = lists
        self.fixed = fixed  # what every job of the entry shares

    def _make(self, combination: tuple[int, ...]) -> ExpandedJob:
        values = dict(self.fixed)
        for field_name, template in self._scalars:
            values[field_name] = template.render(combination)
        for field_name, templates in self._lists:
            values[field_name] = tuple(t.render(combination) for t in templates)
        return ExpandedJob(name=self._name.render(combination), **values)


class ParameterizedFiles(Sweep[ExpandedFile]):
    def __init__(self, params: ParameterSet, name: Template, path: Template, index: int) -> None:
        super().__init__(params, name, index)
        self._path = path

    def _make(self, combination: tuple[int, ...]) -> ExpandedFile:
        name, path = self._name.render(combination), self._path.render(combination)
        return ExpandedFile(name, path, self.spec_index)

    def path(self, position: int) -> str:
        return self._path.render(self._params.combination_at(position))


class Expanded(LazySequence[Item]):
    """Every job (or file) of a spec in order, entry after entry, made as they are read (see
    ``Sweep``); ``names()`` renders the names alone, for the name index."""

    def __init__(self, groups: Iterable[Sequence[Item]]) -> None:
        self._groups: list[Sequence[Item]] = [group for group in groups if len(group)]
        self._ends = list(itertools.accumulate(len(group) for group in self._groups))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __iter__(self) -> Iterator[Item]:
        return itertools.chain.from_iterable(self._groups)

    def _at(self, position: int) -> Item:
        group, offset = self._locate(position)
        return group[offset]

    def names(self) -> Iterator[str]:
        for group in self._groups:
            if isinstance(group, Sweep):
                yield from group.names()
            else:
                yield from (item.name for item in group)

    def spec_index(self, position: int) -> int:
        group, offset = self._locate(self._checked(position))
        return group.spec_index if isinstance(group, Sweep) else group[offset].spec_index

    def _locate(self, position: int) -> tuple[Sequence[Item], int]:
        """The entry holding ``position`` (in range, not negative) and the offset in it."""
        if len(self._groups) == 1:
            return self._groups[0], position
        number = bisect.bisect_right(self._ends, position)
        start = self._ends[number - 1] if number else 0
        return self._groups[number], position - start


class ExpandedFiles(Expanded[ExpandedFile]):
    def path(self, position: int) -> str:
        """The path of file ``position``, rendered alone (for ``${files...}`` references)."""
        group, offset = self._locate(self._checked(position))
        return group.path(offset) if isinstance(group, ParameterizedFiles) else group[offset].path


class ExpandedJobs(Expanded[ExpandedJob]):
    def assign_resource_requirements(self, names: dict[int, str]) -> None:
        """Give the jobs of entry ``i`` the resource requirements ``names[i]``."""
        for group in self._groups:
            if isinstance(group, ParameterizedJobs):
                if group.spec_index in names:
                    group.fixed["resource_requirements"] = names[group.spec_index]
                continue
            for job in group:
                job.resource_requirements = names.get(job.spec_index, job.resource_requirements)


def _varying_scalars(spec: JobSpec, compiler: TemplateCompiler) -> list[tuple[str, Template]]:
    compiled = [
        (name, compiler.compile(getattr(spec, name)))
        for name in JOB_SCALARS
        if getattr(spec, name) is not None
    ]
    return [(name, template) for name, template in compiled if template.constant is None]


def _varying_lists(
    spec: JobSpec, compiler: TemplateCompiler
) -> list[tuple[str, tuple[Template, ...]]]:
    compiled = [
        (name, tuple(compiler.compile(text) for text in getattr(spec, name))) for name in JOB_LISTS
    ]
    return [
        (name, templates)
        for name, templates in compiled
        if any(t.constant is None for t in templates)
    ]


def _fan_in_jobs(
    spec: JobSpec,
    index: int,
    params: ParameterSet,
    in_name: set[str],
    fixed: dict[str, Any],
    diag: Diagnostics,
) -> list[ExpandedJob]:
    """One job per combination of the parameters in the name (one job if none is), each
    with its lists expanded over the other parameters' values (D3, D16: docs/decisions.md)."""
    compiler = TemplateCompiler(params)
    named = TemplateCompiler(params, only=in_name)  # substitutes the name's parameters only
    scalars = []
    for field_name in JOB_SCALARS:
        text = getattr(spec, field_name)
        if text is None:
            continue
        left = compiler.used_parameters(text) - in_name
        if left:
            diag.warn(
                _fan_in_warning(spec.name, in_name, left, field_name), ("jobs", index, field_name)
            )
        template = named.compile(text)
        if template.constant is None:
            scalars.append((field_name, template))
    positions = [position for name, position in params.names.items() if name in in_name]
    groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for combination in params.combinations():
        groups.setdefault(tuple(combination[p] for p in positions), []).append(combination)
    name = named.compile(spec.name)
    lists = _varying_lists(spec, compiler)
    jobs = []
    for members in groups.values():
        values = dict(fixed)
        for field_name, template in scalars:
            values[field_name] = template.render(members[0])
        for field_name, templates in lists:
            rendered = (t.render(c) for t in templates for c in members)
            values[field_name] = tuple(dict.fromkeys(rendered))
        jobs.append(ExpandedJob(name=name.render(members[0]), **values))
    return jobs


def _fan_in_warning(job: str, in_name: set[str], left: set[str], field_name: str) -> str:
    if not in_name:
        return (
            f"job '{job}' has parameters but none in its name, so it is a single fan-in job; "
            f"the placeholders in its {field_name} are left as they are"
        )
    per = ", ".join(sorted(in_name))
    return (
        f"job '{job}' uses only {per} of its parameters in its name, so it is one job per "
        f"{per}; the placeholders of {', '.join(sorted(left))} in its {field_name} are left "
        "as they are"
    )


def expand_file(
    spec: FileSpec, index: int, params: ParameterSet | None, diag: Diagnostics
) -> Sequence[ExpandedFile]:
    if params is None:
        return [ExpandedFile(spec.name, spec.path, index)]
    compiler = TemplateCompiler(params)
    if not compiler.uses_parameters(spec.name):
        _no_placeholder(diag, "file", spec.name, ("files", index, "name"))
        return []
    try:
        name, path = compiler.compile(spec.name), compiler.compile(spec.path)
    except ValueError as exc:
        diag.error(f"file '{spec.name}': {exc}", ("files", index))
        return []
    return ParameterizedFiles(params, name, path, index)


def expand_user_data(
    spec: UserDataSpec, index: int, params: ParameterSet | None, diag: Diagnostics
) -> list[ExpandedUserData]:
    if spec.name is None:
        diag.warn(f"user data #{index + 1} has no name and is skipped", ("user_data", index))
        return []
    if params is None:
        return [ExpandedUserData(spec.name, spec.data, spec.is_ephemeral, index)]
    compiler = TemplateCompiler(params)
    if not compiler.uses_parameters(spec.name):
        _no_placeholder(diag, "user data", spec.name, ("user_data", index, "name"))
        return []
    try:
        name = compiler.compile(spec.name)
        return [
            ExpandedUserData(
                name.render(c), _render_data(spec.data, compiler, c), spec.is_ephemeral, index
            )
            for c in params.combinations()
        ]
    except ValueError as exc:
        diag.error(f"user data '{spec.name}': {exc}", ("user_data", index))
        return []


def _render_data(data: Any, compiler: TemplateCompiler, combination: tuple[int, ...]) -> Any:
    """String values anywhere inside ``data`` get substituted; keys and other types do not."""
    if isinstance(data, str):
        return compiler.compile(data).render(combination)
    if isinstance(data, list):
        return [_render_data(item, compiler, combination) for item in data]
    if isinstance(data, dict):
        return {key: _render_data(value, compiler, combination) for key, value in data.items()}
    return data


def _no_placeholder(diag: Diagnostics, kind: str, name: str, path: SpecPath) -> None:
    diag.error(
        f"{kind} '{name}' has parameters but its name uses none of them, so every "
        "expansion would get the same name; add a placeholder such as {i} to the name",
        path,
    )
