"""The floor with log files: like ``floor``, but each ``true`` writes to its own new stdout and
stderr files, as every torc job does (``job_stdio/<name>.o`` and ``.e``).

Creating two files per job is part of what a torc job costs, and on some machines it costs
more than the spawn (file creation on this machine's ext4 ranged from 25 us to 0.8 ms of
kernel time per file), so this is the reference that does the same work minus torc.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def main() -> None:
    workload = json.load(open(sys.argv[1]))
    count, slots = len(workload["jobs"]), workload["slots"]
    directory = Path("job_stdio")
    directory.mkdir(exist_ok=True)
    shares = [count // slots + (1 if i < count % slots else 0) for i in range(slots)]

    def spawn(thread: int, times: int) -> None:
        for n in range(times):
            stem = directory / f"job_t{thread}_{n}"
            with open(f"{stem}.o", "w") as out, open(f"{stem}.e", "w") as err:
                subprocess.run(["true"], stdout=out, stderr=err, check=True)

    threads = [threading.Thread(target=spawn, args=pair) for pair in enumerate(shares)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
