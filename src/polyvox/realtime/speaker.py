"""The speaking path both sockets share: text fragments in, ``text_chunk`` + audio frames out, in order.

A :class:`Speaker` is one context: a :class:`polyvox.session.SpeechSession` (opened at its first text) takes
the fragments as they come and speaks each sentence as soon as it is complete; the speaker turns the
session's events into a ``text_chunk`` message followed by the segment's encoded audio. Its frames go out
under the socket's send lock, so contexts sharing a socket never interleave inside one chunk. ``cancel()``
drops what the session has not spoken and stops the segment in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog
from starlette.websockets import WebSocket

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.encode import StreamEncoder
from polyvox.audio.formats import AudioFormat, encoded_rate, parse_format, validate_output
from polyvox.realtime.align import word_timings
from polyvox.realtime.protocol import VoiceOptions, error_message, ms
from polyvox.request import SynthesisRequest, check_rendering
from polyvox.session import MAX_QUEUED_CHARS, SegmentAudio, SegmentEnd, SpeechSession
from polyvox.stt.recognizer import SpeechRecognizer
from polyvox.synthesis import Synthesizer

log = structlog.get_logger(__name__)


class Sender:
    """Serializes one socket's outgoing frames; after the peer is gone, sending is a no-op."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.lock = asyncio.Lock()
        self.closed = False
        self.last_sent = time.monotonic()
        """When a frame last went out (the idle timeout counts traffic in both directions)."""
        self._ids = itertools.count(1)

    def next_chunk_id(self) -> int:
        """Chunk ids are unique per socket, so alignment messages name their chunk unambiguously."""
        return next(self._ids)

    async def send(self, *frames: dict[str, Any] | bytes) -> None:
        """Send JSON messages and binary frames back to back, with no other frame between them."""
        async with self.lock:
            for frame in frames:
                if self.closed:
                    return
                try:
                    if isinstance(frame, bytes):
                        await self.websocket.send_bytes(frame)
                    else:
                        await self.websocket.send_text(json.dumps(frame))
                    self.last_sent = time.monotonic()
                except Exception:  # the peer went away; the receive loop will see it and clean up
                    self.closed = True


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """A validated way of speaking: the ``start`` options as resolved, plus the output format and its rate."""

    engine: str
    voice: str
    language: str
    fmt: AudioFormat
    sample_rate: int
    options: VoiceOptions = field(default_factory=VoiceOptions)
    """The ``start`` message's fields (speaker, speed, volume, extra...) as :func:`resolve_config` checked."""
    alignment: bool = False
    audio: bool = True

    def request(self, text: str, request_id: str) -> SynthesisRequest:
        return self.options.to_request(
            text=text,
            engine=self.engine,
            voice=self.voice,
            language=self.language,
            sample_rate=self.sample_rate,
            request_id=request_id,
        )


@dataclass(slots=True)
class SpeakerStats:
    """Figures of one context: audio sent and time from its first text to its first audio byte."""

    chunks: int = 0
    audio_seconds: float = 0.0
    first_text_at: float | None = None
    first_audio_at: float | None = None

    @property
    def ttfa(self) -> float | None:
        if self.first_text_at is None or self.first_audio_at is None:
            return None
        return self.first_audio_at - self.first_text_at


class Speaker:
    """One context of a socket; see the module docstring."""

    def __init__(
        self,
        context_id: str,
        config: VoiceConfig,
        synthesizer: Synthesizer,
        sender: Sender,
        *,
        transcriber: Callable[[], SpeechRecognizer],
        max_chars: int = 250,
        max_wait: float = 0.0,
        max_queued: int = MAX_QUEUED_CHARS,
    ) -> None:
        self.context_id = context_id
        self.config = config
        self.stats = SpeakerStats()
        self._synthesizer = synthesizer
        self._sender = sender
        self._transcriber = transcriber
        self._max_chars, self._max_wait, self._max_queued = max_chars, max_wait, max_queued
        self._session: SpeechSession | None = None
        self._opening = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._encoder: StreamEncoder | None = None
        self._aligning: set[asyncio.Task[None]] = set()
        self._engine_error_sent = False
        self._parts: list[AudioChunk] = []

    # -- input -----------------------------------------------------------------------------------------
    @property
    def queued_chars(self) -> int:
        """Text received and not yet spoken."""
        return self._session.queued_chars if self._session is not None else 0

    async def _open(self) -> SpeechSession:
        """The context's session, opened at its first text (``start`` already checked engine and voice)."""
        async with self._opening:
            if self._session is None:
                request = self.config.request("", f"{self.context_id}-{id(self):x}")
                self._session = await self._synthesizer.session(
                    request,
                    audio=self.config.audio,
                    max_chars=self._max_chars,
                    max_wait=self._max_wait,
                    max_queued=self._max_queued,
                )
                self._task = asyncio.create_task(self._run(self._session))
            return self._session

    async def feed(self, text: str) -> None:
        """Buffer a fragment; complete segments start speaking right away (the session's
        ``TextQueueFullError`` past ``max_queued`` characters not yet spoken: the fragment is dropped)."""
        session = await self._open()
        if self.stats.first_text_at is None and text.strip():
            self.stats.first_text_at = time.perf_counter()
        await session.feed(text)

    async def flush(self) -> None:
        """Speak what is buffered now, complete sentence or not."""
        if self._session is not None:
            await self._session.flush()

    async def tick(self) -> None:
        """Called periodically: releases text that waited ``max_wait`` for more."""
        if self._session is not None:
            await self._session.tick()

    async def cancel(self) -> None:
        """Barge-in: drop buffered text and queued segments and stop the synthesis in flight."""
        if self._session is None:
            return
        await self._stop_tasks()
        await self._session.cancel()
        self._parts = []
        self._reset_encoder()
        self._task = asyncio.create_task(self._run(self._session))

    async def finish(self) -> SpeakerStats:
        """Speak everything still buffered, wait until it is sent, flush the encoder; returns the figures."""
        if self._session is None:
            return self.stats
        await self._session.finish()
        if self._task is not None:
            await self._task
        if self._aligning:
            await asyncio.gather(*self._aligning, return_exceptions=True)
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            tail = await asyncio.to_thread(encoder.finish)
            if tail:
                await self._sender.send(tail)
        await self._session.aclose()
        return self.stats

    async def aclose(self) -> None:
        """Stop everything without sending more (socket closing)."""
        await self._stop_tasks()
        self._reset_encoder()
        if self._session is not None:
            await self._session.aclose()

    # -- output ----------------------------------------------------------------------------------------
    async def _stop_tasks(self) -> None:
        tasks = [t for t in (self._task, *self._aligning) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._aligning.clear()

    def _reset_encoder(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None

    async def _run(self, session: SpeechSession) -> None:
        """The session's events as messages: one ``text_chunk`` (and alignment) per segment, its parts
        joined, then its audio."""
        started = time.perf_counter()
        async for event in session.events():
            if isinstance(event, SegmentAudio):
                self._parts.append(event.chunk)
            elif isinstance(event, SegmentEnd):
                final = session.ended and session.segments_after(event.segment) == 0
                if event.audio:
                    parts, self._parts = self._parts, []
                    await self._send_audio(joined(parts, event.text), started, final)
                else:
                    await self._send_text(event, started, final)
                started = time.perf_counter()

    async def _send_text(self, event: SegmentEnd, started: float, final: bool) -> None:
        """A segment without audio: nothing to say, audio off, or failed (the error is said once)."""
        self._parts = []
        frames: list[dict[str, Any] | bytes] = []
        error = event.error
        if error is not None:
            log.warning("ws_synthesis_failed", context=self.context_id, code=error.code, error=error.message)
            if not self._engine_error_sent:
                self._engine_error_sent = True
                frames.append(error_message(error.code, error.message, context_id=self.context_id))
        chunk_id = self._sender.next_chunk_id()
        frames.append(self._text_chunk(chunk_id, event.text, False, started, final))
        await self._sender.send(*frames)

    def _text_chunk(
        self, chunk_id: int, text: str, has_audio: bool, started: float, final: bool
    ) -> dict[str, Any]:
        return {
            "type": "text_chunk",
            "chunk_id": chunk_id,
            "context_id": self.context_id,
            "text": text,
            "has_audio": has_audio,
            "is_final": final,
            "processing_time_ms": ms(time.perf_counter() - started),
        }

    async def _send_audio(self, chunk: AudioChunk, started: float, final: bool) -> None:
        if self._encoder is None:
            self._encoder = StreamEncoder(self.config.fmt, chunk.sample_rate)
        payload = await asyncio.to_thread(self._encoder.encode, chunk.samples)  # mp3/opus: off the loop
        chunk_id = self._sender.next_chunk_id()
        message = self._text_chunk(chunk_id, chunk.text, True, started, final)
        await self._sender.send(message, payload) if payload else await self._sender.send(message)
        if self.stats.first_audio_at is None:
            self.stats.first_audio_at = time.perf_counter()
        self.stats.chunks += 1
        self.stats.audio_seconds += chunk.seconds
        if self.config.alignment:
            task = asyncio.create_task(self._align(chunk_id, chunk))
            self._aligning.add(task)
            task.add_done_callback(self._aligning.discard)

    async def _align(self, chunk_id: int, chunk: AudioChunk) -> None:
        try:
            source, words = await word_timings(chunk, self._transcriber())
        except Exception as exc:  # alignment is a nicety; its failure must not stop speech
            log.warning("ws_alignment_failed", error=str(exc))
            return
        await self._sender.send(
            {
                "type": "alignment",
                "chunk_id": chunk_id,
                "context_id": self.context_id,
                "source": source,
                "words": words,
            }
        )


def joined(parts: list[AudioChunk], text: str) -> AudioChunk:
    """A segment's parts as one chunk."""
    if len(parts) == 1:
        return parts[0]
    samples = np.concatenate([p.samples for p in parts])
    return AudioChunk(samples=samples, sample_rate=parts[0].sample_rate, text=text)


def resolve_config(
    synthesizer: Synthesizer,
    options: VoiceOptions,
    sample_rate: int | None,
    *,
    alignment: bool = False,
    audio: bool = True,
) -> VoiceConfig:
    """Validate engine, voice, language, format and rate up front, as ``start`` is answered."""
    fmt = parse_format(options.format, "format")
    check_rendering(options.speed, options.volume, sample_rate)
    # Engine parameter ranges are refused at `start`, not per sentence.
    engine, voice = synthesizer.resolve(options.engine, options.voice, options.language, extra=options.extra)
    rate = encoded_rate(fmt, sample_rate or synthesizer.registry.info(engine).sample_rate)
    validate_output(fmt, sample_rate or rate, 16, exact=sample_rate is not None)
    return VoiceConfig(
        engine=engine,
        voice=voice.id,
        language=options.language or voice.language,
        fmt=fmt,
        sample_rate=rate,
        options=options,
        alignment=alignment,
        audio=audio,
    )
