"""Per-key and per-IP token buckets, and the request-body size cap, as one ASGI middleware.

Each client IP (``limits.ip_rate`` requests per second, bursts of ``limits.ip_burst``) and each API key
(``limits.key_rate``/``key_burst``; the key was accepted by :mod:`polyvox.api.ops.auth`, which runs first)
has a bucket. An empty bucket answers 429 ``rate_limited`` with ``Retry-After`` in whole seconds (a WebSocket
handshake gets the same as a denial response). Open paths (health, readiness, metrics) are never limited.
Bodies declaring a ``Content-Length`` above ``limits.max_body_bytes`` get 413 before they are read; bodies
without one (chunked transfer) are counted as they stream in and get the same 413 once past the cap.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polyvox.api.ops.auth import KEY_ID_STATE, deny, is_open
from polyvox.config import LimitSettings
from polyvox.errors import BusyError, PayloadTooLargeError

MAX_BUCKETS = 10_000
"""Buckets kept per kind; beyond, full (idle) ones are forgotten, then the least recently used."""


class RateLimitedError(BusyError):
    code = "rate_limited"


class BodyTooLargeError(HTTPException):
    """Raised into the app by :class:`_CountedReceive` when a streamed body passes the cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class _CountedReceive:
    """Wraps ``receive``: counts body bytes and raises :class:`BodyTooLargeError` once past ``limit``."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.seen = 0
        self.exceeded = False

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.exceeded = True
                raise BodyTooLargeError(self.limit)
        return message


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """Buckets of ``burst`` tokens refilled at ``rate`` per second, one per client name."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._last_sweep = 0.0

    def take(self, name: str, now: float | None = None) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is there."""
        now = time.monotonic() if now is None else now
        if now - self._last_sweep >= self.burst / self.rate:
            self._forget_full(now)  # a bucket refilled to full holds nothing worth keeping
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS and now > self._last_sweep:
                # One sweep per instant: a flood of new clients at once must not scan the table each time.
                self._forget_full(now)
            while len(self._buckets) >= MAX_BUCKETS:  # still full of active clients: drop the oldest
                self._buckets.popitem(last=False)
            bucket = self._buckets[name] = _Bucket(self.burst, now)
        else:
            self._buckets.move_to_end(name)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        self._last_sweep = now
        for name, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.stamp) * self.rate >= self.burst:
                del self._buckets[name]

    def __len__(self) -> int:
        return len(self._buckets)


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class LimitsMiddleware:
    """429 when a client's or key's bucket is empty; 413 for oversized declared bodies."""

    def __init__(self, app: ASGIApp, settings: LimitSettings, open_paths: list[str]) -> None:
        self.app = app
        self.settings = settings
        self.open_paths = open_paths
        self.by_ip = TokenBuckets(settings.ip_rate, settings.ip_burst) if settings.ip_rate > 0 else None
        self.by_key = TokenBuckets(settings.key_rate, settings.key_burst) if settings.key_rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_open(scope["path"], self.open_paths):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            length = _content_length(scope)
            if length is not None and length > self.settings.max_body_bytes:
                error = PayloadTooLargeError(
                    f"request body of {length} bytes exceeds {self.settings.max_body_bytes} bytes",
                    param="body",
                )
                await deny(scope, send, 413, error.to_dict(), {})
                return
        wait = 0.0
        if self.by_ip is not None:
            wait = self.by_ip.take(client_ip(scope))
        key = scope.get("state", {}).get(KEY_ID_STATE)
        if not wait and self.by_key is not None and key is not None:
            wait = self.by_key.take(str(key))
        if wait:
            retry = max(1, math.ceil(wait))
            limited = RateLimitedError(f"rate limit exceeded; retry in {retry} s", retry_after=retry)
            await deny(scope, send, 429, limited.to_dict(), {"Retry-After": str(retry)})
            return
        if scope["type"] == "http":
            await self._counted(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with its body counted; past the cap, answer 413 ourselves.

        Whatever the app makes of the exception raised from ``receive`` (its own 413, FastAPI's generic 400
        for an unreadable body, an unhandled error), the client gets one consistent 413 as long as no response
        has started; the app's own answer is dropped.
        """
        limit = self.settings.max_body_bytes
        counted = _CountedReceive(receive, limit)
        started = denied = False

        async def deny_once() -> None:
            nonlocal started, denied
            if not started and not denied:
                denied = True
                error = PayloadTooLargeError(f"request body exceeds {limit} bytes", param="body")
                await deny(scope, send, 413, error.to_dict(), {"Connection": "close"})

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if counted.exceeded:
                await deny_once()
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not counted.exceeded:
                raise
        if counted.exceeded:
            await deny_once()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
