"""One OpenAI Realtime connection: its configuration, input buffer, server VAD, conversation and response.

Client events are handled one at a time, in order; anything slow (VAD passes, transcriptions, responses)
runs in tasks so the socket keeps reading. Server VAD: every ``step`` of new audio a Silero pass (in a thread)
looks at the uncommitted buffer; speech sends ``input_audio_buffer.speech_started`` (and, when a response
is playing and ``interrupt_response`` is on, cancels it: barge-in), the following silence sends
``speech_stopped`` and commits the turn, which is transcribed and, with ``create_response``, answered.
A ``transcription`` session does the same with no model: each committed turn only gets its transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

from polyvox.audio.chunk import FloatArray
from polyvox.realtime.llm import ChatClient
from polyvox.realtime.openai_audio import InputBuffer, decode_audio
from polyvox.realtime.openai_config import SessionConfig
from polyvox.realtime.openai_events import (
    ActiveResponseError,
    CommitEmptyError,
    NoResponseError,
    RealtimeError,
    UnknownEventError,
    new_id,
    server_event,
)
from polyvox.realtime.openai_items import Conversation, client_item, decode_base64
from polyvox.realtime.openai_response import Response
from polyvox.realtime.openai_transcribe import transcribe_turn
from polyvox.realtime.openai_voice import SessionVoice, Voice
from polyvox.realtime.vad import VAD_RATE, TurnDetector, VadResult
from polyvox.service import Polyvox
from polyvox.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
VAD_BACKLOG_SECONDS = 2.0
"""Audio not yet looked at by VAD beyond which appends wait for it (a client faster than real time)."""
MIN_COMMIT_SECONDS = 0.1
"""OpenAI refuses to commit less than 100 ms of audio (``input_audio_buffer_commit_empty``)."""


class RealtimeSession:
    """The state of one connection; :meth:`handle` takes each client event."""

    def __init__(self, service: Polyvox, send: Send, config: SessionConfig) -> None:
        self.service = service
        self.send = send
        self.limits = service.settings.realtime
        self.llm_settings = service.settings.llm
        self.config = config
        self.buffer = InputBuffer(config.input_format.rate, self.limits.max_turn_seconds)
        self.conversation = Conversation(limit=max(16, 4 * self.llm_settings.history_turns + 8))
        self.voice = Voice(service.synthesizer, self.limits.max_segment_chars)
        # Made now, not when the first turn ends: building its HTTP client (TLS context) takes a while.
        self.llm: ChatClient | None = ChatClient(self.llm_settings) if config.kind == "realtime" else None
        self.detector: TurnDetector | None = None
        self.response: Response | None = None
        self._response_task: asyncio.Task[None] | None = None
        self._vad_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speech_start: int | None = None
        self._speech_item: str | None = None
        self._configure_vad()
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self.on_session_update,
            "transcription_session.update": self.on_session_update,
            "input_audio_buffer.append": self.on_append,
            "input_audio_buffer.commit": self.on_commit,
            "input_audio_buffer.clear": self.on_clear,
            "conversation.item.create": self.on_item_create,
            "conversation.item.delete": self.on_item_delete,
            "conversation.item.truncate": self.on_item_truncate,
            "conversation.item.retrieve": self.on_item_retrieve,
            "response.create": self.on_response_create,
            "response.cancel": self.on_response_cancel,
        }

    async def handle(self, event: dict[str, Any]) -> None:
        handler = self.handlers.get(event["type"])
        if handler is None:
            raise UnknownEventError(
                f"unknown or unsupported client event type {event['type']!r}", param="type"
            )
        await handler(event)

    # -- session ------------------------------------------------------------------------------------------
    def voice_spec(self, config: SessionConfig) -> SessionVoice:
        extension = config.polyvox
        extra = extension.get("extra") or {}
        if not isinstance(extra, dict):
            raise RealtimeError("session.polyvox.extra must be an object", param="session.polyvox.extra")
        return SessionVoice(
            engine=extension.get("engine"),
            voice=extension.get("voice") or config.voice,
            language=extension.get("language"),
            speaker=extension.get("speaker"),
            speed=config.speed,
            sample_rate=config.output_format.rate,
            extra=extra,
        )

    async def on_session_update(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if event["type"] == "transcription_session.update" and isinstance(session, dict):
            session = {"type": "transcription", **session}
        config = self.config.updated(session)
        if config.kind == "realtime":
            spec = self.voice_spec(config)
            self.service.synthesizer.resolve(spec.engine, spec.voice, spec.language, extra=spec.extra)
        self.config = config
        self.buffer.set_rate(config.input_format.rate)
        self._configure_vad()
        await self.send(server_event("session.updated", session=config.to_json()))

    def _configure_vad(self) -> None:
        vad = self.config.turn_detection
        if vad is None:
            self.detector = None
            return
        self.detector = TurnDetector(silence_ms=vad.silence_duration_ms, threshold=vad.threshold)

    # -- input audio --------------------------------------------------------------------------------------
    async def on_append(self, event: dict[str, Any]) -> None:
        if not isinstance(event.get("audio"), str):
            raise RealtimeError("input_audio_buffer.append needs 'audio' (base64)", param="audio")
        samples = decode_audio(decode_base64(event["audio"], "audio"), self.config.input_format)
        detector = self.detector
        behind = (
            detector is not None and detector.backlog(self.buffer.samples) > VAD_BACKLOG_SECONDS * VAD_RATE
        )
        if behind and self._vad_task is not None:
            # Audio comes faster than VAD reads it: stop reading the socket until it caught up.
            with contextlib.suppress(Exception):  # a failed pass was logged by its task
                await asyncio.shield(self._vad_task)
        self.buffer.append(samples)
        if detector is not None and self._vad_task is None and detector.due(self.buffer.samples):
            self._vad_task = asyncio.create_task(self._check_vad(detector))

    async def _check_vad(self, detector: TurnDetector) -> None:
        """VAD passes while there is new audio to look at (appends go on meanwhile)."""
        try:
            while detector is self.detector and detector.due(self.buffer.samples):
                audio = self.buffer.audio()
                result = await asyncio.to_thread(detector.analyse, audio)
                if detector is self.detector and self.config.turn_detection is not None:
                    await self._on_vad(detector, result, len(audio))
        finally:
            self._vad_task = None

    async def _on_vad(self, detector: TurnDetector, result: VadResult, seen: int) -> None:
        vad = self.config.turn_detection
        assert vad is not None
        if not result.speech:
            if self.buffer.trim(seen):
                detector.reset()
            return
        if self._speech_start is None:
            self._speech_start = max(0, result.start - vad.prefix_padding_ms * VAD_RATE // 1000)
            self._speech_item = new_id("item")
            await self.send(
                server_event(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=self.buffer.ms(self._speech_start),
                    item_id=self._speech_item,
                )
            )
            if vad.interrupt_response:
                await self.cancel_response("turn_detected")
            if self.config.kind == "realtime" and "audio" in self.config.output_modalities:
                self._spawn(self.voice.prepare(self.voice_spec(self.config)))
        if result.ended:
            await self.send(
                server_event(
                    "input_audio_buffer.speech_stopped",
                    audio_end_ms=self.buffer.ms(result.end),
                    item_id=self._speech_item,
                )
            )
            # The silence that ended the turn stays out of the item (the recognizer need not decode it).
            tail = min(seen, result.end + vad.prefix_padding_ms * VAD_RATE // 1000)
            await self.commit(respond=vad.create_response, end=tail)

    async def on_commit(self, event: dict[str, Any]) -> None:
        if self.buffer.samples < MIN_COMMIT_SECONDS * VAD_RATE:
            raise CommitEmptyError(
                f"the input audio buffer holds {self.buffer.samples * 1000 // VAD_RATE} ms; "
                f"at least {MIN_COMMIT_SECONDS * 1000:g} ms are needed to commit",
                param="input_audio_buffer",
            )
        await self.commit(respond=False)

    async def on_clear(self, event: dict[str, Any]) -> None:
        self.buffer.take()
        self._reset_turn()
        await self.send(server_event("input_audio_buffer.cleared"))

    def _reset_turn(self) -> None:
        self._speech_start, self._speech_item = None, None
        if self.detector is not None:
            self.detector.reset()

    async def commit(self, *, respond: bool, end: int | None = None) -> None:
        """The buffer (up to ``end``) becomes a user audio item: committed, added, done, then transcribed
        (and answered)."""
        item_id = self._speech_item or new_id("item")
        audio = self.buffer.take(self._speech_start or 0, end)
        self._reset_turn()
        item = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self.conversation.add(item)
        if self.llm_settings.audio_input:  # kept only where the model hears it (up to max_turn_seconds each)
            self.conversation.audio[item_id] = audio
        await self.send(
            server_event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        )
        await self.send(server_event("conversation.item.added", previous_item_id=previous, item=item))
        await self.send(server_event("conversation.item.done", previous_item_id=previous, item=item))
        if (
            self.config.kind == "transcription"
            or not self.llm_settings.audio_input
            or self.config.transcription
        ):
            task = asyncio.create_task(self._transcribe(item, audio))
            self.conversation.transcripts[item_id] = task
        if respond and self.config.kind == "realtime":
            await self.start_response({})

    async def _transcribe(self, item: dict[str, Any], audio: FloatArray) -> str:
        announce = self.config.kind == "transcription" or bool(self.config.transcription)
        settings = self.config.transcription or {}
        return await transcribe_turn(self.service.asr, audio, item, settings, self.send if announce else None)

    # -- conversation items --------------------------------------------------------------------------------
    async def on_item_create(self, event: dict[str, Any]) -> None:
        item, pcm = client_item(event.get("item"))
        previous_id = event.get("previous_item_id")
        previous = self.conversation.add(item, previous_id if isinstance(previous_id, str) else None)
        if pcm is not None and item["role"] == "user":
            samples = decode_audio(pcm, self.config.input_format)
            turn = InputBuffer(self.config.input_format.rate, self.limits.max_turn_seconds)
            turn.append(samples)
            audio = turn.take()
            if self.llm_settings.audio_input:
                self.conversation.audio[item["id"]] = audio
            task = asyncio.create_task(self._transcribe(item, audio))
            self.conversation.transcripts[item["id"]] = task
        await self.send(server_event("conversation.item.added", previous_item_id=previous, item=item))
        await self.send(server_event("conversation.item.done", previous_item_id=previous, item=item))

    async def on_item_delete(self, event: dict[str, Any]) -> None:
        item = self.conversation.get(event.get("item_id"))
        self.conversation.delete(item["id"])
        await self.send(server_event("conversation.item.deleted", item_id=item["id"]))

    async def on_item_truncate(self, event: dict[str, Any]) -> None:
        item = self.conversation.get(event.get("item_id"))
        end_ms = event.get("audio_end_ms")
        if item.get("role") != "assistant" or not isinstance(end_ms, int) or end_ms < 0:
            raise RealtimeError(
                "truncate takes an assistant audio item and audio_end_ms >= 0", param="audio_end_ms"
            )
        session = self.voice.session
        last = self.response.message if self.response is not None else None
        if session is not None and last is item and item["content"]:
            item["content"][0]["transcript"] = session.delivered_text(end_ms / 1000)
        await self.send(
            server_event(
                "conversation.item.truncated",
                item_id=item["id"],
                content_index=event.get("content_index", 0),
                audio_end_ms=end_ms,
            )
        )

    async def on_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.conversation.get(event.get("item_id"))
        await self.send(server_event("conversation.item.retrieved", item=item))

    # -- responses ----------------------------------------------------------------------------------------
    async def on_response_create(self, event: dict[str, Any]) -> None:
        if self.config.kind != "realtime":
            raise RealtimeError("a transcription session makes no responses", param="type")
        overrides = event.get("response") or {}
        if not isinstance(overrides, dict):
            raise RealtimeError("'response' must be an object", param="response")
        await self.start_response(overrides)

    async def start_response(self, overrides: dict[str, Any]) -> None:
        if self._response_task is not None and not self._response_task.done():
            raise ActiveResponseError("a response is already in progress; cancel it first", param="response")
        allowed = (
            "instructions",
            "output_modalities",
            "modalities",
            "tools",
            "tool_choice",
            "temperature",
            "max_output_tokens",
            "max_response_output_tokens",
            "voice",
            "audio",
        )
        config = self.config.updated({k: v for k, v in overrides.items() if k in allowed})
        if self.llm is None:
            self.llm = ChatClient(self.llm_settings)
        self.response = Response(
            send=self.send,
            conversation=self.conversation,
            config=config,
            llm=self.llm,
            voice=self.voice,
            spec=self.voice_spec(config),
            audio_input=self.llm_settings.audio_input,
            keep=overrides.get("conversation", "auto") != "none",
            metadata=overrides.get("metadata"),
        )
        self._response_task = asyncio.create_task(self.response.run())

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        if not await self.cancel_response("client_cancelled"):
            raise NoResponseError("there is no response in progress to cancel", param="response_id")

    async def cancel_response(self, reason: str) -> bool:
        task, response = self._response_task, self.response
        if task is None or response is None or task.done():
            return False
        await cancel_and_wait(task)
        await response.cancelled(reason)
        return True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        tasks = (self._response_task, self._vad_task, *self._tasks, *self.conversation.transcripts.values())
        for task in tasks:
            if task is not None:
                await cancel_and_wait(task)
        await self.voice.aclose()
        if self.llm is not None:
            with contextlib.suppress(Exception):
                await self.llm.aclose()
