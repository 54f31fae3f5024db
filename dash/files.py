"""The files the dashboard may show: only those under a workflow's output directory.

The dashboard runs as the user who started it, and anyone who can reach its port can call it,
so ``read-file`` is not a general file reader. A request names a workflow and an output
directory (relative paths are relative to the dashboard's working directory, where its runs
write); the directory counts as that workflow's only if runs of the workflow wrote there (job
logs, runner logs or Slurm logs carrying its ID), and the file, after ``..`` and symbolic
links are resolved, must lie inside it. The caller must also be allowed to see the workflow
(checked against the server with the caller's credentials, by the route).
This is D18 (docs/decisions.md); upstream's read-file reads any path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

MAX_READ_BYTES = 2 * 1024 * 1024  # larger logs are shown from their end
MAX_SCANNED_DIRECTORIES = 2000


class FileAccessError(Exception):
    """A path the dashboard refuses to read (outside the output directory, not a workflow's
    output directory, missing)."""


def _workflow_markers(workflow_id: int) -> tuple[re.Pattern[str], ...]:
    """File names that only runs of ``workflow_id`` write (docs/running.md, cli.reporting)."""
    w = workflow_id
    return (
        re.compile(rf"job_wf{w}_j\d+_r\d+"),
        re.compile(rf"job_runner_.+_{w}_\d+\.log"),
        re.compile(rf"job_runner_slurm_wf{w}_"),
        re.compile(rf"slurm_output_wf{w}_"),
        re.compile(rf"resource_metrics_.+_{w}_\d+\.db"),
        re.compile(rf"watch_.+_(wf)?{w}\.log"),
    )


def holds_workflow_files(directory: Path, workflow_id: int) -> bool:
    markers = _workflow_markers(workflow_id)
    for folder in (directory, directory / "job_stdio", directory / "resource_utilization"):
        try:
            with os.scandir(folder) as entries:
                if any(marker.match(entry.name) for entry in entries for marker in markers):
                    return True
        except OSError:
            continue
    return False


def output_directory(workdir: Path, output_dir: str, workflow_id: int) -> Path:
    """The resolved output directory of ``workflow_id``, or FileAccessError saying why not."""
    if not output_dir:
        raise FileAccessError("no output directory given")
    root = (workdir / output_dir).resolve()
    if not root.is_dir():
        raise FileAccessError(f"output directory {output_dir} does not exist")
    if not holds_workflow_files(root, workflow_id):
        raise FileAccessError(
            f"{output_dir} is not an output directory of workflow {workflow_id} "
            "(no job or runner logs of it there)"
        )
    return root


def inside(root: Path, workdir: Path, path: str) -> Path:
    """``path`` resolved (relative to the working directory, as the CLI reports it), refused
    unless it lies inside ``root``."""
    if not path:
        raise FileAccessError("no path given")
    candidate = (workdir / path).resolve()
    if candidate != root and root not in candidate.parents:
        raise FileAccessError(f"{path} is outside the workflow's output directory")
    return candidate


@dataclass
class FileContent:
    """Upstream's read-file answer: ``{success, content, error, is_json, exists}``, plus the
    resolved path and whether only the end of a large file is shown."""

    path: str
    exists: bool
    content: str = ""
    is_json: bool = False
    truncated: bool = False
    size: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "success": self.exists,
            "content": self.content,
            "error": None if self.exists else f"{self.path} does not exist",
            "is_json": self.is_json,
            "exists": self.exists,
            "path": self.path,
            "truncated": self.truncated,
            "size": self.size,
        }


def read_text(path: Path) -> FileContent:
    if not path.is_file():
        return FileContent(str(path), exists=False)
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size > MAX_READ_BYTES:
            handle.seek(size - MAX_READ_BYTES)
        data = handle.read(MAX_READ_BYTES)
    text = data.decode("utf-8", "replace")
    is_json = False
    if path.suffix == ".json" and size <= MAX_READ_BYTES:
        try:
            orjson.loads(data)
            is_json = True
        except orjson.JSONDecodeError:
            pass
    return FileContent(
        str(path), True, text, is_json=is_json, truncated=size > MAX_READ_BYTES, size=size
    )


def find_databases(root: Path) -> list[dict[str, object]]:
    """``.db`` files under ``root`` (the Resource Plots tab's "Scan for Databases"), newest
    first; the dashboard's own directories are not followed out of ``root``."""
    found: list[dict[str, object]] = []
    scanned = 0
    for folder, directories, names in os.walk(root):
        scanned += 1
        if scanned > MAX_SCANNED_DIRECTORIES:
            break
        directories[:] = [d for d in directories if not d.startswith(".")]
        for name in names:
            if name.endswith(".db"):
                path = Path(folder) / name
                stat = path.stat()
                found.append(
                    {
                        "path": str(path),
                        "name": str(path.relative_to(root)),
                        "size": stat.st_size,
                        "modified": stat.st_mtime,
                    }
                )
    found.sort(key=lambda item: item["modified"], reverse=True)  # type: ignore[arg-type,return-value]
    return found
