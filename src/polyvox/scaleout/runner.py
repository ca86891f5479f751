"""Where one segment of a stream is rendered: the local worker pool, or a Ray Serve replica.

``SynthesisStream`` asks its synthesizer's runner for each segment and gets the finished ``AudioChunk``
back; the pipeline around it (lease, ordering, one segment in flight per stream, cancellation, in-band
errors) is the same whichever runner renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

if TYPE_CHECKING:
    from polyvox.audio.chunk import AudioChunk
    from polyvox.config import Settings
    from polyvox.engines.base import EngineFactory
    from polyvox.engines.registry import EngineRegistry
    from polyvox.stream import SynthesisStream


@runtime_checkable
class SegmentRunner(Protocol):
    """Renders segment ``index`` of ``stream`` into its post-processed chunk."""

    async def render(self, stream: SynthesisStream, index: int) -> AudioChunk:
        """Synthesize, time-stretch, resample and apply volume; errors are ``PolyvoxError``s."""
        ...

    async def aclose(self) -> None:
        """Release what the runner holds (connections, deployments it started)."""
        ...


class LocalRunner:
    """Today's behaviour: the engine call runs in this process's bounded worker pool."""

    def __init__(self, registry: EngineRegistry) -> None:
        self._registry = registry

    async def render(self, stream: SynthesisStream, index: int) -> AudioChunk:
        return cast("AudioChunk", await self._registry.run_blocking(stream.render, index))

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
