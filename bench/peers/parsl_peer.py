"""Parsl with a ThreadPoolExecutor of ``slots`` threads; bash apps run ``true``."""

from __future__ import annotations

import json
import sys
import tempfile
import time


def main() -> None:
    import parsl
    from parsl.app.app import bash_app
    from parsl.config import Config
    from parsl.executors.threads import ThreadPoolExecutor

    workload = json.load(open(sys.argv[1]))
    started = time.perf_counter()
    run_dir = tempfile.mkdtemp(prefix="parsl-bench-")
    parsl.load(
        Config(
            executors=[ThreadPoolExecutor(max_threads=workload["slots"])],
            run_dir=run_dir,
            strategy="none",
        )
    )

    @bash_app
    def job(inputs=()):
        return "true"

    futures = {}
    for name, deps in workload["jobs"]:
        futures[name] = job(inputs=[futures[d] for d in deps])
    for future in futures.values():
        future.result()
    elapsed = time.perf_counter() - started
    parsl.dfk().cleanup()
    print(json.dumps({"seconds": elapsed}))


if __name__ == "__main__":
    main()
