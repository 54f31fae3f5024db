"""Names to payload indexes: duplicates, references, regexes and ``${files...}`` placeholders.

``${files.input.NAME}``/``${files.output.NAME}`` become the file's path; ``${user_data...}``
placeholders stay in the command for the server to replace with the record ID
(D7, docs/decisions.md). Both add the referenced entry to the job's input or output list,
merged with the explicit lists (D9, docs/decisions.md).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.spec.errors import Diagnostics, SpecPath, did_you_mean
from cli.spec.expand import ExpandedJob

# Anything that starts like a file or user-data reference (shell variables never contain a
# dot, so "${file." cannot be one); each match must then be exactly the valid form.
_CANDIDATE = re.compile(r"\$\{\s*(?:files?|user[_-]?data)\s*\.[^}\n]*\}?", re.IGNORECASE)
_REFERENCE = re.compile(r"\$\{(files|user_data)\.(input|output)\.([^{}$\s]+)\}")
_DIRECTIONS = ("input", "output")
_REGEX_SYNTAX = set(".^$*+?{}[]\\|()")
_KIND_WORDS = {"jobs": ("job", "jobs"), "files": ("file", "files"), "user_data": ("user data",) * 2}
# (kind, list field, regex field, key of the placeholders found in the command)
_IO_FIELDS = (
    ("files", "input_files", "input_file_regexes", "files.input"),
    ("files", "output_files", "output_file_regexes", "files.output"),
    ("user_data", "input_user_data", "input_user_data_regexes", "user_data.input"),
    ("user_data", "output_user_data", "output_user_data_regexes", "user_data.output"),
)
# Error wording per regex list field: (subject, kind searched).
_REGEX_FIELDS = {
    "depends_on_regexes": ("Blocking job", "jobs"),
    "input_file_regexes": ("Input file", "files"),
    "output_file_regexes": ("Output file", "files"),
    "input_user_data_regexes": ("Input user data", "user_data"),
    "output_user_data_regexes": ("Output user data", "user_data"),
}


def index_names(
    names: Iterable[str],
    spec_indexes: Sequence[int],
    kind: str,
    key: str,
    diag: Diagnostics,
    hint: Callable[[int], str] | None = None,
) -> dict[str, int]:
    """name -> position, reporting ``Duplicate <kind> name: 'x'`` at the second definition;
    ``hint(spec_index)`` may add why (a parameter the name does not use)."""
    index: dict[str, int] = {}
    explained: set[int] = set()  # one error per entry whose parameters explain its duplicates
    for position, name in enumerate(names):
        if name in index:
            spec_index = spec_indexes[position]
            extra = hint(spec_index) if hint and spec_index not in explained else ""
            if extra:
                explained.add(spec_index)
            elif spec_index in explained:
                continue
            diag.error(f"Duplicate {kind} name: '{name}'{extra}", (key, spec_index, "name"))
        else:
            index[name] = position
    return index


class RegexMatcher:
    """Compiles each pattern once and remembers which names it matched (unanchored search)."""

    def __init__(self, index: dict[str, int]) -> None:
        self._index = index
        self._matches: dict[str, list[int]] = {}

    def match(self, pattern: str) -> list[int]:
        """Positions of matching names; raises re.error for an invalid pattern."""
        found = self._matches.get(pattern)
        if found is None:
            found = self._literal(pattern)
            if found is None:
                compiled = re.compile(pattern)
                found = [i for name, i in self._index.items() if compiled.search(name)]
            self._matches[pattern] = found
        return found

    def _literal(self, pattern: str) -> list[int] | None:
        """``^name$`` without other regex syntax is a plain lookup (fast for 100k jobs)."""
        body = pattern[1:-1]
        if len(pattern) < 2 or pattern[0] != "^" or pattern[-1] != "$" or _REGEX_SYNTAX & set(body):
            return None
        return [self._index[body]] if body in self._index else []


@dataclass
class Catalog:
    """Name -> payload index for every collection a job or action can reference."""

    jobs: dict[str, int]
    files: dict[str, int]
    user_data: dict[str, int]
    resource_requirements: dict[str, int]
    failure_handlers: dict[str, int]
    slurm_schedulers: dict[str, int]
    file_path: Callable[[int], str]  # a file's path by its position
    matchers: dict[str, RegexMatcher] = field(init=False)

    def __post_init__(self) -> None:
        self.matchers = {kind: RegexMatcher(getattr(self, kind)) for kind in _KIND_WORDS}


class JobResolver:
    """Turns expanded jobs into payload job records."""

    def __init__(self, catalog: Catalog, diag: Diagnostics) -> None:
        self._catalog = catalog
        self._diag = diag

    def resolve(self, job: ExpandedJob, position: int) -> dict[str, Any]:
        path = ("jobs", job.spec_index)
        found: dict[str, list[str]] = {}
        record: dict[str, Any] = {"name": job.name}
        record["command"] = self._placeholders(job, "command", path, found)
        if job.invocation_script is not None:
            record["invocation_script"] = self._placeholders(job, "invocation_script", path, found)
        for flag in ("cancel_on_blocking_job_failure", "supports_termination"):
            if getattr(job, flag) is not None:
                record[flag] = getattr(job, flag)
        self._scalar_references(job, record, path)
        self._dependencies(job, position, record, path)
        self._io_lists(job, found, record, path)
        if "input_files" in record or "input_user_data" in record:
            _drop_own_outputs(record)
        return record

    def _scalar_references(self, job: ExpandedJob, record: dict, path: SpecPath) -> None:
        for field_name, kind, word in (
            ("resource_requirements", "resource_requirements", "resource requirements"),
            ("failure_handler", "failure_handlers", "failure handler"),
            ("scheduler", "slurm_schedulers", "slurm scheduler"),
        ):
            name = getattr(job, field_name)
            if name is None:
                continue
            names = getattr(self._catalog, kind)
            if name in names:
                record[field_name] = names[name]
            else:
                self._diag.error(
                    f"job '{job.name}' uses unknown {word} '{name}'{did_you_mean(name, names)}",
                    (*path, field_name),
                    about=name,
                )

    def _dependencies(self, job: ExpandedJob, position: int, record: dict, path: SpecPath) -> None:
        if not job.depends_on and not job.depends_on_regexes:
            return
        blockers = self._names(job, "depends_on", "jobs", path)
        blockers += self._regex_matches(job, "depends_on_regexes", path, exclude=position)
        if blockers:
            record["depends_on"] = list(dict.fromkeys(blockers))

    def _io_lists(
        self, job: ExpandedJob, found: dict[str, list[str]], record: dict, path: SpecPath
    ) -> None:
        for kind, list_field, regex_field, found_key in _IO_FIELDS:
            explicit, patterns = getattr(job, list_field), getattr(job, regex_field)
            from_text = found.get(found_key)
            if not (explicit or patterns or from_text):
                continue
            indexes = self._names(job, list_field, kind, path) if explicit else []
            indexes += self._regex_matches(job, regex_field, path) if patterns else []
            if from_text:
                indexes += [getattr(self._catalog, kind)[name] for name in from_text]
            if indexes:
                record[list_field] = list(dict.fromkeys(indexes))

    def _names(self, job: ExpandedJob, field_name: str, kind: str, path: SpecPath) -> list[int]:
        names = getattr(self._catalog, kind)
        resolved = []
        for position, name in enumerate(getattr(job, field_name)):
            if name in names:
                resolved.append(names[name])
                continue
            self._diag.error(
                f"job '{job.name}' lists unknown {_KIND_WORDS[kind][0]} '{name}' in {field_name}"
                f"{did_you_mean(name, names)}",
                (*path, field_name, position),
                about=name,
            )
        return resolved

    def _regex_matches(
        self, job: ExpandedJob, field_name: str, path: SpecPath, exclude: int = -1
    ) -> list[int]:
        subject, kind = _REGEX_FIELDS[field_name]
        matched: list[int] = []
        for position, pattern in enumerate(getattr(job, field_name)):
            where = (*path, field_name, position)
            try:
                every = self._catalog.matchers[kind].match(pattern)
            except re.error as exc:
                self._diag.error(
                    f"job '{job.name}': invalid regular expression '{pattern}' in "
                    f"{field_name}: {exc}",
                    where,
                )
                continue
            hits = [i for i in every if i != exclude]
            if not hits and every:  # a job never depends on itself
                self._diag.error(
                    f"{subject} regex '{pattern}' of job '{job.name}' matched only the job "
                    "itself, and a job never waits for itself",
                    where,
                )
            elif not hits and not self._diag.has_broken(kind):  # else: perhaps a broken one's
                self._diag.error(
                    f"{subject} regex '{pattern}' did not match any "
                    f"{_KIND_WORDS[kind][1]} for job '{job.name}'",
                    where,
                )
            matched.extend(hits)
        return matched

    def _placeholders(
        self, job: ExpandedJob, field_name: str, path: SpecPath, found: dict[str, list[str]]
    ) -> str:
        text = getattr(job, field_name)
        if "${" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            return self._replacement(job, field_name, match.group(0), (*path, field_name), found)

        return _CANDIDATE.sub(replace, text)

    def _replacement(
        self,
        job: ExpandedJob,
        field_name: str,
        placeholder: str,
        path: SpecPath,
        found: dict[str, list[str]],
    ) -> str:
        valid = _REFERENCE.fullmatch(placeholder)
        if valid is None:
            problem = malformed_placeholder(placeholder, self._catalog)
            self._diag.error(
                f"job '{job.name}': invalid placeholder '{_shorten(placeholder)}' in its "
                f"{field_name}: {problem}",
                path,
            )
            return placeholder
        kind, direction, name = valid.groups()
        names = getattr(self._catalog, kind)
        if name not in names:
            self._diag.error(
                f"job '{job.name}' references unknown {_KIND_WORDS[kind][0]} "
                f"'{name}' in '{placeholder}' in its {field_name}"
                f"{did_you_mean(name, names)}",
                path,
                about=name,
            )
            return placeholder
        found.setdefault(f"{kind}.{direction}", []).append(name)
        return self._catalog.file_path(names[name]) if kind == "files" else placeholder


def malformed_placeholder(text: str, catalog: Catalog) -> str:
    """What is wrong with a ``${files...}``/``${user_data...}`` look-alike, and a fix."""
    closed = text.endswith("}")
    body = text[2:-1] if closed else text[2:]
    head, _, rest = body.partition(".")
    kind = "user_data" if "data" in head.lower() else "files"
    direction, _, name = rest.strip().partition(".")
    expected = f"expected ${{{kind}.input.NAME}} or ${{{kind}.output.NAME}}"
    fixed_direction = _closest(direction.strip(), _DIRECTIONS)
    name = name.strip()
    if not closed:
        problem = "it has no closing '}'"
    elif not name:
        problem = "the name is missing"
    elif "$" in name:
        return (
            f"{expected}; the name '{name}' holds a shell variable, but placeholders are "
            "resolved when the workflow is created, not when the job runs; list the entries "
            f"in {'input_user_data' if kind == 'user_data' else 'input_files'} or use a "
            "parameter such as {i} in the name"
        )
    elif re.search(r"[\s{}]", name):
        problem = f"the name '{name}' contains a space or brace"
    else:
        problem = ""
    suggestion = ""
    if fixed_direction and name and not re.search(r"[\s{}$]", name):
        names = getattr(catalog, kind)
        if name not in names:
            close = difflib.get_close_matches(name, list(names)[:5000], n=1, cutoff=0.6)
            name = close[0] if close else name
        if name in names:
            suggestion = f"; did you mean '${{{kind}.{fixed_direction}.{name}}}'?"
    return "; ".join(part for part in (expected, problem) if part) + suggestion


def _closest(word: str, choices: Sequence[str]) -> str | None:
    if word in choices:
        return word
    matches = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.5)
    return matches[0] if matches else None


def _shorten(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _drop_own_outputs(record: dict[str, Any]) -> None:
    """A job that reads back what it writes itself must not wait for itself: such an entry is
    recorded as an output only."""
    for input_key, output_key in (
        ("input_files", "output_files"),
        ("input_user_data", "output_user_data"),
    ):
        if input_key in record and output_key in record:
            own = set(record[output_key])
            kept = [item for item in record[input_key] if item not in own]
            if kept:
                record[input_key] = kept
            else:
                del record[input_key]
