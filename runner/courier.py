"""Talks to the server on a worker thread, so the runner keeps launching jobs meanwhile.

One request is in flight at a time. The runner posts a request with ``send``; when the answer
(or the error) is ready the courier writes a byte to a pipe the runner's selector watches,
and ``take`` hands it over.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Delivery:
    request: Any
    response: Any = None
    error: BaseException | None = None


class Courier:
    def __init__(self, call: Callable[[Any], Any]) -> None:
        self._call = call
        self._requests: queue.Queue[Any] = queue.Queue()
        self._deliveries: queue.Queue[Delivery] = queue.Queue()
        self.wake_fd, self._wake_write = os.pipe()
        os.set_blocking(self.wake_fd, False)
        self.busy = False
        self._thread = threading.Thread(target=self._loop, name="courier", daemon=True)
        self._thread.start()

    def send(self, request: Any) -> None:
        assert not self.busy, "one request at a time"
        self.busy = True
        self._requests.put(request)

    def take(self) -> Delivery | None:
        """The finished delivery, if one is ready (drains the wake-up pipe)."""
        try:
            os.read(self.wake_fd, 4096)
        except BlockingIOError:
            pass
        try:
            delivery = self._deliveries.get_nowait()
        except queue.Empty:
            return None
        self.busy = False
        return delivery

    def wait(self, timeout: float | None = None) -> Delivery | None:
        """Block until the request in flight is answered."""
        if not self.busy:
            return None
        try:
            delivery = self._deliveries.get(timeout=timeout)
        except queue.Empty:
            return None
        self.busy = False
        return delivery

    def close(self, timeout: float = 5.0) -> None:
        self._requests.put(None)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            return  # still in a request: it will write to the pipe, so leave it open
        os.close(self.wake_fd)
        os.close(self._wake_write)

    def _loop(self) -> None:
        while (request := self._requests.get()) is not None:
            delivery = Delivery(request)
            try:
                delivery.response = self._call(request)
            except BaseException as exc:  # noqa: BLE001  (handed to the runner thread)
                delivery.error = exc
            self._deliveries.put(delivery)
            os.write(self._wake_write, b"x")
