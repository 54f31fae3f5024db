"""Dask distributed: a LocalCluster with one worker of ``slots`` threads; each task runs
``true`` with its stdout and stderr in a file each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def run_true(stem: str, *_deps) -> int:
    with open(f"{stem}.o", "w") as out, open(f"{stem}.e", "w") as err:
        return subprocess.run(["true"], stdout=out, stderr=err, check=True).returncode


def main() -> None:
    from dask.distributed import Client, LocalCluster, wait

    workload = json.load(open(sys.argv[1]))
    stdio = Path("job_stdio").resolve()
    started = time.perf_counter()
    stdio.mkdir(exist_ok=True)
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=workload["slots"],
            processes=True,
            dashboard_address=None,
            local_directory=str(Path("dask-scratch").resolve()),
        ) as cluster,
        Client(cluster) as client,
    ):
        futures = {}
        for name, deps in workload["jobs"]:
            futures[name] = client.submit(
                run_true, str(stdio / name), *[futures[d] for d in deps], key=name, pure=False
            )
        wait(list(futures.values()))
        elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed}))


if __name__ == "__main__":
    main()
