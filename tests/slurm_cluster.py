"""The real single-node Slurm cluster the Slurm tests run on (scripts/slurm/up.sh).

Brought up once per session. It cannot run without root or without the packages
(scripts/test-env/install.sh installs them): the tests then skip, saying why, except under
``CI=true``, where a Slurm that does not come up is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from tests.conftest import REPO

UP = REPO / "scripts" / "slurm" / "up.sh"
BRING_UP_TIMEOUT = 240
NEEDED = ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "sbatch", "sacct")


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Slurm is required under CI=true: {reason}")
    pytest.skip(reason)


@dataclass
class SlurmCluster:
    started_here: bool

    def stop(self) -> None:
        """Stop the daemons if this session started them (a cluster found running stays)."""
        if self.started_here:
            subprocess.run(["bash", str(UP), "stop"], capture_output=True, timeout=120)


def cluster_is_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    return ping.returncode == 0 and "UP" in ping.stdout


def start_cluster() -> SlurmCluster:
    if os.geteuid() != 0:
        unavailable("the Slurm tests start slurmctld, slurmd and munged, which needs root")
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        unavailable(
            f"Slurm is not installed here ({', '.join(missing)} missing); "
            "scripts/test-env/install.sh installs it"
        )
    was_up = cluster_is_up()
    done = subprocess.run(
        ["bash", str(UP)], capture_output=True, text=True, timeout=BRING_UP_TIMEOUT
    )
    if done.returncode != 0:
        unavailable(f"scripts/slurm/up.sh failed ({done.returncode}): {done.stderr[-800:]}")
    return SlurmCluster(started_here=not was_up)
