"""``WS /v1/ws/converse``: microphone audio in, a spoken LLM reply out.

Client → server: ``start`` (sample_rate of the mic audio, engine, voice, language, format,
output_sample_rate, vad, tts, system_prompt, extra), binary frames of pcm s16le mono audio, ``end_of_turn``
(unless ``vad`` lets the server decide), ``cancel`` (stop the reply) and ``stop``.
Server → client: ``started``; per turn ``transcript``, then the reply as ``text_chunk`` + binary audio
(``has_audio: false`` when TTS is off or failing), then ``turn_done`` with ``asr_ms``,
``llm_first_token_ms``, ``ttfa_ms``, ``total_ms``; ``interrupted`` when a new turn cut a reply short.
Errors (``llm_unavailable``, ``llm_failed``, ``no_speech``, bad messages, ``message_too_large`` for a text or
audio frame over ``realtime.max_message_bytes``) never close the socket; ``idle_timeout`` does (1001), after
``realtime.idle_timeout`` s without a frame either way (see :mod:`polyvox.realtime.limits`).
With ``llm.audio_input`` the model hears the turn's audio itself (an ``input_audio`` content part): no ASR
runs, no ``transcript`` is sent and ``asr_ms`` is null.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import structlog
from fastapi import APIRouter, WebSocket

from polyvox.api.routes.ws_tts import NotStartedError
from polyvox.audio.chunk import FloatArray
from polyvox.audio.dsp import Resampler
from polyvox.errors import PolyvoxError
from polyvox.realtime.conversation import Conversation, pcm_to_float
from polyvox.realtime.limits import IdleWatch, check_size, receive_until_stopped
from polyvox.realtime.llm import ChatClient
from polyvox.realtime.protocol import (
    Cancel,
    ConverseStart,
    EndOfTurn,
    MessageError,
    Stop,
    error_message,
    parse_converse,
)
from polyvox.realtime.speaker import Sender, resolve_config
from polyvox.realtime.vad import VAD_RATE, TurnDetector
from polyvox.service import Polyvox
from polyvox.tasks import cancel_and_wait

log = structlog.get_logger(__name__)
router = APIRouter(tags=["websocket"])


class ConverseSession:
    """One connection: the turn being recorded, the reply being spoken, and message dispatch."""

    def __init__(self, websocket: WebSocket, service: Polyvox) -> None:
        self.websocket = websocket
        self.service = service
        self.limits = service.settings.realtime
        self.llm_settings = service.settings.llm
        self.sender = Sender(websocket)
        self.idle = IdleWatch(websocket, self.sender, self.limits.idle_timeout)
        self.conversation: Conversation | None = None
        self.llm: ChatClient | None = None
        self.reply: asyncio.Task[None] | None = None
        self.detector: TurnDetector | None = None
        self.vad_busy = False
        self._vad_task: asyncio.Task[None] | None = None
        self._resampler = Resampler(VAD_RATE, VAD_RATE)
        self._audio: list[FloatArray] = []
        self._samples = 0
        self.stopping = False

    # -- audio of the current user turn ---------------------------------------------------------------
    def _turn_audio(self) -> FloatArray:
        return np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.float32)

    def _new_turn(self) -> None:
        self._resampler = Resampler(self._resampler.from_rate, VAD_RATE)
        self._audio, self._samples = [], 0
        if self.detector is not None:
            self.detector.reset()

    async def on_audio(self, pcm: bytes) -> None:
        if self.conversation is None:
            raise NotStartedError("send a 'start' message before audio")
        if self._samples >= self.limits.max_turn_seconds * VAD_RATE:
            raise MessageError(f"a turn may hold at most {self.limits.max_turn_seconds} s of audio")
        samples = self._resampler.process(pcm_to_float(pcm))
        self._audio.append(samples)
        self._samples += len(samples)
        if self.detector is not None and not self.vad_busy and self.detector.due(self._samples):
            self.vad_busy = True  # one VAD pass at a time; audio keeps arriving meanwhile
            self._vad_task = asyncio.create_task(self._check_vad())

    async def _check_vad(self) -> None:
        assert self.detector is not None
        try:
            result = await asyncio.to_thread(self.detector.analyse, self._turn_audio())
        finally:
            self.vad_busy = False
        if result.speech and self.reply is not None and not self.reply.done():
            await self._interrupt()  # the user talks over the reply: barge-in
        if result.ended:
            await self.end_turn()

    # -- turns ----------------------------------------------------------------------------------------
    async def _interrupt(self) -> None:
        reply, self.reply = self.reply, None
        if reply is not None and not reply.done():
            reply.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reply
            await self.sender.send({"type": "interrupted"})

    async def end_turn(self) -> None:
        if self.conversation is None:
            raise NotStartedError("send a 'start' message first")
        audio = np.concatenate([self._turn_audio(), self._resampler.flush()])
        ended_at = time.perf_counter()
        self._new_turn()
        await self._interrupt()
        self.reply = asyncio.create_task(self.conversation.run_turn(audio, ended_at))

    async def on_start(self, message: ConverseStart) -> None:
        if self.conversation is not None:
            raise MessageError("this connection has already started")
        config = resolve_config(
            self.service.synthesizer, message, message.output_sample_rate, audio=message.tts
        )
        self.llm = ChatClient(self.llm_settings)
        self.conversation = Conversation(
            config=config,
            synthesizer=self.service.synthesizer,
            sender=self.sender,
            llm=self.llm,
            llm_settings=self.llm_settings,
            limits=self.limits,
            transcriber=lambda: self.service.asr,
            system_prompt=message.system_prompt,
        )
        self._resampler = Resampler(message.sample_rate, VAD_RATE)
        if message.vad:
            self.detector = TurnDetector(
                silence_ms=self.limits.vad_silence_ms, threshold=self.limits.vad_threshold
            )
        await self.sender.send(
            {
                "type": "started",
                "engine": config.engine,
                "voice": config.voice,
                "format": config.fmt.value,
                "sample_rate": config.sample_rate,
                "tts": config.audio,
                "vad": message.vad,
            }
        )

    async def handle(self, raw: Mapping[str, Any]) -> None:
        """One received frame; errors go back to the client and the socket stays open."""
        try:
            check_size(raw, self.limits.max_message_bytes)
            if raw.get("bytes") is not None:
                await self.on_audio(raw["bytes"])
                return
            message = parse_converse(raw.get("text") or "")
            if isinstance(message, ConverseStart):
                await self.on_start(message)
            elif isinstance(message, EndOfTurn):
                await self.end_turn()
            elif isinstance(message, Cancel):
                await self._interrupt()
            elif isinstance(message, Stop):
                self.stopping = True
                if self.reply is not None:
                    await self.reply
        except PolyvoxError as exc:
            await self.sender.send(error_message(exc.code, exc.message, param=exc.param))

    async def run(self) -> None:
        try:
            await receive_until_stopped(self.websocket, self.idle, self.handle, lambda: self.stopping)
        finally:
            await self.idle.aclose()
            if self.reply is not None:
                await cancel_and_wait(self.reply)
            if self.llm is not None:
                await self.llm.aclose()


@router.websocket("/v1/ws/converse")
async def ws_converse(websocket: WebSocket) -> None:
    """The ASR → LLM → TTS voice pipeline; see the module docstring for the protocol."""
    await websocket.accept()
    session = ConverseSession(websocket, websocket.app.state.polyvox)
    await session.run()
    log.info("ws_converse_closed", turns=session.conversation.turns if session.conversation else 0)
