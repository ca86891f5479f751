"""The Wyoming front door: Home Assistant's voice protocol over TCP or a Unix socket.

``run_wyoming(polyvox, "tcp://0.0.0.0:10200")`` serves until cancelled, sharing the process's
:class:`Polyvox` with the HTTP server in the same event loop (it installs no signal handlers).
``handler_factory(polyvox)`` is what ``wyoming.server.AsyncServer`` takes, for embedding it elsewhere.
What each event does is in :mod:`polyvox.wyoming.handler`, the ``describe`` answer in
:mod:`polyvox.wyoming.info`, the optional mDNS announcement in
:mod:`polyvox.wyoming.zeroconf`.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

import structlog
from wyoming.server import AsyncServer, HandlerFactory

from polyvox.config import WyomingSettings
from polyvox.service import Polyvox
from polyvox.tasks import cancel_and_wait
from polyvox.wyoming.handler import DEFAULT_SAMPLES_PER_CHUNK, PolyvoxEventHandler
from polyvox.wyoming.zeroconf import Announcement

__all__ = [
    "PolyvoxEventHandler",
    "WyomingServer",
    "WyomingSettings",
    "handler_factory",
    "run_wyoming",
]

log = structlog.get_logger(__name__)


def handler_factory(
    polyvox: Polyvox, *, samples_per_chunk: int = DEFAULT_SAMPLES_PER_CHUNK
) -> HandlerFactory:
    """What ``AsyncServer.run``/``start`` takes: one handler per connection, all sharing ``polyvox``."""

    def make(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> PolyvoxEventHandler:
        return PolyvoxEventHandler(polyvox, reader, writer, samples_per_chunk=samples_per_chunk)

    return make


class WyomingServer:
    """A Wyoming server on ``uri`` for an existing :class:`Polyvox`; ``async with`` starts and stops it.

    It never installs signal handlers, so it runs beside uvicorn in the same event loop.
    """

    def __init__(
        self,
        polyvox: Polyvox,
        uri: str,
        *,
        zeroconf: bool = False,
        zeroconf_name: str = "polyvox",
        samples_per_chunk: int = DEFAULT_SAMPLES_PER_CHUNK,
    ) -> None:
        self.uri = uri
        self._server = AsyncServer.from_uri(uri)  # ValueError for an unsupported URI
        self._factory = handler_factory(polyvox, samples_per_chunk=samples_per_chunk)
        self._handlers: weakref.WeakSet[PolyvoxEventHandler] = weakref.WeakSet()
        self._announcement = Announcement(uri, zeroconf_name) if zeroconf else None
        self._stdio: asyncio.Task[None] | None = None

    def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> PolyvoxEventHandler:
        handler = self._factory(reader, writer)
        assert isinstance(handler, PolyvoxEventHandler)
        self._handlers.add(handler)
        return handler

    async def start(self) -> None:
        """Listen (returns once the socket is bound) and start the zeroconf announcement if enabled."""
        if self.uri.startswith("stdio:"):
            self._stdio = asyncio.create_task(self._server.run(self._connect))
        else:
            await self._server.start(self._connect)
        log.info("wyoming_listening", uri=self.uri)
        if self._announcement is not None:
            self._announcement.start()

    async def stop(self) -> None:
        """Stop listening and end every connection, cancelling the syntheses still running for them."""
        if self._announcement is not None:
            await self._announcement.stop()
        await self._server.stop()
        tasks = [h.task for h in self._handlers if h.task is not None and not h.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._stdio is not None:
            await cancel_and_wait(self._stdio)
        log.info("wyoming_stopped", uri=self.uri)

    async def __aenter__(self) -> WyomingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def wyoming_alongside(polyvox: Polyvox) -> contextlib.AbstractAsyncContextManager[object]:
    """A Wyoming server for the HTTP app's lifespan when ``settings.wyoming.uri`` is set (else nothing)."""
    config = polyvox.settings.wyoming
    if not config.uri:
        return contextlib.nullcontext()
    return WyomingServer(
        polyvox,
        config.uri,
        zeroconf=config.zeroconf,
        zeroconf_name=config.zeroconf_name,
        samples_per_chunk=config.samples_per_chunk,
    )


async def run_wyoming(
    polyvox: Polyvox,
    uri: str,
    *,
    zeroconf: bool = False,
    zeroconf_name: str = "polyvox",
    samples_per_chunk: int = DEFAULT_SAMPLES_PER_CHUNK,
) -> None:
    """Serve Wyoming on ``uri`` (``tcp://HOST:PORT``, ``unix://PATH``) until cancelled."""
    server = WyomingServer(
        polyvox, uri, zeroconf=zeroconf, zeroconf_name=zeroconf_name, samples_per_chunk=samples_per_chunk
    )
    async with server:
        await asyncio.Event().wait()
