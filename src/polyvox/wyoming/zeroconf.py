"""Announce the Wyoming server over mDNS (``_wyoming._tcp``), the way Home Assistant discovers it.

Uses the optional ``zeroconf`` package; without it (or on a non-TCP URI, or when registration fails) the
server keeps serving and the reason is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any
from urllib.parse import urlparse

import structlog

from polyvox.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"


def _local_address() -> str:
    """The address other hosts reach this one at (the interface that routes to the mDNS group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((_MDNS_GROUP, 1))
        address: str = probe.getsockname()[0]
        return address


class Announcement:
    """Registers the service in the background on ``start()``; ``stop()`` withdraws it."""

    def __init__(self, uri: str, name: str) -> None:
        self.uri = uri
        self.name = name
        self._zeroconf: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._register(), name="wyoming zeroconf")

    async def _register(self) -> None:
        try:
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
        except ImportError:
            log.warning("zeroconf_unavailable", hint="pip install zeroconf")
            return
        parsed = urlparse(self.uri)
        if parsed.scheme != "tcp" or parsed.port is None:
            log.warning("zeroconf_needs_tcp", uri=self.uri)
            return
        try:
            host = parsed.hostname or ""
            if host in ("", "0.0.0.0", "::"):
                host = _local_address()
            info = AsyncServiceInfo(
                SERVICE_TYPE,
                f"{self.name}.{SERVICE_TYPE}",
                addresses=[socket.inet_aton(host)],
                port=parsed.port,
            )
            self._zeroconf = AsyncZeroconf()
            await self._zeroconf.async_register_service(info)
            log.info("zeroconf_announced", name=self.name, host=host, port=parsed.port)
        except Exception as exc:
            log.warning("zeroconf_failed", error=str(exc))

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._zeroconf is not None:
            with contextlib.suppress(Exception):
                await self._zeroconf.async_unregister_all_services()
            with contextlib.suppress(Exception):
                await self._zeroconf.async_close()
            self._zeroconf = None
