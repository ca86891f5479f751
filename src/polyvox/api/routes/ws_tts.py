"""``WS /v1/ws/tts``: text in as it is generated, audio out as soon as a sentence is complete.

Client → server (JSON text frames): ``start`` (engine, voice, language, format, sample_rate, alignment,
context_id, extra), ``text`` (a fragment, optionally ``flush``), ``flush``, ``cancel`` and ``stop``; every
message but ``start`` and ``stop`` takes an optional ``context_id`` (default: the first context).
Server → client: ``started``; per segment a ``text_chunk`` then its binary audio frame(s); ``alignment``
when asked for; ``cancelled``; on ``stop`` one ``done`` per context, then the socket closes (1000).
Errors are ``{"type": "error", "code", "message"}`` and never close the socket, except ``idle_timeout``
(nothing either way for ``realtime.idle_timeout`` s: closed with 1001); a message over
``realtime.max_message_bytes`` gets ``message_too_large`` and is dropped (see :mod:`polyvox.realtime.limits`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import structlog
from fastapi import APIRouter, WebSocket

from polyvox.config import RealtimeSettings
from polyvox.errors import PolyvoxError
from polyvox.realtime.limits import IdleWatch, check_size, receive_until_stopped
from polyvox.realtime.protocol import (
    Cancel,
    Flush,
    MessageError,
    Stop,
    TextFragment,
    TTSStart,
    error_message,
    ms,
    parse_tts,
)
from polyvox.realtime.speaker import Sender, Speaker, VoiceConfig, resolve_config
from polyvox.service import Polyvox

log = structlog.get_logger(__name__)
router = APIRouter(tags=["websocket"])
TICK_SECONDS = 0.1


class ContextError(PolyvoxError):
    status = 409
    code = "invalid_context"


class NotStartedError(PolyvoxError):
    status = 409
    code = "not_started"


class TTSSession:
    """One socket: its contexts and the dispatch of client messages."""

    def __init__(self, websocket: WebSocket, service: Polyvox, limits: RealtimeSettings) -> None:
        self.websocket = websocket
        self.service = service
        self.limits = limits
        self.sender = Sender(websocket)
        self.idle = IdleWatch(websocket, self.sender, limits.idle_timeout)
        self.contexts: dict[str, Speaker] = {}
        self.default_context: str | None = None
        self.default_config: VoiceConfig | None = None
        self.stopping = False

    def _open(self, context_id: str, config: VoiceConfig) -> Speaker:
        if len(self.contexts) >= self.limits.max_contexts:
            raise ContextError(f"at most {self.limits.max_contexts} contexts per socket", param="context_id")
        speaker = Speaker(
            context_id,
            config,
            self.service.synthesizer,
            self.sender,
            transcriber=lambda: self.service.asr,
            max_chars=self.limits.max_segment_chars,
            max_wait=self.limits.max_wait,
            max_queued=self.limits.max_queued_chars,
        )
        self.contexts[context_id] = speaker
        return speaker

    def _context(self, context_id: str | None) -> Speaker:
        """The named context; an unknown name opens one with the first ``start``'s settings."""
        if self.default_config is None or self.default_context is None:
            raise NotStartedError("send a 'start' message first")
        name = context_id or self.default_context
        return self.contexts.get(name) or self._open(name, self.default_config)

    def _targets(self, context_id: str | None) -> list[Speaker]:
        if context_id is None:
            return list(self.contexts.values())
        if context_id not in self.contexts:
            raise ContextError(f"no context {context_id!r}", param="context_id")
        return [self.contexts[context_id]]

    async def on_start(self, message: TTSStart) -> None:
        if message.context_id in self.contexts:
            raise ContextError(f"context {message.context_id!r} is already open", param="context_id")
        config = resolve_config(
            self.service.synthesizer, message, message.sample_rate, alignment=message.alignment
        )
        self._open(message.context_id, config)
        if self.default_config is None:
            self.default_context, self.default_config = message.context_id, config
        await self.sender.send(
            {
                "type": "started",
                "context_id": message.context_id,
                "engine": config.engine,
                "voice": config.voice,
                "language": config.language,
                "format": config.fmt.value,
                "sample_rate": config.sample_rate,
            }
        )

    async def on_text(self, message: TextFragment) -> None:
        speaker = self._context(message.context_id)
        await speaker.feed(message.text)
        if message.flush:
            await speaker.flush()

    async def on_flush(self, message: Flush) -> None:
        for speaker in self._targets(message.context_id):
            await speaker.flush()

    async def on_cancel(self, message: Cancel) -> None:
        for speaker in self._targets(message.context_id):
            await speaker.cancel()
            await self.sender.send({"type": "cancelled", "context_id": speaker.context_id})

    async def on_stop(self, message: Stop) -> None:
        self.stopping = True
        results = await asyncio.gather(*(s.finish() for s in self.contexts.values()))
        for speaker, stats in zip(self.contexts.values(), results, strict=True):
            await self.sender.send(
                {
                    "type": "done",
                    "context_id": speaker.context_id,
                    "chunks": stats.chunks,
                    "audio_seconds": round(stats.audio_seconds, 3),
                    "ttfa_ms": ms(stats.ttfa),
                }
            )

    async def handle(self, raw: Mapping[str, Any]) -> None:
        """One received frame; errors are reported to the client and the socket stays open."""
        try:
            check_size(raw, self.limits.max_message_bytes)
            if raw.get("bytes") is not None:
                raise MessageError("this socket takes JSON text messages only", param="type")
            message = parse_tts(raw.get("text") or "")
            handler = self._handlers[message.type]
            await handler(self, message)
        except PolyvoxError as exc:
            await self.sender.send(error_message(exc.code, exc.message, param=exc.param))

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for speaker in list(self.contexts.values()):
                await speaker.tick()

    async def run(self) -> None:
        ticker = asyncio.create_task(self.tick())
        try:
            await receive_until_stopped(self.websocket, self.idle, self.handle, lambda: self.stopping)
        finally:
            ticker.cancel()
            await self.idle.aclose()
            for speaker in self.contexts.values():
                await speaker.aclose()

    _handlers: ClassVar[dict[str, Any]] = {
        "start": on_start,
        "text": on_text,
        "flush": on_flush,
        "cancel": on_cancel,
        "stop": on_stop,
    }


@router.websocket("/v1/ws/tts")
@router.websocket("/ws/tts")  # the path the servers Polyvox replaces used
async def ws_tts(websocket: WebSocket) -> None:
    """Incremental text-to-speech; see the module docstring for the protocol."""
    await websocket.accept()
    service: Polyvox = websocket.app.state.polyvox
    session = TTSSession(websocket, service, service.settings.realtime)
    await session.run()
    log.info("ws_tts_closed", contexts=len(session.contexts))
