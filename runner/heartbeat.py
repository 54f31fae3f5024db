"""A thread that tells the server this runner is alive, whatever the main loop is doing."""

from __future__ import annotations

import logging
import threading

from cli.client import TorcClient

logger = logging.getLogger("torc.runner")


class Heartbeat:
    def __init__(self, client: TorcClient, compute_node_id: int, interval: float) -> None:
        # Its own connection (one per thread), same server and login.
        self._client = client.clone(timeout=30, retry_seconds=0)
        self._node_id = compute_node_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._client.heartbeat(self._node_id)
            except Exception as exc:  # noqa: BLE001  (keep beating; the server may come back)
                logger.warning("heartbeat failed: %s", exc)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)
        self._client.close()
