"""Where engine calls run when this process renders them: the worker pool, or an engine's worker process.

:class:`LocalRunner` implements the one segment call (polyvox.scaleout.segment): an engine with
``thread`` isolation runs in this process's bounded worker pool, with the retry-once policy of
polyvox.ops.isolation; an engine with ``process`` isolation is a
:class:`~polyvox.scaleout.process.WorkerEngine` proxy and runs in its worker process. Either way a
failure of the engine (a crash, a dead worker) marks it unhealthy, so the registry reloads it (starts a fresh
worker) on its next use.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from polyvox.errors import EngineFailedError
from polyvox.ops.isolation import run_isolated
from polyvox.scaleout.process import WorkerEngine
from polyvox.scaleout.segment import RawSegment, SegmentCall, SegmentRunner

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.base import Engine, EngineFactory
    from polyvox.engines.registry import EngineRegistry

__all__ = ["LocalRunner", "RawSegment", "SegmentCall", "SegmentRunner", "scale_out"]


class LocalRunner:
    """Engine calls in this process's worker pool, or in the engine's worker process."""

    def __init__(self, registry: EngineRegistry) -> None:
        self._registry = registry

    async def run(self, call: SegmentCall) -> RawSegment:
        registry = self._registry
        engine = registry.instance(call.engine)
        if isinstance(engine, WorkerEngine):
            try:
                return await engine.run(call)
            except EngineFailedError as exc:
                registry.mark_unhealthy(call.engine, exc.message)
                raise
        raw: RawSegment = await registry.run_due(call.due, self.run_in_thread, engine, call)
        return raw

    def run_in_thread(self, engine: Engine, call: SegmentCall) -> RawSegment:
        """The engine call itself (blocking), with the retry-once policy of polyvox.ops.isolation."""
        started = time.perf_counter()
        parts = run_isolated(
            self._registry,
            call.engine,
            lambda: list(engine.synthesize(call.text, call.voice, call.params)),
        )
        return RawSegment.of(parts, engine.info.sample_rate, time.perf_counter() - started)

    async def aclose(self) -> None:
        return None


def scale_out(
    settings: Settings, factories: dict[str, EngineFactory] | None
) -> tuple[SegmentRunner | None, dict[str, EngineFactory] | None]:
    """The Ray runner and the engine factories for the local registry, when ``ray.address`` is set.

    Without Ray: ``(None, factories)`` unchanged, and Ray is never imported. With Ray the factories are
    proxies that deploy their engine on Ray when "loaded" and read voices locally (no model is loaded in
    this process).
    """
    if not settings.ray.enabled:
        return None, factories
    from polyvox.engines.registry import discover_factories
    from polyvox.scaleout.ray_runner import RayRunner  # imports ray: only in Ray mode

    runner = RayRunner(settings, factories if factories is not None else discover_factories())
    return runner, runner.proxy_factories()
