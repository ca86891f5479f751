"""The speaking path both sockets share: text fragments in, ``text_chunk`` + audio frames out, in order.

A :class:`Speaker` is one context: it segments incoming text incrementally, synthesizes each segment as
its own short request (so the first sentence is spoken while later text is still arriving) and sends a
``text_chunk`` message followed by the segment's encoded audio. Its frames go out under the socket's send
lock, so contexts sharing a socket never interleave inside one chunk. ``cancel()`` drops buffered text and
cancels the worker task, which closes the open :class:`SynthesisStream` at once.
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

import structlog
from starlette.websockets import WebSocket

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.encode import StreamEncoder
from polyvox.audio.formats import AudioFormat, encoded_rate, parse_format, validate_output
from polyvox.errors import PolyvoxError
from polyvox.realtime.align import word_timings
from polyvox.realtime.protocol import VoiceOptions, error_message, ms
from polyvox.request import SynthesisRequest, check_rendering, speakable
from polyvox.stt.recognizer import SpeechRecognizer
from polyvox.synthesis import Synthesizer
from polyvox.text.incremental import IncrementalSegmenter
from polyvox.text.offload import run_text_work

log = structlog.get_logger(__name__)

MAX_QUEUED_CHARS = 100_000
"""Default bound on the text one context holds not yet spoken (``realtime.max_queued_chars``)."""
INLINE_FEED_CHARS = 2000
"""Buffers up to this long are split on the event loop (milliseconds); longer ones in the text pool."""


class TextQueueFullError(PolyvoxError):
    """A context already holds ``realtime.max_queued_chars`` of text not yet spoken."""

    status = 429
    code = "text_queue_full"


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
        self._segmenter = IncrementalSegmenter(config.language, max_chars=max_chars, max_wait=max_wait)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queued_chars = 0
        """Characters of segments queued or being spoken (the segmenter's pending text comes on top)."""
        self._max_queued = max_queued
        self._feeding = asyncio.Lock()
        self._encoder: StreamEncoder | None = None
        self._aligning: set[asyncio.Task[None]] = set()
        self._engine_error_sent = False
        self._finishing = False
        self._segments = itertools.count()
        self._task = asyncio.create_task(self._run())

    # -- input -----------------------------------------------------------------------------------------
    @property
    def queued_chars(self) -> int:
        """Text received and not yet spoken."""
        return self._queued_chars + len(self._segmenter.pending)

    async def feed(self, text: str) -> None:
        """Buffer a fragment; complete segments start speaking right away.

        ``TextQueueFullError`` (said in-band by the socket) if the context would hold more than
        ``max_queued`` characters not yet spoken; the fragment is then dropped. Sentence splitting grows
        with the buffered text, so it runs in a worker thread, one fragment at a time.
        """
        if self.queued_chars + len(text) > self._max_queued:
            raise TextQueueFullError(
                f"{self.queued_chars} characters are waiting to be spoken and this fragment has {len(text)}; "
                f"the limit is {self._max_queued} (realtime.max_queued_chars): the fragment was dropped",
                param="text",
            )
        if self.stats.first_text_at is None and text.strip():
            self.stats.first_text_at = time.perf_counter()
        if len(self._segmenter.pending) + len(text) <= INLINE_FEED_CHARS:
            segments = self._segmenter.feed(text)  # a few milliseconds at most: no thread hop per token
        else:
            async with self._feeding:
                segments = await run_text_work(self._segmenter.feed, text)
        for segment in segments:
            self._put(segment)

    def _put(self, segment: str) -> None:
        self._queued_chars += len(segment)
        self._queue.put_nowait(segment)

    def flush(self) -> None:
        """Speak what is buffered now, complete sentence or not."""
        rest = self._segmenter.flush()
        if rest:
            self._put(rest)

    def tick(self) -> None:
        """Called periodically: releases text that waited ``max_wait`` for more (never during a feed)."""
        if not self._feeding.locked() and self._segmenter.due():
            self.flush()

    async def cancel(self) -> None:
        """Barge-in: drop buffered text and queued segments and stop the synthesis in flight."""
        self._segmenter.clear()
        await self._stop_tasks()
        self._queue = asyncio.Queue()
        self._queued_chars = 0
        self._reset_encoder()
        self._task = asyncio.create_task(self._run())

    async def finish(self) -> SpeakerStats:
        """Speak everything still buffered, wait until it is sent, flush the encoder; returns the figures."""
        self._finishing = True
        self.flush()
        self._queue.put_nowait(None)
        await self._task
        if self._aligning:
            await asyncio.gather(*self._aligning, return_exceptions=True)
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            tail = await asyncio.to_thread(encoder.finish)
            if tail:
                await self._sender.send(tail)
        return self.stats

    async def aclose(self) -> None:
        """Stop everything without sending more (socket closing)."""
        await self._stop_tasks()
        self._reset_encoder()

    # -- worker ----------------------------------------------------------------------------------------
    async def _stop_tasks(self) -> None:
        tasks = [self._task, *self._aligning]
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

    async def _run(self) -> None:
        while (segment := await self._queue.get()) is not None:
            try:
                await self._speak(segment)
            finally:
                self._queued_chars -= len(segment)

    def _is_final(self) -> bool:
        # The last segment of a finishing context: only the end marker is left in the queue.
        return self._finishing and self._queue.qsize() <= 1 and not self._segmenter.pending.strip()

    def _text_chunk(self, chunk_id: int, text: str, has_audio: bool, started: float) -> dict[str, Any]:
        return {
            "type": "text_chunk",
            "chunk_id": chunk_id,
            "context_id": self.context_id,
            "text": text,
            "has_audio": has_audio,
            "is_final": self._is_final(),
            "processing_time_ms": ms(time.perf_counter() - started),
        }

    async def _speak(self, text: str) -> None:
        started = time.perf_counter()
        if not self.config.audio or not speakable(text):  # "..." between sentences: words, no audio
            await self._sender.send(self._text_chunk(self._sender.next_chunk_id(), text, False, started))
            return
        index = next(self._segments)
        request_id = f"{self.context_id}-{index}-{id(self):x}"
        try:
            # Admission by capacity judges a new listener (its first sentence), never one mid-speech.
            request = self.config.request(text, request_id)
            stream = await self._synthesizer.open(request, admit=index == 0)
            async with stream:
                # One text_chunk (and alignment) per sentence: the sentence's parts go out joined.
                async for chunk in stream.by_segment():
                    await self._send_audio(chunk, started)
                    started = time.perf_counter()
        except PolyvoxError as exc:
            # Text-only fallback: the words still reach the client, and the error is said once.
            log.warning("ws_synthesis_failed", context=self.context_id, code=exc.code, error=exc.message)
            frames: list[dict[str, Any] | bytes] = []
            if not self._engine_error_sent:
                self._engine_error_sent = True
                frames.append(error_message(exc.code, exc.message, context_id=self.context_id))
            frames.append(self._text_chunk(self._sender.next_chunk_id(), text, False, started))
            await self._sender.send(*frames)

    async def _send_audio(self, chunk: AudioChunk, started: float) -> None:
        if self._encoder is None:
            self._encoder = StreamEncoder(self.config.fmt, chunk.sample_rate)
        payload = await asyncio.to_thread(self._encoder.encode, chunk.samples)  # mp3/opus: off the loop
        chunk_id = self._sender.next_chunk_id()
        message = self._text_chunk(chunk_id, chunk.text, True, started)
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
