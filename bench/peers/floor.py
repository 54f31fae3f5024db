"""The floor: spawn ``true`` once per job from as many Python threads as there are slots."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time


def main() -> None:
    workload = json.load(open(sys.argv[1]))
    count, slots = len(workload["jobs"]), workload["slots"]
    shares = [count // slots + (1 if i < count % slots else 0) for i in range(slots)]

    def spawn(times: int) -> None:
        for _ in range(times):
            subprocess.run(["true"], check=True)

    threads = [threading.Thread(target=spawn, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
