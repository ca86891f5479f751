"""The worker pool, ordered by deadline: the engine call whose listener runs out of audio first runs first.

A plain ``submit`` is due now (so ordinary blocking work keeps its FIFO order); ``submit_due`` takes a
``time.monotonic()`` deadline. Streams give each segment the moment the audio they already delivered runs out
(polyvox.stream), so a new stream's first sentence (due now) overtakes the queued next segments of streams
that are seconds ahead, and long-form chunks (due later) yield to listeners. A cancelled future that has not
started is skipped.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Work = tuple[float, int, Future[Any], Callable[[], Any]]


class DeadlinePool(Executor):
    """A fixed set of threads that always take the queued call with the earliest deadline."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "polyvox-engine") -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._queue: list[_Work] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self.submit_due(time.monotonic(), fn, *args, **kwargs)

    def submit_due(self, due: float, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn`` to run by ``due`` (``time.monotonic()``); earlier deadlines run first."""
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            heapq.heappush(self._queue, (due, next(self._order), future, lambda: fn(*args, **kwargs)))
            if len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._prefix}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._ready.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                _, _, future, call = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            if cancel_futures:
                for _, _, future, _ in self._queue:
                    future.cancel()
                self._queue.clear()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()
