"""The objects one Polyvox process shares: settings, worker pool, engine registry, synthesizer, ASR."""

from __future__ import annotations

from polyvox.config import Settings
from polyvox.engines.base import EngineFactory
from polyvox.engines.registry import EngineRegistry, discover_factories
from polyvox.engines.wyoming_remote import wyoming_engines
from polyvox.runners.deadline_pool import DeadlinePool
from polyvox.runners.process import isolate
from polyvox.runners.ray_mode import scale_out
from polyvox.runners.runner import LocalRunner, SegmentRunner
from polyvox.stt.recognizer import SpeechRecognizer
from polyvox.synthesis import Synthesizer


class Polyvox:
    """Owns the bounded worker pool in which all blocking inference runs."""

    def __init__(self, settings: Settings, factories: dict[str, EngineFactory] | None = None) -> None:
        self.settings = settings
        # Ordered by deadline: the listener whose delivered audio runs out first is served first.
        self.executor = DeadlinePool(settings.engines.workers, thread_name_prefix="polyvox-engine")
        # With ray.address set, segments render on Ray Serve replicas (polyvox.runners); else, here.
        remote, factories = scale_out(settings, factories)
        if remote is None:  # engines run here: in the pool, in worker processes, or on Wyoming servers
            found = factories if factories is not None else discover_factories()
            factories = isolate(settings, found) | wyoming_engines(settings)
        self.registry = EngineRegistry(settings, self.executor, factories)
        self.runner: SegmentRunner = remote or LocalRunner(self.registry)
        self.asr = SpeechRecognizer(settings)
        """The one speech recognizer (asr.backend): transcriptions, voice chat, validation, captions."""
        self.synthesizer = Synthesizer(settings, self.registry, self.runner, asr=self.asr)

    async def aclose(self) -> None:
        """Unload engines and stop the worker pool."""
        await self.registry.aclose()
        await self.runner.aclose()
        self.asr.close()
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> Polyvox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
