"""The objects one Polyvox process shares: settings, worker pool, engine registry and synthesizer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from polyvox.config import Settings
from polyvox.engines.base import EngineFactory
from polyvox.engines.registry import EngineRegistry
from polyvox.synthesis import Synthesizer


class Polyvox:
    """Owns the bounded worker pool in which all blocking inference runs."""

    def __init__(self, settings: Settings, factories: dict[str, EngineFactory] | None = None) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(
            max_workers=settings.engines.workers, thread_name_prefix="polyvox-engine"
        )
        self.registry = EngineRegistry(settings, self.executor, factories)
        self.synthesizer = Synthesizer(settings, self.registry)

    async def aclose(self) -> None:
        """Unload engines and stop the worker pool."""
        await self.registry.aclose()
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> Polyvox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
