"""Limits both WebSocket front doors enforce on their clients: message size and idleness.

* **Size**: a message (text, or a binary frame) longer than ``realtime.max_message_bytes`` is answered with
  ``{"type": "error", "code": "message_too_large"}`` and dropped; the socket stays usable, so a client that
  sent one oversized message by mistake need not reconnect. Frames beyond the transport's own ceiling
  (uvicorn's ``ws_max_size``, 16 MiB) never reach Polyvox: the protocol layer closes the socket with 1009.
* **Idleness**: a socket on which nothing has been received *or sent* for ``realtime.idle_timeout`` seconds
  gets a final ``{"type": "error", "code": "idle_timeout"}`` and is closed with 1001 (going away). Counting
  sent frames too means a client listening to a long reply is never cut off for being quiet itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from polyvox.realtime.protocol import MessageError, error_message
from polyvox.realtime.speaker import Sender
from polyvox.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

IDLE_CLOSE_CODE = 1001


class MessageTooLargeError(MessageError):
    """A client message over ``realtime.max_message_bytes``; it is dropped, the socket stays open."""

    status = 413
    code = "message_too_large"


def check_size(raw: Mapping[str, Any], limit: int) -> None:
    """Raise :class:`MessageTooLargeError` when the received frame (text or bytes) exceeds ``limit``."""
    data = raw.get("bytes")
    size = len(data) if data is not None else len((raw.get("text") or "").encode())
    if size > limit:
        raise MessageTooLargeError(f"message of {size} bytes is over the {limit} byte limit; it was dropped")


class IdleWatch:
    """Receives from a socket, giving up once it has been idle in both directions for ``timeout`` s."""

    def __init__(self, websocket: WebSocket, sender: Sender, timeout: float) -> None:
        self.websocket = websocket
        self.sender = sender
        self.timeout = timeout
        self.last_received = time.monotonic()
        # One receive kept across waits instead of cancelling it on every timeout, so no frame can be lost.
        self._receiving: asyncio.Task[Message] | None = None

    def _quiet_for(self) -> float:
        return time.monotonic() - max(self.last_received, self.sender.last_sent)

    async def receive(self) -> Message | None:
        """The next ASGI message, or None when the socket has been idle for ``timeout`` (0: never)."""
        if self._receiving is None:
            self._receiving = asyncio.ensure_future(self.websocket.receive())
        while True:
            wait = None if self.timeout <= 0 else self.timeout - self._quiet_for()
            if wait is not None and wait <= 0:
                return None
            done, _ = await asyncio.wait({self._receiving}, timeout=wait)
            if done:
                task, self._receiving = self._receiving, None
                self.last_received = time.monotonic()
                return task.result()

    async def close_idle(self) -> None:
        """Say why, then close with 1001."""
        log.info("ws_idle_closed", path=self.websocket.url.path, idle_timeout=self.timeout)
        message = f"nothing received or sent for {self.timeout:g} s; closing"
        await self.sender.send(error_message("idle_timeout", message))
        with contextlib.suppress(Exception):
            await self.websocket.close(IDLE_CLOSE_CODE)
        self.sender.closed = True

    async def aclose(self) -> None:
        """Drop the receive still waiting, if any (the session is over)."""
        task, self._receiving = self._receiving, None
        if task is not None:
            await cancel_and_wait(task)


async def receive_until_stopped(
    websocket: WebSocket,
    idle: IdleWatch,
    handle: Callable[[Message], Awaitable[None]],
    stopping: Callable[[], bool],
) -> None:
    """Hand each message to ``handle`` until a stop (then close normally), a disconnect or idle timeout."""
    try:
        while not stopping():
            raw = await idle.receive()
            if raw is None:
                await idle.close_idle()
                return
            if raw["type"] == "websocket.disconnect":
                return
            await handle(raw)
        with contextlib.suppress(Exception):
            await websocket.close(1000)
    except WebSocketDisconnect:
        return
