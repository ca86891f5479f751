"""Where engine calls run when this process renders them: the worker pool, or an engine's worker process.

:class:`LocalRunner` implements the one segment call (polyvox.runners.segment): an engine with
``thread`` isolation runs in this process's bounded worker pool, with the retry-once policy of
polyvox.runners.isolation; an engine with ``process`` isolation is a
:class:`~polyvox.runners.process.WorkerEngine` proxy and runs in its worker process. Either way a
failure of the engine (a crash, a dead worker) marks it unhealthy, so the registry reloads it (starts a fresh
worker) on its next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from polyvox.errors import EngineFailedError, PolyvoxError
from polyvox.runners.isolation import run_isolated
from polyvox.runners.process import WorkerEngine
from polyvox.runners.segment import RawSegment, SegmentCall, SegmentRunner

if TYPE_CHECKING:
    from polyvox.engines.base import Engine
    from polyvox.engines.registry import EngineRegistry

__all__ = ["LocalRunner", "RawSegment", "SegmentCall", "SegmentRunner"]


class LocalRunner:
    """Engine calls in this process's worker pool, or in the engine's worker process."""

    def __init__(self, registry: EngineRegistry) -> None:
        self._registry = registry

    async def run(self, call: SegmentCall) -> RawSegment:
        rate = self._registry.instance(call.engine).info.sample_rate
        return RawSegment.joined([part async for part in self.parts(call)], rate)

    async def parts(self, call: SegmentCall) -> AsyncIterator[RawSegment]:
        registry = self._registry
        engine = registry.instance(call.engine)
        if isinstance(engine, WorkerEngine):
            try:
                async for part in engine.parts(call):
                    yield part
            except EngineFailedError as exc:
                registry.mark_unhealthy(call.engine, exc.message)
                raise
            return
        # The engine runs in a pool thread and hands each chunk to this loop as it comes; the thread
        # checks ``stop`` between chunks, so a client that left stops the engine within one chunk.
        loop = asyncio.get_running_loop()
        arrived: asyncio.Queue[RawSegment | None] = asyncio.Queue()
        stop = threading.Event()

        def push(part: RawSegment | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed (server shutdown): nobody waits
                loop.call_soon_threadsafe(arrived.put_nowait, part)

        done = asyncio.ensure_future(
            registry.pool.run_due(call.due, self.run_in_thread, engine, call, push, stop)
        )
        try:
            while (arrival := await arrived.get()) is not None:
                yield arrival
            await done  # the engine's error, if it failed
        except BaseException:
            stop.set()
            done.cancel()  # still queued in the pool: dropped there
            raise

    def run_in_thread(
        self,
        engine: Engine,
        call: SegmentCall,
        push: Callable[[RawSegment | None], None],
        stop: threading.Event,
    ) -> None:
        """The engine call itself (blocking), with the retry-once policy of polyvox.runners.isolation (no
        retry once a chunk went out: the listener already has it)."""
        sent = 0

        def attempt() -> None:
            nonlocal sent
            last = time.perf_counter()
            try:
                for chunk in engine.synthesize(call.text, call.voice, call.params):
                    if stop.is_set():
                        return
                    now = time.perf_counter()
                    push(RawSegment(chunk.samples, chunk.sample_rate, now - last))
                    last, sent = now, sent + 1
            except PolyvoxError:
                raise
            except Exception as exc:
                if sent:
                    raise EngineFailedError(f"engine {call.engine!r} failed: {exc}") from exc
                raise

        try:
            run_isolated(self._registry, call.engine, attempt)
        finally:
            push(None)

    async def aclose(self) -> None:
        return None
