"""The seed's checkpointing how-to, locally: SIGTERM to the runner, save, reinitialize, resume."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.helpers import Api, ServerProcess, spec_payload, start_runner, torc, wait_for

# The how-to's bash job, with fewer and shorter iterations.
TRAIN = """#!/bin/bash
CHECKPOINT_FILE="$1"
save_checkpoint() {
  echo "Saving checkpoint at iteration $ITERATION"
  echo "$ITERATION" > "$CHECKPOINT_FILE"
}
trap 'save_checkpoint; exit 0' SIGTERM
if [ -f "$CHECKPOINT_FILE" ]; then
  ITERATION=$(cat "$CHECKPOINT_FILE")
  echo "Resuming from iteration $ITERATION"
else
  ITERATION=0
fi
while [ $ITERATION -lt 30 ]; do
  ITERATION=$((ITERATION + 1))
  sleep 0.1
done
echo "Finished at iteration $ITERATION"
"""


def test_terminated_job_saves_its_checkpoint_and_resumes(
    api: Api, server: ServerProcess, tmp_path: Path
):
    script = tmp_path / "train.sh"
    script.write_text(TRAIN)
    checkpoint = tmp_path / "progress.txt"
    second_time = tmp_path / "second_time"
    jobs = [
        {"name": "train", "command": f"bash {script} {checkpoint}", "supports_termination": True},
        {
            "name": "no_checkpoint",
            "command": f"test -f {second_time} || sleep 60",
            "supports_termination": False,
        },
        {"name": "evaluate", "command": "true", "depends_on": [0]},
    ]
    payload = spec_payload(jobs, workflow={"compute_node_wait_for_new_jobs_seconds": 1})
    wf = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    runner = start_runner(server.url, wf, tmp_path)
    wait_for(lambda: set(api.statuses(wf).values()) >= {"running"})
    wait_for(lambda: api.statuses(wf)["no_checkpoint"] == "running")
    time.sleep(0.8)  # some iterations done
    runner.send_signal(signal.SIGTERM)  # what Slurm's --signal=B:TERM@300 does
    assert runner.wait(timeout=60) == 128 + signal.SIGTERM
    statuses = api.statuses(wf)
    assert statuses["train"] == "terminated" and statuses["no_checkpoint"] == "terminated"
    saved = int(checkpoint.read_text())
    assert 0 < saved < 30
    logs = "".join(p.read_text() for p in (tmp_path / "output" / "job_stdio").glob("*_r1_a1.o"))
    assert f"Saving checkpoint at iteration {saved}" in logs
    second_time.touch()

    reinit = torc("--url", server.url, "workflows", "reinitialize", str(wf), cwd=tmp_path)
    assert reinit.returncode == 0, reinit.stderr
    assert api.statuses(wf)["train"] == "ready"
    finished = torc(
        "--url", server.url, "workflows", "run", str(wf), "--output-dir",
        str(tmp_path / "output"), "-p", "0.5", cwd=tmp_path,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert set(api.statuses(wf).values()) == {"completed"}
    logs = "".join(p.read_text() for p in (tmp_path / "output" / "job_stdio").glob("*_r2_*.o"))
    assert f"Resuming from iteration {saved}" in logs
    assert "Finished at iteration 30" in logs
