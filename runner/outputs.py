"""A job's declared output files: exit 0 with one missing is a failure; present ones get
their modification times reported (the server uses them to spot changed results)."""

from __future__ import annotations

import logging
import os
from typing import Any

from cli.client import TorcClient

logger = logging.getLogger("torc.runner")


class OutputFiles:
    def __init__(self, client: TorcClient, workflow_id: int) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self._paths: dict[int, str] = {}

    def check(self, job: dict[str, Any], mtimes: list[dict[str, Any]]) -> list[str]:
        """The job's missing output paths; the times of present ones go to ``mtimes``."""
        missing = []
        for file_id in job.get("output_file_ids") or []:
            path = self._path(file_id)
            try:
                mtimes.append({"file_id": file_id, "st_mtime": os.stat(path).st_mtime})
            except OSError:
                missing.append(path)
        return missing

    def _path(self, file_id: int) -> str:
        if file_id not in self._paths:
            for record in self.client.list_files(self.workflow_id):
                self._paths[record["id"]] = record["path"]
        return self._paths.get(file_id, f"<unknown file {file_id}>")
