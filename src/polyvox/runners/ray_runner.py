"""Render segments on Ray Serve replicas (``ray.address`` set); imported only in that mode.

* Deployments are created lazily, one Serve application per engine (``polyvox-piper``...), when the local
  registry "loads" the engine (at startup for the default engine, or on a request's first use). An
  application already running on the cluster (another front door started it) is reused as it is.
* The local registry holds proxies (:meth:`RayRunner.proxy_factories`): they list voices from the local
  voice files and never load a model here; their ``synthesize`` goes to Ray too (blocking callers such as
  long-form jobs, which therefore fan their chunks out over all replicas).
* A segment whose replica died is re-sent once (``ray.retries``) and Serve routes it to a live replica;
  after that the stream ends with ``engine_failed`` in-band. Every call has ``ray.request_timeout``: a stuck
  replica ends the stream with ``engine_failed``, never a hang. Serve's queue limit (``BackPressureError``)
  becomes ``busy`` (429, Retry-After).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, cast

import ray
import structlog
from ray import serve
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Engine, EngineFactory, EngineInfo, SynthesisParams, Voice
from polyvox.errors import BusyError, EngineFailedError, PolyvoxError
from polyvox.runners.deployment import SegmentResult, build_app
from polyvox.runners.segment import RawSegment, SegmentCall

if TYPE_CHECKING:
    from polyvox.config import Settings

log = structlog.get_logger(__name__)

_RETRYABLE = (RayActorError, DeploymentUnavailableError)


class RayRunner:
    """A :class:`~polyvox.runners.runner.SegmentRunner` whose engine calls are Serve handle calls."""

    def __init__(self, settings: Settings, factories: dict[str, EngineFactory]) -> None:
        self._settings = settings
        self._ray = settings.ray
        self._factories = factories
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._owns_ray = False
        self.served: Counter[str] = Counter()
        """Segments rendered per replica id (observability and tests)."""
        self.pids: dict[str, int] = {}
        """Process id of each replica seen."""

    # -- deployments (blocking; called from worker threads) ----------------------------------------
    def _connect(self) -> None:
        if ray.is_initialized():
            return
        if self._ray.address == "local":
            ray.init(
                include_dashboard=False,
                object_store_memory=self._ray.object_store_memory or None,
                log_to_driver=False,
            )
            self._owns_ray = True
        else:
            ray.init(address=self._ray.address, log_to_driver=False)
        serve.start(proxy_location="Disabled")

    def deploy(self, engine: str) -> Any:
        """The engine's deployment handle; deploys the application first if the cluster lacks it."""
        with self._lock:
            handle = self._handles.get(engine)
            if handle is not None:
                return handle
            self._connect()
            name = f"{self._ray.namespace}-{engine}"
            if name in serve.status().applications:
                handle = serve.get_app_handle(name)
            else:
                started = time.perf_counter()
                handle = serve.run(build_app(engine, self._settings), name=name, route_prefix=None)
                log.info("ray_deployed", app=name, seconds=round(time.perf_counter() - started, 2))
            self._handles[engine] = handle
            return handle

    async def _handle(self, engine: str) -> Any:
        handle = self._handles.get(engine)
        return handle if handle is not None else await asyncio.to_thread(self.deploy, engine)

    # -- one segment ---------------------------------------------------------------------------------
    def _check(self, engine: str, exc: BaseException, attempt: int) -> None:
        """Map a Ray failure: returns when the call should be retried, raises otherwise."""
        if isinstance(exc, BackPressureError):
            retry_after = max(1, math.ceil(getattr(exc, "retry_after_s", None) or 1))
            raise BusyError(
                f"engine {engine!r} replicas are saturated; try again shortly", retry_after=retry_after
            ) from exc
        if isinstance(exc, _RETRYABLE) and attempt < self._ray.retries:
            log.warning("ray_segment_retry", engine=engine, error=type(exc).__name__)
            return
        if isinstance(exc, RayTaskError) and isinstance(exc.cause, PolyvoxError):
            raise exc.cause from None
        raise EngineFailedError(f"engine {engine!r} failed on Ray: {type(exc).__name__}") from exc

    def _accept(self, engine: str, result: SegmentResult) -> SegmentResult:
        if result.error is not None:
            raise result.error
        self.served[result.replica] += 1
        self.pids[result.replica] = result.pid
        return result

    def _timeout(self, engine: str) -> EngineFailedError:
        limit = self._ray.request_timeout
        return EngineFailedError(f"engine {engine!r} gave no answer on Ray within {limit} s")

    async def synthesize(
        self, engine: str, text: str, voice: Voice, params: SynthesisParams
    ) -> SegmentResult:
        """One segment on a replica (awaited on the event loop; no worker thread is held)."""
        handle = await self._handle(engine)
        attempt = 0
        while True:
            response = handle.synthesize.remote(text, voice, params)
            try:
                result: SegmentResult = await asyncio.wait_for(_wait(response), self._ray.request_timeout)
            except TimeoutError:
                response.cancel()
                raise self._timeout(engine) from None
            except asyncio.CancelledError:
                response.cancel()  # the client went away: stop the replica's work too
                raise
            except PolyvoxError:
                raise
            except Exception as exc:
                self._check(engine, exc, attempt)
                attempt += 1
                continue
            return self._accept(engine, result)

    def synthesize_blocking(
        self, engine: str, text: str, voice: Voice, params: SynthesisParams
    ) -> SegmentResult:
        """The same call for worker threads (engine self-test, long-form chunks)."""
        handle = self.deploy(engine)
        attempt = 0
        while True:
            response = handle.synthesize.remote(text, voice, params)
            try:
                result: SegmentResult = response.result(timeout_s=self._ray.request_timeout)
            except TimeoutError:
                response.cancel()
                raise self._timeout(engine) from None
            except PolyvoxError:
                raise
            except Exception as exc:
                self._check(engine, exc, attempt)
                attempt += 1
                continue
            return self._accept(engine, result)

    async def run(self, call: SegmentCall) -> RawSegment:
        """The segment call on a replica; the stream post-processes the raw audio as for local segments."""
        result = await self.synthesize(call.engine, call.text, call.voice, call.params)
        return RawSegment(result.samples, result.sample_rate, result.engine_seconds)

    async def parts(self, call: SegmentCall) -> AsyncIterator[RawSegment]:
        """Per segment on Ray: a replica call answers with the whole segment, so it is its one part."""
        yield await self.run(call)

    async def replica_status(self, engine: str) -> list[dict[str, Any]]:
        """Each replica's engine status as it answers (one call; Serve picks the replicas)."""
        handle = await self._handle(engine)
        return [await _wait(handle.status.remote())]

    async def aclose(self) -> None:
        """Drop handles; a 'local' Ray this runner started is shut down, a shared cluster is left as it is."""
        self._handles.clear()
        if self._owns_ray:
            await asyncio.to_thread(_shutdown)

    # -- proxies for the local registry --------------------------------------------------------------
    def proxy_factories(self) -> dict[str, EngineFactory]:
        """One proxy engine class per engine: voices are read locally, synthesis runs on Ray."""
        return {name: self._proxy(name, factory) for name, factory in self._factories.items()}

    def _proxy(self, engine: str, factory: EngineFactory) -> EngineFactory:
        runner = self

        class RemoteEngine:
            info: ClassVar[EngineInfo] = factory.info

            def __init__(self, settings: Settings) -> None:
                self._local: Engine = factory(settings)  # constructing loads no model

            def load(self) -> None:
                runner.deploy(engine)

            def unload(self) -> None:
                """Replicas unload their own engine after ``engines.ttl`` idle seconds."""

            def voices(self) -> list[Voice]:
                return self._local.voices()

            def default_voice(self) -> str:
                return self._local.default_voice()

            def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
                result = runner.synthesize_blocking(engine, text, voice, params)
                if len(result.samples):
                    yield AudioChunk(result.samples, result.sample_rate, text)

        RemoteEngine.__name__ = RemoteEngine.__qualname__ = f"Remote{engine.title()}Engine"
        return cast(EngineFactory, RemoteEngine)


async def _wait(response: Any) -> Any:
    return await response


def _shutdown() -> None:
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
