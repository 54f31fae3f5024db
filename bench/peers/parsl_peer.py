"""Parsl with a ThreadPoolExecutor of ``slots`` threads; bash apps run ``true`` with their
``stdout``/``stderr`` in a file each."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    import parsl
    from parsl.app.app import bash_app
    from parsl.config import Config
    from parsl.executors.threads import ThreadPoolExecutor

    workload = json.load(open(sys.argv[1]))
    stdio = Path("job_stdio").resolve()
    started = time.perf_counter()
    stdio.mkdir(exist_ok=True)
    parsl.load(
        Config(
            executors=[ThreadPoolExecutor(max_threads=workload["slots"])],
            run_dir=str(Path("parsl_runinfo").resolve()),
            strategy="none",
        )
    )

    @bash_app
    def job(inputs=(), stdout=None, stderr=None):
        return "true"

    futures = {}
    for name, deps in workload["jobs"]:
        futures[name] = job(
            inputs=[futures[d] for d in deps],
            stdout=(str(stdio / f"{name}.o"), "w"),
            stderr=(str(stdio / f"{name}.e"), "w"),
        )
    for future in futures.values():
        future.result()
    elapsed = time.perf_counter() - started
    parsl.dfk().cleanup()
    print(json.dumps({"seconds": elapsed}))


if __name__ == "__main__":
    main()
