"""`torc run` on a JSON spec starts without the modules it does not use (start-up is part of
every W1/W2 figure): the other spec parsers, rich (tables, live progress) and the server's
database layer."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

UNUSED_BY_A_PLAIN_RUN = ("yaml", "json5", "ckdl", "rich", "peewee", "flask", "logging.handlers")


def test_a_plain_torc_run_imports_only_what_it_uses(tmp_path) -> None:
    spec = tmp_path / "workflow.json"
    spec.write_text(json.dumps({"name": "w", "jobs": [{"name": "a", "command": "true"}]}))
    probe = f"""
import json, sys
from cli.main import load_command
load_command("run")
import runner.runner
from cli.spec import compile_spec
compile_spec({str(spec)!r})
print(json.dumps(sorted(name for name in {UNUSED_BY_A_PLAIN_RUN!r} if name in sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
