"""Dask distributed: a LocalCluster with one worker of ``slots`` threads."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def run_true(*_deps) -> int:
    return subprocess.run(["true"], check=True).returncode


def main() -> None:
    from dask.distributed import Client, LocalCluster, wait

    workload = json.load(open(sys.argv[1]))
    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=workload["slots"],
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        futures = {}
        for name, deps in workload["jobs"]:
            futures[name] = client.submit(
                run_true, *[futures[d] for d in deps], key=name, pure=False
            )
        wait(list(futures.values()))
        elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed}))


if __name__ == "__main__":
    main()
