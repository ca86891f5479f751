"""Request tracing: one request id per HTTP request or WebSocket, in logs, headers and metrics.

The outermost middleware takes the client's ``X-Request-ID`` when it is a sane token (else makes one), writes
it back into the request headers (so routes that read the header see the same id), returns it on the
response, binds it to structlog's context variables and logs one ``request`` line when the exchange ends:
method, route, status, seconds and, when a synthesis ran, engine, voice, characters, audio seconds and RTF.
The request text is never logged at INFO (``debug`` adds nothing more either: text stays out of logs).
"""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from polyvox.api.ops.metrics import Metrics
    from polyvox.stream import SynthesisStream

log = structlog.get_logger("polyvox.request")

HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics", "/v1/monitor/status"})
"""Routes polled by machines (and the page's monitor panel): their request lines are logged at debug."""


@dataclass(slots=True)
class RequestInfo:
    """What one request did; filled in by the synthesizer listener, read when the request ends."""

    request_id: str
    engine: str | None = None
    voice: str | None = None
    chars: int = 0
    audio_seconds: float = 0.0
    synthesis_seconds: float = 0.0
    syntheses: int = 0


current_request: ContextVar[RequestInfo | None] = ContextVar("polyvox_request", default=None)


def record_stream(stream: SynthesisStream) -> None:
    """Synthesizer listener: fold a finished stream into the current request's info."""
    info = current_request.get()
    if info is None:
        return
    info.engine = stream.engine_name
    info.voice = stream.voice.id
    info.chars += sum(len(segment) for segment in stream.segments)
    info.audio_seconds += stream.stats.audio_seconds
    info.synthesis_seconds += stream.stats.synthesis_seconds
    info.syntheses += 1


def route_of(scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality); ``unmatched`` otherwise."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key.lower() == HEADER.encode():
            given = value.decode("latin-1")
            if _SANE_ID.match(given):
                return given
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Outermost ASGI middleware: request id, request log line and HTTP metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        rid = _request_id(headers)
        scope["headers"] = [(k, v) for k, v in headers if k.lower() != HEADER.encode()] + [
            (HEADER.encode(), rid.encode())
        ]
        info = RequestInfo(request_id=rid)
        token = current_request.set(info)
        bound = structlog.contextvars.bind_contextvars(request_id=rid)
        status = 500 if scope["type"] == "http" else 101
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                message["headers"] = [*out, (HEADER.encode(), rid.encode())]
            elif message["type"] == "websocket.http.response.start":  # a refused handshake (401, 429)
                status = int(message["status"])
            elif message["type"] == "websocket.close" and status == 101:
                status = int(message.get("code", 1000))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            if self.metrics is not None and scope["type"] == "http":
                self.metrics.observe_request(route, scope.get("method", ""), status, seconds)
            structlog.contextvars.reset_contextvars(**bound)
            self._log(scope, route, status, seconds, info)
            current_request.reset(token)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, seconds: float, info: RequestInfo) -> None:
        fields: dict[str, Any] = {
            "request_id": info.request_id,
            "method": scope.get("method", "WS"),
            "route": route,
            "status": status,
            "seconds": round(seconds, 4),
        }
        if info.syntheses:
            fields |= {
                "engine": info.engine,
                "voice": info.voice,
                "chars": info.chars,
                "audio_seconds": round(info.audio_seconds, 3),
                "rtf": round(info.synthesis_seconds / info.audio_seconds, 4) if info.audio_seconds else None,
            }
        if route in QUIET_ROUTES and status < 400:
            log.debug("request", **fields)
        else:
            log.info("request", **fields)
