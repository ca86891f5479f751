"""Prometheus metrics: HTTP requests, synthesis figures per engine, and live gauges read at scrape time.

Each app owns one :class:`Metrics` (its own ``CollectorRegistry``), so several apps in one process (tests)
never collide. Counters and histograms are fed by the request-context middleware (HTTP requests) and by a
listener on the synthesizer (every finished stream, whichever front door opened it); gauges such as active
streams, queue depth and engine memory, and the chunk cache's hit and miss counts, are read from the service
when ``GET /metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import Response

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from polyvox.service import Polyvox
    from polyvox.stream import SynthesisStream

SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)

router = APIRouter(tags=["Operations"])


class _ServiceCollector(Collector):
    """Gauges read from the live service at scrape time."""

    def __init__(self) -> None:
        self.service: Polyvox | None = None

    def collect(self) -> Iterator[Metric]:
        service = self.service
        if service is None:
            return
        synth = service.synthesizer
        yield GaugeMetricFamily(
            "polyvox_active_streams", "Syntheses running or queued.", value=synth.active_streams
        )
        yield GaugeMetricFamily("polyvox_capacity", "Syntheses allowed at once.", value=synth.capacity)
        depth = service.executor.queued  # the deadline pool's segments not yet started
        yield GaugeMetricFamily("polyvox_queue_depth", "Segments waiting for a worker.", value=depth)
        loaded = GaugeMetricFamily("polyvox_engine_loaded", "1 when the engine is loaded.", labels=["engine"])
        healthy = GaugeMetricFamily("polyvox_engine_healthy", "0 after an engine failure.", labels=["engine"])
        memory = GaugeMetricFamily(
            "polyvox_engine_memory_bytes", "Resident memory the engine added when loaded.", labels=["engine"]
        )
        loads = CounterMetricFamily("polyvox_engine_loads", "Times the engine was loaded.", labels=["engine"])
        failures = CounterMetricFamily(
            "polyvox_engine_failures", "Engine calls that failed.", labels=["engine"]
        )
        retries = CounterMetricFamily(
            "polyvox_engine_retries", "Engine calls retried after a transient failure.", labels=["engine"]
        )
        registry = service.registry
        for name in registry.names(include_hidden=True):
            status = registry.status(name)
            loaded.add_metric([name], 1.0 if status.loaded else 0.0)
            healthy.add_metric([name], 1.0 if status.healthy else 0.0)
            memory.add_metric([name], float(status.rss_added))
            loads.add_metric([name], float(status.load_count))
            failures.add_metric([name], float(status.failures))
            retries.add_metric([name], float(status.retries))
        yield from (loaded, healthy, memory, loads, failures, retries)
        yield from _cache_counters(service)


def _cache_counters(service: Polyvox) -> Iterator[Metric]:
    """Hits and misses of the chunk cache long-form jobs and audiobooks share (absent when it is off)."""
    from polyvox.longform import cache_for  # late: longform pulls in the whole synthesis stack

    cache = cache_for(service.synthesizer)
    if cache is None:
        return
    yield CounterMetricFamily("polyvox_cache_hits", "Chunks found in the chunk cache.", value=cache.hits)
    yield CounterMetricFamily(
        "polyvox_cache_misses", "Chunks looked up in the chunk cache and not found.", value=cache.misses
    )


class Metrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "polyvox_http_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "polyvox_http_request_seconds",
            "HTTP request duration.",
            ["route"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.syntheses = Counter(
            "polyvox_syntheses",
            "Finished syntheses by engine and outcome.",
            ["engine", "outcome"],
            registry=r,
        )
        self.synthesis_seconds = Histogram(
            "polyvox_synthesis_seconds",
            "Engine time per synthesis.",
            ["engine"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Histogram(
            "polyvox_audio_seconds",
            "Audio produced per synthesis.",
            ["engine"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.rtf = Histogram(
            "polyvox_real_time_factor",
            "Synthesis seconds per audio second.",
            ["engine"],
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.ttfa = Histogram(
            "polyvox_time_to_first_audio_seconds",
            "Seconds from admission to the first audio chunk.",
            ["engine"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.characters = Counter("polyvox_characters", "Characters synthesized.", ["engine"], registry=r)
        self._service = _ServiceCollector()
        r.register(self._service)

    def bind(self, service: Polyvox) -> None:
        """Read live gauges from ``service`` and observe every stream its synthesizer finishes."""
        self._service.service = service
        service.synthesizer.listeners.append(self.observe_stream)

    def unbind(self) -> None:
        self._service.service = None

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def observe_stream(self, stream: SynthesisStream) -> None:
        """Called by the synthesizer when a stream is released (finished, failed or cancelled)."""
        engine = stream.engine_name
        stats = stream.stats
        if stream.error is not None:
            outcome = "failed"
        elif stats.segments_done >= len(stream.segments):
            outcome = "ok"
        else:
            outcome = "cancelled"
        self.syntheses.labels(engine, outcome).inc()
        self.characters.labels(engine).inc(sum(len(s) for s in stream.segments))
        if stats.segments_done:
            self.synthesis_seconds.labels(engine).observe(stats.synthesis_seconds)
            self.audio_seconds.labels(engine).observe(stats.audio_seconds)
        if stats.real_time_factor is not None:
            self.rtf.labels(engine).observe(stats.real_time_factor)
        if stats.first_chunk_seconds is not None:
            self.ttfa.labels(engine).observe(stats.first_chunk_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    """Counters, histograms and gauges in the Prometheus text format (open unless removed from open_paths)."""
    collectors: Metrics = request.app.state.metrics
    return Response(collectors.render(), media_type=CONTENT_TYPE_LATEST)
