"""Network calls off the UI thread, their answers handed back to it.

The screen never waits for the server: every call goes to ``Worker.submit``, which runs it
on one worker thread with that thread's own client (a clone: a client belongs to one
thread, see cli/client.py) and passes the answer, or the error, to a callback run on the UI
thread. ``PipeBridge`` is how callbacks get there: other threads queue them and write a byte
to a pipe the urwid loop watches. The executor and the bridge are parameters, so tests can
run calls inline.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Protocol, TypeVar

import urwid

from cli.client import TorcClient

logger = logging.getLogger("tui")

T = TypeVar("T")
Callback = Callable[[], None]

# One answer must come within this many seconds, or the server counts as unreachable.
REQUEST_TIMEOUT = 10.0


class Post(Protocol):
    """Runs a callback on the UI thread (soon, in order)."""

    def __call__(self, callback: Callback) -> None: ...


class PipeBridge:
    """Callbacks from any thread, run by the urwid loop: queued, then woken by a pipe."""

    def __init__(self, loop: Any, on_error: Callable[[BaseException], None]) -> None:
        self._loop = loop
        self._calls: deque[Callback] = deque()
        self._on_error = on_error
        self._fd: int | None = loop.watch_pipe(self._drain)

    def __call__(self, callback: Callback) -> None:
        self._calls.append(callback)
        fd = self._fd
        if fd is None:
            return
        try:
            os.write(fd, b"\0")
        except OSError:  # the loop has stopped: nobody is left to run it
            pass

    def _drain(self, _data: bytes) -> bool:
        while self._calls:
            callback = self._calls.popleft()
            try:
                callback()
            except urwid.ExitMainLoop:  # a callback that ends the TUI (a hangup)
                raise
            except Exception as exc:  # noqa: BLE001  (one bad callback must not end the UI)
                logger.exception("callback failed")
                self._on_error(exc)
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._loop.remove_watch_pipe(fd)


class SerialExecutor(Executor):
    """One daemon thread running the submitted calls in order. A daemon, so quitting never
    waits for a call stuck on a server that does not answer."""

    def __init__(self, name: str = "tui-worker") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._closed:
            raise RuntimeError("the executor is shut down")
        future: Future[T] = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001  (the future carries it)
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        if wait:
            self._thread.join()


class Worker:
    """Runs ``call(client)`` on the worker thread and hands the result to ``done`` (or the
    exception to ``failed``) on the UI thread. Calls run one at a time, in order."""

    def __init__(
        self,
        client: TorcClient,
        post: Post,
        executor: Executor | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._client = client  # the UI thread's; only cloned, never used to send here
        self._post = post
        self._executor = executor or SerialExecutor()
        self._timeout = timeout
        self._local = threading.local()
        # When the call in progress started (None: idle); read by the UI thread to say
        # that the server is slow before the call times out.
        self.busy_since: float | None = None

    @property
    def client(self) -> TorcClient:
        return self._client

    def use_client(self, client: TorcClient) -> None:
        """Later calls go to ``client``'s server (a new URL or user)."""
        self._client = client

    def submit(
        self,
        call: Callable[[TorcClient], T],
        done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> None:
        source = self._client

        def task() -> None:
            self.busy_since = time.monotonic()
            try:
                value = call(self._thread_client(source))
            except Exception as exc:  # noqa: BLE001  (handed to the UI, which shows it)
                self._post(functools.partial(failed, exc))
            else:
                self._post(functools.partial(done, value))
            finally:
                self.busy_since = None

        try:
            self._executor.submit(task)
        except RuntimeError:  # shut down: the app is closing
            pass

    def _thread_client(self, source: TorcClient) -> TorcClient:
        """This thread's clone of ``source`` (made again when the source changes)."""
        local = self._local
        if getattr(local, "source", None) is not source:
            if getattr(local, "client", None) is not None:
                local.client.close()
            local.client = source.clone(timeout=self._timeout, retry_seconds=0)
            local.source = source
        return local.client

    def close(self) -> None:
        """Stop taking calls; the thread closes its client after the call it is in."""

        def close_client() -> None:
            if getattr(self._local, "client", None) is not None:
                self._local.client.close()
                self._local.client = None

        try:
            self._executor.submit(close_client)
        except RuntimeError:
            pass
        self._executor.shutdown(wait=False)
