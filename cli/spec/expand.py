"""Parameter expansion of jobs, files and user data into concrete, still name-based entries.

A job whose name holds a placeholder of its parameters becomes one job per combination. A job
with parameters but no placeholder in its name is ONE fan-in job (D3, docs/decisions.md):
each templated list field (depends_on, input/output files and user data, and all regexes)
expands over every combination, deduplicated in order; its scalar fields are not substituted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cli.spec.errors import Diagnostics, SpecPath, did_you_mean
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

    A name that uses none of the parameters makes one entry (a fan-in job; for files and
    user data an error reported while expanding).
    """
    if params is None or spec.name is None:
        return 1
    used = {match.group(1) for match in PLACEHOLDER.finditer(spec.name)}
    if not used & params.names.keys():
        return 1
    return params.count()


def expand_job(
    spec: JobSpec, index: int, params: ParameterSet | None, diag: Diagnostics
) -> list[ExpandedJob] | Iterator[ExpandedJob]:
    fixed = _fixed_job_fields(spec, index)
    if params is None:
        return [ExpandedJob(name=spec.name, **fixed)]
    compiler = TemplateCompiler(params)
    try:
        if not compiler.uses_parameters(spec.name):
            return [_fan_in_job(spec, index, params, compiler, fixed, diag)]
        return _expand_job(spec, params, compiler, fixed)
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


def _expand_job(
    spec: JobSpec, params: ParameterSet, compiler: TemplateCompiler, fixed: dict[str, Any]
) -> Iterator[ExpandedJob]:
    """The jobs of one parameterized entry, made one at a time as the caller takes them."""
    name = compiler.compile(spec.name)
    scalars = _varying_scalars(spec, compiler)
    lists = _varying_lists(spec, compiler)
    return _render_jobs(params, name, scalars, lists, fixed)


def _render_jobs(
    params: ParameterSet,
    name: Template,
    scalars: list[tuple[str, Template]],
    lists: list[tuple[str, tuple[Template, ...]]],
    fixed: dict[str, Any],
) -> Iterator[ExpandedJob]:
    for combination in params.combinations():
        values = dict(fixed)
        for field_name, template in scalars:
            values[field_name] = template.render(combination)
        for field_name, templates in lists:
            values[field_name] = tuple(t.render(combination) for t in templates)
        yield ExpandedJob(name=name.render(combination), **values)


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


def _fan_in_job(
    spec: JobSpec,
    index: int,
    params: ParameterSet,
    compiler: TemplateCompiler,
    fixed: dict[str, Any],
    diag: Diagnostics,
) -> ExpandedJob:
    for field_name in JOB_SCALARS:
        text = getattr(spec, field_name)
        if text is not None and compiler.uses_parameters(text):
            diag.warn(
                f"job '{spec.name}' has parameters but none in its name, so it is a single "
                f"fan-in job; the placeholders in its {field_name} are left as they are",
                ("jobs", index, field_name),
            )
    values = dict(fixed)
    for field_name, templates in _varying_lists(spec, compiler):
        rendered = (t.render(c) for t in templates for c in params.combinations())
        values[field_name] = tuple(dict.fromkeys(rendered))
    return ExpandedJob(name=spec.name, **values)


def expand_file(
    spec: FileSpec, index: int, params: ParameterSet | None, diag: Diagnostics
) -> list[ExpandedFile]:
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
    return [ExpandedFile(name.render(c), path.render(c), index) for c in params.combinations()]


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
