"""The seed's tutorials as a new user types them: shell commands piped into jq, against a
running server (the tutorials' prerequisite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.helpers import Api, ServerProcess

# Tutorial 3 (user data), as written; only its scratch file moves into the test's directory.
TUTORIAL_3_SPEC = """\
name: config_pipeline
description: Jobs that pass configuration via user_data
jobs:
  - name: generate_config
    command: |
      echo '{"learning_rate": 0.001, "batch_size": 32, "epochs": 10}' > CONFIG_JSON
      torc user-data update ${user_data.output.ml_config} \\
        --data "$(cat CONFIG_JSON)"
    resource_requirements: minimal
  - name: train_model
    command: |
      echo "Training with config:"
      torc user-data get ${user_data.input.ml_config} | jq '.data'
      # In a real workflow: python train.py --config="${user_data.input.ml_config}"
    resource_requirements: gpu_large
  - name: evaluate_model
    command: |
      echo "Evaluating with config:"
      torc user-data get ${user_data.input.ml_config} | jq '.data'
    resource_requirements: gpu_small
user_data:
  - name: ml_config
    data: null # Will be populated by generate_config job
resource_requirements:
  - name: minimal
    num_cpus: 1
    memory: 1g
    runtime: PT5M
  - name: gpu_small
    num_cpus: 4
    num_gpus: 1
    memory: 16g
    runtime: PT1H
  - name: gpu_large
    num_cpus: 8
    num_gpus: 2
    memory: 32g
    runtime: PT4H
"""

# Steps 2, 4 and "Accessing User Data in Your Code"; the runner is told it has the GPUs the
# tutorial's resource requirements ask for.
TUTORIAL_3_STEPS = """\
set -euo pipefail
WORKFLOW_ID=$(torc workflows create user_data_workflow.yaml -f json | jq -r '.id')
torc workflows initialize-jobs $WORKFLOW_ID
torc run $WORKFLOW_ID --num-cpus 8 --num-gpus 2 --memory-gb 32 -p 0.5 > /dev/null 2>&1 || true
USER_DATA_ID=$(torc user-data list $WORKFLOW_ID -f json | jq -r '.user_data[0].id')
torc user-data get $USER_DATA_ID | jq '.data' > config.json
echo $WORKFLOW_ID
"""


def shell_env(server: ServerProcess) -> dict[str, str]:
    """``torc`` (this checkout's) and jq on PATH, the tutorial's server in TORC_API_URL."""
    if shutil.which("jq") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jq is not installed (scripts/test-env/packages.d/tutorials.txt)")
        pytest.skip("jq is not installed")
    bin_dir = Path(sys.executable).parent
    if shutil.which("torc", path=str(bin_dir)) is None:
        pytest.fail(f"no torc command beside {sys.executable} (pip install -e .)")
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TORC_API_URL": server.url,
    }


def test_tutorial_3_user_data_pipes_into_jq(server: ServerProcess, tmp_path: Path) -> None:
    spec = TUTORIAL_3_SPEC.replace("CONFIG_JSON", str(tmp_path / "generated.json"))
    (tmp_path / "user_data_workflow.yaml").write_text(spec)
    done = subprocess.run(
        ["bash", "-c", TUTORIAL_3_STEPS],
        cwd=tmp_path,
        env=shell_env(server),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    expected = {"learning_rate": 0.001, "batch_size": 32, "epochs": 10}
    assert json.loads((tmp_path / "config.json").read_text()) == expected
    workflow_id = int(done.stdout.split()[-1])
    stdio = tmp_path / "output" / "job_stdio"
    outputs = {path.read_text() for path in stdio.glob(f"job_wf{workflow_id}_j*_r1_a1.o")}
    assert len(outputs) == 3 and any(text.startswith("Updated user data") for text in outputs)
    for heading in ("Training with config:", "Evaluating with config:"):
        [out] = [text for text in outputs if text.startswith(heading + "\n")]
        assert json.loads(out.removeprefix(heading)) == expected
    assert not any(path.read_text() for path in stdio.glob(f"job_wf{workflow_id}_j*.e"))


def test_user_data_get_prints_json_unless_tables_are_asked_for(
    server: ServerProcess, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = api.workflow("user_data_get")
    record = api.post("/user_data", {"workflow_id": wf, "name": "cfg", "data": {"lr": 0.1}})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)

    def get(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--url", server.url, *args, str(record["id"])])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert json.loads(get("user-data", "get"))["data"] == {"lr": 0.1}
    assert get("-f", "table", "user-data", "get").startswith("id ")
    assert get("user-data", "get", "-f", "table").startswith("id ")
    (tmp_path / "torc.toml").write_text('[client]\nformat = "table"\n')  # a chosen default
    assert get("user-data", "get").startswith("id ")
