"""Close connections whose request headers come too slowly or grow too large (slowloris).

uvicorn bounds the time *between* requests (``timeout_keep_alive``) but not the time a client takes to send
one request's headers: a socket that sends a header byte now and then is held forever, and enough of them
exhaust the open-file limit. httptools (uvicorn's default parser when installed) does not bound the headers'
size either; h11 does (``h11_max_incomplete_event_size``). This guard wraps uvicorn's own HTTP protocol
classes: from the moment a connection opens, or the first byte of a following request arrives, the headers
must be complete within ``header_timeout`` seconds and ``max_header_bytes`` bytes, else the client gets
``408``/``431`` and the connection is closed. It needs no parser hook: headers are complete when uvicorn has
started a request cycle for them, which both protocol classes do.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, cast

import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger(__name__)

_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class _HeaderGuard(asyncio.Protocol):
    """The guard, mixed in before one of uvicorn's HTTP protocol classes."""

    header_timeout: ClassVar[float] = 10.0
    max_header_bytes: ClassVar[int] = 65_536

    _guard_timer: asyncio.TimerHandle | None = None
    _guard_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._guard_transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_headers():
            self._disarm()
            return
        self._arm()
        self._guard_bytes += len(data)
        if self._guard_bytes > self.max_header_bytes:
            self._refuse(_TOO_LARGE, "header_too_large")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # -- the guard --------------------------------------------------------------------------------------
    def _waiting_for_headers(self) -> bool:
        """No request is being served and the bytes so far do not end a request's headers."""
        if self._guard_transport.is_closing() or self._guard_transport.get_protocol() is not self:
            return False  # closed, or upgraded to a WebSocket (its own protocol object now)
        cycle = getattr(self, "cycle", None)  # uvicorn starts a cycle once a request's headers are in
        return cycle is None or bool(cycle.response_complete)

    def _arm(self) -> None:
        if self._guard_timer is None and self.header_timeout > 0:
            self._guard_bytes = 0
            loop = asyncio.get_running_loop()
            self._guard_timer = loop.call_later(self.header_timeout, self._refuse, _TIMEOUT, "header_timeout")

    def _disarm(self) -> None:
        if self._guard_timer is not None:
            self._guard_timer.cancel()
            self._guard_timer = None
        self._guard_bytes = 0

    def _refuse(self, response: bytes, reason: str) -> None:
        self._disarm()
        transport = self._guard_transport
        if not transport.is_closing() and transport.get_protocol() is self:
            log.info("connection_refused", reason=reason, client=transport.get_extra_info("peername"))
            transport.write(response)
            transport.close()


class GuardedH11(_HeaderGuard, H11Protocol):
    """uvicorn's h11 protocol with the header guard."""


def guarded_httptools() -> type[_HeaderGuard] | None:
    """uvicorn's httptools protocol with the header guard, or None where httptools is not installed (a base
    install: it comes with uvicorn[standard]; uvicorn then parses with h11)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class GuardedHttpTools(_HeaderGuard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header guard."""

    return GuardedHttpTools


def guarded_protocol(header_timeout: float, max_header_bytes: int) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``: httptools when installed, as uvicorn picks."""
    base: type[_HeaderGuard] = guarded_httptools() or GuardedH11
    settings = {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes}
    return type(base.__name__, (base,), settings)
