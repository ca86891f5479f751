"""The Ray Serve deployment that runs one engine: each replica owns its own ``EngineRegistry``.

A replica builds its registry from the front door's settings (sent with the deployment), so engines load
lazily on a replica's first segment and unload after ``engines.ttl`` idle seconds exactly as in one
process. ``synthesize`` renders one segment through the replica's own
:class:`~polyvox.runners.runner.LocalRunner` (the same segment call as one process: worker pool or worker
process, with its retry-once policy) and returns the raw samples and native rate; the front door
post-processes (speed, resampling, volume) as it does for local segments. Engine errors that are part of
the contract (``PolyvoxError``) come back as values, so they keep their type and code.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from ray import serve

from polyvox.audio.chunk import FloatArray
from polyvox.config import RaySettings, Settings
from polyvox.engines.base import SynthesisParams, Voice
from polyvox.engines.registry import EngineRegistry, discover_factories
from polyvox.errors import PolyvoxError
from polyvox.runners.process import isolate
from polyvox.runners.runner import LocalRunner
from polyvox.runners.segment import SegmentCall


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """One segment as a replica rendered it (or the contract error it raised)."""

    samples: FloatArray
    sample_rate: int
    replica: str
    """Ray Serve's id of the replica that rendered it."""
    pid: int
    """Process id of that replica (tests kill it to simulate a crash)."""
    error: PolyvoxError | None = None
    engine_seconds: float = 0.0
    """Seconds the engine call took on the replica."""


def replica_settings(settings: Settings) -> dict[str, Any]:
    """The settings a replica runs with: the front door's, without Ray, one thread pool per CPU share."""
    data = settings.model_dump(mode="json")
    data["ray"] = RaySettings().model_dump(mode="json")
    engines = data["engines"]
    engines["workers"] = settings.ray.workers
    if not engines["onnx_threads"]:  # onnxruntime would take every core of the node otherwise
        engines["onnx_threads"] = max(1, int(settings.ray.num_cpus))
    return data


class EngineReplica:
    """A Serve replica of one engine."""

    def __init__(self, engine: str, settings: dict[str, Any]) -> None:
        self._settings = Settings(**settings)
        self._engine = engine
        self._executor = ThreadPoolExecutor(
            max_workers=self._settings.engines.workers, thread_name_prefix="polyvox-replica"
        )
        factories = isolate(self._settings, discover_factories())
        self._registry = EngineRegistry(self._settings, self._executor, factories)
        self._runner = LocalRunner(self._registry)
        self._replica = serve.get_replica_context().replica_id.unique_id
        self._pid = os.getpid()

    async def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> SegmentResult:
        """Render one segment with this replica's engine (loaded on first use, unloaded after the TTL)."""
        try:
            async with self._registry.acquire(self._engine):
                raw = await self._runner.run(SegmentCall(self._engine, text, voice, params))
        except PolyvoxError as exc:
            empty = np.zeros(0, dtype=np.float32)
            return SegmentResult(empty, 0, self._replica, self._pid, error=exc)
        return SegmentResult(raw.samples, raw.sample_rate, self._replica, self._pid, None, raw.engine_seconds)

    async def status(self) -> dict[str, Any]:
        """This replica's view of its engine (loaded, load/unload counts, measured real-time factor)."""
        status = dataclasses.asdict(self._registry.status(self._engine))
        status.pop("info", None)
        return {"replica": self._replica, "pid": self._pid, **status}

    def __del__(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def build_app(engine: str, settings: Settings) -> Any:
    """The Serve application of one engine, with replicas and resources from ``settings.ray``."""
    ray = settings.ray
    options: dict[str, Any] = {
        "name": f"{ray.namespace}-{engine}",
        "ray_actor_options": {"num_cpus": ray.num_cpus, "num_gpus": ray.num_gpus},
        "max_ongoing_requests": ray.max_ongoing_requests,
        "max_queued_requests": ray.max_queued_requests,
        "health_check_period_s": 2.0,
        "health_check_timeout_s": 10.0,
    }
    if ray.max_replicas:
        options["autoscaling_config"] = {
            "min_replicas": ray.min_replicas,
            "initial_replicas": max(ray.min_replicas, 1),
            "max_replicas": ray.max_replicas,
            "target_ongoing_requests": ray.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = ray.num_replicas
    deployment: Any = cast(Any, serve.deployment)(EngineReplica)
    return deployment.options(**options).bind(engine, replica_settings(settings))
