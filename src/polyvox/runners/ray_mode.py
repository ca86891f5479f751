"""Choosing the scale-out mode at startup: this process's runner, or Ray Serve when ``ray.address`` is set.

Apart from :mod:`polyvox.runners.runner` so that the local runner (which Ray replicas run themselves, see
:mod:`polyvox.runners.deployment`) never imports the Ray runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.base import EngineFactory
    from polyvox.runners.segment import SegmentRunner


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
    from polyvox.runners.ray_runner import RayRunner  # imports ray: only in Ray mode

    runner = RayRunner(settings, factories if factories is not None else discover_factories())
    return runner, runner.proxy_factories()
