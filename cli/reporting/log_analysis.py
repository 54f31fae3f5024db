"""``logs analyze``: scan a log directory or a ``logs bundle`` tarball for known errors.

Text logs (``.o``, ``.e``, ``.log``, ``.out``, ``.err``) are scanned; ``slurm_env_*`` files
hold configuration, not errors, and are skipped. Tarballs are read in place (nothing is
extracted to disk). When the logs belong to several workflows one must be chosen.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from cli.reporting.log_paths import log_name_patterns, matches_any, workflow_ids_in_names
from cli.reporting.log_patterns import Finding, scan_lines

SCANNED_SUFFIXES = (".o", ".e", ".log", ".out", ".err")
SKIPPED_PREFIXES = ("slurm_env_",)


class LogSourceError(Exception):
    """The path is not something logs can be read from."""


@dataclass(frozen=True)
class LogFile:
    display: str  # the path shown to the user
    name: str  # the base name, which says what the file is
    open_text: Callable[[], IO[str]]


def is_scanned(name: str) -> bool:
    return name.endswith(SCANNED_SUFFIXES) and not name.startswith(SKIPPED_PREFIXES)


@contextmanager
def log_files(source: str) -> Iterator[list[LogFile]]:
    """The scannable files of a directory or a tarball (open while the block runs)."""
    path = Path(source)
    if path.is_dir():
        yield _directory_files(source, path)
    elif path.is_file() and tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            yield _archive_files(archive)
    else:
        raise LogSourceError(f"{source}: not a directory or a .tar.gz log bundle")


def _directory_files(source: str, root: Path) -> list[LogFile]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_scanned(p.name))
    return [
        LogFile(
            os.path.join(source, p.relative_to(root).as_posix()),
            p.name,
            partial(p.open, encoding="utf-8", errors="replace"),
        )
        for p in files
    ]


def _archive_files(archive: tarfile.TarFile) -> list[LogFile]:
    """In archive order: going back in a gzip stream means decompressing it again."""
    members = [m for m in archive.getmembers() if m.isfile() and is_scanned(Path(m.name).name)]

    def opener(member: tarfile.TarInfo) -> Callable[[], IO[str]]:
        def open_text() -> IO[str]:
            raw = archive.extractfile(member) or io.BytesIO()
            return io.TextIOWrapper(raw, encoding="utf-8", errors="replace")

        return open_text

    return [LogFile(m.name, Path(m.name).name, opener(m)) for m in members]


def choose_workflow(files: list[LogFile], workflow_id: int | None, source: str) -> int | None:
    """The workflow to analyze: the one asked for, or the only one the file names mention."""
    found = workflow_ids_in_names(file.name for file in files)
    if workflow_id is not None:
        if workflow_id not in found:
            raise LogSourceError(f"{source} has no logs of workflow {workflow_id}")
        return workflow_id
    if len(found) > 1:
        listed = ", ".join(str(number) for number in sorted(found))
        raise LogSourceError(
            f"{source} has logs of several workflows ({listed}): choose one with --workflow-id"
        )
    return next(iter(found), None)


def workflow_log_files(files: list[LogFile], workflow_id: int | None) -> list[LogFile]:
    if workflow_id is None:
        return files
    patterns = log_name_patterns(workflow_id)
    return [file for file in files if matches_any(file.name, patterns)]


def scan(files: list[LogFile]) -> dict[str, list[Finding]]:
    """Display path -> findings, for the files with any."""
    findings = {}
    for file in files:
        with file.open_text() as handle:
            found = list(scan_lines(handle))
        if found:
            findings[file.display] = found
    return findings


def analysis_report(
    source: str, workflow_id: int | None, scanned: int, findings: dict[str, list[Finding]]
) -> dict[str, Any]:
    by_type: dict[str, dict[str, Any]] = {}
    for display, found in findings.items():
        for finding in found:
            entry = by_type.setdefault(finding.pattern.name, _type_entry(finding))
            entry["count"] += 1
            entry["occurrences"].append(
                {"file": display, "line": finding.line_number, "text": finding.text}
            )
    for entry in by_type.values():
        entry["files"] = len({occurrence["file"] for occurrence in entry["occurrences"]})
    return {
        "path": source,
        "workflow_id": workflow_id,
        "total_files_scanned": scanned,
        "files_with_errors": len(findings),
        "total_errors": sum(len(found) for found in findings.values()),
        "error_types_found": list(by_type),
        "errors_by_type": list(by_type.values()),
        "files": [
            {"file": display, "errors": [finding.as_dict() for finding in found]}
            for display, found in findings.items()
        ],
    }


def _type_entry(finding: Finding) -> dict[str, Any]:
    pattern = finding.pattern
    return {
        "type": pattern.name,
        "category": pattern.category,
        "severity": pattern.severity,
        "count": 0,
        "files": 0,
        "occurrences": [],
    }
