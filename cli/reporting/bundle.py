"""``logs bundle``: a workflow's logs, metrics databases and records in one ``wf{W}.tar.gz``.

The archive holds one directory ``wf{W}/`` laid out like the output directory, plus
``wf{W}/bundle_metadata.json`` (workflow, jobs, results of every run, compute nodes, when and
from where it was collected), so ``tar -xzf wf{W}.tar.gz && torc logs analyze wf{W}/`` works.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.output import json_text
from cli.reporting.log_paths import log_name_patterns, matches_any, metrics_name_patterns

METADATA_NAME = "bundle_metadata.json"


def bundle_root(workflow_id: int) -> str:
    return f"wf{workflow_id}"


def workflow_files(
    output_dir: Path, workflow_id: int, compute_nodes: Iterable[dict[str, Any]]
) -> list[Path]:
    """The workflow's files under ``output_dir``, by their documented names."""
    patterns = log_name_patterns(workflow_id) + metrics_name_patterns(workflow_id, compute_nodes)
    return sorted(
        path
        for path in output_dir.rglob("*")
        if path.is_file() and matches_any(path.name, patterns)
    )


def bundle_metadata(
    output_dir: Path, files: list[Path], records: dict[str, Any], version: str
) -> dict[str, Any]:
    return {
        "workflow_id": records["workflow"]["id"],
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "torc_version": version,
        "output_dir": str(output_dir.resolve()),
        "files": [path.relative_to(output_dir).as_posix() for path in files],
        **records,
    }


def write_bundle(
    bundle_path: Path, root: str, output_dir: Path, files: list[Path], metadata: dict[str, Any]
) -> None:
    """Write the archive next to its final name first, so a failure leaves no partial bundle."""
    partial = bundle_path.with_name(bundle_path.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz") as archive:
            for path in files:
                archive.add(path, arcname=f"{root}/{path.relative_to(output_dir).as_posix()}")
            _add_bytes(archive, f"{root}/{METADATA_NAME}", json_text(metadata).encode())
        os.replace(partial, bundle_path)
    finally:
        partial.unlink(missing_ok=True)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))
